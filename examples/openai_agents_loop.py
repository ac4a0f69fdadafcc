"""An OpenAI Agents SDK agent stuck on one lookup, traced and flagged, offline.

The SDK's real ``Runner`` and ``OpenAIResponsesModel`` talk, through the real ``openai``
client, to a scripted Responses endpoint on 127.0.0.1 that keeps asking for the same
order lookup. ``otel_agentwatch.init()`` mirrors the SDK's own tracing as GenAI spans;
the loop is flagged on the tool spans and on the agent span.

    python examples/openai_agents_loop.py          # flagged
    python examples/openai_agents_loop.py --halt   # AGENTWATCH_ACTION=halt: stopped
"""

from __future__ import annotations

import argparse
import json
import sys
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import agents
from openai import AsyncOpenAI
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

import otel_agentwatch
from otel_agentwatch.cli.tree import format_span_tree


def stuck_model(lookups: int) -> ThreadingHTTPServer:
    """A Responses endpoint that asks for the same lookup ``lookups`` times."""

    class Model(BaseHTTPRequestHandler):
        disable_nagle_algorithm = True
        protocol_version = "HTTP/1.1"

        def do_POST(self) -> None:  # the name http.server calls
            request = json.loads(self.rfile.read(int(self.headers["content-length"])))
            turn = sum(1 for item in request["input"]
                       if isinstance(item, dict) and item.get("type") == "function_call_output")
            if turn < lookups:
                output = [{"type": "function_call", "id": f"fc_{turn}", "call_id": f"call_{turn}",
                           "name": "lookup_order", "arguments": '{"order_id": "A-1042"}',
                           "status": "completed"}]
            else:
                output = [{"type": "message", "id": "msg_1", "role": "assistant",
                           "status": "completed", "content": [{
                               "type": "output_text", "annotations": [],
                               "text": "Your order A-1042 has shipped."}]}]
            body = json.dumps({
                "id": f"resp_{turn}", "object": "response", "created_at": 0,
                "model": "gpt-5-2025-08-07", "status": "completed", "output": output,
                "parallel_tool_calls": True, "tool_choice": "auto", "tools": [],
                "usage": {"input_tokens": 50 + 30 * turn, "output_tokens": 12,
                          "total_tokens": 62 + 30 * turn,
                          "input_tokens_details": {"cached_tokens": 0},
                          "output_tokens_details": {"reasoning_tokens": 0}}}).encode()
            self.send_response(200)
            self.send_header("content-type", "application/json")
            self.send_header("content-length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *args: object) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Model)
    threading.Thread(target=server.serve_forever, args=(0.05,), daemon=True).start()
    return server


@agents.function_tool
def lookup_order(order_id: str) -> str:
    """Look up an order's status by its id."""
    return json.dumps({"order_id": order_id, "status": "shipped", "tracking": None})


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--halt", action="store_true", help="AGENTWATCH_ACTION=halt")
    parser.add_argument("--lookups", type=int, default=6)
    args = parser.parse_args(argv)

    # The SDK's default trace processor uploads to OpenAI's dashboard: not offline.
    agents.set_trace_processors([])
    exporter = InMemorySpanExporter()
    provider = TracerProvider()
    config = otel_agentwatch.Config(action="halt" if args.halt else "observe")
    handle = otel_agentwatch.init(config=config, tracer_provider=provider,
                                  span_exporter=exporter)
    server = stuck_model(args.lookups)
    client = AsyncOpenAI(base_url=f"http://127.0.0.1:{server.server_address[1]}/v1",
                         api_key="not-needed", max_retries=0)
    agent = agents.Agent(
        name="support", instructions="Answer questions about orders.", tools=[lookup_order],
        model=agents.OpenAIResponsesModel(model="gpt-5", openai_client=client))
    try:
        result = agents.Runner.run_sync(agent, "Where is my order A-1042?")
        print(f"agent answered: {result.final_output}\n")
    except otel_agentwatch.AgentHalted as halted:
        print(f"agent halted: {halted.detection.message}\n")
    finally:
        server.shutdown()
        handle.shutdown()
    spans = exporter.get_finished_spans()
    print(format_span_tree(spans, color=sys.stdout.isatty()))
    flagged = sum(1 for s in spans if s.attributes.get("agentwatch.flagged"))
    print(f"\n{flagged} of {len(spans)} spans flagged.")
    return 0


if __name__ == "__main__":
    sys.exit(main())
