"""Nudging a LangChain chat model (``AGENTWATCH_ACTION=nudge``): the note goes to the model
as one more human message.

``BaseChatModel._generate_with_cache`` and ``_agenerate_with_cache`` are where every
``invoke``, ``ainvoke``, ``batch`` and ``generate`` of any chat model passes, with the
messages already converted and the model's span started (ours, OpenInference's or
OpenLLMetry's: see :mod:`._acting`), streamed replies included (a LangGraph agent
streaming with ``stream_mode="messages"`` goes through them too). The wrapper hands
the model a new list with the note at its end: the caller's list, and the graph's state,
never hold it. A model whose own client we also instrument (``ChatOpenAI``,
``ChatAnthropic``) is told here, once: what is told counts as told, and the SDK's
wrapper finds nothing left to add.

``stream()``/``astream()`` called on a model directly do not go through these methods;
for the OpenAI and Anthropic models the SDK's wrapper adds the note then.
"""

from __future__ import annotations

from typing import Any

from ... import control
from ..._guard import internal_error
from ...nudge import Nudge
from . import current_handler
from ._acting import span_of_run

__all__ = ["async_nudged", "sync_nudged"]

_SITE = "LangChain nudge"


def sync_nudged(wrapped: Any, instance: Any, args: Any, kwargs: Any) -> Any:
    args, kwargs, told = _with_note(args, kwargs)
    if not told:
        return wrapped(*args, **kwargs)
    with control.noted():  # the model's own client is the same request
        return wrapped(*args, **kwargs)


async def async_nudged(wrapped: Any, instance: Any, args: Any, kwargs: Any) -> Any:
    args, kwargs, told = _with_note(args, kwargs)
    if not told:
        return await wrapped(*args, **kwargs)
    with control.noted():
        return await wrapped(*args, **kwargs)


def _with_note(args: Any, kwargs: Any) -> tuple[Any, Any, bool]:
    """The call's arguments with the run's note added to its messages (the first
    argument), the model span marked, and whether there was one. Never raises."""
    try:
        messages = args[0] if args else kwargs.get("messages")
        if not isinstance(messages, list):
            return args, kwargs, False
        # The model call's span, whoever made it: its run manager knows its run id.
        run_manager = kwargs.get("run_manager", args[2] if len(args) > 2 else None)
        span = span_of_run(getattr(run_manager, "run_id", None), current_handler())
        nudge = control.take_nudge(span)
        if nudge is None or span is None:
            return args, kwargs, False
        noted = [*messages, _human(nudge)]
        control.mark_nudged(span, nudge)
        if args:
            return (noted, *args[1:]), kwargs, True
        return args, {**kwargs, "messages": noted}, True
    except Exception as error:
        internal_error(_SITE, error, "this model call goes without a note")
        return args, kwargs, False


def _human(nudge: Nudge) -> Any:
    from langchain_core.messages import HumanMessage

    return HumanMessage(content=nudge.text)
