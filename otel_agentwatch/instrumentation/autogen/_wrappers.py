"""The wrapt wrappers of AutoGen's tool runs and of its assistant's message stream."""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any

from opentelemetry import trace

from ... import control, semconv
from ..._bridge import BRIDGE, Content
from ..._guard import internal_error
from ...config import Config
from ...normalize import is_tool_span
from .._messages import attribute_text

__all__ = ["Wrappers"]


class Wrappers:
    """One instance per instrumentation: the halting level they share."""

    def __init__(self, config: Config) -> None:
        self._halt_on = control.halt_level(config)

    async def tool_run(self, wrapped: Callable[..., Awaitable[Any]], instance: Any, args: Any,
                       kwargs: dict[str, Any]) -> Any:
        """``FunctionTool.run(args, cancellation_token)``, inside AutoGen's span."""
        span = trace.get_current_span()
        content = None
        try:
            if span.is_recording() and is_tool_span(span):
                arguments = args[0] if args else kwargs.get("args")
                dump = getattr(arguments, "model_dump", None)
                content = Content(args=dump() if callable(dump) else arguments)
                BRIDGE.keep(span.get_span_context().span_id, content)
        except Exception as error:
            internal_error("AutoGen tool run", error, "the detectors miss this call's content")
        result = await wrapped(*args, **kwargs)
        if content is not None:
            try:
                content.result = result
                span_id = span.get_span_context().span_id
                if BRIDGE.captures(span_id):
                    span.set_attribute(semconv.GEN_AI_TOOL_CALL_ARGUMENTS,
                                       attribute_text(content.args))
                    span.set_attribute(semconv.GEN_AI_TOOL_CALL_RESULT, attribute_text(result))
            except Exception as error:
                internal_error("AutoGen tool result", error)
        return result

    def messages_stream(self, wrapped: Callable[..., Any], instance: Any, args: Any,
                        kwargs: dict[str, Any]) -> Any:
        """``AssistantAgent.on_messages_stream(messages, cancellation_token)``: an async
        generator of events and responses."""
        return self._watching(wrapped(*args, **kwargs))

    async def _watching(self, events: AsyncIterator[Any]) -> AsyncIterator[Any]:
        try:
            async for event in events:
                calls = _requested_calls(event)
                if calls:
                    for call in calls:
                        BRIDGE.give_requested_call(call.id, call.arguments)
                    if self._halt_on is not None and not _in_team_runtime():
                        # Before any call of the batch runs (AutoGen starts them after
                        # this event); AgentHalted is the user's.
                        control.check_current(self._halt_on)
                yield event
        finally:
            close = getattr(events, "aclose", None)
            if close is not None:
                await close()


def _in_team_runtime() -> bool:
    """Whether the agent runs as a team member, inside an AutoGen runtime's message
    handler. A BaseException there is stored by the runtime, and the team's run then
    waits for a result that never comes: halting there would hang the application."""
    try:
        from autogen_core import MessageHandlerContext

        MessageHandlerContext.agent_id()  # raises outside a message handler
    except Exception:
        return False
    return True


def _requested_calls(event: Any) -> list[Any]:
    """The tool calls of a ``ToolCallRequestEvent``; empty for any other event."""
    if type(event).__name__ != "ToolCallRequestEvent":
        return []
    try:
        return [call for call in event.content if isinstance(getattr(call, "id", None), str)]
    except Exception as error:
        internal_error("AutoGen tool request", error)
        return []
