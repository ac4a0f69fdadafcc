"""One model call made through a provider SDK, traced: shared by the OpenAI and Anthropic
instrumentations.

Each SDK method we patch has a :class:`ModelApi` that reads its request and its response
(whole or streamed) into GenAI attributes. :class:`ModelCallWrapper` does the rest, the
same for every API: it skips calls that are already traced (made inside a LangChain
chat-model span, say), halts a stuck run before the request is sent, announces the call
to the processor (the conversation it continues and the tool results it carries), opens
the ``chat {model}`` span unless the SDK traces the call itself, and ends it when the
response (or the last event of a stream) has arrived.

Everything that reads requests and responses is guarded: a failure there is logged once
and the call goes on untraced or half-traced, never failed.
"""

from __future__ import annotations

import contextlib
import json
import weakref
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from typing import Any, NamedTuple, Protocol

import wrapt
from opentelemetry import context as otel_context
from opentelemetry import trace
from opentelemetry.trace import Span, SpanKind, Tracer

from .. import control, semconv
from .._bridge import BRIDGE, Content, ToolExchange
from .._guard import internal_error
from ..config import Config
from ..normalize import is_model_span
from ..runs import conversation_run
from ._errors import record_error

__all__ = [
    "ModelApi",
    "ModelCallWrapper",
    "Reply",
    "Request",
    "StreamReader",
    "conversation_key",
    "field",
    "history_request",
    "last_turn",
    "output_messages",
    "reply",
    "request_attributes",
    "text_of",
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

    operation: str
    # The property of the stream a streaming helper's context manager yields (``with
    # client.messages.stream(...) as stream``) that holds the reply so far, read when the
    # block exits; None when the API's helper has no such property.
    stream_snapshot: str | None

    def request(self, instance: Any, kwargs: Mapping[str, Any], capture: bool) -> Request:
        """Read a call's arguments (``instance`` is the SDK resource the method is on)."""

    def reply(self, request: Request, response: Any, capture: bool) -> Reply | None:
        """The reply of a whole response; None for a value it does not know (a raw
        HTTP response asked for with ``with_raw_response``)."""

    def stream_reader(self, request: Request) -> StreamReader: ...

    def traces_itself(self, instance: Any) -> bool:
        """Whether the SDK makes its own span for this call."""


# --- reading helpers shared by the provider modules ------------------------------------------

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
    return _json([{"role": "assistant", "parts": parts, "finish_reason": finish_reason}])


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
    return _json(converted)


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


def _json(value: Any) -> str:
    return json.dumps(value, default=_plain, ensure_ascii=False)


def _plain(value: Any) -> Any:
    dump = getattr(value, "model_dump", None)  # SDK objects are pydantic models
    return dump() if callable(dump) else str(value)


# --- the wrapper -----------------------------------------------------------------------------

class _Call:
    """One traced call in flight: its span (None when the SDK makes its own) and what
    the processor was told about it."""

    __slots__ = ("announced", "ended", "request", "span")

    def __init__(self, request: Request, span: Span | None, announced: Content) -> None:
        self.request = request
        self.span = span
        self.announced = announced
        self.ended = False


class ModelCallWrapper:
    """The wrapt wrapper of one SDK method (``create``), sync or async.

    Args:
        tracer: for our ``chat`` spans.
        config: content capture and halting.
        api: reads this method's requests and responses.
    """

    def __init__(self, tracer: Tracer, config: Config, api: ModelApi) -> None:
        self._tracer = tracer
        self._capture = config.capture_content
        self._halt_on = control.halt_level(config)
        self._api = api
        self._site = f"{type(api).__name__} call"

    # --- entry points (wrapt signature) ---------------------------------------------------

    def __call__(self, wrapped: Callable[..., Any], instance: Any, args: Any,
                 kwargs: dict[str, Any]) -> Any:
        call = self._begin(wrapped, instance, kwargs)
        if call is None:
            return wrapped(*args, **kwargs)
        with self.running(call):
            result = wrapped(*args, **kwargs)
        return self._outcome(call, result)

    async def call_async(self, wrapped: Callable[..., Any], instance: Any, args: Any,
                         kwargs: dict[str, Any]) -> Any:
        call = self._begin(wrapped, instance, kwargs)
        if call is None:
            return await wrapped(*args, **kwargs)
        with self.running(call):
            result = await wrapped(*args, **kwargs)
        return self._outcome(call, result)

    def stream_manager(self, wrapped: Callable[..., Any], instance: Any, args: Any,
                       kwargs: dict[str, Any]) -> Any:
        """For streaming helpers: methods returning a context manager that makes the
        request on entry and yields a stream whose ``ModelApi.stream_snapshot`` property
        is the reply so far (``messages.stream``, ``chat.completions.stream``)."""
        manager = wrapped(*args, **kwargs)
        try:
            return _TracedStreamManager(manager, self, wrapped, instance, kwargs)
        except Exception as error:
            internal_error(self._site, error)
            return manager

    # --- the steps -------------------------------------------------------------------------

    @contextlib.contextmanager
    def running(self, call: _Call) -> Iterator[None]:
        """While the SDK sends the request: the call announced, our span current; an
        error ends the span."""
        try:
            with BRIDGE.announce(call.announced):
                token = (otel_context.attach(trace.set_span_in_context(call.span))
                         if call.span is not None else None)
                try:
                    yield
                finally:
                    if token is not None:
                        otel_context.detach(token)
        except BaseException as error:
            self.finish(call, None, error)
            raise

    def _begin(self, wrapped: Any, instance: Any, kwargs: Mapping[str, Any]) -> _Call | None:
        """Start tracing a call; None when it is not ours to trace. May raise AgentHalted.

        No span of ours when the call has one already: a framework's model span is
        current, the SDK traces itself, or another instrumentation wrapped the method
        before us (its wrapper runs inside ours, and its span claims the announcement).
        """
        current = trace.get_current_span()
        try:
            if current.is_recording() and is_model_span(current):
                return None
            request = self._api.request(instance, kwargs, self._capture)
            own_span = not (self._api.traces_itself(instance)
                            or isinstance(wrapped, wrapt.BaseObjectProxy))
        except Exception as error:
            internal_error(self._site, error, "this model call is not traced")
            return None
        parent = current if current.get_span_context().is_valid else None
        if self._halt_on is not None:  # before the request is sent; AgentHalted is the user's
            control.check(parent, self._halt_on,
                       run=conversation_run(request.conversation)
                       if parent is None and request.conversation is not None else None)
        announced = Content(answered=request.answered,
                                    conversation=request.conversation,
                                    objective=request.objective)
        span = None
        if own_span:
            try:
                with BRIDGE.announce(announced):  # the span claims it as it starts
                    span = self._tracer.start_span(
                        f"{self._api.operation} {request.model}", kind=SpanKind.CLIENT,
                        attributes=request.attributes)
            except Exception as error:
                internal_error(self._site, error, "this model call is not traced")
                return None
        return _Call(request, span, announced)

    def _outcome(self, call: _Call, result: Any) -> Any:
        """The value to hand the application: a stream is wrapped to read its events."""
        try:
            if _is_stream(result):
                if hasattr(result, "__anext__") or hasattr(result, "__aiter__"):
                    return _TracedAsyncStream(result, self, call,
                                              self._api.stream_reader(call.request))
                return _TracedStream(result, self, call, self._api.stream_reader(call.request))
            self.finish(call, self._api.reply(call.request, result, self._capture))
        except Exception as error:
            internal_error(self._site, error)
            self.finish(call, None)
        return result

    def finish(self, call: _Call, answer: Reply | None,
               error: BaseException | None = None) -> None:
        """End the call's span (once) with its reply or error. Never raises."""
        if call.ended:
            return
        call.ended = True
        try:
            announced = call.announced
            if answer is not None:
                if answer.output_text is not None:
                    announced.output_text = answer.output_text
                    if announced.on_late_text is not None:  # its span has ended already
                        announced.on_late_text(answer.output_text)
                for call_id, _name, arguments in answer.tool_calls:
                    BRIDGE.give_requested_call(call_id, arguments)
            announced.on_late_text = None
            span = call.span
            if span is None:
                return
            if answer is not None:
                span.set_attributes(answer.attributes)
            if error is not None:
                record_error(span, error)
            span.end()
        except Exception as failure:
            internal_error(self._site, failure)


def _is_stream(result: Any) -> bool:
    # SDK Stream / AsyncStream objects: iterable, and not a response model.
    return (hasattr(result, "__next__") or hasattr(result, "__anext__")) and hasattr(
        result, "response")


class _TracedStream(wrapt.ObjectProxy):  # type: ignore[misc]  # wrapt's proxy is untyped
    """An SDK stream whose events are read as the application iterates; the call's span
    ends with the last event, an error, or ``close()``."""

    def __init__(self, stream: Any, wrapper: ModelCallWrapper, call: _Call,
                 reader: StreamReader) -> None:
        super().__init__(stream)
        self._self_wrapper = wrapper
        self._self_call = call
        self._self_reader = reader
        # A stream the application drops half-read, without closing it, still ends its
        # span, with what was read, when it is collected. Not at interpreter exit: the
        # tracer provider may be gone by then.
        self._self_finalizer = weakref.finalize(self, _end_stream, wrapper, call, reader)
        self._self_finalizer.atexit = False

    def __iter__(self) -> Any:
        return self

    def __next__(self) -> Any:
        try:
            event = next(self.__wrapped__)
        except StopIteration:
            self._self_end()
            raise
        except BaseException as error:
            self._self_end(error)
            raise
        self._self_read(event)
        return event

    def __enter__(self) -> Any:
        self.__wrapped__.__enter__()
        return self

    def __exit__(self, *exc_info: Any) -> Any:
        try:
            return self.__wrapped__.__exit__(*exc_info)
        finally:
            self._self_end()

    def close(self) -> None:
        try:
            self.__wrapped__.close()
        finally:
            self._self_end()

    def _self_read(self, event: Any) -> None:
        try:
            self._self_reader.add(event)
        except Exception as error:
            internal_error("stream event", error)

    def _self_end(self, error: BaseException | None = None) -> None:
        self._self_finalizer.detach()
        _end_stream(self._self_wrapper, self._self_call, self._self_reader, error)


def _end_stream(wrapper: ModelCallWrapper, call: _Call, reader: StreamReader,
                   error: BaseException | None = None) -> None:
    """End a stream's call with the reply its events add up to. Never raises."""
    if call.ended:
        return
    try:
        answer = reader.reply(wrapper._capture)
    except Exception as failure:
        internal_error("stream end", failure)
        answer = None
    wrapper.finish(call, answer, error)


class _TracedAsyncStream(_TracedStream):
    """The async variant of :class:`_TracedStream`."""

    def __aiter__(self) -> Any:
        return self

    async def __anext__(self) -> Any:
        try:
            event = await self.__wrapped__.__anext__()
        except StopAsyncIteration:
            self._self_end()
            raise
        except BaseException as error:
            self._self_end(error)
            raise
        self._self_read(event)
        return event

    async def __aenter__(self) -> Any:
        await self.__wrapped__.__aenter__()
        return self

    async def __aexit__(self, *exc_info: Any) -> Any:
        try:
            return await self.__wrapped__.__aexit__(*exc_info)
        finally:
            self._self_end()

    async def close(self) -> None:  # type: ignore[override]  # async, as the SDK's
        try:
            await self.__wrapped__.close()
        finally:
            self._self_end()


class _TracedStreamManager(wrapt.ObjectProxy):  # type: ignore[misc]
    """A stream manager whose request (made on entry) is traced; the span ends on exit
    with the message accumulated so far."""

    def __init__(self, manager: Any, wrapper: ModelCallWrapper, wrapped: Any, instance: Any,
                 kwargs: Mapping[str, Any]) -> None:
        super().__init__(manager)
        self._self_wrapper = wrapper
        self._self_wrapped = wrapped
        self._self_instance = instance
        self._self_kwargs = kwargs
        self._self_call: _Call | None = None
        self._self_stream: Any = None

    def __enter__(self) -> Any:
        call = self._self_start()
        if call is None:
            return self.__wrapped__.__enter__()
        with self._self_wrapper.running(call):
            self._self_stream = self.__wrapped__.__enter__()
        return self._self_stream

    def __exit__(self, *exc_info: Any) -> Any:
        try:
            return self.__wrapped__.__exit__(*exc_info)
        finally:
            self._self_exit(exc_info[1])

    async def __aenter__(self) -> Any:
        call = self._self_start()
        if call is None:
            return await self.__wrapped__.__aenter__()
        with self._self_wrapper.running(call):
            self._self_stream = await self.__wrapped__.__aenter__()
        return self._self_stream

    async def __aexit__(self, *exc_info: Any) -> Any:
        try:
            return await self.__wrapped__.__aexit__(*exc_info)
        finally:
            self._self_exit(exc_info[1])

    def _self_start(self) -> _Call | None:
        self._self_call = self._self_wrapper._begin(self._self_wrapped, self._self_instance,
                                                    self._self_kwargs)
        return self._self_call

    def _self_exit(self, error: BaseException | None) -> None:
        call = self._self_call
        if call is None:
            return
        wrapper = self._self_wrapper
        answer = None
        try:
            name = wrapper._api.stream_snapshot
            snapshot = getattr(self._self_stream, name, None) if name else None
            if snapshot is not None:
                answer = wrapper._api.reply(call.request, snapshot, wrapper._capture)
        except Exception as failure:
            internal_error("stream manager exit", failure)
        wrapper.finish(call, answer, error)
