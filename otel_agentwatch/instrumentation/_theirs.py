"""Spans another instrumentation made: when one is current for the very call we would
trace, ours stands aside (one span, one step per call) and acts through it."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from opentelemetry import trace
from opentelemetry.trace import Span

__all__ = ["names", "their_current_span"]

_OURS = "otel_agentwatch"


def their_current_span() -> Span | None:
    """The current span, if it records and another instrumentation made it."""
    current = trace.get_current_span()
    if not current.is_recording():
        return None
    scope = getattr(getattr(current, "instrumentation_scope", None), "name", None)
    if isinstance(scope, str) and scope.startswith(_OURS):
        return None
    return current


def names(span: Any, name: Any, keys: Sequence[str]) -> bool:
    """Whether ``span`` is about the agent or tool ``name``: one of the attributes
    ``keys`` says so, or its span name is ``name`` itself (as OpenInference names some)
    or ``name`` followed by a dot (``name.tool``, ``name.run``)."""
    if not isinstance(name, str) or not name:
        return False
    attributes = getattr(span, "attributes", None) or {}
    if any(attributes.get(key) == name for key in keys):
        return True
    span_name = getattr(span, "name", None)
    return isinstance(span_name, str) and (span_name == name or span_name.startswith(name + "."))
