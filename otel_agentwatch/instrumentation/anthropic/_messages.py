"""``messages.create`` and ``messages.stream``: requests, messages and stream events.

A request holds the whole history, except on a server-held thread (beta: ``thread``
``{"type": "continue", "previous_message_id": ...}``, what the SDK's tool runner sends):
then only the new turn comes, such as the ``tool_result`` blocks answering the previous
message's ``tool_use``. So, for a bounded number of recent messages, the conversation
each belongs to and the tool calls it made are remembered.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from typing import Any

from opentelemetry import trace

from ... import semconv
from ..._bounded import BoundedDict
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

__all__ = ["MessagesApi"]

_REMEMBERED = 4096  # recent messages and tool calls kept, each


class MessagesApi:
    """Reads Messages API calls (``messages`` and ``beta.messages``)."""

    operation = semconv.OP_CHAT
    stream_snapshot = "current_message_snapshot"

    def __init__(self) -> None:
        # message id -> conversation key; tool_use id -> (name, input)
        self._conversations: BoundedDict[str, int] = BoundedDict(_REMEMBERED)
        self._calls: BoundedDict[str, tuple[Any, ...]] = BoundedDict(_REMEMBERED)

    def request(self, instance: Any, kwargs: Mapping[str, Any], capture: bool) -> Request:
        request = history_request(
            self.operation, "anthropic", instance, kwargs, capture,
            lambda messages: answered_tool_calls(messages, self._calls.get))
        previous = field(kwargs.get("thread"), "previous_message_id")
        conversation = self._conversations.get(previous) if isinstance(previous, str) else None
        if conversation is not None:  # a thread's later turn: the conversation it continues
            request = request._replace(conversation=conversation)
        return request

    def reply(self, request: Request, response: Any, capture: bool) -> Reply | None:
        blocks = field(response, "content")
        if blocks is None or field(response, "role") != "assistant":
            return None
        texts, thinking, calls = [], [], []
        for block in blocks:
            kind = field(block, "type")
            if kind == "text":
                texts.append(str(field(block, "text") or ""))
            elif kind == "thinking":
                thinking.append(str(field(block, "thinking") or ""))
            elif kind == "tool_use":
                calls.append((str(field(block, "id")), str(field(block, "name")),
                              field(block, "input")))
        self.remember(request, field(response, "id"), calls)
        return _reply(response, field(response, "usage"), field(response, "stop_reason"),
                      calls, "".join(texts), "".join(thinking), capture)

    def remember(self, request: Request, message_id: Any,
                 calls: Sequence[tuple[str, str, Any]]) -> None:
        """What a later turn of a server-held thread refers to by id."""
        if isinstance(message_id, str) and request.conversation is not None:
            self._conversations.put(message_id, request.conversation)
        for call_id, name, arguments in calls:
            self._calls.put(call_id, (name, arguments))

    def stream_reader(self, request: Request) -> EventReader:
        return EventReader(self, request)

    def with_note(self, kwargs: Mapping[str, Any], text: str) -> dict[str, Any] | None:
        # A user turn after the history (the API merges it with the turn of tool results
        # before it); none after an assistant turn being prefilled, which it would end.
        return with_user_turn(kwargs, "messages", text, after_assistant=False)

    def traces_itself(self, instance: Any) -> bool:
        """anthropic 2.x makes a span per call unless ``open_telemetry`` turns it off;
        without a tracer provider of its own it uses the global one, and makes none that
        records while that is still OpenTelemetry's placeholder."""
        client = getattr(instance, "_client", None)
        try:
            if getattr(client, "_tracer", None) is None:
                return False
            options = getattr(client, "_open_telemetry", None)
        except Exception:  # a client class we do not know
            return False
        if isinstance(options, Mapping) and options.get("tracer_provider") is not None:
            return True
        return not isinstance(trace.get_tracer_provider(),
                              (trace.ProxyTracerProvider, trace.NoOpTracerProvider))


def _reply(message: Any, usage: Any, stop_reason: Any, calls: list[tuple[str, str, Any]],
           text: str, thinking: str, capture: bool) -> Reply:
    # gen_ai.usage.input_tokens counts every input token; Anthropic reports cached ones apart.
    inputs = [field(usage, key) for key in ("input_tokens", "cache_creation_input_tokens",
                                            "cache_read_input_tokens")]
    counted = [value for value in inputs if isinstance(value, int)]
    return reply(
        model=field(message, "model"), response_id=field(message, "id"),
        input_tokens=sum(counted) if counted else None,
        output_tokens=field(usage, "output_tokens"),
        reasoning_tokens=field(field(usage, "output_tokens_details"), "thinking_tokens"),
        finish_reasons=[stop_reason] if isinstance(stop_reason, str) else [],
        tool_calls=calls, text=text, capture=capture, reasoning=thinking or None,
    )


def answered_tool_calls(messages: Sequence[Any],
                        made_earlier: Callable[[Any], Any] | None = None,
                        ) -> tuple[ToolExchange, ...]:
    """The ``tool_result`` blocks after the last assistant message, matched to its
    ``tool_use`` blocks; on a thread's later turn, which starts with the results, to the
    calls ``made_earlier`` (call id -> ``(name, input)``) remembers."""
    assistant, after = last_turn(messages)
    if assistant is None and made_earlier is not None:
        after = messages
    calls = {field(block, "id"): (field(block, "name"), field(block, "input"))
             for block in _blocks(field(assistant, "content"))
             if field(block, "type") == "tool_use"}
    exchanges = []
    for message in after:
        for block in _blocks(field(message, "content")):
            if field(block, "type") != "tool_result":
                continue
            call_id = field(block, "tool_use_id")
            name, arguments = calls.get(call_id) or (
                made_earlier(call_id) if made_earlier is not None else None) or (None, None)
            if isinstance(name, str):
                exchanges.append(ToolExchange(str(call_id), name, arguments,
                                              field(block, "content"),
                                              field(block, "is_error") is True))
    return tuple(exchanges)


def _blocks(content: Any) -> Sequence[Any]:
    """A message's content blocks (a plain string content has none)."""
    return content if isinstance(content, Sequence) and not isinstance(content, str) else ()


class EventReader:
    """Adds up the raw events of ``messages.create(stream=True)``."""

    def __init__(self, api: MessagesApi, request: Request) -> None:
        self._api = api
        self._request = request
        self._message: Any = None
        self._usage: dict[str, Any] = {}
        self._stop_reason: Any = None
        self._blocks: dict[int, list[Any]] = {}  # index -> [type, id, name, pieces]

    def add(self, event: Any) -> None:
        kind = field(event, "type")
        if kind == "message_start":
            self._message = field(event, "message")
            self._merge_usage(field(self._message, "usage"))
        elif kind == "content_block_start":
            block = field(event, "content_block")
            self._blocks[field(event, "index") or 0] = [
                field(block, "type"), field(block, "id"), field(block, "name"), []]
        elif kind == "content_block_delta":
            entry = self._blocks.get(field(event, "index") or 0)
            delta = field(event, "delta")
            piece = (field(delta, "text") or field(delta, "thinking")
                     or field(delta, "partial_json"))
            if entry is not None and isinstance(piece, str):
                entry[3].append(piece)
        elif kind == "message_delta":
            self._stop_reason = field(field(event, "delta"), "stop_reason")
            self._merge_usage(field(event, "usage"))

    def _merge_usage(self, usage: Any) -> None:
        for key in ("input_tokens", "output_tokens", "cache_creation_input_tokens",
                    "cache_read_input_tokens"):
            value = field(usage, key)
            if isinstance(value, int):
                self._usage[key] = value

    def reply(self, capture: bool) -> Reply | None:
        if self._message is None:
            return None
        texts, thinking, calls = [], [], []
        for index in sorted(self._blocks):
            kind, call_id, name, pieces = self._blocks[index]
            if kind == "text":
                texts.append("".join(pieces))
            elif kind == "thinking":
                thinking.append("".join(pieces))
            elif kind == "tool_use":
                calls.append((str(call_id), str(name), "".join(pieces) or "{}"))
        self._api.remember(self._request, field(self._message, "id"), calls)
        return _reply(self._message, self._usage, self._stop_reason, calls, "".join(texts),
                      "".join(thinking), capture)
