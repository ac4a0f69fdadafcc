"""How every span we make records the error that ended its operation."""

from __future__ import annotations

from opentelemetry.trace import Span, Status, StatusCode

from .. import semconv

__all__ = ["record_error"]

_MESSAGE_LIMIT = 1000


def record_error(span: Span, error: BaseException, capture: bool) -> None:
    """``error.type``, the exception event and an ERROR status, as the conventions ask.

    An exception's message and traceback may hold what the operation was given (a
    failing tool's arguments, a query, a path), so they go on the span only with content
    capture on; without it, the event and status carry the exception's type alone.
    """
    error_type = type(error).__qualname__
    span.set_attribute(semconv.ERROR_TYPE, error_type)
    if capture:
        span.record_exception(error)
        span.set_status(Status(StatusCode.ERROR, str(error)[:_MESSAGE_LIMIT]))
        return
    span.add_event("exception", {"exception.type": error_type})
    span.set_status(Status(StatusCode.ERROR))
