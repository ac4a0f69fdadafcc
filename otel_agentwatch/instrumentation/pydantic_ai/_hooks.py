"""Wrappers of the three hooks of pydantic-ai's ``Instrumentation`` capability.

Each hook receives a ``handler`` that does the work (the run, the model request, the tool
call) and calls it inside the span it opened. We pass it a handler of ours that calls the
original, so ours runs inside pydantic-ai's span, sees what it is given and returns, and
keeps that for the span through the bridge. The hooks' keyword signatures are pydantic-ai's
public capability API (``AbstractCapability``), the same from 2.2 on.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Sequence
from typing import Any

from opentelemetry import trace

from ... import control
from ..._bridge import BRIDGE, Content
from ..._guard import internal_error
from ...config import Config

__all__ = ["CapabilityHooks"]

Wrapped = Callable[..., Awaitable[Any]]


class CapabilityHooks:
    """The wrapt wrappers (``wrapped, instance, args, kwargs``) of the capability's hooks."""

    def __init__(self, config: Config) -> None:
        self._halt_on = control.halt_level(config)

    async def wrap_run(self, wrapped: Wrapped, instance: Any, args: Any,
                       kwargs: dict[str, Any]) -> Any:
        handler = kwargs.get("handler")
        context = kwargs.get("ctx", args[0] if args else None)
        if handler is None:
            return await wrapped(*args, **kwargs)

        async def run() -> Any:
            _in_span("pydantic-ai run", lambda span_id: _give_objective(span_id, context))
            return await handler()

        return await wrapped(*args, **{**kwargs, "handler": run})

    async def wrap_model_request(self, wrapped: Wrapped, instance: Any, args: Any,
                                 kwargs: dict[str, Any]) -> Any:
        handler = kwargs.get("handler")
        if handler is None:
            return await wrapped(*args, **kwargs)

        async def request(*handler_args: Any, **handler_kwargs: Any) -> Any:
            response = await handler(*handler_args, **handler_kwargs)
            _in_span("pydantic-ai model request",
                     lambda span_id: _keep_reply(span_id, response))
            return response

        return await wrapped(*args, **{**kwargs, "handler": request})

    async def wrap_tool_execute(self, wrapped: Wrapped, instance: Any, args: Any,
                                kwargs: dict[str, Any]) -> Any:
        handler = kwargs.get("handler")
        if handler is None:
            return await wrapped(*args, **kwargs)
        call = kwargs.get("call")
        halt_on = self._halt_on

        async def execute(*handler_args: Any, **handler_kwargs: Any) -> Any:
            span = trace.get_current_span()  # pydantic-ai's execute_tool span
            if halt_on is not None:
                # Before the tool body; AgentHalted is the user's, and derives from
                # BaseException, which pydantic-ai records on the span and re-raises.
                control.check(span, halt_on)
            content = Content(args=getattr(call, "args", None))
            _in_span("pydantic-ai tool call", lambda span_id: BRIDGE.keep(span_id, content))
            result = await handler(*handler_args, **handler_kwargs)
            content.result = result
            return result

        return await wrapped(*args, **{**kwargs, "handler": execute})


def _in_span(site: str, keep: Callable[[int], None]) -> None:
    """Call ``keep`` with the current span's id, if a span is recording; never raises."""
    try:
        span = trace.get_current_span()
        if span.is_recording():
            keep(span.get_span_context().span_id)
    except Exception as error:
        internal_error(site, error, "the detectors miss what this step said")


def _give_objective(span_id: int, context: Any) -> None:
    text = _prompt_text(getattr(context, "prompt", None))
    if text:
        BRIDGE.give_objective(span_id, text)


def _prompt_text(prompt: Any) -> str | None:
    """A run's prompt as text: a string, or the strings among its user content."""
    if isinstance(prompt, str):
        return prompt or None
    if isinstance(prompt, Sequence):
        return "\n".join(part for part in prompt if isinstance(part, str)) or None
    return None


def _keep_reply(span_id: int, response: Any) -> None:
    texts = [part.content for part in getattr(response, "parts", None) or ()
             if getattr(part, "part_kind", None) == "text" and isinstance(part.content, str)]
    if texts:
        BRIDGE.keep(span_id, Content(output_text="\n".join(texts)))
