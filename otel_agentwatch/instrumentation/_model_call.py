"""One model call made through a provider SDK, traced: shared by the OpenAI and Anthropic
instrumentations.

Each SDK method we patch has a :class:`~._messages.ModelApi` that reads its request and
its response (whole or streamed) into GenAI attributes. :class:`ModelCallWrapper` does
the rest, the same for every API: it skips calls that are already traced (made inside a
LangChain chat-model span, say), halts a stuck run before the request is sent, adds the
note of a nudge to the request (``AGENTWATCH_ACTION=nudge``, traced here or not), announces
the call to the processor (the conversation it continues and the tool results it
carries), opens the ``chat {model}`` span unless the SDK traces the call itself, and ends
it when the response (or the last event of a stream, :mod:`._stream`) has arrived.

Everything that reads requests and responses is guarded: a failure there is logged once
and the call goes on untraced or half-traced, never failed.
"""

from __future__ import annotations

import contextlib
import functools
from collections.abc import Callable, Iterator, Mapping
from typing import Any

import wrapt
from opentelemetry import context as otel_context
from opentelemetry import trace
from opentelemetry.trace import Span, SpanKind, Tracer

from .. import control
from .._bridge import BRIDGE, Content
from .._guard import internal_error
from ..config import Config
from ..normalize import is_model_span
from ..nudge import Nudge
from ..runs import conversation_run
from ._errors import record_error
from ._messages import ModelApi, Reply, Request
from ._stream import TracedAsyncStream, TracedStream, TracedStreamManager, is_stream

__all__ = ["Call", "ModelCallWrapper"]


# --- the wrapper -----------------------------------------------------------------------------

class Call:
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

    Attributes:
        api: as given; capture: whether content goes on the spans.
    """

    def __init__(self, tracer: Tracer, config: Config, api: ModelApi) -> None:
        self._tracer = tracer
        self.capture = config.capture_content
        self._halt_on = control.halt_level(config)
        self._nudges = config.nudges
        self.api = api
        self._site = f"{type(api).__name__} call"

    # --- entry points (wrapt signature) ---------------------------------------------------

    def __call__(self, wrapped: Callable[..., Any], instance: Any, args: Any,
                 kwargs: dict[str, Any]) -> Any:
        call = self.begin(wrapped, instance, kwargs)
        kwargs = self.steer(call, instance, kwargs)
        if call is None:
            return wrapped(*args, **kwargs)
        with self.running(call):
            result = wrapped(*args, **kwargs)
        return self._outcome(call, result)

    async def call_async(self, wrapped: Callable[..., Any], instance: Any, args: Any,
                         kwargs: dict[str, Any]) -> Any:
        call = self.begin(wrapped, instance, kwargs)
        kwargs = self.steer(call, instance, kwargs)
        if call is None:
            return await wrapped(*args, **kwargs)
        with self.running(call):
            result = await wrapped(*args, **kwargs)
        return self._outcome(call, result)

    def stream_manager(self, wrapped: Callable[..., Any], instance: Any, args: Any,
                       kwargs: dict[str, Any]) -> Any:
        """For streaming helpers: methods returning a context manager that makes the
        request on entry and yields a stream whose ``ModelApi.stream_snapshot`` property
        is the reply so far (``messages.stream``, ``chat.completions.stream``). The
        request is built from the arguments here, so its note is added here too, and
        the span that carries it marked when it starts."""
        nudge = None
        if self._nudges:
            kwargs, nudge = self.add_note(None, instance, kwargs)
        manager = wrapped(*args, **kwargs)
        try:
            return TracedStreamManager(manager, self, wrapped, instance, kwargs, nudge)
        except Exception as error:
            internal_error(self._site, error)
            return manager

    # --- the steps -------------------------------------------------------------------------

    def steer(self, call: Call | None, instance: Any, kwargs: dict[str, Any]) -> dict[str, Any]:
        """``kwargs``, with the note of a nudge added when the run has one; the span
        that carries it is marked."""
        if not self._nudges:
            return kwargs
        kwargs, nudge = self.add_note(call, instance, kwargs)
        if nudge is not None:
            self.mark(call, nudge)
        return kwargs

    def add_note(self, call: Call | None, instance: Any, kwargs: dict[str, Any],
                 ) -> tuple[dict[str, Any], Nudge | None]:
        """``kwargs`` with the note for the run's next model request (new objects: the
        caller's are unchanged), and the note; ``kwargs`` and None when there is none.
        The run is the one the call's span (else the current span) belongs to, or for a
        call outside any span, its conversation's. Never raises."""
        try:
            api = self.api
            if api.with_note(kwargs, "") is None:
                return kwargs, None  # no place for a note: leave the findings untold
            span = _span_of(call)
            run = None
            if span is None:  # outside any span: the run of the conversation it continues
                request = call.request if call is not None else \
                    api.request(instance, kwargs, False)
                if request.conversation is not None:
                    run = conversation_run(request.conversation)
            nudge = control.take_nudge(span, run)
            noted = api.with_note(kwargs, nudge.text) if nudge is not None else None
            if noted is None:
                return kwargs, None
            return noted, nudge
        except Exception as error:
            internal_error(f"{self._site} (nudge)", error, "this request goes without a note")
            return kwargs, None

    def mark(self, call: Call | None, nudge: Nudge) -> None:
        """Mark the span of a call whose request carried ``nudge``: its own or the one
        current, else the span another instrumentation's wrapper (inside ours) starts for
        it. Never raises."""
        try:
            span = _span_of(call)
            if span is not None:
                control.mark_nudged(span, nudge)
            elif call is not None:
                call.announced.on_claimed = functools.partial(_mark_claimed, nudge=nudge)
        except Exception as error:
            internal_error(f"{self._site} (nudge)", error)

    @contextlib.contextmanager
    def running(self, call: Call) -> Iterator[None]:
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

    def begin(self, wrapped: Any, instance: Any, kwargs: Mapping[str, Any]) -> Call | None:
        """Start tracing a call; None when it is not ours to trace. May raise AgentHalted.

        No span of ours when the call has one already: a framework's model span is
        current, the SDK traces itself, or another instrumentation wrapped the method
        before us (its wrapper runs inside ours, and its span claims the announcement).
        """
        current = trace.get_current_span()
        parent = current if current.get_span_context().is_valid else None
        try:
            theirs = current.is_recording() and is_model_span(current)
        except Exception as error:
            internal_error(self._site, error)
            theirs = False
        if theirs:  # their span is this call's: no span of ours, but halting still acts
            if self._halt_on is not None:
                control.check(parent, self._halt_on)
            return None
        try:
            request = self.api.request(instance, kwargs, self.capture)
            own_span = not (self.api.traces_itself(instance)
                            or isinstance(wrapped, wrapt.BaseObjectProxy))
        except Exception as error:
            internal_error(self._site, error, "this model call is not traced")
            return None
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
                        f"{self.api.operation} {request.model}", kind=SpanKind.CLIENT,
                        attributes=request.attributes)
            except Exception as error:
                internal_error(self._site, error, "this model call is not traced")
                return None
        return Call(request, span, announced)

    def _outcome(self, call: Call, result: Any) -> Any:
        """The value to hand the application: a stream is wrapped to read its events."""
        try:
            if is_stream(result):
                if hasattr(result, "__anext__") or hasattr(result, "__aiter__"):
                    return TracedAsyncStream(result, self, call,
                                              self.api.stream_reader(call.request))
                return TracedStream(result, self, call, self.api.stream_reader(call.request))
            self.finish(call, self.api.reply(call.request, result, self.capture))
        except Exception as error:
            internal_error(self._site, error)
            self.finish(call, None)
        return result

    def finish(self, call: Call, answer: Reply | None,
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
                record_error(span, error, self.capture)
            span.end()
        except Exception as failure:
            internal_error(self._site, failure)


def _mark_claimed(span: Span, nudge: Nudge) -> None:
    """As the span of a call whose request carried ``nudge`` starts (the processor's
    ``on_start``). Never raises."""
    try:
        control.mark_nudged(span, nudge)
    except Exception as error:
        internal_error("model call (nudge)", error)


def _span_of(call: Call | None) -> Span | None:
    """The span a call's note is told to: its own, else the one current (a framework's
    model span, or the span the call runs under)."""
    if call is not None and call.span is not None:
        return call.span
    return control.current_span()
