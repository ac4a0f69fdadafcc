"""Anthropic SDK instrumentation: ``messages.create`` (whole and ``stream=True``),
``messages.parse`` and ``messages.stream``, sync and async, and the same methods of
``beta.messages``.

anthropic 2.x traces its own calls (an ``anthropic.messages.create`` span, on unless the
client's ``open_telemetry`` option or ``ANTHROPIC_OPEN_TELEMETRY=false`` turns it off).
Then no second span is made: the SDK's span is the call's span, and what we read off the
request (the conversation, the tool results it carries) is handed to the processor for
it. That span ends inside the call, before the reply is read: the reply's text reaches
the text detectors afterwards (``Content.on_late_text``), and their verdicts the run's
agent span. With its tracing off, our own ``chat`` span carries everything.
"""

from __future__ import annotations

from collections.abc import Collection
from typing import ClassVar

from .._messages import ModelApi
from .._sdk import Method, SdkInstrumentor
from ._messages import MessagesApi

__all__ = ["AnthropicInstrumentor"]

_MESSAGES = "anthropic.resources.messages.messages"
_BETA_MESSAGES = "anthropic.resources.beta.messages.messages"  # same shapes, beta features


class AnthropicInstrumentor(SdkInstrumentor):
    """Instruments the ``anthropic`` package."""

    name: ClassVar[str] = "anthropic"
    target_module: ClassVar[str] = "anthropic"
    methods: ClassVar[tuple[Method, ...]] = tuple(
        method
        for module in (_MESSAGES, _BETA_MESSAGES)
        for method in (
            Method(module, "Messages", "create", "messages", "sync"),
            Method(module, "Messages", "parse", "messages", "sync"),
            Method(module, "AsyncMessages", "create", "messages", "async"),
            Method(module, "AsyncMessages", "parse", "messages", "async"),
            Method(module, "Messages", "stream", "messages", "manager"),
            Method(module, "AsyncMessages", "stream", "messages", "manager"),
        )
    )

    def instrumentation_dependencies(self) -> Collection[str]:
        return ("anthropic >= 0.40",)

    def apis(self) -> dict[str, ModelApi]:
        return {"messages": MessagesApi()}
