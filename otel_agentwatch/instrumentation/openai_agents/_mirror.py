"""The trace processor that mirrors the Agents SDK's spans as OpenTelemetry spans."""

from __future__ import annotations

from typing import Any, NamedTuple

from agents.tracing import TracingProcessor  # imported once the application has the SDK
from opentelemetry import context as otel_context
from opentelemetry import trace
from opentelemetry.context import Context
from opentelemetry.trace import Span, SpanKind, Status, StatusCode, Tracer

from ... import control, semconv
from ..._bounded import BoundedDict
from ..._bridge import BRIDGE, Content
from ..._guard import internal_error
from ...config import Config
from ...normalize import is_agent_span, is_model_span, is_tool_span
from .._messages import attribute_text
from .._theirs import names, their_current_span

__all__ = ["SpanMirror"]

_OPEN_LIMIT = 4096  # SDK spans open at once that we follow
_MODEL_SPANS = frozenset({"response", "generation"})
_PROVIDER = "openai"


class _Open(NamedTuple):
    """An SDK span we follow: its mirror (None for spans we do not mirror), the span its
    children hang under, and the context token to restore when it ends."""

    span: Span | None
    parent: Span | None
    token: object | None


class SpanMirror(TracingProcessor):
    """Mirrors agent, function and model-call spans; halts a stuck run's next tool call."""

    def __init__(self, tracer: Tracer, config: Config) -> None:
        self.active = True
        self._open: BoundedDict[str, _Open] = BoundedDict(_OPEN_LIMIT)
        self.reconfigure(tracer, config)

    def reconfigure(self, tracer: Tracer, config: Config) -> None:
        self._tracer = tracer
        self._halt_on = control.halt_level(config)

    # --- TracingProcessor ------------------------------------------------------------------

    def on_trace_start(self, trace_: Any) -> None:
        pass  # a trace is a workflow: its agent spans are the runs

    def on_trace_end(self, trace_: Any) -> None:
        pass

    def on_span_start(self, span: Any) -> None:
        if not self.active:
            return
        data = span.span_data
        kind = getattr(data, "type", None)
        parent = self._parent_of(span)
        # Another mirror registered before us (OpenInference's) has made this span's
        # OpenTelemetry span and made it current: the detectors judge that one, and we
        # make none, so each call is one step; halting still acts, through it.
        theirs = _their_mirror(kind, data)
        if kind == "function" and self._halt_on is not None:
            # Before the tool runs; AgentHalted derives from BaseException, which the
            # SDK's processor loop does not catch.
            control.check(theirs or parent, self._halt_on)
        try:
            self._open[span.span_id] = _Open(None, theirs, None) if theirs is not None \
                else self._start(kind, data, parent)
        except Exception as error:
            internal_error("Agents SDK span start", error, "this step is not traced")

    def on_span_end(self, span: Any) -> None:
        opened = self._open.pop(span.span_id, None)
        if opened is None or opened.span is None:
            return
        try:
            self._end(opened, span)
        except Exception as error:
            internal_error("Agents SDK span end", error, "this step is not traced")

    def shutdown(self) -> None:
        self.active = False

    def force_flush(self) -> None:
        pass  # our spans go through the OpenTelemetry pipeline, flushed there

    # --- mirroring ---------------------------------------------------------------------------

    def _parent_of(self, span: Any) -> Span | None:
        """The mirror of the span's nearest mirrored ancestor; for a top span, the
        OpenTelemetry span current in the application, if any."""
        parent_id = span.parent_id
        opened = self._open.get(parent_id) if parent_id is not None else None
        if opened is not None:
            return opened.span if opened.span is not None else opened.parent
        current = trace.get_current_span()
        return current if current.get_span_context().is_valid else None

    def _start(self, kind: str | None, data: Any, parent: Span | None) -> _Open:
        context: Context | None = trace.set_span_in_context(parent) if parent else None
        if kind == "agent":
            name = str(getattr(data, "name", None) or "agent")
            mirror = self._tracer.start_span(
                f"{semconv.OP_INVOKE_AGENT} {name}", context=context, kind=SpanKind.INTERNAL,
                attributes={semconv.GEN_AI_OPERATION_NAME: semconv.OP_INVOKE_AGENT,
                            semconv.GEN_AI_PROVIDER_NAME: _PROVIDER,
                            semconv.GEN_AI_AGENT_NAME: name})
            return _Open(mirror, parent, None)  # not made current: it ends in another frame
        if kind == "function":
            name = str(getattr(data, "name", None) or "tool")
            mirror = self._tracer.start_span(
                f"{semconv.OP_EXECUTE_TOOL} {name}", context=context, kind=SpanKind.INTERNAL,
                attributes={semconv.GEN_AI_OPERATION_NAME: semconv.OP_EXECUTE_TOOL,
                            semconv.GEN_AI_TOOL_NAME: name, "gen_ai.tool.type": "function"})
        elif kind in _MODEL_SPANS:
            model = getattr(data, "model", None)
            attributes = {semconv.GEN_AI_OPERATION_NAME: semconv.OP_CHAT,
                          semconv.GEN_AI_PROVIDER_NAME: _PROVIDER}
            if isinstance(model, str) and model:
                attributes[semconv.GEN_AI_REQUEST_MODEL] = model
            mirror = self._tracer.start_span(
                f"{semconv.OP_CHAT} {model or 'model'}", context=context,
                kind=SpanKind.CLIENT, attributes=attributes)
        else:
            return _Open(None, parent, None)
        # Current while the SDK runs the tool or calls the model (a `with` block of the SDK:
        # it ends in the same context), so that what runs inside nests under it and our
        # OpenAI instrumentation makes no second span for the call.
        token = otel_context.attach(trace.set_span_in_context(mirror))
        return _Open(mirror, parent, token)

    def _end(self, opened: _Open, span: Any) -> None:
        mirror = opened.span
        assert mirror is not None
        if opened.token is not None:
            otel_context.detach(opened.token)  # type: ignore[arg-type]  # attach's token
        data = span.span_data
        kind = getattr(data, "type", None)
        span_id = mirror.get_span_context().span_id
        capture = BRIDGE.captures(span_id)
        if kind == "function":
            arguments, result = getattr(data, "input", None), getattr(data, "output", None)
            BRIDGE.keep(span_id, Content(args=arguments, result=result))
            if capture:
                if isinstance(arguments, str):
                    mirror.set_attribute(semconv.GEN_AI_TOOL_CALL_ARGUMENTS, arguments)
                if result is not None:
                    mirror.set_attribute(semconv.GEN_AI_TOOL_CALL_RESULT, attribute_text(result))
        elif kind in _MODEL_SPANS:
            self._model_reply(mirror, data, span_id)
        error = span.error
        if error:
            message = error.get("message") if isinstance(error, dict) else None
            mirror.set_attribute(semconv.ERROR_TYPE, "agents_sdk_error")
            mirror.set_status(Status(StatusCode.ERROR, str(message) if capture and message
                                     else None))
        mirror.end()

    def _model_reply(self, mirror: Span, data: Any, span_id: int) -> None:
        response = getattr(data, "response", None)
        model = getattr(response, "model", None) or getattr(data, "model", None)
        if isinstance(model, str) and model:
            mirror.set_attribute(semconv.GEN_AI_RESPONSE_MODEL, model)
            mirror.update_name(f"{semconv.OP_CHAT} {model}")
        response_id = getattr(response, "id", None)
        if isinstance(response_id, str):
            mirror.set_attribute("gen_ai.response.id", response_id)
        usage = getattr(data, "usage", None) or {}
        for key, attribute in (("input_tokens", semconv.GEN_AI_USAGE_INPUT_TOKENS),
                               ("output_tokens", semconv.GEN_AI_USAGE_OUTPUT_TOKENS)):
            value = usage.get(key) if isinstance(usage, dict) else None
            if isinstance(value, int) and not isinstance(value, bool):
                mirror.set_attribute(attribute, value)
        details = usage.get("output_tokens_details") if isinstance(usage, dict) else None
        reasoning = details.get("reasoning_tokens") if isinstance(details, dict) else None
        if isinstance(reasoning, int) and not isinstance(reasoning, bool):
            mirror.set_attribute(semconv.GEN_AI_USAGE_REASONING_OUTPUT_TOKENS, reasoning)
        text = _output_text(response)
        if text:
            BRIDGE.keep(span_id, Content(output_text=text))


_NAME_KEYS = {"agent": (semconv.GEN_AI_AGENT_NAME, semconv.OI_AGENT_NAME),
              "function": (semconv.GEN_AI_TOOL_NAME, semconv.OI_TOOL_NAME)}


def _their_mirror(kind: str | None, data: Any) -> Span | None:
    """The current span, when another instrumentation mirroring the SDK (OpenInference's,
    OpenLLMetry's) made it for this very SDK span: a span not of ours, of the same kind
    and, for agents and tools, for the same name."""
    if kind not in _NAME_KEYS and kind not in _MODEL_SPANS:
        return None
    current = their_current_span()
    if current is None:
        return None
    if kind in _MODEL_SPANS:
        return current if is_model_span(current) else None
    if not (is_agent_span(current) if kind == "agent" else is_tool_span(current)):
        return None
    return current if names(current, getattr(data, "name", None), _NAME_KEYS[kind]) else None


def _output_text(response: Any) -> str | None:
    """The text of a Responses API response's message items."""
    pieces = []
    for item in getattr(response, "output", None) or ():
        if getattr(item, "type", None) != "message":
            continue
        for part in getattr(item, "content", None) or ():
            text = getattr(part, "text", None)
            if isinstance(text, str):
                pieces.append(text)
    return "\n".join(pieces) or None
