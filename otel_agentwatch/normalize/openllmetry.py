"""Spans from OpenLLMetry (Traceloop) instrumentations.

Its tool spans wrap the arguments in the whole LangChain callback payload
(``{"input_str", "inputs", "metadata": {... "checkpoint_ns": per-step id ...}}``);
:func:`tool_arguments` opens that envelope, or no two calls would ever compare equal.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from opentelemetry.sdk.trace import ReadableSpan

from .. import semconv
from ..steps import RunKey, Step, StepKind
from ._args import canonical_result, to_str, tool_arguments
from ._span import make_step, name_after
from .genai import usage

_MODEL_REQUEST_TYPES = frozenset({"chat", "completion"})


def kind_of(attributes: Mapping[str, Any]) -> StepKind:
    kind = (to_str(attributes.get(semconv.TL_SPAN_KIND)) or "").lower()
    if kind == "tool":
        return StepKind.TOOL
    if kind == "agent":
        return StepKind.AGENT
    if to_str(attributes.get(semconv.TL_REQUEST_TYPE)) in _MODEL_REQUEST_TYPES:
        return StepKind.LLM
    return StepKind.OTHER


def to_step(span: ReadableSpan, attributes: Mapping[str, Any], run_key: RunKey,
            kind: StepKind) -> Step:
    entity = to_str(attributes.get(semconv.TL_ENTITY_NAME))
    if kind is StepKind.TOOL:
        arguments = attributes.get(semconv.TL_ENTITY_INPUT)
        if arguments is None:
            arguments = attributes.get(semconv.GEN_AI_TOOL_CALL_ARGUMENTS)
        result = attributes.get(semconv.TL_ENTITY_OUTPUT)
        if result is None:
            result = attributes.get(semconv.GEN_AI_TOOL_CALL_RESULT)
        return make_step(
            span, attributes, run_key, StepKind.TOOL,
            to_str(attributes.get(semconv.GEN_AI_TOOL_NAME)) or entity
            or _strip_suffix(name_after(span.name, semconv.OP_EXECUTE_TOOL), ".tool"),
            arguments=tool_arguments(arguments),
            result=canonical_result(result),
        )
    if kind is StepKind.AGENT:
        return make_step(span, attributes, run_key, StepKind.AGENT,
                         entity or _strip_suffix(span.name, ".agent"), agent_name=entity)
    if kind is StepKind.LLM:
        input_tokens, output_tokens, reasoning_tokens = usage(attributes)
        return make_step(
            span, attributes, run_key, StepKind.LLM,
            to_str(attributes.get(semconv.GEN_AI_RESPONSE_MODEL))
            or to_str(attributes.get(semconv.GEN_AI_REQUEST_MODEL)) or span.name,
            input_tokens=input_tokens, output_tokens=output_tokens,
            reasoning_tokens=reasoning_tokens,
        )
    return make_step(span, attributes, run_key, StepKind.OTHER, entity or span.name)


def _strip_suffix(name: str, suffix: str) -> str:
    return name[: -len(suffix)] if name.endswith(suffix) else name
