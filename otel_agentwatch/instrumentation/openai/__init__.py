"""OpenAI SDK instrumentation: ``chat.completions`` (``create``, ``parse``, ``stream``)
and ``responses`` (``create``, ``parse``; ``stream`` goes through ``create``), sync and
async, whole and streamed.

Each call becomes a ``chat {model}`` span, unless it runs inside a model span another
instrumentation already made (a LangChain chat model calling the SDK). The tool results a
request sends back become tool steps for the detectors, so a hand-written tool loop is
watched without spans of its own.
"""

from __future__ import annotations

from collections.abc import Collection
from typing import ClassVar

from .._messages import ModelApi
from .._sdk import Method, SdkInstrumentor
from ._chat import ChatCompletionsApi
from ._responses import ResponsesApi

__all__ = ["OpenAIInstrumentor"]

_CHAT = "openai.resources.chat.completions.completions"
_RESPONSES = "openai.resources.responses.responses"


class OpenAIInstrumentor(SdkInstrumentor):
    """Instruments the ``openai`` package (2.x and 3.x)."""

    name: ClassVar[str] = "openai"
    target_module: ClassVar[str] = "openai"
    methods: ClassVar[tuple[Method, ...]] = (
        Method(_CHAT, "Completions", "create", "chat", "sync"),
        Method(_CHAT, "Completions", "parse", "chat", "sync"),
        Method(_CHAT, "AsyncCompletions", "create", "chat", "async"),
        Method(_CHAT, "AsyncCompletions", "parse", "chat", "async"),
        Method(_CHAT, "Completions", "stream", "chat", "manager"),
        Method(_CHAT, "AsyncCompletions", "stream", "chat", "manager"),
        Method(_RESPONSES, "Responses", "create", "responses", "sync"),
        Method(_RESPONSES, "Responses", "parse", "responses", "sync"),
        Method(_RESPONSES, "AsyncResponses", "create", "responses", "async"),
        Method(_RESPONSES, "AsyncResponses", "parse", "responses", "async"),
    )

    def instrumentation_dependencies(self) -> Collection[str]:
        return ("openai >= 2.0",)

    def apis(self) -> dict[str, ModelApi]:
        return {"chat": ChatCompletionsApi(), "responses": ResponsesApi()}
