"""A judged trace as people read it: its runs, each a timeline of steps in order with the
flags on them, and the tokens used step by step (what ``agentwatch analyze --html``
draws).

A run is an agent span (``invoke_agent``, OpenInference's and OpenLLMetry's agent
spans), or the trace's root when steps lie outside any agent. A step is a model call, a
tool call, or a nested agent's invocation; the spans inside a tool call (the HTTP request
it made, a framework's span under another instrumentation's) are that call, not steps.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass

from opentelemetry.sdk.trace import ReadableSpan

from .. import semconv
from ..detectors.base import Severity
from ..enrich import flags_on
from ..normalize import is_agent_span, is_tool_span, normalize
from ..steps import StepKind

__all__ = ["Flag", "Run", "StepRow", "runs_of"]


@dataclass(frozen=True)
class Flag:
    """One detection on a step, or on the run itself (``step`` None)."""

    detector: str
    severity: str
    message: str
    step: int | None = None  # the step's number in its run, from 1


@dataclass(frozen=True)
class StepRow:
    """One step of a run."""

    number: int
    kind: str  # "llm", "tool", "agent"
    name: str
    start_ns: int
    end_ns: int
    severity: str | None = None  # the worst flag on it
    error: str | None = None
    tokens: int = 0  # input plus output, for model calls


@dataclass(frozen=True)
class Run:
    """One run's timeline."""

    name: str
    span_id: int
    start_ns: int
    end_ns: int
    steps: tuple[StepRow, ...]
    flags: tuple[Flag, ...]

    @property
    def worst(self) -> str | None:
        severities = [flag.severity for flag in self.flags]
        return max(severities, key=lambda s: Severity(s).rank, default=None)

    @property
    def tokens(self) -> tuple[int, ...]:
        """Tokens used up to and including each step."""
        total, running = 0, []
        for step in self.steps:
            total += step.tokens
            running.append(total)
        return tuple(running)


def runs_of(spans: Sequence[ReadableSpan]) -> list[Run]:
    """The runs of one judged trace, in the order they started."""
    by_id = {span.context.span_id: span for span in spans if span.context is not None}
    anchors: dict[int, list[ReadableSpan]] = {}
    for span in sorted(spans, key=_start):
        if span.context is None:
            continue
        run = _run_of(span, by_id)
        if run is not None:
            anchors.setdefault(run, []).append(span)
    runs = []
    for anchor_id, members in anchors.items():
        anchor = by_id.get(anchor_id)
        steps, flags = _steps(members)
        if anchor is not None:
            # The run's span repeats some of its steps' verdicts: those are shown there.
            shown = {(flag.detector, flag.severity, flag.message) for flag in flags}
            flags.extend(flag for flag in _flags(anchor, None)
                         if (flag.detector, flag.severity, flag.message) not in shown)
        if not steps and not flags:
            continue
        start = _start(anchor) if anchor is not None else min(map(_start, members))
        end = (anchor.end_time or start) if anchor is not None else \
            max(span.end_time or 0 for span in members)
        name = _run_name(anchor) if anchor is not None else "(spans outside any run)"
        runs.append(Run(name, anchor_id, start, end, tuple(steps), tuple(flags)))
    return sorted(runs, key=lambda run: run.start_ns)


def _start(span: ReadableSpan) -> int:
    return span.start_time or 0


def _run_of(span: ReadableSpan, by_id: Mapping[int, ReadableSpan]) -> int | None:
    """The anchor of the run a span is a step of (None: part of a tool call, or the
    anchor of the root run itself)."""
    parent_id = span.parent.span_id if span.parent is not None else None
    while parent_id is not None:
        parent = by_id.get(parent_id)
        if parent is None:
            return parent_id  # its run's span is not in the file: a run of its own
        if is_tool_span(parent):
            return None
        if is_agent_span(parent):
            return parent_id
        parent_id = parent.parent.span_id if parent.parent is not None else None
    # Under no agent: a step of the root's run, unless it is the root.
    root = span
    while root.parent is not None and root.parent.span_id in by_id:
        root = by_id[root.parent.span_id]
    return None if root is span else root.context.span_id


def _steps(members: Iterable[ReadableSpan]) -> tuple[list[StepRow], list[Flag]]:
    steps: list[StepRow] = []
    flags: list[Flag] = []
    for span in members:
        step = normalize(span, (0, 0))
        if step is None or step.kind is StepKind.OTHER:
            continue
        number = len(steps) + 1
        # A nested agent's own flags are its run's, shown there.
        found = _flags(span, number) if step.kind is not StepKind.AGENT else []
        flags.extend(found)
        worst = max((flag.severity for flag in found), key=lambda s: Severity(s).rank,
                    default=None)
        tokens = (step.input_tokens or 0) + (step.output_tokens or 0) \
            if step.kind is StepKind.LLM else 0
        steps.append(StepRow(number, step.kind.value, step.name, _start(span),
                             span.end_time or _start(span), worst, step.error, tokens))
    return steps, flags


def _flags(span: ReadableSpan, step: int | None) -> list[Flag]:
    """The warnings and criticals on a span (on a run's anchor: its run's)."""
    return [Flag(*flag, step) for flag in flags_on(span)]


def _run_name(span: ReadableSpan) -> str:
    attributes = span.attributes or {}
    name = attributes.get(semconv.GEN_AI_AGENT_NAME)
    return str(name) if name else span.name
