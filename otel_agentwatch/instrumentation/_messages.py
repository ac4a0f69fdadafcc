"""What a provider module reads off an SDK call: the :class:`ModelApi` contract each patched
method's reader fulfils, the :class:`Request` and :class:`Reply` it produces, and the
helpers the OpenAI and Anthropic readers share (message histories, tool exchanges, GenAI
attributes and message JSON).

Pure functions over the SDK's objects (pydantic models or plain dicts, read with
:func:`field`); nothing here opens a span or talks to the processor.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterable, Mapping, Sequence
from typing import Any, NamedTuple, Protocol

from .. import semconv
from .._bridge import ToolExchange

__all__ = [
    "ModelApi",
    "Reply",
    "Request",
    "StreamReader",
    "attribute_text",
    "conversation_key",
    "field",
    "history_request",
    "input_messages",
    "last_turn",
    "output_messages",
    "reply",
    "request_attributes",
    "text_of",
    "with_user_turn",
]


class Request(NamedTuple):
    """What a provider module read off a call's arguments."""

    model: str
    attributes: dict[str, Any]  # the span's attributes at start
    conversation: int | None  # key of the conversation it continues (see conversation_key)
    answered: tuple[ToolExchange, ...]  # tool results the request carries
    streaming: bool
    objective: str | None = None  # the first user message's text: what the user asked


class Reply(NamedTuple):
    """What a provider module read off a response."""

    attributes: dict[str, Any]
    output_text: str | None
    tool_calls: Sequence[tuple[str, str, Any]] = ()  # (call id, tool name, arguments)


class StreamReader(Protocol):
    """Folds a stream's events into the reply they add up to."""

    def add(self, event: Any) -> None: ...

    def reply(self, capture: bool) -> Reply | None: ...


class ModelApi(Protocol):
    """How to read one SDK method's calls."""

    @property
    def operation(self) -> str:
        """``gen_ai.operation.name`` of its calls (``chat``)."""

    @property
    def stream_snapshot(self) -> str | None:
        """The property of the stream a streaming helper's context manager yields
        (``with client.messages.stream(...) as stream``) that holds the reply so far,
        read when the block exits; None when the API's helper has no such property."""

    def request(self, instance: Any, kwargs: Mapping[str, Any], capture: bool) -> Request:
        """Read a call's arguments (``instance`` is the SDK resource the method is on)."""

    def reply(self, request: Request, response: Any, capture: bool) -> Reply | None:
        """The reply of a whole response; None for a value it does not know (a raw
        HTTP response asked for with ``with_raw_response``)."""

    def stream_reader(self, request: Request) -> StreamReader: ...

    def traces_itself(self, instance: Any) -> bool:
        """Whether the SDK makes its own span for this call."""

    def with_note(self, kwargs: Mapping[str, Any], text: str) -> dict[str, Any] | None:
        """The call's arguments with ``text`` added to the request as this API expects
        a note from the harness; a new mapping (and message list): the caller's are not
        changed. None when the request has no place for it."""


# --- reading helpers shared by the provider modules ------------------------------------------

def with_user_turn(kwargs: Mapping[str, Any], key: str, text: str,
                   after_assistant: bool = True) -> dict[str, Any] | None:
    """``kwargs`` with a user message holding ``text`` after the history at ``key``, in a
    new list; None when ``key`` holds no history, or its last message is the
    assistant's and ``after_assistant`` is False (a reply being prefilled)."""
    history = kwargs.get(key)
    if not isinstance(history, Sequence) or isinstance(history, (str, bytes)) or not history:
        return None
    if not after_assistant and field(history[-1], "role") == "assistant":
        return None
    return {**kwargs, key: [*history, {"role": "user", "content": text}]}


def field(value: Any, name: str) -> Any:
    """``value[name]`` for a mapping, ``value.name`` for an SDK object; None if absent."""
    if type(value) is dict:  # the common case, before the costlier ABC check
        return value.get(name)
    if isinstance(value, Mapping):
        return value.get(name)
    return getattr(value, name, None)


def conversation_key(system: Any, first_input: Any) -> int | None:
    """A key for the conversation a request continues: its system prompt and first input.

    Hand-written loops send the whole history each time, so every call of one
    conversation starts the same way. In-process only (Python's string hash is salted
    per process), never exported.
    """
    if first_input is None:
        return None
    return hash((repr(system), repr(first_input))) & 0x7FFF_FFFF_FFFF_FFFF or 1


def history_request(operation: str, provider: str, instance: Any, kwargs: Mapping[str, Any],
                    capture: bool,
                    answered: Callable[[Sequence[Any]], tuple[ToolExchange, ...]],
                    ) -> Request:
    """The :class:`Request` of an API whose requests carry the whole conversation as
    ``messages``, the system prompt as ``system`` or as leading system messages (Chat
    Completions, Anthropic Messages); ``answered`` finds the tool results in them."""
    model = str(kwargs.get("model") or "unknown")
    messages = kwargs.get("messages")
    messages = list(messages) if isinstance(messages, Sequence) else []
    attributes = request_attributes(operation, provider, model, kwargs, instance)
    system = kwargs.get("system")
    if capture:
        attributes[semconv.GEN_AI_INPUT_MESSAGES] = input_messages(messages, system)
    conversation, first_user = _head_of(messages, system)
    return Request(model, attributes, conversation, answered(messages),
                   kwargs.get("stream") is True, text_of(first_user))


def _head_of(messages: Sequence[Any], system: Any) -> tuple[int | None, Any]:
    """The conversation key and the first user message's content, from the head of the
    history only (it grows at the tail): the leading system messages, unless ``system``
    is given apart, and the first user message."""
    leading: list[Any] = []
    for message in messages:
        role = field(message, "role")
        if role == "user":
            first = field(message, "content")
            return conversation_key(system if system is not None else leading, first), first
        if role in ("system", "developer"):
            leading.append(field(message, "content"))
    return None, None


def text_of(content_value: Any) -> str | None:
    """The text of a message's content: a string, or its text parts joined."""
    if isinstance(content_value, str):
        return content_value or None
    if isinstance(content_value, Sequence):
        texts = [str(field(part, "text")) for part in content_value
                 if field(part, "type") in ("text", "input_text")
                 and field(part, "text") is not None]
        return "\n".join(texts) or None
    return None


def last_turn(messages: Sequence[Any]) -> tuple[Any, Sequence[Any]]:
    """The last assistant message and the messages after it (where the results of the
    tools it asked for are); ``(None, ())`` when the model has not spoken yet."""
    for index in range(len(messages) - 1, -1, -1):
        if field(messages[index], "role") == "assistant":
            return messages[index], messages[index + 1:]
    return None, ()


_PARAMETERS = (("temperature", "gen_ai.request.temperature"),
               ("top_p", "gen_ai.request.top_p"),
               ("max_tokens", "gen_ai.request.max_tokens"),
               ("max_completion_tokens", "gen_ai.request.max_tokens"),
               ("max_output_tokens", "gen_ai.request.max_tokens"),
               ("seed", "gen_ai.request.seed"))


def request_attributes(operation: str, provider: str, model: str,
                       kwargs: Mapping[str, Any], instance: Any = None) -> dict[str, Any]:
    """The attributes every model call's span starts with (``instance``: the SDK resource,
    whose client knows the server)."""
    attributes: dict[str, Any] = {
        semconv.GEN_AI_OPERATION_NAME: operation,
        semconv.GEN_AI_PROVIDER_NAME: provider,
        semconv.GEN_AI_REQUEST_MODEL: model,
    }
    url = getattr(getattr(instance, "_client", None), "base_url", None)
    host, port = getattr(url, "host", None), getattr(url, "port", None)
    if isinstance(host, str) and host:
        attributes["server.address"] = host
        if isinstance(port, int):
            attributes["server.port"] = port
    for key, attribute in _PARAMETERS:
        value = kwargs.get(key)
        if isinstance(value, (int, float)) and not isinstance(value, bool):
            attributes[attribute] = value
    return attributes


def reply(*, model: Any, response_id: Any, input_tokens: Any, output_tokens: Any,
          reasoning_tokens: Any, finish_reasons: Sequence[str],
          tool_calls: Sequence[tuple[str, str, Any]], text: str | None,
          capture: bool, reasoning: str | None = None) -> Reply:
    """A :class:`Reply` from what every provider's response has.

    ``tool_calls`` are ``(call id, tool name, arguments)``: their names and ids are
    recorded always (they say what the model asked for, not what anyone wrote), their
    arguments only with content capture on. ``reasoning`` is the model's visible
    thinking; the detectors read it with the text.
    """
    attributes: dict[str, Any] = {}
    if isinstance(model, str) and model:
        attributes[semconv.GEN_AI_RESPONSE_MODEL] = model
    if isinstance(response_id, str) and response_id:
        attributes["gen_ai.response.id"] = response_id
    for value, attribute in ((input_tokens, semconv.GEN_AI_USAGE_INPUT_TOKENS),
                             (output_tokens, semconv.GEN_AI_USAGE_OUTPUT_TOKENS),
                             (reasoning_tokens, semconv.GEN_AI_USAGE_REASONING_OUTPUT_TOKENS)):
        if isinstance(value, int) and not isinstance(value, bool):
            attributes[attribute] = value
    reasons = [reason for reason in finish_reasons if isinstance(reason, str)]
    if reasons:
        attributes[semconv.GEN_AI_RESPONSE_FINISH_REASONS] = reasons
    if tool_calls:
        attributes[semconv.REQUESTED_TOOL_NAMES] = [str(name) for _, name, _ in tool_calls]
        attributes[semconv.REQUESTED_TOOL_CALL_IDS] = [str(id_) for id_, _, _ in tool_calls]
    if capture:
        attributes[semconv.GEN_AI_OUTPUT_MESSAGES] = output_messages(
            text, tool_calls, reasons[0] if reasons else None, reasoning)
    return Reply(attributes, "\n".join(piece for piece in (reasoning, text) if piece) or None,
                 tool_calls)


def output_messages(text: str | None, tool_calls: Iterable[tuple[str, str, Any]],
                    finish_reason: str | None, reasoning: str | None = None) -> str:
    """``gen_ai.output.messages``: the assistant's text and the tool calls it asked for."""
    parts: list[dict[str, Any]] = []
    if reasoning:
        parts.append({"type": "reasoning", "content": reasoning})
    if text:
        parts.append({"type": "text", "content": text})
    for call_id, name, arguments in tool_calls:
        parts.append({"type": "tool_call", "id": call_id, "name": name,
                      "arguments": _parsed(arguments)})
    return attribute_text([{"role": "assistant", "parts": parts, "finish_reason": finish_reason}])


def input_messages(messages: Iterable[Any], system: Any = None) -> str:
    """``gen_ai.input.messages`` from a request's messages (OpenAI chat or Responses
    items, or Anthropic messages), with typed parts."""
    converted: list[dict[str, Any]] = []
    if system:
        converted.append({"role": "system", "parts": _parts(system)})
    for message in messages:
        kind = field(message, "type")
        if kind == "function_call_output":
            converted.append({"role": "tool", "parts": [{
                "type": "tool_call_response", "id": field(message, "call_id"),
                "response": field(message, "output")}]})
            continue
        if kind == "function_call":
            converted.append({"role": "assistant", "parts": [{
                "type": "tool_call", "id": field(message, "call_id"),
                "name": field(message, "name"),
                "arguments": _parsed(field(message, "arguments"))}]})
            continue
        role = str(field(message, "role") or "user")
        if role == "tool":
            converted.append({"role": "tool", "parts": [{
                "type": "tool_call_response", "id": field(message, "tool_call_id"),
                "response": field(message, "content")}]})
            continue
        parts = _parts(field(message, "content"))
        for call in field(message, "tool_calls") or ():
            function = field(call, "function")
            parts.append({"type": "tool_call", "id": field(call, "id"),
                          "name": field(function, "name"),
                          "arguments": _parsed(field(function, "arguments"))})
        converted.append({"role": role, "parts": parts})
    return attribute_text(converted)


def _parts(value: Any) -> list[dict[str, Any]]:
    if value is None:
        return []
    if isinstance(value, str):
        return [{"type": "text", "content": value}]
    parts: list[dict[str, Any]] = []
    for block in value if isinstance(value, Sequence) else (value,):
        if isinstance(block, str):
            parts.append({"type": "text", "content": block})
            continue
        kind = field(block, "type")
        if kind in ("text", "input_text", "output_text"):
            parts.append({"type": "text", "content": field(block, "text")})
        elif kind == "tool_use":
            parts.append({"type": "tool_call", "id": field(block, "id"),
                          "name": field(block, "name"), "arguments": field(block, "input")})
        elif kind == "tool_result":
            parts.append({"type": "tool_call_response", "id": field(block, "tool_use_id"),
                          "response": field(block, "content")})
        elif kind == "thinking":
            parts.append({"type": "reasoning", "content": field(block, "thinking")})
        else:
            parts.append({"type": str(kind or "unknown")})
    return parts


def _parsed(arguments: Any) -> Any:
    if isinstance(arguments, str):
        try:
            return json.loads(arguments)
        except ValueError:
            return arguments
    return arguments


def attribute_text(value: Any) -> str:
    """Content as a span attribute: text as it is, anything else as JSON (SDK objects
    through ``model_dump``, other objects through ``str``), or its ``str`` when it cannot
    be encoded (a circular structure)."""
    if isinstance(value, str):
        return value
    try:
        return json.dumps(value, default=_plain, ensure_ascii=False)
    except (TypeError, ValueError, RecursionError):
        return str(value)


def _plain(value: Any) -> Any:
    dump = getattr(value, "model_dump", None)  # SDK objects are pydantic models
    return dump() if callable(dump) else str(value)
