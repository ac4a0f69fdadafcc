"""A LangGraph agent stuck in a loop, traced and flagged, with no server and no API key.

The agent is ``examples/support_agent.py``: its chat model is scripted and keeps asking
for the same order lookup, as a model that does not believe the answer might.
``otel_agentwatch.init()`` instruments LangChain and LangGraph; the spans go to memory
and are printed as a tree with their verdicts.

    python examples/langgraph_loop.py            # observe: the run completes, flagged
    python examples/langgraph_loop.py --halt     # halt: the run stops at the critical loop
    python examples/langgraph_loop.py --export spans.json   # also write them as OTLP JSON
    python examples/langgraph_loop.py --otlp     # send them over OTLP (OTEL_EXPORTER_OTLP_*)
"""

from __future__ import annotations

import argparse
import sys

from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from support_agent import QUESTION, support_agent

import otel_agentwatch
from otel_agentwatch.cli.tree import format_span_tree


def write_otlp_json(spans, path: str) -> None:
    """One OTLP export request, in protobuf's JSON mapping (ids in base64)."""
    from google.protobuf.json_format import MessageToJson
    from opentelemetry.exporter.otlp.proto.common.trace_encoder import encode_spans

    with open(path, "w", encoding="utf-8") as file:
        file.write(MessageToJson(encode_spans(spans), indent=None) + "\n")


def run_agent(lookups: int) -> None:
    try:
        result = support_agent(lookups).invoke(
            {"messages": [("user", QUESTION)]},
            config={"configurable": {"thread_id": "demo-thread"}})
        print(f"agent answered: {result['messages'][-1].content}\n")
    except otel_agentwatch.AgentHalted as halted:
        print(f"agent halted: {halted.detection.message}\n")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--halt", action="store_true", help="stop the run when it is stuck")
    parser.add_argument("--lookups", type=int, default=6)
    parser.add_argument("--export", metavar="PATH",
                        help="write the spans as OTLP JSON, as a collector's file exporter")
    parser.add_argument("--otlp", action="store_true",
                        help="export over OTLP as the OTEL_EXPORTER_OTLP_* variables say, "
                             "instead of printing the spans")
    args = parser.parse_args(argv)

    config = otel_agentwatch.Config.from_env().replace(action="halt") if args.halt else None
    if args.otlp:  # the provider and exporter from the environment, as the import line does
        handle = otel_agentwatch.init(config=(config or otel_agentwatch.Config.from_env())
                                      .replace(traces_exporter="otlp"))
        run_agent(args.lookups)
        handle.shutdown()  # flushes the batch to the backend
        return 0
    exporter = InMemorySpanExporter()
    provider = TracerProvider()
    handle = otel_agentwatch.init(tracer_provider=provider, span_exporter=exporter,
                                  config=config)
    try:
        run_agent(args.lookups)
    finally:
        handle.shutdown()
    spans = exporter.get_finished_spans()
    if args.export:
        write_otlp_json(spans, args.export)
    print(format_span_tree(spans, color=sys.stdout.isatty()))
    flagged = sum(1 for s in spans if s.attributes.get("agentwatch.flagged"))
    print(f"\n{flagged} of {len(spans)} spans flagged.")
    return 0


if __name__ == "__main__":
    sys.exit(main())
