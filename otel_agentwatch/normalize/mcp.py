"""Spans of the Model Context Protocol, as the GenAI conventions describe them and as the
``mcp`` package makes them: ``mcp.method.name`` on each request.

Only ``tools/call`` is a step: a tool call, named by ``gen_ai.tool.name`` or else by the
span name's target (``tools/call {tool}``; the ``mcp`` package's client spans are named
``MCP send tools/call {tool}``). A server span that also carries
``gen_ai.operation.name`` is read by the GenAI dialect, which takes precedence. Other
methods (``initialize``, ``tools/list``, ...) are plumbing, not steps.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from opentelemetry.sdk.trace import ReadableSpan

from .. import semconv
from ..steps import RunKey, Step, StepKind
from ._span import make_step
from .genai import tool_step

_TARGET_AFTER = semconv.MCP_TOOLS_CALL + " "


def kind_of(attributes: Mapping[str, Any]) -> StepKind:
    method = attributes[semconv.MCP_METHOD_NAME]
    return StepKind.TOOL if method == semconv.MCP_TOOLS_CALL else StepKind.OTHER


def to_step(span: ReadableSpan, attributes: Mapping[str, Any], run_key: RunKey,
            kind: StepKind) -> Step:
    if kind is not StepKind.TOOL:
        return make_step(span, attributes, run_key, StepKind.OTHER, span.name)
    name = attributes.get(semconv.GEN_AI_TOOL_NAME)
    if not isinstance(name, str) or not name:
        _, found, target = span.name.partition(_TARGET_AFTER)
        name = target if found and target else span.name
    return tool_step(span, attributes, run_key, name)
