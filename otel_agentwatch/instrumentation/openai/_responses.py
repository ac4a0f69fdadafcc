"""``responses.create``: its requests, responses and stream events.

The Responses API can keep the conversation on the server: a request then names the
previous response (``previous_response_id``) and sends only the new items, such as the
``function_call_output`` answering the calls that response made. So this module
remembers, for a bounded number of recent responses, the conversation each belongs to
and the function calls it asked for.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from ... import semconv
from ..._bounded import BoundedDict
from ..._bridge import ToolExchange
from .._messages import (
    Reply,
    Request,
    conversation_key,
    field,
    input_messages,
    reply,
    request_attributes,
    text_of,
    with_user_turn,
)
from ._provider import provider_name

__all__ = ["ResponsesApi"]

_REMEMBERED = 4096  # recent responses and function calls kept, each


class ResponsesApi:
    """Reads Responses API calls."""

    operation = semconv.OP_CHAT
    # responses.stream() is not wrapped: it sends its request through create(stream=True),
    # which is, and whose events the stream it yields reads.
    stream_snapshot = None

    def __init__(self) -> None:
        # response id -> conversation key; function call id -> (name, arguments)
        self._conversations: BoundedDict[str, int] = BoundedDict(_REMEMBERED)
        self._calls: BoundedDict[str, tuple[Any, ...]] = BoundedDict(_REMEMBERED)

    def request(self, instance: Any, kwargs: Mapping[str, Any], capture: bool) -> Request:
        model = str(kwargs.get("model") or "unknown")
        items = kwargs.get("input")
        items = [items] if isinstance(items, str) else (
            list(items) if isinstance(items, Sequence) else [])
        attributes = request_attributes(self.operation, provider_name(instance), model, kwargs,
                                        instance)
        conversation_id = _conversation_id(kwargs.get("conversation"))
        if conversation_id is not None:
            attributes[semconv.GEN_AI_CONVERSATION_ID] = conversation_id
            conversation = conversation_key("conversation", conversation_id)
        else:
            previous = kwargs.get("previous_response_id")
            conversation = (self._conversations.get(previous) if isinstance(previous, str)
                            else None) or conversation_key(kwargs.get("instructions"),
                                                          _first_input(items))
        if capture:
            attributes[semconv.GEN_AI_INPUT_MESSAGES] = input_messages(
                [{"role": "user", "content": i} if isinstance(i, str) else i for i in items],
                kwargs.get("instructions"))
        return Request(model, attributes, conversation, self._answered(items),
                       kwargs.get("stream") is True, text_of(_first_input(items)))

    def reply(self, request: Request, response: Any, capture: bool) -> Reply | None:
        output = field(response, "output")
        if output is None:
            return None
        response_id = field(response, "id")
        if isinstance(response_id, str) and request.conversation is not None:
            self._conversations.put(response_id, request.conversation)
        calls: list[tuple[str, str, Any]] = []
        texts: list[str] = []
        reasoning: list[str] = []
        for item in output:
            kind = field(item, "type")
            if kind == "function_call":
                call = (str(field(item, "call_id")), str(field(item, "name")),
                        field(item, "arguments"))
                self._calls.put(call[0], call[1:])
                calls.append(call)
            elif kind == "message":
                texts.extend(str(field(part, "text")) for part in field(item, "content") or ()
                             if field(part, "type") == "output_text")
            elif kind == "reasoning":
                reasoning.extend(str(field(part, "text")) for part in field(item, "summary") or ())
        usage = field(response, "usage")
        status = field(response, "status")
        incomplete = field(field(response, "incomplete_details"), "reason")
        return reply(
            model=field(response, "model"), response_id=response_id,
            input_tokens=field(usage, "input_tokens"),
            output_tokens=field(usage, "output_tokens"),
            reasoning_tokens=field(field(usage, "output_tokens_details"), "reasoning_tokens"),
            finish_reasons=[incomplete if isinstance(incomplete, str) else status]
            if isinstance(status, str) else [],
            tool_calls=calls, text="".join(texts), capture=capture,
            reasoning="\n".join(reasoning) or None,
        )

    def stream_reader(self, request: Request) -> EventReader:
        return EventReader(self, request)

    def with_note(self, kwargs: Mapping[str, Any], text: str) -> dict[str, Any] | None:
        # A user message after the input items (function call outputs, usually).
        items = kwargs.get("input")
        if isinstance(items, str):
            kwargs = {**kwargs, "input": [{"role": "user", "content": items}]}
        return with_user_turn(kwargs, "input", text)

    def traces_itself(self, instance: Any) -> bool:
        return False

    def _answered(self, items: Sequence[Any]) -> tuple[ToolExchange, ...]:
        """Function call outputs in the request, matched to the calls they answer: from
        the request's own items, or the earlier response that made them."""
        made = {field(item, "call_id"): (field(item, "name"), field(item, "arguments"))
                for item in items if field(item, "type") == "function_call"}
        exchanges = []
        for item in items:
            if field(item, "type") != "function_call_output":
                continue
            call_id = field(item, "call_id")
            name, arguments = made.get(call_id) or self._calls.get(call_id) or (None, None)
            if isinstance(name, str):
                exchanges.append(ToolExchange(str(call_id), name, arguments,
                                              field(item, "output")))
        return tuple(exchanges)


def _conversation_id(conversation: Any) -> str | None:
    value = field(conversation, "id") if not isinstance(conversation, str) else conversation
    return value if isinstance(value, str) and value else None


def _first_input(items: Sequence[Any]) -> Any:
    for item in items:
        if isinstance(item, str):
            return item
        if field(item, "role") == "user":
            return field(item, "content")
    return None


class EventReader:
    """Keeps the response the stream's final event carries (``response.completed``,
    ``.incomplete`` or ``.failed``)."""

    def __init__(self, api: ResponsesApi, request: Request) -> None:
        self._api = api
        self._request = request
        self._response: Any = None

    def add(self, event: Any) -> None:
        response = field(event, "response")
        if response is not None:
            self._response = response

    def reply(self, capture: bool) -> Reply | None:
        if self._response is None:
            return None
        return self._api.reply(self._request, self._response, capture)
