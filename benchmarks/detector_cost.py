"""Cost per step of the drift detector, and of the content digests, against the loop
detectors, on the same steps.

    python benchmarks/detector_cost.py [--steps 2000] [--rounds 7] [--chars 2048]

Tool steps carrying ``--chars`` characters of result text (a run of varied searches, one
in ten repeating the previous call) go through ``drift.objective`` (built-in hashing
embedder, an objective set), separately through every ``loop.*`` detector of the
default profile, and through the digests of their arguments and result (what a tool
span exported with capture off carries); the ratios of the medians are the numbers to
read.
"""

from __future__ import annotations

import argparse
import json
import random
import statistics
import sys
import time
from collections.abc import Sequence

from otel_agentwatch import Config, StepKind
from otel_agentwatch.detectors import DetectorEngine, build_detectors
from otel_agentwatch.detectors.drift import ObjectiveDriftDetector
from otel_agentwatch.digest import Digester, content_digests
from otel_agentwatch.normalize._args import canonical_result, tool_arguments
from otel_agentwatch.steps import Step

WORDS = ("census", "population", "capital", "france", "paris", "insee", "figure", "estimate",
         "city", "region", "department", "commune", "survey", "table", "report", "page",
         "result", "year", "growth", "density")


def _steps(count: int, chars: int) -> list[Step]:
    rng = random.Random(3)
    steps, previous = [], None
    for index in range(count):
        query = previous if previous and rng.random() < 0.1 else " ".join(rng.sample(WORDS, 4))
        previous = query
        text = " ".join(rng.choice(WORDS) for _ in range(chars // 6))[:chars]
        parsed, key = tool_arguments(json.dumps({"query": query}))
        steps.append(Step(StepKind.TOOL, "search", index + 1, 1, (1, 1), args=parsed,
                          args_key=key, result=canonical_result(text)))
    return steps


def _time(detectors: Sequence, steps: list[Step], objective: str | None) -> float:
    """Seconds per step through the engine (one run), as the processor runs them."""
    engine = DetectorEngine(detectors)
    run = engine.new_run()
    if objective is not None:
        engine.set_objective(run, objective)
    start = time.perf_counter()
    for step in steps:
        engine.observe(step, run)
    return (time.perf_counter() - start) / len(steps)


def _time_digests(steps: list[Step]) -> float:
    """Seconds per step to make the digest attributes of a tool step."""
    digester = Digester()
    start = time.perf_counter()
    for step in steps:
        content_digests(step, digester)
    return (time.perf_counter() - start) / len(steps)


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--steps", type=int, default=2000)
    parser.add_argument("--rounds", type=int, default=7)
    parser.add_argument("--chars", type=int, default=2048)
    args = parser.parse_args(argv)
    steps = _steps(args.steps, args.chars)
    loops = [d for d in build_detectors(Config()) if d.id.startswith("loop.")]
    drift = [ObjectiveDriftDetector(warning_at=1e9, critical_at=1e9)]
    objective = "Find the 2020 population of Paris in the INSEE census"
    loop_times, drift_times, digest_times = [], [], []
    _time(drift, steps[:50], objective)  # loads numpy
    for _ in range(args.rounds):
        loop_times.append(_time(loops, steps, None))
        drift_times.append(_time(drift, steps, objective))
        digest_times.append(_time_digests(steps))
    loop_us = statistics.median(loop_times) * 1e6
    drift_us = statistics.median(drift_times) * 1e6
    digest_us = statistics.median(digest_times) * 1e6
    print(f"{args.steps} tool steps with {args.chars}-character results, {args.rounds} rounds "
          f"(median)")
    print(f"loop detectors ({len(loops)}): {loop_us:6.1f} us/step")
    print(f"drift.objective:        {drift_us:6.1f} us/step  ({drift_us / loop_us:.1f}x the "
          f"loop detectors)")
    print(f"content digests:        {digest_us:6.1f} us/step  ({digest_us / loop_us:.1f}x the "
          f"loop detectors)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
