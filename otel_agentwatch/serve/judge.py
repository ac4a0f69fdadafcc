"""A whole trace's spans run through the detectors, and the verdicts put on the spans as
received.

The detectors see the trace as the in-process processor would have seen it, replayed in
time order (:class:`~otel_agentwatch.cli.replay.Replayer`); what they add to a span, the
``agentwatch.*`` attributes and ``agentwatch.detection`` events, is copied onto the span as
it came, and everything else the sender said stays as it was. A span the detectors
flag anew loses the verdicts an earlier processor wrote on it (those of a process that
saw only part of the run); the other spans keep theirs.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from opentelemetry.metrics import MeterProvider
from opentelemetry.sdk.trace import Event, ReadableSpan

from .. import semconv
from ..cli.replay import Replayer
from ..config import Config
from ..detectors.base import Severity
from ..enrich import flags_on
from ..normalize import classify
from .decode import ReceivedSpan, recorded

__all__ = ["Judge", "Verdicts"]

_PREFIX = "agentwatch."


@dataclass(frozen=True)
class Verdicts:
    """What judging one trace found."""

    spans: list[ReadableSpan]
    flagged: int = 0
    warnings: int = 0
    criticals: int = 0


class Judge:
    """The detectors, built once, for trace after trace; one caller at a time."""

    def __init__(self, config: Config, meter_provider: MeterProvider | None = None) -> None:
        self._replayer = Replayer(config, meter_provider)

    def judge(self, spans: Sequence[ReadableSpan]) -> Verdicts:
        """``spans`` (one trace's) with the verdicts added."""
        if not any(classify(span) is not None for span in spans):
            # No agent, model or tool span (an HTTP request's trace, a database job's):
            # nothing for the detectors, and no replay to pay for.
            return Verdicts(list(spans))
        judged = {_span_id(span): span for span in self._replayer.replay(map(recorded, spans))}
        out: list[ReadableSpan] = []
        flagged = warnings = criticals = 0
        for span in spans:
            verdict = judged.get(_span_id(span))
            if verdict is None:
                out.append(span)
                continue
            added = {key: value for key, value in (verdict.attributes or {}).items()
                     if key.startswith(_PREFIX) and (span.attributes or {}).get(key) != value}
            found = [event for event in verdict.events
                     if event.name == semconv.DETECTION_EVENT]
            if not added and not found:
                out.append(span)
                continue
            out.append(_with_verdicts(span, added, found))
            if (verdict.attributes or {}).get(semconv.FLAGGED):
                flagged += 1
            for flag in flags_on(verdict):
                warnings += flag.severity == Severity.WARNING.value
                criticals += flag.severity == Severity.CRITICAL.value
        return Verdicts(out, flagged, warnings, criticals)

    def shutdown(self) -> None:
        self._replayer.shutdown()


def _span_id(span: ReadableSpan) -> tuple[int, int]:
    context = span.get_span_context()
    return (context.trace_id, context.span_id) if context is not None else (0, 0)


def _with_verdicts(span: ReadableSpan, added: Mapping[str, Any],
                   found: Sequence[Event]) -> ReadableSpan:
    events: Sequence[Event] = span.events
    if found:  # redone with the whole trace in view: the earlier findings give way
        events = [event for event in events if event.name != semconv.DETECTION_EVENT]
        events = [*events, *found]
    return ReceivedSpan(
        name=span.name, context=span.get_span_context(), parent=span.parent,
        resource=span.resource, attributes={**(span.attributes or {}), **added},
        events=events, links=span.links, kind=span.kind, status=span.status,
        start_time=span.start_time, end_time=span.end_time,
        instrumentation_scope=span.instrumentation_scope,
        dropped=(span.dropped_attributes, span.dropped_events, span.dropped_links))
