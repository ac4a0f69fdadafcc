"""How every span we make records the error that ended its operation."""

from __future__ import annotations

from opentelemetry.trace import Span, Status, StatusCode

from .. import semconv

__all__ = ["record_error"]


def record_error(span: Span, error: BaseException) -> None:
    """``error.type``, the exception event and an ERROR status, as the conventions ask."""
    span.set_attribute(semconv.ERROR_TYPE, type(error).__qualname__)
    span.record_exception(error)
    span.set_status(Status(StatusCode.ERROR, str(error)[:1000]))
