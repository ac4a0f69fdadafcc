"""Acting on a live run: :class:`AgentHalted`, and what instrumentation asks before each
call.

With ``AGENTWATCH_ACTION=halt``, instrumentation asks :func:`check` before each tool call
(and model call, for raw SDK loops) whether the run already has a detection at the
``AGENTWATCH_HALT_ON`` level; if so it raises :class:`AgentHalted` instead of calling.
With ``nudge``, it asks :func:`take_nudge` before each model request for a note to add
to it, and marks the span that carries one with :func:`mark_nudged`. ``observe`` (the
default) never changes what the application does.
"""

from __future__ import annotations

import contextlib
import contextvars
from collections.abc import Iterator
from typing import TYPE_CHECKING

from opentelemetry import trace
from opentelemetry.util.types import AttributeValue

from . import semconv
from ._bridge import BRIDGE
from .detectors.base import Detection, Severity
from .nudge import Nudge

if TYPE_CHECKING:
    from opentelemetry.trace import Span

    from .config import Config
    from .steps import RunKey

__all__ = ["AgentHalted", "check", "check_current", "current_span", "halt_level", "halting",
           "mark_nudged", "noted", "take_nudge"]

# Set while a request that carries a note is being made: a call made inside it (the SDK
# client that a LangChain model or a stream helper calls) is the same request.
_noted: contextvars.ContextVar[bool] = contextvars.ContextVar("otel_agentwatch_noted",
                                                               default=False)


class AgentHalted(BaseException):
    """The run was stopped because a detector found it stuck (``AGENTWATCH_ACTION=halt``).

    Derives from ``BaseException``, as ``KeyboardInterrupt`` does, so that the
    ``except Exception`` tool-error handlers of agent frameworks do not turn it into a
    tool message and let the loop go on. Catch it by name::

        try:
            graph.invoke(inputs)
        except otel_agentwatch.AgentHalted as halted:
            print(halted.detection.message)

    Attributes:
        detection: the detection that made the run halt.
    """

    def __init__(self, detection: Detection) -> None:
        self.detection = detection
        super().__init__(f"agent run halted by otel-agentwatch: {detection.detector} "
                         f"({detection.severity.value}): {detection.message}")


def check(parent: Span | None, level: Severity | None = None,
          run: RunKey | None = None) -> None:
    """Raise :class:`AgentHalted` if the run of the next call has a detection at ``level``
    or above.

    The run is the one ``parent`` (the span the next call would run under) belongs to,
    or else ``run`` (a conversation's run, for model calls outside any span). Without
    ``level``, each processor applies its own ``AGENTWATCH_ACTION`` and
    ``AGENTWATCH_HALT_ON``. Does nothing when no processor knows the run.
    """
    span_id = parent.get_span_context().span_id if parent is not None else None
    if span_id is None and run is None:
        return
    for runs in BRIDGE.live():
        threshold = level if level is not None else runs.halt_level()
        if threshold is None:
            continue
        detection = runs.verdict(span_id, run)
        if detection is not None and detection.severity.rank >= threshold.rank:
            raise AgentHalted(detection)


def halting() -> bool:
    """Whether any live processor halts runs: when none does, finding a call's run for
    :func:`check` is work for nothing."""
    return any(runs.halt_level() is not None for runs in BRIDGE.live())


def check_current(level: Severity | None = None) -> None:
    """:func:`check` for the span current in this context: the next call runs under it."""
    check(current_span(), level)


def current_span() -> Span | None:
    """The span current in this context, if there is a valid one: the span the next call
    runs under, whose run acting is about."""
    current = trace.get_current_span()
    return current if current.get_span_context().is_valid else None


def halt_level(config: Config) -> Severity | None:
    """The severity at which ``config`` halts a run; None when it only observes."""
    return Severity(config.halt_on) if config.halts else None


def take_nudge(parent: Span | None, run: RunKey | None = None) -> Nudge | None:
    """The note for the next model request of the run ``parent`` belongs to (else of
    ``run``), from every processor that nudges; None when there is nothing to tell, or
    inside a request that carries one already (:func:`noted`). What it tells counts as
    told: call it only for a request that will carry the note."""
    span_id = parent.get_span_context().span_id if parent is not None else None
    if (span_id is None and run is None) or _noted.get():
        return None
    notes = [nudge for runs in BRIDGE.live()
             if (nudge := runs.take_nudge(span_id, run)) is not None]
    if len(notes) < 2:
        return notes[0] if notes else None
    return Nudge(" ".join(note.text for note in notes),
                 tuple(detection for note in notes for detection in note.detections),
                 any(note.budget for note in notes))


@contextlib.contextmanager
def noted() -> Iterator[None]:
    """While a request that carries a note is made: :func:`take_nudge` gives nothing to
    the calls made inside it, which are the same request (a model's own client)."""
    token = _noted.set(True)
    try:
        yield
    finally:
        _noted.reset(token)


def mark_nudged(span: Span, nudge: Nudge) -> None:
    """Record on ``span`` (the model call's, if it is still recording) that its request
    carried ``nudge``: the ``agentwatch.nudge`` event, with the note's text only when the
    span's pipeline captures content."""
    if not span.is_recording():
        return
    attributes: dict[str, AttributeValue] = {
        semconv.NUDGE_DETECTIONS: tuple(d.detector for d in nudge.detections),
        semconv.NUDGE_FAILURE_MODES: tuple(dict.fromkeys(
            d.failure_mode for d in nudge.detections)),
        semconv.NUDGE_BUDGET: nudge.budget,
    }
    if BRIDGE.captures(span.get_span_context().span_id):
        attributes[semconv.NUDGE_TEXT] = nudge.text
    span.add_event(semconv.NUDGE_EVENT, attributes)
