"""Spans that follow the OpenTelemetry GenAI semantic conventions.

Emitted by our own instrumentation, the official ``opentelemetry-instrumentation-*``
GenAI packages, pydantic-ai, Google ADK and the Anthropic SDK's own tracing.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

from opentelemetry.sdk.trace import ReadableSpan

from .. import semconv
from ..steps import RunKey, Step, StepKind
from ._args import canonical_args, canonical_result, to_int, to_str
from ._span import make_step, name_after

_MODEL_OPERATIONS = frozenset({
    semconv.OP_CHAT, semconv.OP_TEXT_COMPLETION, semconv.OP_GENERATE_CONTENT,
})


def to_step(span: ReadableSpan, attributes: Mapping[str, Any], run_key: RunKey) -> Step:
    operation = to_str(attributes.get(semconv.GEN_AI_OPERATION_NAME)) or ""
    agent_name = to_str(attributes.get(semconv.GEN_AI_AGENT_NAME))
    if operation == semconv.OP_EXECUTE_TOOL:
        return make_step(
            span, run_key, StepKind.TOOL,
            to_str(attributes.get(semconv.GEN_AI_TOOL_NAME))
            or name_after(span.name, semconv.OP_EXECUTE_TOOL),
            args=canonical_args(attributes.get(semconv.GEN_AI_TOOL_CALL_ARGUMENTS)),
            result=canonical_result(attributes.get(semconv.GEN_AI_TOOL_CALL_RESULT)),
            agent_name=agent_name,
        )
    if operation in _MODEL_OPERATIONS:
        return make_step(
            span, run_key, StepKind.LLM,
            to_str(attributes.get(semconv.GEN_AI_RESPONSE_MODEL))
            or to_str(attributes.get(semconv.GEN_AI_REQUEST_MODEL))
            or name_after(span.name, operation),
            output_text=output_text(attributes.get(semconv.GEN_AI_OUTPUT_MESSAGES)),
            agent_name=agent_name,
            **usage(attributes),
        )
    if operation == semconv.OP_INVOKE_AGENT:
        return make_step(
            span, run_key, StepKind.AGENT,
            agent_name or name_after(span.name, semconv.OP_INVOKE_AGENT),
            agent_name=agent_name,
        )
    return make_step(span, run_key, StepKind.OTHER, operation or span.name,
                     agent_name=agent_name)


def usage(attributes: Mapping[str, Any]) -> dict[str, int | None]:
    """Token counts under the current names, falling back to the deprecated ones."""
    input_tokens = to_int(attributes.get(semconv.GEN_AI_USAGE_INPUT_TOKENS))
    if input_tokens is None:
        input_tokens = to_int(attributes.get(semconv.GEN_AI_USAGE_PROMPT_TOKENS))
    output_tokens = to_int(attributes.get(semconv.GEN_AI_USAGE_OUTPUT_TOKENS))
    if output_tokens is None:
        output_tokens = to_int(attributes.get(semconv.GEN_AI_USAGE_COMPLETION_TOKENS))
    return {
        "input_tokens": input_tokens,
        "output_tokens": output_tokens,
        "reasoning_tokens": to_int(attributes.get(semconv.GEN_AI_USAGE_REASONING_OUTPUT_TOKENS)),
    }


def output_text(value: Any) -> str | None:
    """The text parts of ``gen_ai.output.messages`` (JSON: messages with typed parts)."""
    text = to_str(value)
    if text is None:
        return None
    try:
        messages = json.loads(text)
    except ValueError:
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
