"""Overhead of AgentWatchSpanProcessor against the bare OpenTelemetry SDK, in the same run.

    python benchmarks/overhead.py [--spans 60000] [--rounds 7]

Both pipelines are a TracerProvider with a BatchSpanProcessor and an exporter that
drops everything; ours puts AgentWatchSpanProcessor in front of the batch processor.
The workload is a realistic agent mix: runs of one ``invoke_agent`` span holding ten
(``chat``, ``execute_tool``) pairs, each span with the attributes the official GenAI
instrumentations set (``chat``: operation, provider, request model and parameters,
response id and model, finish reasons, usage, server address; ``execute_tool``:
operation, tool name, type, description, call id, arguments, result), and one tool call
in ten repeating the previous one (so some spans are flagged and rebuilt).
Rounds alternate between the pipelines and the median is reported, because this
machine is shared and single runs vary by up to 20%.

The processor's configuration comes from the environment, as in an application, so
``AGENTWATCH_DETECTORS=loop.repeated_call python benchmarks/overhead.py`` measures one
detector. Also printed: the detectors' own cost per step (no SDK around them) and the memory a
run in flight costs the processor (10,000 runs of 3 tool steps; 2,000 of 10).

    python benchmarks/overhead.py --instructions

counts CPU instructions instead of seconds (under valgrind's callgrind, which must be
installed): the same workload and pipelines, in all threads (the batch processor's
worker included), minus a run that only sets up. Instruction counts do not depend on
what else the machine is doing, so this ratio repeats.
"""

from __future__ import annotations

import argparse
import dataclasses
import gc
import json
import random
import statistics
import time
import tracemalloc
from collections.abc import Callable, Sequence

from _callgrind import instructions
from opentelemetry.sdk.trace import ReadableSpan, TracerProvider
from opentelemetry.sdk.trace.export import BatchSpanProcessor, SpanExporter, SpanExportResult
from opentelemetry.trace import SpanContext, SpanKind

from otel_agentwatch import AgentWatchSpanProcessor, Config
from otel_agentwatch.detectors.engine import DetectorEngine, RunDetectors
from otel_agentwatch.normalize import normalize

PAIRS_PER_RUN = 10
SPANS_PER_RUN = 1 + 2 * PAIRS_PER_RUN
TOOLS = ("search", "read_file", "lookup_order", "run_tests")


class DropExporter(SpanExporter):
    """Counts what arrives, exports nothing."""

    def __init__(self) -> None:
        self.spans = 0
        self.flagged = 0

    def export(self, spans: Sequence[ReadableSpan]) -> SpanExportResult:
        self.spans += len(spans)
        self.flagged += sum(1 for s in spans if s.attributes.get("agentwatch.flagged"))
        return SpanExportResult.SUCCESS


def _batch(exporter: SpanExporter) -> BatchSpanProcessor:
    # A queue large enough that no span is dropped: dropping would make a pipeline cheaper.
    return BatchSpanProcessor(exporter, max_queue_size=1 << 17, max_export_batch_size=1024,
                              schedule_delay_millis=50)


def _workload(seed: int, runs: int) -> list[list[tuple[str, str, str]]]:
    """Per run, the (tool, arguments, result) of each call; 1 in 10 repeats the previous one."""
    rng = random.Random(seed)
    plans = []
    for _ in range(runs):
        calls: list[tuple[str, str, str]] = []
        for index in range(PAIRS_PER_RUN):
            if calls and rng.random() < 0.1:
                calls.append(calls[-1])
                continue
            tool = rng.choice(TOOLS)
            args = json.dumps({"query": f"item {rng.randrange(10_000)}", "limit": 5,
                               "page": index})
            calls.append((tool, args, f"result {rng.randrange(10_000)} " + "x" * 200))
        plans.append(calls)
    return plans


_CHAT_REQUEST = {
    "gen_ai.operation.name": "chat",
    "gen_ai.provider.name": "openai",
    "gen_ai.request.model": "gpt-4o",
    "gen_ai.request.temperature": 0.2,
    "gen_ai.request.max_tokens": 1024,
    "server.address": "api.openai.com",
    "server.port": 443,
}


def _drive(provider: TracerProvider, plans: list[list[tuple[str, str, str]]]) -> float:
    tracer = provider.get_tracer("bench")
    start = time.perf_counter()
    for calls in plans:
        with tracer.start_as_current_span(
            "invoke_agent bench", attributes={"gen_ai.operation.name": "invoke_agent",
                                              "gen_ai.provider.name": "openai",
                                              "gen_ai.agent.name": "bench"},
        ):
            for index, (tool, args, result) in enumerate(calls):
                with tracer.start_as_current_span(
                    "chat gpt-4o", kind=SpanKind.CLIENT, attributes=_CHAT_REQUEST,
                ) as chat:
                    chat.set_attribute("gen_ai.response.id", f"chatcmpl-{index}")
                    chat.set_attribute("gen_ai.response.model", "gpt-4o-2024-08-06")
                    chat.set_attribute("gen_ai.response.finish_reasons", ["tool_calls"])
                    chat.set_attribute("gen_ai.usage.input_tokens", 900 + index)
                    chat.set_attribute("gen_ai.usage.output_tokens", 40)
                with tracer.start_as_current_span(
                    f"execute_tool {tool}",
                    attributes={"gen_ai.operation.name": "execute_tool",
                                "gen_ai.tool.name": tool,
                                "gen_ai.tool.type": "function",
                                "gen_ai.tool.description": "Looks things up.",
                                "gen_ai.tool.call.id": f"call_{index}",
                                "gen_ai.tool.call.arguments": args},
                ) as span:
                    span.set_attribute("gen_ai.tool.call.result", result)
    return time.perf_counter() - start


def _pipeline(with_agentwatch: bool) -> tuple[TracerProvider, DropExporter]:
    exporter = DropExporter()
    provider = TracerProvider()
    batch = _batch(exporter)
    provider.add_span_processor(
        AgentWatchSpanProcessor(batch, config=Config.from_env()) if with_agentwatch else batch
    )
    return provider, exporter


def measure_throughput(total_spans: int, rounds: int) -> dict[str, float]:
    runs = max(1, total_spans // SPANS_PER_RUN)
    plans = _workload(seed=7, runs=runs)
    spans = runs * SPANS_PER_RUN
    times: dict[bool, list[float]] = {False: [], True: []}
    flagged = 0
    _drive(_pipeline(True)[0], plans[: max(1, runs // 10)])  # warm up both code paths
    _drive(_pipeline(False)[0], plans[: max(1, runs // 10)])
    for _ in range(rounds):
        for with_agentwatch in (False, True):
            provider, exporter = _pipeline(with_agentwatch)
            gc.collect()
            times[with_agentwatch].append(_drive(provider, plans))
            provider.shutdown()
            assert exporter.spans == spans, "a pipeline dropped spans; the comparison is void"
            if with_agentwatch:
                flagged = exporter.flagged
    bare = statistics.median(times[False]) / spans * 1e6
    ours = statistics.median(times[True]) / spans * 1e6
    return {"spans": spans, "bare_us": bare, "ours_us": ours, "ratio": ours / bare,
            "flagged": flagged}


def _synthetic_span(trace_id: int, span_id: int, parent_id: int, attributes: dict) -> ReadableSpan:
    return ReadableSpan(
        name="execute_tool " + str(attributes.get("gen_ai.tool.name", "chat")),
        context=SpanContext(trace_id=trace_id, span_id=span_id, is_remote=False),
        parent=SpanContext(trace_id=trace_id, span_id=parent_id, is_remote=False),
        attributes=attributes, start_time=1, end_time=2,
    )


def _steps(plans: list[list[tuple[str, str, str]]]) -> list:
    steps = []
    for run_index, calls in enumerate(plans, start=1):
        for index, (tool, args, result) in enumerate(calls, start=2):
            span = _synthetic_span(run_index, run_index * 100 + index, run_index, {
                "gen_ai.operation.name": "execute_tool", "gen_ai.tool.name": tool,
                "gen_ai.tool.call.arguments": args, "gen_ai.tool.call.result": result,
            })
            steps.append(normalize(span, (run_index, run_index)))
    return steps


def measure_detectors(steps_wanted: int) -> dict[str, float]:
    """Cost of the configured detectors alone per tool step, through the detector engine
    (no SDK, no processor)."""
    engine = DetectorEngine(AgentWatchSpanProcessor(config=Config.from_env()).detectors)
    plans = _workload(seed=11, runs=max(1, steps_wanted // PAIRS_PER_RUN))
    steps = _steps(plans)
    runs: dict[object, RunDetectors] = {}
    start = time.perf_counter()
    for step in steps:
        run = runs.get(step.run_key)
        if run is None:
            run = runs[step.run_key] = engine.new_run()
        engine.observe(step, run)
    per_step = (time.perf_counter() - start) / len(steps) * 1e6
    return {"steps": len(steps), "detectors_us": per_step}


def measure_memory(runs: int, tool_steps: int) -> float:
    """Bytes of processor state per run in flight (``tool_steps`` tool steps each, the
    run's own span still open)."""
    plans = _workload(seed=13, runs=runs)
    config = dataclasses.replace(Config.from_env(), max_runs=runs + 1)
    processor = AgentWatchSpanProcessor(config=config)
    spans = []
    for run_index, calls in enumerate(plans, start=1):
        for index, (tool, args, result) in enumerate(calls[:tool_steps], start=2):
            spans.append(_synthetic_span(run_index, run_index * 100 + index, run_index, {
                "gen_ai.operation.name": "execute_tool", "gen_ai.tool.name": tool,
                "gen_ai.tool.call.arguments": args, "gen_ai.tool.call.result": result,
            }))
    gc.collect()
    tracemalloc.start()
    before = tracemalloc.take_snapshot()
    for span in spans:
        processor.on_end(span)
    gc.collect()
    after = tracemalloc.take_snapshot()
    tracemalloc.stop()
    assert processor.active_runs == runs
    grown = sum(stat.size_diff for stat in after.compare_to(before, "filename"))
    return grown / runs


INSTRUCTION_RUNS = 100


def drive_once(pipeline: str, setup_only: bool) -> None:
    """One process's work for --instructions: set up, warm up, then (maybe) the workload."""
    provider, _exporter = _pipeline(pipeline == "ours")
    plans = _workload(seed=7, runs=INSTRUCTION_RUNS)
    _drive(provider, plans[:10])
    if not setup_only:
        _drive(provider, plans)
    provider.shutdown()


def measure_instructions() -> dict[str, float]:
    def count(*drive: str) -> int:
        return instructions(__file__, "--drive", *drive)

    spans = INSTRUCTION_RUNS * SPANS_PER_RUN
    per_span = {
        pipeline: (count(pipeline) - count(pipeline, "setup")) / spans
        for pipeline in ("bare", "ours")
    }
    return {"bare_instr": per_span["bare"], "ours_instr": per_span["ours"],
            "instr_ratio": per_span["ours"] / per_span["bare"]}


def main(argv: Sequence[str] | None = None, out: Callable[[str], None] = print) -> dict:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--spans", type=int, default=63_000)
    parser.add_argument("--rounds", type=int, default=7)
    parser.add_argument("--instructions", action="store_true",
                        help="count instructions under callgrind instead of timing")
    parser.add_argument("--drive", nargs="+", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)

    if args.drive:
        drive_once(args.drive[0], setup_only="setup" in args.drive[1:])
        return {}
    if args.instructions:
        counted = measure_instructions()
        out(f"bare SDK + BatchSpanProcessor:          {counted['bare_instr']:9.0f} instr/span")
        out(f"with AgentWatchSpanProcessor in front:  {counted['ours_instr']:9.0f} instr/span")
        out(f"ratio:                                  {counted['instr_ratio']:9.2f}x")
        return counted

    throughput = measure_throughput(args.spans, args.rounds)
    detectors = measure_detectors(20_000)
    memory = measure_memory(10_000, 3)
    memory_ten = measure_memory(2_000, PAIRS_PER_RUN)
    out(f"spans per pipeline per round: {throughput['spans']}, rounds: {args.rounds} (median)")
    out(f"bare SDK + BatchSpanProcessor:          {throughput['bare_us']:6.1f} us/span")
    out(f"with AgentWatchSpanProcessor in front:  {throughput['ours_us']:6.1f} us/span")
    out(f"ratio:                                  {throughput['ratio']:6.2f}x")
    out(f"spans flagged (rebuilt) per round:      {throughput['flagged']}")
    out(f"detectors alone:                        {detectors['detectors_us']:6.2f} us/step")
    out(f"memory per run in flight, 3 tool steps: {memory / 1024:6.1f} KiB (10,000 runs)")
    out(f"memory per run in flight, 10 tool steps:{memory_ten / 1024:6.1f} KiB (2,000 runs)")
    return {**throughput, **detectors, "memory_per_run_bytes": memory,
            "memory_per_run_ten_steps_bytes": memory_ten}


if __name__ == "__main__":
    main()
