"""Detections -> span attributes and events, and back (:func:`flags_on`).

An ended span is read-only in the SDK, so a flagged span is handed on as a new
:class:`ReadableSpan` carrying the original data plus ours (:func:`rebuild`); an unflagged
span is never rebuilt. A span that is still open (the run's agent or root span) is
marked in place through the public ``Span`` API (:func:`mark_open_anchor`).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from typing import Any, NamedTuple

from opentelemetry.attributes import BoundedAttributes
from opentelemetry.sdk.trace import Event, ReadableSpan
from opentelemetry.sdk.util import BoundedList
from opentelemetry.util.types import AttributeValue

from . import semconv
from .detectors.base import Detection, Severity
from .runs import RunState

__all__ = [
    "Flagged",
    "detection_event_attributes",
    "flag_attributes",
    "flags_on",
    "mark_open_anchor",
    "rebuild",
    "run_attributes",
]


_FLAGGING = frozenset({Severity.WARNING.value, Severity.CRITICAL.value})


def _worst(detections: Iterable[Detection]) -> Detection:
    return max(detections, key=lambda detection: detection.severity.rank)


def _unique(values: Iterable[str]) -> tuple[str, ...]:
    return tuple(dict.fromkeys(values))


def flag_attributes(detections: Sequence[Detection]) -> dict[str, AttributeValue]:
    """The ``agentwatch.*`` attributes of the span that triggered ``detections``; none
    for advisory (info) detections alone, which are events only."""
    detections = [d for d in detections if d.severity.flags]
    if not detections:
        return {}
    worst = _worst(detections)
    return {
        semconv.FLAGGED: True,
        semconv.DETECTIONS: _unique(d.detector for d in detections),
        semconv.FAILURE_MODE: worst.failure_mode,
        semconv.SEVERITY: worst.severity.value,
        semconv.MAST_CODES: _unique(code for d in detections for code in d.mast_codes),
    }


def detection_event_attributes(detection: Detection) -> dict[str, AttributeValue]:
    """Attributes of one ``agentwatch.detection`` event: the verdict and its evidence."""
    attributes: dict[str, AttributeValue] = {
        semconv.EVENT_DETECTOR: detection.detector,
        semconv.EVENT_FAILURE_MODE: detection.failure_mode,
        semconv.EVENT_SEVERITY: detection.severity.value,
        semconv.EVENT_SCORE: detection.score,
        semconv.EVENT_MESSAGE: detection.message,
        semconv.EVENT_MAST_CODES: detection.mast_codes,
    }
    for key, value in detection.evidence.items():
        attributes[semconv.EVENT_EVIDENCE_PREFIX + key] = value
    return attributes


def run_attributes(run: RunState, *, final: bool) -> dict[str, AttributeValue]:
    """The ``agentwatch.run.*`` summary of a run with detections (``run.flagged`` false
    when they are all advisory); counters only at run end, with the notes its model
    requests carried (``AGENTWATCH_ACTION=nudge``), which a run without detections may
    have had too (the budget alone)."""
    if run.worst is None:
        return {semconv.RUN_NUDGES: run.nudges} if final and run.nudges else {}
    attributes: dict[str, AttributeValue] = {
        semconv.RUN_FLAGGED: run.flagged,
        semconv.RUN_DETECTIONS: tuple(run.fired or ()),
        semconv.RUN_SEVERITY: run.worst.severity.value,
        semconv.RUN_FAILURE_MODE: run.worst.failure_mode,
        semconv.RUN_DETECTION_COUNT: run.detection_count,
    }
    if final:
        attributes[semconv.RUN_STEPS] = run.steps
        attributes[semconv.RUN_TOOL_CALLS] = run.tool_calls
        attributes[semconv.RUN_LLM_CALLS] = run.llm_calls
        if run.nudges:
            attributes[semconv.RUN_NUDGES] = run.nudges
    return attributes


class Flagged(NamedTuple):
    """One detection as a span carries it (an ``agentwatch.detection`` event)."""

    detector: str
    severity: str
    message: str


def flags_on(span: ReadableSpan) -> list[Flagged]:
    """The detections that flag ``span``, read back from its ``agentwatch.detection``
    events: warnings and criticals, not advisories (those mark a run, not a finding)."""
    found = []
    for event in span.events:
        if event.name != semconv.DETECTION_EVENT:
            continue
        attributes = event.attributes or {}
        severity = str(attributes.get(semconv.EVENT_SEVERITY))
        if severity in _FLAGGING:
            found.append(Flagged(str(attributes.get(semconv.EVENT_DETECTOR)), severity,
                                 str(attributes.get(semconv.EVENT_MESSAGE))))
    return found


def detection_events(detections: Iterable[Detection], timestamp: int | None) -> list[Event]:
    return [
        Event(semconv.DETECTION_EVENT, detection_event_attributes(d), timestamp)
        for d in detections
    ]


def rebuild(span: ReadableSpan, attributes: Mapping[str, AttributeValue],
            events: Sequence[Event]) -> ReadableSpan:
    """A copy of an ended span with ``attributes`` merged in and ``events`` appended."""
    merged: dict[str, Any] = dict(span.attributes or {})
    merged.update(attributes)
    bounded = BoundedAttributes(maxlen=None, attributes=merged, immutable=True)
    bounded.dropped = span.dropped_attributes
    all_events: BoundedList[Event] = BoundedList(None)
    all_events.extend(span.events)
    all_events.extend(events)
    all_events.dropped = span.dropped_events
    return ReadableSpan(
        name=span.name,
        context=span.context,
        parent=span.parent,
        resource=span.resource,
        attributes=bounded,
        events=all_events,
        links=span.links,
        kind=span.kind,
        status=span.status,
        start_time=span.start_time,
        end_time=span.end_time,
        instrumentation_scope=span.instrumentation_scope,
    )


def mark_open_anchor(span: Any, detection: Detection, run: RunState) -> bool:
    """Put a new detection on the run's still-open agent or root span.

    Returns False when the span can no longer take it (already ended, not recording,
    or not an SDK span), so the caller can add it when the span ends instead.
    """
    if span is None or not span.is_recording():
        return False
    span.add_event(semconv.DETECTION_EVENT, detection_event_attributes(detection))
    span.set_attributes(run_attributes(run, final=False))
    return True
