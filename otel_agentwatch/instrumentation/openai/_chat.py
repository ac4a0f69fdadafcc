"""``chat.completions.create``: its requests, responses and streamed chunks."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from ... import semconv
from ..._bridge import ToolExchange
from .._messages import (
    Reply,
    Request,
    field,
    history_request,
    last_turn,
    reply,
    with_user_turn,
)
from ._provider import provider_name

__all__ = ["ChatCompletionsApi"]


class ChatCompletionsApi:
    """Reads Chat Completions calls (a stateless API: each request holds the history)."""

    operation = semconv.OP_CHAT
    stream_snapshot = "current_completion_snapshot"

    def request(self, instance: Any, kwargs: Mapping[str, Any], capture: bool) -> Request:
        return history_request(self.operation, provider_name(instance), instance, kwargs,
                               capture, answered_tool_calls)

    def reply(self, request: Request, response: Any, capture: bool) -> Reply | None:
        choices = field(response, "choices")
        if choices is None:
            return None
        usage = field(response, "usage")
        message = field(choices[0], "message") if choices else None
        return reply(
            model=field(response, "model"), response_id=field(response, "id"),
            input_tokens=field(usage, "prompt_tokens"),
            output_tokens=field(usage, "completion_tokens"),
            reasoning_tokens=field(field(usage, "completion_tokens_details"), "reasoning_tokens"),
            finish_reasons=[field(choice, "finish_reason") for choice in choices],
            tool_calls=_tool_calls(field(message, "tool_calls")),
            text=field(message, "content"), capture=capture,
        )

    def stream_reader(self, request: Request) -> ChunkReader:
        return ChunkReader()

    def traces_itself(self, instance: Any) -> bool:
        return False  # openai 3.x makes no spans of its own

    def with_note(self, kwargs: Mapping[str, Any], text: str) -> dict[str, Any] | None:
        # A user message after the history: accepted after tool results by the API and
        # by the compatible servers, some of which refuse a system message past the first.
        return with_user_turn(kwargs, "messages", text)


def answered_tool_calls(messages: Sequence[Any]) -> tuple[ToolExchange, ...]:
    """The ``tool`` messages after the last assistant message, matched to its calls."""
    assistant, after = last_turn(messages)
    calls = {}
    for call in field(assistant, "tool_calls") or ():
        function = field(call, "function")
        calls[field(call, "id")] = (field(function, "name"), field(function, "arguments"))
    exchanges = []
    for message in after:
        if field(message, "role") != "tool":
            continue
        call_id = field(message, "tool_call_id")
        name, arguments = calls.get(call_id, (None, None))
        if isinstance(name, str):
            exchanges.append(ToolExchange(str(call_id), name, arguments,
                                          field(message, "content")))
    return tuple(exchanges)


def _tool_calls(calls: Any) -> list[tuple[str, str, Any]]:
    found = []
    for call in calls or ():
        function = field(call, "function")
        found.append((str(field(call, "id")), str(field(function, "name")),
                      field(function, "arguments")))
    return found


class ChunkReader:
    """Adds up streamed ``ChatCompletionChunk`` objects (usage comes last, when the
    request asked for it with ``stream_options={"include_usage": True}``)."""

    def __init__(self) -> None:
        self._id: Any = None
        self._model: Any = None
        self._usage: Any = None
        self._text: list[str] = []
        self._reasons: dict[int, str] = {}
        self._calls: dict[int, list[Any]] = {}  # index -> [id, name, argument pieces]

    def add(self, chunk: Any) -> None:
        self._id = self._id or field(chunk, "id")
        self._model = self._model or field(chunk, "model")
        usage = field(chunk, "usage")
        if usage is not None:
            self._usage = usage
        for choice in field(chunk, "choices") or ():
            index = field(choice, "index") or 0
            reason = field(choice, "finish_reason")
            if isinstance(reason, str):
                self._reasons[index] = reason
            if index != 0:
                continue
            delta = field(choice, "delta")
            text = field(delta, "content")
            if isinstance(text, str):
                self._text.append(text)
            for call in field(delta, "tool_calls") or ():
                entry = self._calls.setdefault(field(call, "index") or 0, [None, None, []])
                entry[0] = entry[0] or field(call, "id")
                function = field(call, "function")
                entry[1] = entry[1] or field(function, "name")
                pieces = field(function, "arguments")
                if isinstance(pieces, str):
                    entry[2].append(pieces)

    def reply(self, capture: bool) -> Reply:
        usage = self._usage
        return reply(
            model=self._model, response_id=self._id,
            input_tokens=field(usage, "prompt_tokens"),
            output_tokens=field(usage, "completion_tokens"),
            reasoning_tokens=field(field(usage, "completion_tokens_details"), "reasoning_tokens"),
            finish_reasons=[self._reasons[index] for index in sorted(self._reasons)],
            tool_calls=[(str(call_id), str(name), "".join(pieces))
                        for call_id, name, pieces in (self._calls[i] for i in sorted(self._calls))],
            text="".join(self._text), capture=capture,
        )
