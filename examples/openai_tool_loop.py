"""A hand-written OpenAI tool loop stuck on one lookup, traced and flagged, offline.

The real ``openai`` client talks to a scripted Chat Completions endpoint on 127.0.0.1
that keeps asking for the same order lookup. The loop opens no span of its own:
``otel_agentwatch.init()`` instruments the client, and the tool results the loop sends
back become the steps the detectors judge, flagged on the ``chat`` spans.

    python examples/openai_tool_loop.py               # no span of our own
    python examples/openai_tool_loop.py --agent-run   # agent_run + @tool: one trace
"""

from __future__ import annotations

import argparse
import json
import sys
import threading
from collections.abc import Callable
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

from openai import OpenAI
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

import otel_agentwatch
from otel_agentwatch.cli.tree import format_span_tree

TOOLS = [{"type": "function", "function": {
    "name": "lookup_order", "description": "Look up an order's status by its id.",
    "parameters": {"type": "object", "properties": {"order_id": {"type": "string"}},
                   "required": ["order_id"]}}}]


def stuck_model(lookups: int) -> ThreadingHTTPServer:
    """A Chat Completions endpoint that asks for the same lookup ``lookups`` times."""

    class Model(BaseHTTPRequestHandler):
        disable_nagle_algorithm = True
        protocol_version = "HTTP/1.1"

        def do_POST(self) -> None:  # the name http.server calls
            request = json.loads(self.rfile.read(int(self.headers["content-length"])))
            turn = sum(1 for m in request["messages"] if m["role"] == "tool")
            message: dict = {"role": "assistant", "content": "Your order A-1042 has shipped."}
            if turn < lookups:
                message = {"role": "assistant", "content": None, "tool_calls": [{
                    "id": f"call_{turn}", "type": "function", "function": {
                        "name": "lookup_order", "arguments": '{"order_id": "A-1042"}'}}]}
            body = json.dumps({
                "id": f"chatcmpl-{turn}", "object": "chat.completion", "created": 0,
                "model": "gpt-4o-2024-08-06", "choices": [{
                    "index": 0, "message": message,
                    "finish_reason": "tool_calls" if message["content"] is None else "stop"}],
                "usage": {"prompt_tokens": 50 + 30 * turn, "completion_tokens": 12,
                          "total_tokens": 62 + 30 * turn}}).encode()
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


def lookup_order(order_id: str) -> str:
    return json.dumps({"order_id": order_id, "status": "shipped", "tracking": None})


def answer(client: OpenAI, question: str, run_tool: Callable[..., str] = lookup_order) -> str:
    """The agent: call the model, run the tools it asks for, send the results back."""
    messages: list = [{"role": "system", "content": "You are a support agent."},
                      {"role": "user", "content": question}]
    while True:
        reply = client.chat.completions.create(model="gpt-4o", messages=messages, tools=TOOLS)
        message = reply.choices[0].message
        if not message.tool_calls:
            return message.content or ""
        messages.append(message)
        for call in message.tool_calls:
            result = run_tool(**json.loads(call.function.arguments))
            messages.append({"role": "tool", "tool_call_id": call.id, "content": result})


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--agent-run", action="store_true",
                        help="wrap the run in agent_run (one trace, tool spans)")
    parser.add_argument("--lookups", type=int, default=6)
    args = parser.parse_args(argv)

    exporter = InMemorySpanExporter()
    provider = TracerProvider()
    handle = otel_agentwatch.init(tracer_provider=provider, span_exporter=exporter)
    server = stuck_model(args.lookups)
    client = OpenAI(base_url=f"http://127.0.0.1:{server.server_address[1]}/v1",
                    api_key="not-needed", max_retries=0)
    try:
        if args.agent_run:
            # One trace for the run; the tool as execute_tool spans, which the detectors
            # then judge instead of the tool results in the requests.
            traced_lookup = otel_agentwatch.tool(tracer_provider=provider)(lookup_order)
            with otel_agentwatch.agent_run("support-agent", tracer_provider=provider):
                text = answer(client, "Where is my order A-1042?", traced_lookup)
        else:
            text = answer(client, "Where is my order A-1042?")
        print(f"agent answered: {text}\n")
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
