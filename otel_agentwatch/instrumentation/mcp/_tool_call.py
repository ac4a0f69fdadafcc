"""The wrapper of ``ClientSession.call_tool``: one MCP tool call, traced."""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Mapping
from typing import Any

from opentelemetry import trace
from opentelemetry.trace import Span, SpanKind

from ... import control, semconv
from ..._guard import internal_error
from ...normalize import is_tool_span
from ...runs import conversation_run
from .._base import Wrappers
from .._messages import field
from .._tool_span import ToolSpan

__all__ = ["ToolCallWrapper"]


class ToolCallWrapper(Wrappers):
    """The wrapt wrapper (async) of ``ClientSession.call_tool``."""

    async def __call__(self, wrapped: Callable[..., Awaitable[Any]], instance: Any, args: Any,
                       kwargs: dict[str, Any]) -> Any:
        current = trace.get_current_span()
        parent = current if current.get_span_context().is_valid else None
        # Outside any span, the calls made through one session are one run (an MCP
        # client's own loop): each would otherwise be a trace, and a run, of its own.
        session = _session_key(instance) if parent is None else None
        if self._halt_on is not None:  # before the request is sent; AgentHalted is the user's
            control.check(parent, self._halt_on,
                          run=conversation_run(session) if session is not None else None)
        call = self._start(instance, args, kwargs, current, session)
        if call is None:
            return await wrapped(*args, **kwargs)
        with call:
            result = await wrapped(*args, **kwargs)
            try:
                value, is_error = _outcome(result)
            except Exception as error:
                internal_error("MCP tool result", error)
                return result
            call.done(value, is_error)
            return result

    def _start(self, client: Any, args: Any, kwargs: Mapping[str, Any], current: Span,
               session: int | None) -> ToolSpan | None:
        """Our span for the call, started; None when a tool span covers the call already
        (then given the MCP attributes) or the call cannot be read."""
        try:
            name = args[0] if args else kwargs.get("name")
            arguments = args[1] if len(args) > 1 else kwargs.get("arguments")
            attributes: dict[str, Any] = {semconv.MCP_METHOD_NAME: semconv.MCP_TOOLS_CALL}
            version = getattr(client, "protocol_version", None)
            if isinstance(version, str):
                attributes[semconv.MCP_PROTOCOL_VERSION] = version
            if current.is_recording() and is_tool_span(current):
                current.set_attributes(attributes)
                return None
            tool = str(name)
            return ToolSpan(self._tracer, tool, arguments, kind=SpanKind.CLIENT,
                            span_name=f"{semconv.MCP_TOOLS_CALL} {tool}",
                            attributes=attributes, conversation=session)
        except Exception as error:
            internal_error("MCP tool call", error, "this MCP tool call is not traced")
            return None


def _session_key(client: Any) -> int:
    """A key for the run of the calls made through one client session: its identity.
    In-process only, never exported."""
    return hash(("mcp", id(client))) & 0x7FFF_FFFF_FFFF_FFFF or 1


def _outcome(result: Any) -> tuple[Any, bool]:
    """A ``CallToolResult``'s value (its structured content, else its text parts joined)
    and whether the server marked it as an error; both spellings of the SDK's fields."""
    is_error = field(result, "is_error")
    if is_error is None:
        is_error = field(result, "isError")
    structured = field(result, "structured_content")
    if structured is None:
        structured = field(result, "structuredContent")
    if structured is not None:
        return structured, bool(is_error)
    texts = [text for part in field(result, "content") or ()
             if isinstance(text := field(part, "text"), str)]
    return ("\n".join(texts) if texts else None), bool(is_error)
