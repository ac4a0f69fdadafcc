"""Spans as three instrumentations emit them, made with a real SDK tracer.

Each dialect writes the attributes its instrumentation writes, including the parts
that differ between two identical calls (call ids, LangGraph checkpoint ids, key
order), so that the tests exercise the same normalization real traces need.
"""

from __future__ import annotations

import contextlib
import itertools
import json
import uuid
from collections.abc import Iterator, Mapping
from typing import Any

from opentelemetry.trace import Span, SpanKind, Status, StatusCode, Tracer

_counter = itertools.count()


def _shuffled(args: Mapping[str, Any]) -> dict[str, Any]:
    """The same arguments with the keys in a different order each call."""
    items = list(args.items())
    shift = next(_counter) % max(len(items), 1)
    return dict(items[shift:] + items[:shift])


class GenAI:
    """OpenTelemetry GenAI semantic conventions (official instrumentations, ours)."""

    name = "genai"

    @staticmethod
    @contextlib.contextmanager
    def agent(tracer: Tracer, name: str = "research") -> Iterator[Span]:
        with tracer.start_as_current_span(
            f"invoke_agent {name}",
            attributes={"gen_ai.operation.name": "invoke_agent", "gen_ai.agent.name": name},
        ) as span:
            yield span

    @staticmethod
    def tool(tracer: Tracer, name: str, args: Mapping[str, Any], result: str | None = "ok",
             error: str | None = None) -> None:
        with tracer.start_as_current_span(
            f"execute_tool {name}",
            attributes={
                "gen_ai.operation.name": "execute_tool",
                "gen_ai.tool.name": name,
                "gen_ai.tool.call.id": f"call_{uuid.uuid4().hex[:12]}",
                "gen_ai.tool.call.arguments": json.dumps(_shuffled(args),
                                                         indent=next(_counter) % 3),
            },
        ) as span:
            if error:
                span.set_attribute("error.type", error)
                span.set_status(Status(StatusCode.ERROR, f"{error}: failed"))
            elif result is not None:
                span.set_attribute("gen_ai.tool.call.result", result)

    @staticmethod
    def chat(tracer: Tracer, model: str = "gpt-4o", input_tokens: int = 100,
             output_tokens: int = 20) -> None:
        with tracer.start_as_current_span(
            f"chat {model}", kind=SpanKind.CLIENT,
            attributes={"gen_ai.operation.name": "chat", "gen_ai.request.model": model},
        ) as span:
            span.set_attribute("gen_ai.usage.input_tokens", input_tokens)
            span.set_attribute("gen_ai.usage.output_tokens", output_tokens)


class OpenInference:
    """OpenInference (LangChain instrumentation): attributes arrive only at span end."""

    name = "openinference"

    @staticmethod
    @contextlib.contextmanager
    def agent(tracer: Tracer, name: str = "LangGraph") -> Iterator[Span]:
        with tracer.start_as_current_span(name) as span:
            yield span
            span.set_attribute("openinference.span.kind", "CHAIN")

    @staticmethod
    def tool(tracer: Tracer, name: str, args: Mapping[str, Any], result: str | None = "ok",
             error: str | None = None) -> None:
        call_id = f"call_{uuid.uuid4().hex[:12]}"
        with tracer.start_as_current_span(name) as span:
            span.set_attribute("openinference.span.kind", "TOOL")
            span.set_attribute("tool.name", name)
            span.set_attribute("input.value", json.dumps(_shuffled(args)))
            span.set_attribute("metadata", json.dumps({
                "langgraph_step": next(_counter), "checkpoint_ns": f"tools:{uuid.uuid4()}",
            }))
            if error:
                span.set_status(Status(StatusCode.ERROR, f"{error}: failed"))
            elif result is not None:
                span.set_attribute("output.value", json.dumps({
                    "content": result, "type": "tool", "name": name,
                    "tool_call_id": call_id, "id": str(uuid.uuid4()), "status": "success",
                }))

    @staticmethod
    def chat(tracer: Tracer, model: str = "gpt-4o", input_tokens: int = 100,
             output_tokens: int = 20) -> None:
        with tracer.start_as_current_span("ChatOpenAI") as span:
            span.set_attribute("openinference.span.kind", "LLM")
            span.set_attribute("llm.model_name", model)
            span.set_attribute("llm.token_count.prompt", input_tokens)
            span.set_attribute("llm.token_count.completion", output_tokens)


class OpenLLMetry:
    """OpenLLMetry (Traceloop): the whole callback payload, with a per-step checkpoint id."""

    name = "openllmetry"

    @staticmethod
    @contextlib.contextmanager
    def agent(tracer: Tracer, name: str = "LangGraph") -> Iterator[Span]:
        with tracer.start_as_current_span(
            f"{name}.workflow",
            attributes={"traceloop.span.kind": "workflow", "traceloop.entity.name": name},
        ) as span:
            yield span

    @staticmethod
    def tool(tracer: Tracer, name: str, args: Mapping[str, Any], result: str | None = "ok",
             error: str | None = None) -> None:
        call_id = f"call_{uuid.uuid4().hex[:12]}"
        shuffled = _shuffled(args)
        payload = json.dumps({
            "input_str": str(shuffled),
            "tags": ["seq:step:1"],
            "metadata": {"langgraph_step": next(_counter),
                         "checkpoint_ns": f"tools:{uuid.uuid4()}", "thread_id": "t-1"},
            "inputs": shuffled,
            "kwargs": {"tool_call_id": call_id, "name": name},
        })
        with tracer.start_as_current_span(
            f"execute_tool {name}",
            attributes={
                "traceloop.span.kind": "tool",
                "traceloop.entity.name": name,
                "gen_ai.operation.name": "execute_tool",
                "gen_ai.tool.name": name,
                "traceloop.entity.input": payload,
                "gen_ai.tool.call.arguments": payload,
            },
        ) as span:
            if error:
                span.set_status(Status(StatusCode.ERROR, f"{error}: failed"))
            elif result is not None:
                span.set_attribute("traceloop.entity.output", json.dumps({
                    "output": {
                        "lc": 1, "type": "constructor",
                        "id": ["langchain", "schema", "messages", "ToolMessage"],
                        "kwargs": {"content": result, "type": "tool", "name": name,
                                   "tool_call_id": call_id, "status": "success"},
                    },
                    "kwargs": {"name": name, "tags": ["seq:step:1"]},
                }))

    @staticmethod
    def chat(tracer: Tracer, model: str = "gpt-4o", input_tokens: int = 100,
             output_tokens: int = 20) -> None:
        with tracer.start_as_current_span(
            "ChatOpenAI.chat", kind=SpanKind.CLIENT,
            attributes={"llm.request.type": "chat", "gen_ai.system": "openai",
                        "gen_ai.request.model": model},
        ) as span:
            span.set_attribute("gen_ai.usage.input_tokens", input_tokens)
            span.set_attribute("gen_ai.usage.output_tokens", output_tokens)


DIALECTS = (GenAI, OpenInference, OpenLLMetry)
