"""Spans that follow the OpenTelemetry GenAI semantic conventions.

Emitted by our own instrumentation, the official ``opentelemetry-instrumentation-*``
GenAI packages, pydantic-ai, Google ADK and the Anthropic SDK's own tracing.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from opentelemetry.sdk.trace import ReadableSpan

from .. import semconv
from ..steps import RunKey, Step, StepKind
from ._args import canonical_result, parse_json, to_int, to_str, tool_arguments
from ._span import make_step, name_after

_NO_ARGUMENTS = (None, None)

_MODEL_OPERATIONS = frozenset({
    semconv.OP_CHAT, semconv.OP_TEXT_COMPLETION, semconv.OP_GENERATE_CONTENT,
})


_KINDS = {
    semconv.OP_EXECUTE_TOOL: StepKind.TOOL,
    semconv.OP_INVOKE_AGENT: StepKind.AGENT,
    **{operation: StepKind.LLM for operation in _MODEL_OPERATIONS},
}


def kind_of(attributes: Mapping[str, Any]) -> StepKind:
    operation = attributes[semconv.GEN_AI_OPERATION_NAME]
    return _KINDS.get(operation, StepKind.OTHER) if isinstance(operation, str) else StepKind.OTHER


_OPERATION = semconv.GEN_AI_OPERATION_NAME
_AGENT_NAME = semconv.GEN_AI_AGENT_NAME
_TOOL_NAME = semconv.GEN_AI_TOOL_NAME
_ARGUMENTS = semconv.GEN_AI_TOOL_CALL_ARGUMENTS
_RESULT = semconv.GEN_AI_TOOL_CALL_RESULT
_OUTPUT_MESSAGES = semconv.GEN_AI_OUTPUT_MESSAGES
_RESPONSE_MODEL = semconv.GEN_AI_RESPONSE_MODEL
_REQUEST_MODEL = semconv.GEN_AI_REQUEST_MODEL
_OI_INPUT = semconv.OI_INPUT_VALUE
_OI_OUTPUT = semconv.OI_OUTPUT_VALUE


def to_step(span: ReadableSpan, attributes: Mapping[str, Any], run_key: RunKey,
            kind: StepKind) -> Step:
    # The hot path of the most common dialect: attribute names are module constants, type
    # checks are inlined, and make_step is called positionally.
    get = attributes.get
    agent_name = get(_AGENT_NAME)
    if agent_name is not None and not isinstance(agent_name, str):
        agent_name = None
    if kind is StepKind.TOOL:
        name = get(_TOOL_NAME)
        if not isinstance(name, str) or not name:
            name = name_after(span.name, semconv.OP_EXECUTE_TOOL)
        return tool_step(span, attributes, run_key, name, agent_name)
    if kind is StepKind.LLM:
        input_tokens, output_tokens, reasoning_tokens = usage(attributes)
        messages = get(_OUTPUT_MESSAGES)
        model = get(_RESPONSE_MODEL) or get(_REQUEST_MODEL)
        if not isinstance(model, str):
            model = name_after(span.name, str(get(_OPERATION)))
        return make_step(span, attributes, run_key, StepKind.LLM, model, _NO_ARGUMENTS, None,
                         input_tokens, output_tokens, reasoning_tokens,
                         output_text(messages) if messages is not None else None, agent_name)
    operation = to_str(get(_OPERATION)) or ""
    if kind is StepKind.AGENT:
        return make_step(
            span, attributes, run_key, StepKind.AGENT,
            agent_name or name_after(span.name, semconv.OP_INVOKE_AGENT),
            agent_name=agent_name,
        )
    return make_step(span, attributes, run_key, StepKind.OTHER, operation or span.name,
                     agent_name=agent_name)


def tool_step(span: ReadableSpan, attributes: Mapping[str, Any], run_key: RunKey, name: str,
              agent_name: str | None = None) -> Step:
    """The step of a tool call span named ``name``: its arguments and result from the GenAI
    attributes, or else from OpenInference's, which a span both dialects describe
    (OpenInference's ADK instrumentor) may carry alone."""
    get = attributes.get
    arguments = get(_ARGUMENTS)
    if arguments is None:
        arguments = get(_OI_INPUT)
    result = get(_RESULT)
    if result is None:
        result = get(_OI_OUTPUT)
    return make_step(span, attributes, run_key, StepKind.TOOL, name,
                     tool_arguments(arguments), canonical_result(result),
                     None, None, None, None, agent_name)


def usage(attributes: Mapping[str, Any]) -> tuple[int | None, int | None, int | None]:
    """``(input, output, reasoning)`` tokens, falling back to the deprecated names."""
    get = attributes.get
    input_tokens = get(semconv.GEN_AI_USAGE_INPUT_TOKENS, get(semconv.GEN_AI_USAGE_PROMPT_TOKENS))
    output_tokens = get(semconv.GEN_AI_USAGE_OUTPUT_TOKENS,
                        get(semconv.GEN_AI_USAGE_COMPLETION_TOKENS))
    reasoning_tokens = get(semconv.GEN_AI_USAGE_REASONING_OUTPUT_TOKENS)
    # Counts are ints almost always; to_int handles the strings and floats some exports carry.
    return (
        input_tokens if type(input_tokens) is int else to_int(input_tokens),
        output_tokens if type(output_tokens) is int else to_int(output_tokens),
        reasoning_tokens if type(reasoning_tokens) is int else to_int(reasoning_tokens),
    )


def output_text(value: Any) -> str | None:
    """The text parts of ``gen_ai.output.messages`` (JSON: messages with typed parts)."""
    text = to_str(value)
    if text is None:
        return None
    messages = parse_json(text)
    if messages is None:  # not JSON, too long to parse, or nested too deep: as it is
        return text
    pieces: list[str] = []
    for message in messages if isinstance(messages, list) else [messages]:
        if not isinstance(message, Mapping):
            continue
        parts = message.get("parts")
        for part in parts if isinstance(parts, list) else ():
            if isinstance(part, Mapping) and part.get("type") in ("text", "reasoning"):
                content = part.get("content")
                if isinstance(content, str):
                    pieces.append(content)
    return "\n".join(pieces) or None
