"""Recorded spans replayed through the detectors, for traces exported before (``agentwatch
analyze``) and for the detection benchmark.

Each :class:`RecordedSpan` is started and ended in time order, with its recorded ids,
through a fresh SDK pipeline with :class:`~otel_agentwatch.AgentWatchSpanProcessor` in
front of an in-memory exporter: the detectors see what they would have seen live, as far
as the export kept it (attributes that arrive at a span's end are given at its start
here, which only helps).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from typing import Any, NamedTuple

from opentelemetry import trace
from opentelemetry.metrics import MeterProvider
from opentelemetry.sdk.trace import ReadableSpan, TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.sdk.trace.id_generator import IdGenerator
from opentelemetry.trace import SpanKind, Status, StatusCode

from .. import semconv
from ..config import Config
from ..processor import AgentWatchSpanProcessor

__all__ = ["RecordedSpan", "Replayer", "replay"]


class RecordedSpan(NamedTuple):
    """A span as an export recorded it."""

    trace_id: int
    span_id: int
    parent_id: int | None
    name: str
    start_ns: int
    end_ns: int
    attributes: Mapping[str, Any]
    kind: SpanKind = SpanKind.INTERNAL
    failed: bool = False
    status_message: str | None = None
    events: Sequence[tuple[str, int, Mapping[str, Any]]] = ()  # (name, time, attributes)


_INPUTS = frozenset({semconv.OBJECTIVE, semconv.TOOL_ARGUMENTS_DIGEST,
                     semconv.TOOL_RESULT_DIGEST})


def _kept(key: str) -> bool:
    """Attributes replayed: all but the verdicts of an earlier run (what a run was asked,
    and the digests that stand for its calls' content, stay)."""
    return not key.startswith("agentwatch.") or key in _INPUTS


class _RecordedIds(IdGenerator):
    """Hands the SDK the ids the recorded spans had."""

    def __init__(self) -> None:
        self.trace_id = 0
        self.span_id = 0

    def generate_trace_id(self) -> int:
        return self.trace_id

    def generate_span_id(self) -> int:
        return self.span_id


class Replayer:
    """One detection pipeline through which trace after trace is replayed: the detectors
    are built once (building them looks up the installed detector plugins, which costs
    tens of milliseconds), and each trace's state ends with its root span, as it does live.

    Not thread-safe: one caller at a time. ``meter_provider`` counts the detections
    (``agentwatch.detections``); default the global one.
    """

    def __init__(self, config: Config | None = None,
                 meter_provider: MeterProvider | None = None) -> None:
        self._exporter = InMemorySpanExporter()
        self._ids = _RecordedIds()
        self._provider = TracerProvider(id_generator=self._ids)
        self._provider.add_span_processor(AgentWatchSpanProcessor(
            SimpleSpanProcessor(self._exporter),
            config=config if config is not None else Config(),
            meter_provider=meter_provider))
        self._tracer = self._provider.get_tracer("otel_agentwatch.replay")

    def replay(self, spans: Iterable[RecordedSpan]) -> list[ReadableSpan]:
        """The spans as the exporter would have received them with the detectors running."""
        # Starts before ends at the same instant, so a parent is live when its child starts.
        timeline: list[tuple[int, int, RecordedSpan]] = []
        for recorded in spans:
            timeline.append((recorded.start_ns, 0, recorded))
            timeline.append((max(recorded.end_ns, recorded.start_ns), 1, recorded))
        timeline.sort(key=lambda entry: (entry[0], entry[1]))
        live: dict[tuple[int, int], Any] = {}
        ids, tracer = self._ids, self._tracer
        for when, ending, recorded in timeline:
            key = (recorded.trace_id, recorded.span_id)
            if not ending:
                parent = live.get((recorded.trace_id, recorded.parent_id or 0))
                ids.trace_id, ids.span_id = recorded.trace_id, recorded.span_id
                context = trace.set_span_in_context(parent) if parent is not None else None
                live[key] = tracer.start_span(
                    recorded.name, context=context, kind=recorded.kind, start_time=when,
                    attributes={k: v for k, v in recorded.attributes.items()
                                if v is not None and _kept(k)})
                continue
            span = live.pop(key, None)
            if span is None:
                continue
            for name, at, attributes in recorded.events:
                if name != semconv.DETECTION_EVENT:  # verdicts of an earlier run are redone
                    span.add_event(name, dict(attributes), timestamp=at)
            if recorded.failed:
                span.set_status(Status(StatusCode.ERROR, recorded.status_message or None))
            span.end(end_time=when)
        for span in live.values():  # never ended in the record: end them, or they are lost
            span.end()
        finished = list(self._exporter.get_finished_spans())
        self._exporter.clear()
        return finished

    def shutdown(self) -> None:
        self._provider.shutdown()


def replay(spans: Iterable[RecordedSpan], config: Config | None = None) -> list[ReadableSpan]:
    """The spans as the exporter would have received them with the detectors running
    (a :class:`Replayer` for one trace or one set of traces)."""
    replayer = Replayer(config)
    try:
        return replayer.replay(spans)
    finally:
        replayer.shutdown()
