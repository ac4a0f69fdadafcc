"""``agentwatch demo``: a scripted support agent that gets stuck, traced and flagged offline.

No server, no API key: the "model" is a script, and the spans it produces are the
GenAI semantic-convention spans an instrumented agent emits (``invoke_agent``,
``chat``, ``execute_tool``), with tool arguments recorded as an instrumentation does
when content capture is on. They go through :class:`AgentWatchSpanProcessor` into an
in-memory exporter and are printed as a tree.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence

from opentelemetry.sdk.trace import ReadableSpan, TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.trace import SpanKind, Tracer

from ..config import Config
from ..processor import AgentWatchSpanProcessor

__all__ = ["run_demo"]

_ORDER_LOOKUPS = 6  # the script asks for the same order this many times


def run_demo(config: Config | None = None) -> Sequence[ReadableSpan]:
    """Run the scripted agent through the processor; returns the exported spans."""
    exporter = InMemorySpanExporter()
    provider = TracerProvider()
    provider.add_span_processor(
        AgentWatchSpanProcessor(SimpleSpanProcessor(exporter), config=config or Config())
    )
    tracer = provider.get_tracer("otel_agentwatch.demo")
    try:
        _support_agent(tracer)
        return exporter.get_finished_spans()
    finally:
        provider.shutdown()


def _support_agent(tracer: Tracer) -> None:
    with tracer.start_as_current_span(
        "invoke_agent support-agent",
        attributes={"gen_ai.operation.name": "invoke_agent", "gen_ai.agent.name": "support-agent",
                    "gen_ai.provider.name": "openai"},
    ):
        _chat(tracer, "tool_calls")
        _tool(tracer, 0, "search_kb", {"query": "where is my order", "top_k": 3},
              "Orders ship within 2 days; tracking is in the order record.")
        for attempt in range(_ORDER_LOOKUPS):
            _chat(tracer, "tool_calls")
            # The script varies key order and spacing, as a model does; the call is the same.
            arguments = {"order_id": "A-1042", "include": ["tracking"]}
            if attempt % 2:
                arguments = dict(reversed(list(arguments.items())))
            _tool(tracer, attempt + 1, "lookup_order", arguments,
                  '{"order_id": "A-1042", "status": "shipped", "tracking": null}')
        _chat(tracer, "stop")


def _chat(tracer: Tracer, finish_reason: str) -> None:
    with tracer.start_as_current_span(
        "chat gpt-4o-mini", kind=SpanKind.CLIENT,
        attributes={"gen_ai.operation.name": "chat", "gen_ai.provider.name": "openai",
                    "gen_ai.request.model": "gpt-4o-mini"},
    ) as span:
        span.set_attribute("gen_ai.response.model", "gpt-4o-mini")
        span.set_attribute("gen_ai.usage.input_tokens", 812)
        span.set_attribute("gen_ai.usage.output_tokens", 41)
        span.set_attribute("gen_ai.response.finish_reasons", [finish_reason])


def _tool(tracer: Tracer, index: int, name: str, arguments: Mapping[str, object],
          result: str) -> None:
    with tracer.start_as_current_span(
        f"execute_tool {name}",
        attributes={"gen_ai.operation.name": "execute_tool", "gen_ai.tool.name": name,
                    "gen_ai.tool.call.id": f"call_{index:04d}",
                    "gen_ai.tool.call.arguments": json.dumps(arguments, indent=index % 2 or None)},
    ) as span:
        span.set_attribute("gen_ai.tool.call.result", result)
