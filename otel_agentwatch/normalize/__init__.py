"""Span -> :class:`~otel_agentwatch.steps.Step`, for each attribute dialect we read.

:func:`normalize` picks the dialect from the attributes a span carries and returns
``None`` for spans that none of them describes (HTTP, database, plain application
spans): those pass through the processor untouched.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any, NamedTuple, Protocol

from opentelemetry.sdk.trace import ReadableSpan

from .. import semconv
from .._bridge import Content
from .._guard import internal_error
from ..steps import RunKey, Step, StepKind
from . import genai, mcp, openinference, openllmetry
from ._args import DIGESTED, canonical_result, tool_arguments
from ._span import attributes_of, make_step
from .codeact import SHELL_TOOL, CodeReading, code_of, read_code

__all__ = ["SpanShape", "answered_tool_steps", "attributes_of", "build_step", "classify",
           "code_reading", "code_steps", "is_agent_span", "is_model_span", "is_tool_span",
           "normalize", "role_at_start", "tool_call_id", "with_arguments"]


class _Dialect(Protocol):
    def kind_of(self, attributes: Mapping[str, Any]) -> StepKind: ...

    def to_step(self, span: ReadableSpan, attributes: Mapping[str, Any], run_key: RunKey,
                kind: StepKind) -> Step: ...


# Keys that say which dialect a span speaks, in order of precedence: OpenLLMetry also
# sets gen_ai.operation.name, and its own kind says more.
_DIALECTS: tuple[tuple[str, _Dialect], ...] = (
    (semconv.TL_SPAN_KIND, openllmetry),
    (semconv.GEN_AI_OPERATION_NAME, genai),
    (semconv.OI_SPAN_KIND, openinference),
    (semconv.TL_REQUEST_TYPE, openllmetry),
    (semconv.MCP_METHOD_NAME, mcp),
)


_MODEL_OPERATIONS = frozenset({semconv.OP_CHAT, semconv.OP_TEXT_COMPLETION,
                               semconv.OP_GENERATE_CONTENT})
_new_shape = tuple.__new__
_NO_ATTRIBUTES: Mapping[str, Any] = {}
_GENAI_TEXT = semconv.GEN_AI_OUTPUT_MESSAGES
_OPENINFERENCE_TEXT = semconv.OI_OUTPUT_MESSAGE_CONTENT


class SpanShape(NamedTuple):
    """What :func:`classify` learnt about a span: enough to count it, and to build its step."""

    kind: StepKind
    dialect: _Dialect
    attributes: Mapping[str, Any]  # the span's attributes, to read from (never to change)
    has_text: bool  # whether it carries the model's output text


def classify(span: ReadableSpan) -> SpanShape | None:
    """The kind of step a span is, or None when no dialect we read describes it.

    Cheap by design, because it runs for every span the application ends: the
    processor builds the full :class:`Step` (:func:`build_step`) only for the kinds some
    running detector watches. Pure: it reads the span and nothing else.
    """
    attributes = attributes_of(span)
    if not attributes:
        return None
    for key, dialect in _DIALECTS:
        if key in attributes:
            # Built as a plain tuple: a NamedTuple's own constructor is a Python call.
            return _new_shape(SpanShape, (
                dialect.kind_of(attributes), dialect, attributes,
                _GENAI_TEXT in attributes or _OPENINFERENCE_TEXT in attributes))
    return None


def build_step(span: ReadableSpan, shape: SpanShape, run_key: RunKey,
               kept: Content | None = None) -> Step:
    """The full step of a classified span, with ``kept``: the content our instrumentation
    kept in-process for it, if any.

    Never raises for what a span carries: the readers are total (see :mod:`._args`), and
    should one still fail, the step is *unreadable*: its kind, name and identity, without
    arguments, result, usage or text, so it is counted and breaks no streak by accident.
    """
    try:
        step = shape.dialect.to_step(span, shape.attributes, run_key, shape.kind)
    except Exception as error:
        internal_error("reading a span's attributes", error,
                       "the step is judged without its content; spans keep flowing")
        step = make_step(span, _NO_ATTRIBUTES, run_key, shape.kind,
                         span.name if isinstance(span.name, str) else "unreadable")
    if kept is None:
        return with_digests(step, shape.attributes) if step.kind is StepKind.TOOL else step
    args, args_key = tool_arguments(kept.args) if kept.args is not None else (step.args,
                                                                             step.args_key)
    return step._replace(
        args=args, args_key=args_key,
        result=canonical_result(kept.result) if kept.result is not None else step.result,
        output_text=kept.output_text if kept.output_text is not None else step.output_text,
    )


def with_digests(step: Step, attributes: Mapping[str, Any]) -> Step:
    """A tool step read from a span that carried digests instead of its content (content
    capture off, in another process): the digests stand for the arguments and result
    they were made of, so equal calls compare equal (see :mod:`otel_agentwatch.digest`)."""
    if step.args_key is not None and step.result is not None:
        return step
    arguments = attributes.get(semconv.TOOL_ARGUMENTS_DIGEST)
    result = attributes.get(semconv.TOOL_RESULT_DIGEST)
    if not isinstance(arguments, str) and not isinstance(result, str):
        return step
    if step.args_key is None and isinstance(arguments, str):
        step = step._replace(args_key=("digest", arguments))
    if step.result is None and isinstance(result, str):
        step = step._replace(result=DIGESTED + result)
    return step


def tool_call_id(span: ReadableSpan) -> str | None:
    """The ``gen_ai.tool.call.id`` of a span, if it has one."""
    call_id = attributes_of(span).get(semconv.GEN_AI_TOOL_CALL_ID)
    return call_id if isinstance(call_id, str) and call_id else None


def with_arguments(step: Step, arguments: Any) -> Step:
    """A tool step whose span carried no arguments, with ``arguments`` (those the model
    gave the call, as our SDK instrumentation saw them)."""
    args, args_key = tool_arguments(arguments)
    return step._replace(args=args, args_key=args_key)




def answered_tool_steps(span: ReadableSpan, kept: Content | None,
                        run_key: RunKey) -> list[Step]:
    """Tool steps for the tool results a model call's request carried (hand-written loops).

    The application ran the tools itself, so no span describes them; the model call
    that sends their results back stands in for them: the steps carry its span id, and
    what they trigger is flagged on it.
    """
    if kept is None or not kept.answered:
        return []
    steps = []
    for exchange in kept.answered:
        arguments = tool_arguments(exchange.arguments)
        steps.append(make_step(
            span, _NO_ATTRIBUTES, run_key, StepKind.TOOL, exchange.name, arguments=arguments,
            result=canonical_result(exchange.result),
        )._replace(error="tool_error" if exchange.is_error else None, error_message=None,
                   end_time=span.start_time))
    return steps


def code_reading(step: Step) -> CodeReading | None:
    """What the code a tool step ran does (see :mod:`.codeact`), when the tool runs code;
    None for other steps."""
    if step.kind is not StepKind.TOOL:
        return None
    code = code_of(step.name, step.args)
    return read_code(code) if code is not None else None


def code_steps(step: Step, calls: Sequence[tuple[str, Any]],
               commands: Sequence[str]) -> list[Step]:
    """The steps the code of a code-running tool step took: its ``calls`` of tools, then
    the shell ``commands`` it ran (a ``shell`` step each).

    They stand for the code step, with its span's identity: what they trigger is flagged
    on the span of the code that made them. The code's output and failure are the
    outcome of the one call it made, when it made one; with several, which outcome is
    whose is unknown, so none has one.
    """
    made = [*calls, *((SHELL_TOOL, {"command": command}) for command in commands)]
    alone = len(made) == 1
    steps = []
    for name, arguments in made:
        args, args_key = tool_arguments(arguments)
        steps.append(step._replace(
            name=name, args=args, args_key=args_key,
            result=step.result if alone else None,
            error=step.error if alone else None,
            error_message=step.error_message if alone else None, output_text=None))
    return steps


def normalize(span: ReadableSpan, run_key: RunKey) -> Step | None:
    """The step a span describes, or None when it is not an agent, model or tool span."""
    shape = classify(span)
    return build_step(span, shape, run_key) if shape is not None else None


ROLE_NONE, ROLE_AGENT, ROLE_TOOL = 0, 1, 2
# GenAI spans are named after their operation: most spans are told apart by name alone.
_TOOL_NAMES = (f"{semconv.OP_EXECUTE_TOOL} ", f"{semconv.MCP_TOOLS_CALL} ",
               f"MCP send {semconv.MCP_TOOLS_CALL} ")
_PLAIN_NAMES = tuple(f"{operation} " for operation in (
    semconv.OP_CHAT, semconv.OP_TEXT_COMPLETION, semconv.OP_GENERATE_CONTENT, "embeddings"))
# The keys whose value says agent or tool: GenAI, OpenInference and OpenLLMetry.
_KIND_KEYS = (semconv.GEN_AI_OPERATION_NAME, semconv.OI_SPAN_KIND, semconv.TL_SPAN_KIND)
_ROLES = {semconv.OP_INVOKE_AGENT: ROLE_AGENT, "AGENT": ROLE_AGENT,
          semconv.OP_EXECUTE_TOOL: ROLE_TOOL, "TOOL": ROLE_TOOL}


def role_at_start(span: Any) -> int:
    """What a span, as seen when it starts, is in any dialect: :data:`ROLE_AGENT` when it
    invokes an agent (the spans under it are that agent's run), :data:`ROLE_TOOL` when it
    is a tool call's (the spans under it are part of that call: the MCP request a
    framework's tool makes, a framework's own span under OpenInference's), else
    :data:`ROLE_NONE`. One function for both: it runs for every span that starts.

    The processor asks again of a span's parent when a child starts, so attributes set
    just after a span starts still count. Some instrumentations (OpenInference's
    LangChain one) set them only at the end; their spans are not recognised (their
    steps group by the enclosing run instead).
    """
    name = span.name
    if name.startswith(semconv.OP_INVOKE_AGENT):
        return ROLE_AGENT
    if name.startswith(_TOOL_NAMES):
        return ROLE_TOOL
    if name.startswith(_PLAIN_NAMES):
        return ROLE_NONE
    attributes: Mapping[str, Any] | None = span.attributes
    if not attributes or not isinstance(attributes, Mapping):
        return ROLE_NONE
    get = attributes.get
    for key in _KIND_KEYS:
        value = get(key)
        if value is not None:
            text = str(value)
            role = _ROLES.get(text) or _ROLES.get(text.upper())
            if role:
                return role
    if get(semconv.MCP_METHOD_NAME) == semconv.MCP_TOOLS_CALL:
        return ROLE_TOOL
    return ROLE_NONE


def is_agent_span(span: Any) -> bool:
    """Whether a span (as seen when it starts) invokes an agent, in any dialect."""
    return role_at_start(span) == ROLE_AGENT


def is_tool_span(span: Any) -> bool:
    """Whether a span (as seen when it starts) is a tool call's, in any dialect."""
    return role_at_start(span) == ROLE_TOOL


# What model-call spans say they are, per dialect.
_MODEL_MARKS = ((semconv.GEN_AI_OPERATION_NAME, _MODEL_OPERATIONS),
                (semconv.OI_SPAN_KIND, frozenset({"LLM"})),
                (semconv.TL_REQUEST_TYPE, frozenset({"chat", "completion"})))


def is_model_span(span: Any) -> bool:
    """Whether a live span is a model call, in any dialect (an SDK call inside it is
    the same call, not a second one)."""
    attributes = getattr(span, "attributes", None)
    if not attributes or not isinstance(attributes, Mapping):
        return False
    for key, values in _MODEL_MARKS:
        value = attributes.get(key)
        if isinstance(value, str) and value in values:
            return True
    return False
