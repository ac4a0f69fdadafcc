"""Telling the detectors what a run is for: :func:`set_objective`."""

from __future__ import annotations

from opentelemetry import trace
from opentelemetry.trace import Span

from . import _registry

__all__ = ["set_objective"]


def set_objective(text: str, span: Span | None = None) -> bool:
    """Make ``text`` the objective of the run the current span (or ``span``) belongs to.

    ``drift.objective`` then judges the run's steps against it, instead of against what
    the instrumentation saw the run asked (an agent's input, the first user message).
    Call it inside the run, e.g. first thing in an ``agent_run`` block. Returns False
    when no processor knows the span (no run to set it on). The text stays in the
    process; it is never exported.
    """
    if not isinstance(text, str) or not text.strip():
        raise ValueError("set_objective() needs a non-empty text")
    current = span if span is not None else trace.get_current_span()
    context = current.get_span_context()
    if not context.is_valid:
        return False
    done = False
    for processor in _registry.processors():
        done = processor.set_objective(context.span_id, text) or done
    return done
