"""Acting on a live run: :class:`AgentHalted`, and the check instrumentation makes before
each call.

With ``AGENTWATCH_ACTION=halt``, instrumentation asks :func:`check` before each tool call
(and model call, for raw SDK loops) whether the run already has a detection at the
``AGENTWATCH_HALT_ON`` level; if so it raises :class:`AgentHalted` instead of calling.
``observe`` (the default) never changes what the application does.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from opentelemetry import trace

from ._bridge import BRIDGE
from .detectors.base import Detection, Severity

if TYPE_CHECKING:
    from opentelemetry.trace import Span

    from .config import Config
    from .steps import RunKey

__all__ = ["AgentHalted", "check", "check_current", "halt_level"]


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


def check_current(level: Severity | None = None) -> None:
    """:func:`check` for the span current in this context: the next call runs under it."""
    current = trace.get_current_span()
    check(current if current.get_span_context().is_valid else None, level)


def halt_level(config: Config) -> Severity | None:
    """The severity at which ``config`` halts a run; None when it only observes."""
    return Severity(config.halt_on) if config.action == "halt" else None
