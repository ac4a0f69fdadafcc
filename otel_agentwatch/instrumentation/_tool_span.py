"""One tool call's ``execute_tool`` span, made by us: shared by every instrumentation that
traces tool calls itself (the ``@tool`` decorator, MCP clients, smolagents).

The span is current while the tool runs; the arguments and the result reach the
detectors in the process (through the bridge) and go on the span only when its pipeline
captures content; an error is recorded as the conventions ask.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Mapping
from contextvars import Token
from types import TracebackType
from typing import Any

from opentelemetry import context as otel_context
from opentelemetry import trace
from opentelemetry.context import Context
from opentelemetry.trace import SpanKind, Status, StatusCode, Tracer

from .. import semconv
from .._bridge import BRIDGE, Content
from .._guard import internal_error
from ..normalize import is_tool_span
from ._errors import record_error
from ._messages import attribute_text

__all__ = ["ToolSpan", "arun_tool", "run_tool"]


class ToolSpan:
    """A tool call's span, started; a context manager that makes it current and ends it.

    Args:
        tracer: the instrumentation's.
        name: the tool's name (``gen_ai.tool.name``).
        arguments: as the tool receives them: a mapping by parameter name, or text.
        span_name: default ``execute_tool {name}``.
        kind: default ``INTERNAL``; ``CLIENT`` for a call sent to a server.
        attributes: more attributes to start the span with.
        conversation: for a call made outside any span, a key for the run it belongs to
            (its calls would otherwise each be a run of their own).
    """

    __slots__ = ("_capture", "_content", "_token", "span")

    def __init__(self, tracer: Tracer, name: str, arguments: Any, *,
                 span_name: str | None = None, kind: SpanKind = SpanKind.INTERNAL,
                 attributes: Mapping[str, Any] | None = None,
                 conversation: int | None = None) -> None:
        start: dict[str, Any] = {semconv.GEN_AI_OPERATION_NAME: semconv.OP_EXECUTE_TOOL,
                                 semconv.GEN_AI_TOOL_NAME: name, "gen_ai.tool.type": "function",
                                 **(attributes or {})}
        self._content = Content(args=arguments, conversation=conversation)
        # The processor claims the content as the span starts (and, for a call outside
        # any span, files the span under the conversation's run).
        with BRIDGE.announce(self._content):
            self.span = tracer.start_span(span_name or f"{semconv.OP_EXECUTE_TOOL} {name}",
                                          kind=kind, attributes=start)
        # Asked of the span's own pipeline, now that it has seen the span start.
        self._capture = BRIDGE.captures(self.span.get_span_context().span_id)
        if self._capture and arguments is not None:
            self.span.set_attribute(semconv.GEN_AI_TOOL_CALL_ARGUMENTS,
                                    attribute_text(arguments))
        self._token: Token[Context] | None = None

    def __enter__(self) -> ToolSpan:
        self._token = otel_context.attach(trace.set_span_in_context(self.span))
        return self

    def done(self, result: Any, is_error: bool = False) -> Any:
        """The tool returned ``result`` (``is_error``: one the tool marked as failed, as
        an MCP server may); returns it."""
        try:
            self._content.result = result
            if self._capture and result is not None:
                self.span.set_attribute(semconv.GEN_AI_TOOL_CALL_RESULT, attribute_text(result))
            if is_error:
                self.span.set_attribute(semconv.ERROR_TYPE, "tool_error")
                self.span.set_status(Status(StatusCode.ERROR))
        except Exception as error:
            internal_error("tool result", error)
        return result

    def __exit__(self, kind: type[BaseException] | None, error: BaseException | None,
                 traceback: TracebackType | None) -> None:
        try:
            if self._token is not None:
                otel_context.detach(self._token)
            if error is not None and not isinstance(error, GeneratorExit):
                record_error(self.span, error, self._capture)
            self.span.end()
        except Exception as failure:
            internal_error("tool span end", failure)


def _covering_span_id() -> int | None:
    """The id of the tool span already current around this call, if one is: another
    instrumentation's (OpenInference's, wrapping the same method around ours) or ours
    from an outer method of the same call (a framework's ``run`` calling its ``invoke``)."""
    current = trace.get_current_span()
    if current.is_recording() and is_tool_span(current):
        return current.get_span_context().span_id
    return None


def _start(tracer: Tracer, name: str, arguments: Any) -> tuple[ToolSpan | None, Content | None]:
    """``(our span, None)`` for a call to trace, ``(None, content)`` for one a span covers
    (the content handed to that span), ``(None, None)`` when neither could be set up."""
    try:
        covering = _covering_span_id()
        if covering is None:
            return ToolSpan(tracer, name, arguments), None
        content = Content(args=arguments)
        BRIDGE.keep(covering, content)
        return None, content
    except Exception as error:
        internal_error("tool call", error, "this tool call is not traced")
        return None, None


def run_tool(tracer: Tracer, name: str, arguments: Any, function: Callable[..., Any],
             *args: Any, **kwargs: Any) -> Any:
    """``function(*args, **kwargs)`` as the tool call ``name`` with ``arguments``: in an
    ``execute_tool`` span of ours, or, when a tool span is current around it already,
    in that one (the arguments and the result handed to it): one span, one step."""
    call, covered = _start(tracer, name, arguments)
    if call is None:
        result = function(*args, **kwargs)
        if covered is not None:
            covered.result = result
        return result
    with call:
        return call.done(function(*args, **kwargs))


async def arun_tool(tracer: Tracer, name: str, arguments: Any,
                    function: Callable[..., Awaitable[Any]], *args: Any, **kwargs: Any) -> Any:
    """:func:`run_tool` for a coroutine function."""
    call, covered = _start(tracer, name, arguments)
    if call is None:
        result = await function(*args, **kwargs)
        if covered is not None:
            covered.result = result
        return result
    with call:
        return call.done(await function(*args, **kwargs))
