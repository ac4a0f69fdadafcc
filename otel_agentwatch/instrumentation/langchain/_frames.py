"""Frames that run a tool or a model, where their span is made current.

``BaseTool.run``/``arun`` and ``BaseChatModel.generate``/``agenerate`` are wrapped to put
a :class:`Frame` in a context variable for the duration of the call. The callback
handler attaches the run's span in that frame when the run starts (the tool body and
the model's HTTP request then see it as the current span); the wrapper detaches it when
the call returns or raises, in the context that attached it. A tool's frame also keeps
the ``tool_call_id`` it was run with: langchain-core before 1.0.2 passes it to ``run``
but not to the ``on_tool_start`` callbacks. Generators
(``stream``) are not wrapped: a consumer may abandon one half-way, and a span left
attached would become the parent of unrelated work; their spans get parents from run
ids only.
"""

from __future__ import annotations

import contextvars
from contextvars import Token
from typing import Any

from opentelemetry import context as otel_context
from opentelemetry import trace
from opentelemetry.context import Context
from opentelemetry.trace import Span

__all__ = ["Frame", "async_frame", "current_frame", "sync_frame"]


class Frame:
    """One call's slot for a current span, and the tool call id it was run with."""

    __slots__ = ("call_id", "token")

    def __init__(self, call_id: object = None) -> None:
        self.token: Token[Context] | None = None
        self.call_id = call_id if isinstance(call_id, str) else None

    def attach(self, span: Span) -> None:
        if self.token is None:  # the first run started in this frame is the call's own
            self.token = otel_context.attach(trace.set_span_in_context(span))

    def detach(self) -> None:
        token, self.token = self.token, None
        if token is not None:
            otel_context.detach(token)


_frame: contextvars.ContextVar[Frame | None] = contextvars.ContextVar(
    "otel_agentwatch_langchain_frame", default=None)


def current_frame() -> Frame | None:
    """The frame of the innermost wrapped call, if no run has claimed it yet."""
    frame = _frame.get()
    return frame if frame is not None and frame.token is None else None


def sync_frame(wrapped: Any, instance: Any, args: Any, kwargs: Any) -> Any:
    frame = Frame(kwargs.get("tool_call_id"))
    token = _frame.set(frame)
    try:
        return wrapped(*args, **kwargs)
    finally:
        frame.detach()
        _frame.reset(token)


async def async_frame(wrapped: Any, instance: Any, args: Any, kwargs: Any) -> Any:
    frame = Frame(kwargs.get("tool_call_id"))
    token = _frame.set(frame)
    try:
        return await wrapped(*args, **kwargs)
    finally:
        frame.detach()
        _frame.reset(token)
