"""Spans from OpenInference instrumentations (Arize Phoenix's conventions)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from opentelemetry.sdk.trace import ReadableSpan

from .. import semconv
from ..steps import RunKey, Step, StepKind
from ._args import canonical_result, to_int, to_str, tool_arguments
from ._span import make_step

_KINDS = {"TOOL": StepKind.TOOL, "LLM": StepKind.LLM, "AGENT": StepKind.AGENT}


def kind_of(attributes: Mapping[str, Any]) -> StepKind:
    return _KINDS.get((to_str(attributes[semconv.OI_SPAN_KIND]) or "").upper(), StepKind.OTHER)


def to_step(span: ReadableSpan, attributes: Mapping[str, Any], run_key: RunKey,
            kind: StepKind) -> Step:
    agent_name = to_str(attributes.get(semconv.OI_AGENT_NAME))
    if kind is StepKind.TOOL:
        return make_step(
            span, attributes, run_key, StepKind.TOOL,
            to_str(attributes.get(semconv.OI_TOOL_NAME)) or span.name,
            arguments=tool_arguments(attributes.get(semconv.OI_INPUT_VALUE)),
            result=canonical_result(attributes.get(semconv.OI_OUTPUT_VALUE)),
            agent_name=agent_name,
        )
    if kind is StepKind.LLM:
        return make_step(
            span, attributes, run_key, StepKind.LLM,
            to_str(attributes.get(semconv.OI_MODEL_NAME)) or span.name,
            input_tokens=to_int(attributes.get(semconv.OI_TOKENS_PROMPT)),
            output_tokens=to_int(attributes.get(semconv.OI_TOKENS_COMPLETION)),
            reasoning_tokens=to_int(attributes.get(semconv.OI_TOKENS_REASONING)),
            output_text=to_str(attributes.get(semconv.OI_OUTPUT_MESSAGE_CONTENT)),
            agent_name=agent_name,
        )
    if kind is StepKind.AGENT:
        return make_step(span, attributes, run_key, StepKind.AGENT, agent_name or span.name,
                         agent_name=agent_name)
    return make_step(span, attributes, run_key, StepKind.OTHER, span.name, agent_name=agent_name)
