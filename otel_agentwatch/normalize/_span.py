"""Span-level helpers shared by the dialect normalizers: identity, timing, errors."""

from __future__ import annotations

from collections.abc import Hashable, Mapping
from typing import Any

from opentelemetry.sdk.trace import ReadableSpan
from opentelemetry.trace import StatusCode

from .. import semconv
from ..steps import RunKey, Step, StepKind
from ._args import to_str

_ERROR = StatusCode.ERROR
_ERROR_TYPE = semconv.ERROR_TYPE
_new_step = tuple.__new__
_NO_ATTRIBUTES: Mapping[str, Any] = {}


def attributes_of(span: ReadableSpan) -> Mapping[str, Any]:
    """An ended span's attributes, as a mapping to read (never to change).

    The public ``ReadableSpan.attributes`` is a read-only proxy over the SDK's
    ``BoundedAttributes``, a Python mapping: every lookup through it is a Python call,
    and a missing key raises and catches ``KeyError``. This runs for every span the
    application ends, so when the SDK keeps its attributes in a plain dict (it does, and
    freezes it when the span ends) that dict is read directly; anything else goes
    through the public property.
    """
    inner = getattr(getattr(span, "_attributes", None), "_dict", None)
    if type(inner) is dict:
        return inner
    return span.attributes or _NO_ATTRIBUTES


def make_step(span: ReadableSpan, attributes: Mapping[str, Any], run_key: RunKey,
              kind: StepKind, name: str, arguments: tuple[Any, Hashable | None] = (None, None),
              result: str | None = None,
              input_tokens: int | None = None, output_tokens: int | None = None,
              reasoning_tokens: int | None = None, output_text: str | None = None,
              agent_name: str | None = None) -> Step:
    """A :class:`Step` with the span's identity, timing and error filled in."""
    context = span.context
    parent = span.parent
    status = span.status
    if _ERROR_TYPE in attributes or (status is not None and status.status_code is _ERROR):
        error, error_message = span_error(span, attributes)
    else:
        error = error_message = None
    # Built positionally, in Step's field order (a test checks the order): this runs
    # for every span the application ends, and keyword binding of 17 fields triples
    # the cost of building the tuple.
    return _new_step(Step, (
        kind, name,
        context.span_id if context is not None else 0,
        context.trace_id if context is not None else 0,
        run_key,
        parent.span_id if parent is not None else None,
        arguments[0], arguments[1], result, error, error_message,
        input_tokens, output_tokens, reasoning_tokens, output_text, agent_name,
        span.start_time, span.end_time,
    ))


def span_error(span: ReadableSpan,
               attributes: Mapping[str, Any]) -> tuple[str | None, str | None]:
    """``(error type, message)`` when the span ended in error, else ``(None, None)``."""
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
