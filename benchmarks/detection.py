"""Detection quality on real agent traces written and labelled by others.

    python benchmarks/detection.py ../shared/data [--profiles default,openhands,...] [--k 3]

Every run is replayed through the real pipeline (an SDK TracerProvider with
AgentWatchSpanProcessor in front of an in-memory exporter) and scored against the
corpus's own labels, per corpus and never pooled (see ../shared/data/README.md):

* TRAIL (``trail/spans.jsonl``): the OpenInference spans themselves, replayed in time
  order with their original ids; label ``Resource Abuse``. Trace level: a trace is
  predicted when any span carries a loop detection (at warning, or at critical).
  Span level: a detection counts as a hit when it lies within ``k`` steps of a labelled
  span; recall is over labelled spans, precision over detections (the first span of
  each streak and stage). GAIA and SWE-bench traces are reported apart.
* mini-swe-agent (resolved runs) and tau-bench (reward 1): successful runs; the share
  flagged is the false-positive rate.
* Who&When (Magentic-One runs): the orchestrator's own ledger ``is_in_loop`` as a silver
  label, run level.

The detectors are configured from the environment as in an application
(``Config.from_env()``): ``AGENTWATCH_EMBEDDER``, ``AGENTWATCH_DRIFT_*`` and every
threshold variable apply, so a user can evaluate their own settings or embedder.

Runs given as steps (``runs.jsonl``) become the spans an instrumented agent would emit:
an ``invoke_agent`` span per user turn holding ``chat`` and ``execute_tool`` spans with
GenAI attributes, arguments and results as recorded. Text the corpus cut short is
compared by its SHA-1 (``args_sha1``, ``result_sha1``, ``.sha1`` companions), so exact
repeats stay exact.
"""

from __future__ import annotations

import argparse
import hashlib
import itertools
import json
import random
import sys
import time
from collections import defaultdict
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

from opentelemetry.sdk.trace import ReadableSpan
from opentelemetry.trace import SpanKind

from otel_agentwatch import Config
from otel_agentwatch.cli.replay import RecordedSpan, replay
from otel_agentwatch.detectors import PROFILES

CUT = "…[+"
LOOP_FAILURE = "Resource Abuse"


# --- replay ------------------------------------------------------------------------------------


def _uncut(text: Any, sha1: Any) -> Any:
    """Cut text compared by its digest: the kept prefix plus the SHA-1 of the whole."""
    if isinstance(text, str) and CUT in text:
        return f"{text[:text.index(CUT)]}#sha1:{sha1}"
    return text


def _iso_ns(stamp: str) -> int:
    return int(datetime.fromisoformat(stamp.replace("Z", "+00:00")).timestamp() * 1e9)


def _duration_ns(iso: str) -> int:
    # ISO 8601 durations as TRAIL writes them: PT3M3.698696S, PT0.04S, PT1H2M3S
    body, total, number = iso[2:], 0.0, ""
    for char in body:
        if char.isdigit() or char == ".":
            number += char
        else:
            total += float(number) * {"H": 3600, "M": 60, "S": 1}[char]
            number = ""
    return int(total * 1e9)


def replay_trail_trace(trace_record: dict[str, Any], config: Config,
                       objective: str | None = None) -> list[ReadableSpan]:
    """The recorded OpenInference spans, started and ended in time order with their ids;
    ``objective`` (the task) as the root span's ``agentwatch.objective``, as an
    application would set it (OpenInference records the agent's input only at its end)."""
    spans = []
    for record in trace_record["spans"]:
        attributes = dict(record["attributes"])
        for key in ("input.value", "output.value"):
            if key in attributes:
                attributes[key] = _uncut(attributes[key], attributes.get(f"{key}.sha1"))
        if objective and not record["parent_span_id"]:
            attributes["agentwatch.objective"] = objective
        start = _iso_ns(record["start_time"])
        spans.append(RecordedSpan(
            trace_id=int(record["trace_id"], 16), span_id=int(record["span_id"], 16),
            parent_id=int(record["parent_span_id"], 16) if record["parent_span_id"] else None,
            name=record["name"], start_ns=start,
            end_ns=start + _duration_ns(record["duration"]), attributes=attributes,
            failed=record["status_code"] == "Error",
            status_message=record.get("status_message") or "",
        ))
    return replay(spans, config)


def replay_steps(run: dict[str, Any], config: Config) -> list[ReadableSpan]:
    """A run given as steps, as the spans an instrumented agent would emit: an
    ``invoke_agent`` span per user turn under a ``conversation`` root."""
    rng = random.Random(hash(run["run_id"]) & 0xFFFF)
    trace_id = rng.getrandbits(128) or 1
    ticks = itertools.count(1_700_000_000_001_000_000, 1_000_000)

    def new_id(recorded: str | None = None) -> int:
        # Steps that carry their span's id (TRAIL) keep it, so labels by span id apply.
        return int(recorded, 16) if recorded else (rng.getrandbits(64) or 1)

    spans: list[RecordedSpan] = []
    task = run.get("task")
    root_id, root_start = new_id(), next(ticks)
    turn_name = f"invoke_agent {run.get('system', 'agent')[:40]}"
    turn: tuple[int, int] | None = None  # (span id, start)

    def end_turn() -> None:
        if turn is not None:
            spans.append(RecordedSpan(trace_id, turn[0], root_id, turn_name, turn[1],
                                      next(ticks), {"gen_ai.operation.name": "invoke_agent"}))

    for step in run["steps"]:
        if step["kind"] == "user" or turn is None:
            end_turn()
            turn = (new_id(), next(ticks))
            if step["kind"] == "user":
                continue
        span_id = new_id(step.get("span_id"))
        if step["kind"] == "tool":
            spans.append(_tool_span(run, step, trace_id, span_id, turn[0], next(ticks),
                                    next(ticks)))
        elif step["kind"] == "llm":
            spans.append(_model_span(run, step, trace_id, span_id, turn[0], next(ticks),
                                     next(ticks)))
    end_turn()
    spans.append(RecordedSpan(trace_id, root_id, None, "conversation", root_start, next(ticks),
                              {"agentwatch.objective": task}
                              if isinstance(task, str) and task else {}))
    return replay(spans, config)


def _tool_span(run: dict[str, Any], step: dict[str, Any], trace_id: int, span_id: int,
               parent: int, start: int, end: int) -> RecordedSpan:
    name = step.get("name") or "tool"
    attributes: dict[str, Any] = {"gen_ai.operation.name": "execute_tool",
                                  "gen_ai.tool.name": name}
    args = _uncut(step.get("args"), step.get("args_sha1"))
    if args is not None:
        attributes["gen_ai.tool.call.arguments"] = (args if isinstance(args, str)
                                                   else json.dumps(args))
    result = _uncut(step.get("result", step.get("content")),
                    step.get("result_sha1", step.get("content_sha1")))
    if result is not None:
        attributes["gen_ai.tool.call.result"] = str(result)
    failed = step.get("error") in (True, "True")
    message = step.get("error_msg") or result
    if failed:
        attributes["error.type"] = "tool_error"
    return RecordedSpan(trace_id, span_id, parent, f"execute_tool {name}", start, end,
                        attributes, failed=failed,
                        status_message=str(message)[:500] if failed and message else None)


def _model_span(run: dict[str, Any], step: dict[str, Any], trace_id: int, span_id: int,
                parent: int, start: int, end: int) -> RecordedSpan:
    text = step.get("content") or step.get("thought") or step.get("result") or ""
    tokens = step.get("tokens") or {}
    attributes: dict[str, Any] = {"gen_ai.operation.name": "chat",
                                  "gen_ai.request.model": str(run.get("model", "model"))}
    for key, attribute in (("prompt", "gen_ai.usage.input_tokens"),
                           ("completion", "gen_ai.usage.output_tokens"),
                           ("reasoning", "gen_ai.usage.reasoning.output_tokens")):
        if isinstance(tokens.get(key), int):
            attributes[attribute] = tokens[key]
    if isinstance(text, str) and text:
        attributes["gen_ai.output.messages"] = json.dumps(
            [{"role": "assistant", "parts": [{"type": "text", "content": text}]}])
    return RecordedSpan(trace_id, span_id, parent, f"chat {run.get('model', 'model')}", start,
                        end, attributes, kind=SpanKind.CLIENT)


# The loop labels (TRAIL Resource Abuse, Who&When is_in_loop) are scored against the loop
# detectors only; successful runs count a warning from any detector as a false positive.
LOOPS = "loop."
DRIFT_FAILURES = frozenset({"Goal Deviation", "Goal deviation", "Instruction Non-compliance",
                            "Instruction Non-Compliance"})
# What TRAIL's goal labels are scored against: topic drift, and answering from memory
# (what most runs labelled so did).
GOAL_FAMILIES = ("drift.", "termination.ungrounded")
STALL_FAILURES = frozenset({"Task Orchestration", "Task Orchestration Error",
                            "Task Orchestration Errors", "Context Handling Failures",
                            "Context Handling Failure"})


FLAGGING = ("warning", "critical")


def detections(spans: Iterable[ReadableSpan], family: str = "",
               severities: Sequence[str] = FLAGGING) -> list[tuple[str, str, str]]:
    """(span id, detector, severity) for every detection event at one of ``severities``
    (warning and critical: the ones that flag; ``("info",)`` for the advisory ones), of
    the detectors whose id starts with ``family`` (all by default). Flagging ones count
    on the spans they flag (a run's span also repeats its steps' detections as events)."""
    found = []
    for span in spans:
        flagged = (span.attributes or {}).get("agentwatch.flagged")
        for event in span.events:
            severity = event.attributes.get("agentwatch.severity")
            if event.name == "agentwatch.detection" and severity in severities and \
                    (flagged or severity == "info") and \
                    event.attributes["agentwatch.detector"].startswith(family):
                found.append((format(span.context.span_id, "016x"),
                              event.attributes["agentwatch.detector"],
                              event.attributes["agentwatch.severity"]))
    return found


def worst(spans: Iterable[ReadableSpan], family: str = "") -> str | None:
    """The most severe detection of the ``family`` detectors on any span."""
    severities = {severity for _, _, severity in detections(spans, family)}
    return "critical" if "critical" in severities else ("warning" if severities else None)


@dataclass
class Counts:
    true_positive: int = 0
    false_positive: int = 0
    false_negative: int = 0
    true_negative: int = 0

    def add(self, predicted: bool, labelled: bool) -> None:
        if predicted and labelled:
            self.true_positive += 1
        elif predicted:
            self.false_positive += 1
        elif labelled:
            self.false_negative += 1
        else:
            self.true_negative += 1

    def precision(self) -> float | None:
        flagged = self.true_positive + self.false_positive
        return self.true_positive / flagged if flagged else None

    def recall(self) -> float | None:
        labelled = self.true_positive + self.false_negative
        return self.true_positive / labelled if labelled else None


@dataclass
class TrailScore:
    traces: int = 0
    labelled: int = 0
    trace_warning: Counts = field(default_factory=Counts)
    trace_critical: Counts = field(default_factory=Counts)
    span_recall_hits: int = 0
    span_labels: int = 0
    span_precision_hits: int = 0
    span_predictions: int = 0
    outcomes: list[tuple[str, bool, bool]] = field(default_factory=list)  # id, warned, labelled


def trail_traces(data: Path) -> Iterator[tuple[str, dict[str, Any], dict[str, Any]]]:
    """``(subset, span record, run)`` for each TRAIL trace that has both."""
    runs = {json.loads(line)["run_id"]: json.loads(line)
            for line in (data / "trail" / "runs.jsonl").open(encoding="utf-8")}
    for line in (data / "trail" / "spans.jsonl").open(encoding="utf-8"):
        record = json.loads(line)
        run = runs.get(record["trace_id"])
        if run is not None:
            yield ("GAIA" if record["split"] == "GAIA" else "SWE"), record, run


def score_trail(data: Path, config: Config, k: int, source: str) -> dict[str, TrailScore]:
    scores: dict[str, TrailScore] = defaultdict(TrailScore)
    for subset, record, run in trail_traces(data):
        score = scores[subset]
        spans = (replay_trail_trace(record, config, run.get("task")) if source == "spans"
                 else replay_steps(run, config))
        labelled = [e["location"] for e in run["labels"]["errors"]
                    if e["category"] == LOOP_FAILURE]
        severity = worst(spans, LOOPS)
        score.traces += 1
        score.labelled += bool(labelled)
        score.trace_warning.add(severity is not None, bool(labelled))
        score.outcomes.append((run["run_id"], severity is not None, bool(labelled)))
        score.trace_critical.add(severity == "critical", bool(labelled))
        position = {step.get("span_id"): index for index, step in enumerate(run["steps"])}
        flagged = [position[span_id] for span_id, _, _ in detections(spans, LOOPS)
                   if span_id in position]
        targets = [position[span_id] for span_id in labelled if span_id in position]
        score.span_labels += len(targets)
        score.span_recall_hits += sum(any(abs(t - f) <= k for f in flagged) for t in targets)
        score.span_predictions += len(flagged)
        score.span_precision_hits += sum(any(abs(t - f) <= k for t in targets) for f in flagged)
    return scores


def _read_runs(path: Path) -> Iterator[dict[str, Any]]:
    with path.open(encoding="utf-8") as lines:
        for line in lines:
            yield json.loads(line)


@dataclass
class SuccessScore:
    runs: int = 0
    warning: int = 0
    critical: int = 0
    advisory: int = 0  # runs with an info detection and none that flags
    outcomes: list[tuple[str, bool, bool]] = field(default_factory=list)  # id, warned, critical
    by_detector: dict[str, int] = field(default_factory=lambda: defaultdict(int))
    warned_by: dict[str, int] = field(default_factory=lambda: defaultdict(int))


def score_successes(runs: Iterable[dict[str, Any]], config: Config) -> SuccessScore:
    score = SuccessScore()
    for run in runs:
        spans = replay_steps(run, config)
        severity = worst(spans)
        score.runs += 1
        score.warning += severity is not None
        score.critical += severity == "critical"
        score.outcomes.append((run["run_id"], severity is not None, severity == "critical"))
        score.advisory += severity is None and bool(detections(spans, severities=("info",)))
        for detector in {d for _, d, s in detections(spans) if s == "critical"}:
            score.by_detector[detector] += 1
        for detector in {d for _, d, _ in detections(spans)}:
            score.warned_by[detector] += 1
    return score


def score_whowhen(data: Path, config: Config) -> Counts:
    counts = Counts()
    for run in _read_runs(data / "whowhen" / "runs.jsonl"):
        ledgers = [s["ledger"] for s in run["steps"] if isinstance(s.get("ledger"), dict)]
        if not ledgers:
            continue
        in_loop = any(_ledger_flag(ledger, "is_in_loop") is True for ledger in ledgers)
        counts.add(worst(replay_steps(run, config), LOOPS) is not None, in_loop)
    return counts


Outcome = tuple[str, bool, bool]  # run or trace id, predicted, labelled


def counts_of(outcomes: Iterable[Outcome]) -> Counts:
    counts = Counts()
    for _, predicted, labelled in outcomes:
        counts.add(predicted, labelled)
    return counts


def score_runs(runs: Iterable[dict[str, Any]], config: Config, family: str,
               labelled: Callable[[dict[str, Any]], bool]) -> list[Outcome]:
    """Run level: predicted when any detection of ``family`` is on the replayed run."""
    return [(run["run_id"], worst(replay_steps(run, config), family) is not None,
             labelled(run)) for run in runs]


def score_trail_runs(data: Path, config: Config, family: str,
                     categories: frozenset[str]) -> dict[str, list[Outcome]]:
    """Run level on TRAIL's recorded spans, per subset: a trace is labelled when any of
    its errors is in ``categories``."""
    scores: dict[str, list[Outcome]] = defaultdict(list)
    for subset, record, run in trail_traces(data):
        labelled = any(e["category"] in categories for e in run["labels"]["errors"])
        predicted = worst(replay_trail_trace(record, config, run.get("task")),
                          family) is not None
        scores[subset].append((run["run_id"], predicted, labelled))
    return scores


def with_settings(config: Config, **settings: Any) -> Config:
    """``config`` with detector settings added (by variable name) to those it has."""
    return config.replace(settings={**config.settings, **settings})


def code_similarity_folds(data: Path, values: Sequence[float], base: Config) -> tuple[
        dict[float, int], dict[str, Counts]]:
    """``AGENTWATCH_LOOP_CODE_SIMILARITY`` chosen by leave-one-trace-out over the TRAIL
    step lists (where code executions are steps): for each trace, the value with the
    best trace-level F1 at warning on all the others (ties: fewer false positives, then
    the lower value) predicts it. Returns how often each value was chosen, and the
    held-out counts per subset."""
    rows = []  # (subset, labelled, {value: predicted})
    for subset, _, run in trail_traces(data):
        labelled = any(e["category"] == LOOP_FAILURE for e in run["labels"]["errors"])
        predicted = {value: worst(replay_steps(run, with_settings(
            base, AGENTWATCH_LOOP_CODE_SIMILARITY=value)), LOOPS) is not None
            for value in values}
        rows.append((subset, labelled, predicted))

    def merit(others: list[tuple[str, bool, dict[float, bool]]],
              value: float) -> tuple[float, int, float]:
        counts = Counts()
        for _, labelled, predicted in others:
            counts.add(predicted[value], labelled)
        hits = counts.true_positive
        f1 = 2 * hits / (2 * hits + counts.false_positive + counts.false_negative) \
            if hits else 0.0
        return f1, -counts.false_positive, -value

    chosen: dict[float, int] = defaultdict(int)
    held_out: dict[str, Counts] = defaultdict(Counts)
    for index, (subset, labelled, predicted) in enumerate(rows):
        others = rows[:index] + rows[index + 1:]
        best = max(values, key=lambda value: merit(others, value))
        chosen[best] += 1
        held_out[subset].add(predicted[best], labelled)
    return chosen, held_out


def folds(items: Sequence[tuple[str, bool, bool]], k: int) -> list[list[tuple[str, bool, bool]]]:
    """``items`` (id first) in ``k`` folds, by a stable hash of the id: the same run is in
    the same fold in every configuration and every run of the benchmark."""
    split: list[list[tuple[str, bool, bool]]] = [[] for _ in range(k)]
    for item in items:
        split[int(hashlib.sha1(item[0].encode()).hexdigest(), 16) % k].append(item)
    return split


def _spread(values: Sequence[float | None]) -> str:
    known = [value for value in values if value is not None]
    if not known:
        return "n/a"
    return (f"{min(known):.2f}-{max(known):.2f} (" +
            ", ".join(_pct(value) for value in values) + ")")


def fold_spread(outcomes: Sequence[Outcome], k: int) -> tuple[str, str]:
    """Precision and recall measured on each of ``k`` folds alone: their spreads."""
    measured = [counts_of(fold) for fold in folds(outcomes, k)]
    return (_spread([counts.precision() for counts in measured]),
            _spread([counts.recall() for counts in measured]))


def print_fold_spread(trail: dict[str, TrailScore], successes: dict[str, SuccessScore],
                      k: int) -> None:
    """Each headline figure per fold: how much it moves with the runs it is measured on."""
    print(f"\n### Spread across {k} folds (`default` profile)\n")
    print("Runs are split into folds by a hash of their id; each figure is measured on "
          "each fold alone: min-max (per fold).\n")
    print("| corpus | figure | per fold |")
    print("|---|---|---|")
    for subset, score in sorted(trail.items()):
        precisions, recalls = fold_spread(score.outcomes, k)
        print(f"| TRAIL {subset} (spans) | precision at warning | {precisions} |")
        print(f"| TRAIL {subset} (spans) | recall at warning | {recalls} |")
    for corpus, score in successes.items():
        warned = [sum(w for _, w, _ in fold) / len(fold) if fold else None
                  for fold in folds(score.outcomes, k)]
        critical = [sum(c for _, _, c in fold) / len(fold) if fold else None
                    for fold in folds(score.outcomes, k)]
        print(f"| {corpus} | share warned | {_spread(warned)} |")
        print(f"| {corpus} | share critical | {_spread(critical)} |")


# tau-bench airline tools that read or think; every other tool changes a booking.
_TAU_READS = ("get_", "search_", "list_", "calculate", "think", "transfer_to_human")


def _tau_gold_write_missed(run: dict[str, Any]) -> bool:
    """A failed tau-bench run in which a gold write action was never executed."""
    if run["outcome"].get("reward") != 0:
        return False
    done = {step.get("name") for step in run["steps"] if step["kind"] == "tool"}
    return any(not action["name"].startswith(_TAU_READS) and action["name"] not in done
               for action in run.get("expected_actions") or ())


def _ledger_flag(ledger: dict[str, Any], name: str) -> Any:
    value = ledger.get(name)
    return value.get("answer") if isinstance(value, dict) else value


# --- report -------------------------------------------------------------------------------------


def _detectors(family: str) -> str:
    """A detector id, or a family prefix (``drift.``) as ``drift.*``, for a table cell."""
    return f"`{family}*`" if family.endswith(".") else f"`{family}`"


def _pct(value: float | None) -> str:
    return "n/a" if value is None else f"{value:.2f}"


def _share(part: int, whole: int) -> str:
    return f"{part}/{whole} ({100 * part / whole:.1f}%)" if whole else "n/a"


def variants(base: Config, profiles: Sequence[str],
             similarities: Sequence[float]) -> list[tuple[str, Config]]:
    """(label, config) pairs: each profile, then ``default`` at each near-duplicate
    setting; all with ``base``'s settings (the environment's, as in an application)."""
    found = [(profile, base.replace(profile=profile)) for profile in profiles]
    default = base.replace(profile="default")
    found += [(f"default, similarity {value:g}",
               with_settings(default, AGENTWATCH_LOOP_SIMILARITY=value))
              for value in similarities]
    # What comparing code exactly would give (the setting before CodeAct read back).
    found.append(("default, code similarity 0",
                  with_settings(default, AGENTWATCH_LOOP_CODE_SIMILARITY=0)))
    return found


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("data", type=Path, help="the shared data folder (../shared/data)")
    parser.add_argument("--profiles", default=",".join(PROFILES))
    parser.add_argument("--similarity", default="0.5,0.7",
                        help="near-duplicate settings of default to measure too (comma list)")
    parser.add_argument("--k", type=int, default=3, help="span-level tolerance in steps")
    parser.add_argument("--folds", type=int, default=5,
                        help="folds the headline figures are also measured on, one by one")
    args = parser.parse_args(argv)
    similarities = [float(v) for v in args.similarity.split(",") if v]
    # The environment's settings, read as the processor reads them: AGENTWATCH_EMBEDDER,
    # AGENTWATCH_DRIFT_* and the thresholds apply here as in an application.
    base = Config.from_env()
    configs = variants(base, args.profiles.split(","), similarities)
    started = time.perf_counter()

    print(f"### TRAIL `{LOOP_FAILURE}` (span level: a detection within k={args.k} steps)\n")
    print("Replayed from the recorded spans, and from the step list (where the CodeAct "
          "agent's code executions are tool steps; the spans have none).\n")
    print("| profile | subset | replay | traces (labelled) | trace P / R at warning | "
          "trace P / R at critical | span P / R |")
    print("|---|---|---|---|---|---|---|")
    default_trail: dict[str, TrailScore] = {}
    for label, config in configs:
        for source in ("spans", "steps"):
            scores = score_trail(args.data, config, args.k, source)
            if label == "default" and source == "spans":
                default_trail = scores
            for subset, s in sorted(scores.items()):
                span_p = (s.span_precision_hits / s.span_predictions
                          if s.span_predictions else None)
                span_r = s.span_recall_hits / s.span_labels if s.span_labels else None
                print(f"| {label} | {subset} | {source} | {s.traces} ({s.labelled}) | "
                      f"{_pct(s.trace_warning.precision())} / {_pct(s.trace_warning.recall())} | "
                      f"{_pct(s.trace_critical.precision())} / "
                      f"{_pct(s.trace_critical.recall())} | {_pct(span_p)} / {_pct(span_r)} |")

    values = [0.0, 0.3, 0.4, 0.5, 0.6, 0.7, 0.8, 0.9]
    chosen, held_out = code_similarity_folds(args.data, values, base)
    print("\n### `AGENTWATCH_LOOP_CODE_SIMILARITY` by leave-one-trace-out (TRAIL step lists)\n")
    print("Chosen in the folds: " + ", ".join(
        f"{value:g} in {count}" for value, count in sorted(chosen.items())) +
        f" (of {sum(chosen.values())}; values tried: {', '.join(f'{v:g}' for v in values)}).\n")
    print("| subset | held-out traces (labelled) | precision | recall |")
    print("|---|---|---|---|")
    for subset, counts in sorted(held_out.items()):
        traces = counts.true_positive + counts.false_positive + counts.false_negative + \
            counts.true_negative
        print(f"| {subset} | {traces} ({counts.true_positive + counts.false_negative}) | "
              f"{_pct(counts.precision())} | {_pct(counts.recall())} |")

    print("\n### Successful runs flagged (false-positive rate)\n")
    print("| profile | corpus | runs | any warning | critical | runs flagged, by detector "
          "(warning or critical / critical) | advisory (info) only |")
    print("|---|---|---|---|---|---|---|")
    corpora = {
        "mini-swe-agent, resolved": lambda: (
            r for r in _read_runs(args.data / "miniswe" / "runs.jsonl")
            if r["outcome"].get("resolved")),
        "tau-bench airline, reward 1": lambda: (
            r for r in _read_runs(args.data / "taubench" / "airline_runs.jsonl")
            if r["outcome"].get("reward") == 1),
    }
    default_successes: dict[str, SuccessScore] = {}
    for label, config in configs:
        for corpus, runs in corpora.items():
            s = score_successes(runs(), config)
            if label == "default":
                default_successes[corpus] = s
            detail = ", ".join(f"`{d}` {n} / {s.by_detector.get(d, 0)}"
                               for d, n in sorted(s.warned_by.items())) or "-"
            print(f"| {label} | {corpus} | {s.runs} | {_share(s.warning, s.runs)} | "
                  f"{_share(s.critical, s.runs)} | {detail} | {_share(s.advisory, s.runs)} |")

    if args.folds > 1:
        print_fold_spread(default_trail, default_successes, args.folds)

    print("\n### Who&When (Magentic-One), orchestrator ledger `is_in_loop` (silver, run level)\n")
    print("| profile | precision | recall |")
    print("|---|---|---|")
    for label, config in configs:
        counts = score_whowhen(args.data, config)
        print(f"| {label} | {_pct(counts.precision())} | {_pct(counts.recall())} |")
    print("\n### Beyond loops: run-level labels (`default` profile, every detector on)\n")
    print("A run is predicted when any detector of the family flags it (at warning or "
          f"above); the spread is each figure on each of {args.folds} folds alone.\n")
    print("| detectors | corpus | label | runs (labelled) | precision | recall | "
          "precision per fold | recall per fold |")
    print("|---|---|---|---|---|---|---|---|")
    default = base.replace(detectors=("all",))  # drift.objective too, off by default

    def row(family: str, corpus: str, label: str, outcomes: Sequence[Outcome]) -> None:
        counts = counts_of(outcomes)
        labelled = counts.true_positive + counts.false_negative
        precisions, recalls = fold_spread(outcomes, args.folds)
        print(f"| {_detectors(family)} | {corpus} | {label} | {len(outcomes)} ({labelled}) | "
              f"{_pct(counts.precision())} | {_pct(counts.recall())} | {precisions} | "
              f"{recalls} |")

    with_ledgers = [r for r in _read_runs(args.data / "whowhen" / "runs.jsonl")
                    if any(isinstance(s.get("ledger"), dict) for s in r["steps"])]
    row("progress.", "Who&When (Magentic-One)", "ledger `is_progress_being_made=false` "
        "(silver)", score_runs(with_ledgers, default, "progress.", lambda run: any(
            _ledger_flag(s["ledger"], "is_progress_being_made") is False
            for s in run["steps"] if isinstance(s.get("ledger"), dict))))
    for subset, outcomes in sorted(score_trail_runs(args.data, default, "progress.",
                                                    STALL_FAILURES).items()):
        row("progress.", f"TRAIL {subset} (spans)", "`Task Orchestration`, "
            "`Context Handling Failures`", outcomes)
    for family in GOAL_FAMILIES:
        for subset, outcomes in sorted(score_trail_runs(args.data, default, family,
                                                        DRIFT_FAILURES).items()):
            row(family, f"TRAIL {subset} (spans)", "`Goal Deviation`, "
                "`Instruction Non-compliance`", outcomes)
    row("termination.", "tau-bench airline", "reward 0 with a gold write action never "
        "executed (proxy)", score_runs(_read_runs(args.data / "taubench" /
                                                  "airline_runs.jsonl"),
                                       default, "termination.", _tau_gold_write_missed))
    print("\n| detectors | successful runs | warned | critical |")
    print("|---|---|---|---|")
    for corpus, runs in corpora.items():
        success = score_successes(runs(), default)
        for family in GOAL_FAMILIES:
            warned = sum(n for d, n in success.warned_by.items() if d.startswith(family))
            critical = sum(n for d, n in success.by_detector.items() if d.startswith(family))
            print(f"| {_detectors(family)} | {corpus} | {_share(warned, success.runs)} | "
                  f"{_share(critical, success.runs)} |")
    print(f"\n({time.perf_counter() - started:.0f} s)", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
