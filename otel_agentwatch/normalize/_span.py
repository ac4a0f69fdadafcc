"""Span-level helpers shared by the dialect normalizers: identity, timing, errors."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from opentelemetry.sdk.trace import ReadableSpan
from opentelemetry.trace import StatusCode

from .. import semconv
from ..steps import RunKey, Step, StepKind
from ._args import to_str


def make_step(span: ReadableSpan, run_key: RunKey, kind: StepKind, name: str,
              **fields: Any) -> Step:
    """A :class:`Step` with the span's identity, timing and error filled in."""
    context = span.context
    parent = span.parent
    error, error_message = span_error(span)
    return Step(
        kind=kind,
        name=name,
        span_id=context.span_id if context is not None else 0,
        trace_id=context.trace_id if context is not None else 0,
        run_key=run_key,
        parent_span_id=parent.span_id if parent is not None else None,
        error=error,
        error_message=error_message,
        start_time=span.start_time,
        end_time=span.end_time,
        **fields,
    )


def span_error(span: ReadableSpan) -> tuple[str | None, str | None]:
    """``(error type, message)`` when the span ended in error, else ``(None, None)``."""
    attributes: Mapping[str, Any] = span.attributes or {}
    error_type = to_str(attributes.get(semconv.ERROR_TYPE))
    status = span.status
    failed = status is not None and status.status_code is StatusCode.ERROR
    if error_type is None and not failed:
        return None, None
    message = status.description if status is not None else None
    for event in span.events or ():
        if event.name == "exception":
            event_attributes = event.attributes or {}
            error_type = error_type or to_str(event_attributes.get("exception.type"))
            message = message or to_str(event_attributes.get("exception.message"))
            break
    return error_type or "error", message


def name_after(span_name: str, prefix: str) -> str:
    """``"execute_tool search"`` -> ``"search"``; any other name is returned as it is."""
    if span_name.startswith(prefix + " "):
        return span_name[len(prefix) + 1:]
    return span_name
