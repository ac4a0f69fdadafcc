"""The wrapt wrappers of LlamaIndex's agent runs, tool calls and event streams."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any

from ..._guard import internal_error
from ...control import AgentHalted
from .._agent_span import AgentSpan
from .._base import Wrappers as BaseWrappers
from .._tool_span import ToolSpan

__all__ = ["Wrappers"]

# Modules of the instrumentations that trace LlamaIndex through its dispatcher.
_OTHER_TRACERS = ("openinference.", "opentelemetry.instrumentation.")


class Wrappers(BaseWrappers):
    """One instance per instrumentation: the tracer and the halting level they share."""

    def run(self, wrapped: Callable[..., Any], instance: Any, args: Any,
            kwargs: dict[str, Any]) -> Any:
        """``run(user_msg=..., ...) -> WorkflowHandler``: synchronous, it creates the
        run's task, which copies the context current here."""
        try:
            name = getattr(instance, "root_agent", None) or getattr(instance, "name", None) \
                or type(instance).__name__
            run = AgentSpan(self._tracer, str(name),
                            _text(args[0] if args else kwargs.get("user_msg")))
        except Exception as error:
            internal_error("LlamaIndex run", error, "this agent run is not traced")
            return wrapped(*args, **kwargs)
        handler = run.call(wrapped, *args, **kwargs)
        try:
            _end_with(run, handler)
        except Exception as error:
            internal_error("LlamaIndex run", error, "this agent run's span ends now")
            run.end()
        return handler

    async def call_tool(self, wrapped: Callable[..., Awaitable[Any]], instance: Any,
                        args: Any, kwargs: dict[str, Any]) -> Any:
        """``_call_tool(ctx, tool, tool_input) -> ToolOutput``."""
        self._halt_if_stuck()  # before the tool runs
        if _traced_by_another():
            return await wrapped(*args, **kwargs)
        try:
            tool: Any = args[1] if len(args) > 1 else kwargs.get("tool")
            arguments = args[2] if len(args) > 2 else kwargs.get("tool_input")
            call = ToolSpan(self._tracer, str(tool.metadata.get_name()), arguments)
        except Exception as error:
            internal_error("LlamaIndex tool call", error, "this tool call is not traced")
            return await wrapped(*args, **kwargs)
        with call:
            output = await wrapped(*args, **kwargs)
            raw = getattr(output, "raw_output", None)
            call.done(raw if raw is not None else getattr(output, "content", None),
                      is_error=getattr(output, "is_error", False) is True)
            return output

    def stream_events(self, wrapped: Callable[..., Any], instance: Any, args: Any,
                      kwargs: dict[str, Any]) -> Any:
        """``WorkflowHandler.stream_events(...)``: an async generator."""
        return _ending_with_halt(wrapped(*args, **kwargs), instance)


def _traced_by_another() -> bool:
    """Whether another instrumentation traces LlamaIndex (OpenInference's, OpenLLMetry's:
    a span handler of theirs on the root dispatcher). Its tool span is then the call's:
    it is parented through the dispatcher, not to ours, and a second one would be a
    second step for the same call."""
    try:
        # Re-exported from llama-index-instrumentation, without an __all__ that says so.
        from llama_index.core.instrumentation import get_dispatcher  # type: ignore[attr-defined]

        return any(type(handler).__module__.startswith(_OTHER_TRACERS)
                   for handler in get_dispatcher().span_handlers)
    except Exception as error:
        internal_error("LlamaIndex dispatcher", error)
        return False


def _text(message: Any) -> str | None:
    """A user message as text: a string, or a ``ChatMessage``'s content."""
    if isinstance(message, str):
        return message or None
    content = getattr(message, "content", None)
    return content if isinstance(content, str) and content else None


def _end_with(run: AgentSpan, handler: Any) -> None:
    """End the run's span when the run ends, with its error if it failed."""
    # The run's task (private): its callback fires before the awaiting caller resumes,
    # so the span has ended when `await handler` returns. The public result is later.
    task = getattr(handler, "_result_task", None)
    if not isinstance(task, asyncio.Future):
        task = asyncio.ensure_future(handler.stop_event_result())

    def done(finished: asyncio.Future[Any]) -> None:
        if finished.cancelled():
            run.end(asyncio.CancelledError())
        else:
            run.end(finished.exception())

    task.add_done_callback(done)


async def _ending_with_halt(events: AsyncIterator[Any], handler: Any) -> AsyncIterator[Any]:
    """The handler's events, ending with AgentHalted if the run is halted: such a run
    publishes no stop event, and the stream would otherwise wait for one forever."""
    result = getattr(handler, "_result_task", None)
    if not isinstance(result, asyncio.Future):
        async for event in events:
            yield event
        return
    iterator = events.__aiter__()
    following: asyncio.Future[Any] | None = None
    try:
        while True:
            following = asyncio.ensure_future(iterator.__anext__())
            await asyncio.wait({following, result}, return_when=asyncio.FIRST_COMPLETED)
            if not following.done():
                error = None if result.cancelled() else result.exception()
                if isinstance(error, AgentHalted):
                    raise error
                await asyncio.wait({following})  # any other ending publishes its stop event
            try:
                event = following.result()
            except StopAsyncIteration:
                return
            yield event
    finally:
        if following is not None and not following.done():
            following.cancel()
