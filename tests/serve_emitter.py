"""One process's part of a run whose spans come from two processes, exported over OTLP to
``agentwatch serve`` (``tests/test_serve.py``).

    python serve_emitter.py orchestrator ENDPOINT   # runs the agent, starts the worker
    python serve_emitter.py worker ENDPOINT          # context from TRACEPARENT

Each process has the in-process processor too, and prints the worst severity it saw
itself (``seen: none|warning|critical``): neither sees the whole loop.
"""

from __future__ import annotations

import os
import subprocess
import sys

from opentelemetry import context, propagate
from opentelemetry.exporter.otlp.proto.grpc.trace_exporter import OTLPSpanExporter
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import BatchSpanProcessor

from otel_agentwatch import AgentWatchSpanProcessor, Config, agent_run, on_detection, tool

role, endpoint = sys.argv[1], sys.argv[2]
provider = TracerProvider(resource=Resource.create({"service.name": role}))
provider.add_span_processor(AgentWatchSpanProcessor(
    BatchSpanProcessor(OTLPSpanExporter(endpoint=endpoint)), config=Config.from_env()))
seen: set[str] = set()
on_detection(lambda detection: seen.add(detection.severity.value))


@tool(tracer_provider=provider)
def search(query: str) -> str:
    return f"no results for {query!r}"


if role == "orchestrator":
    with agent_run("researcher", tracer_provider=provider):
        search("flights to Lisbon")
        search("flights to Lisbon")
        carrier: dict[str, str] = {}
        propagate.inject(carrier)
        subprocess.run([sys.executable, __file__, "worker", endpoint], check=True,
                       env={**os.environ, "TRACEPARENT": carrier["traceparent"]})
else:
    token = context.attach(propagate.extract({"traceparent": os.environ["TRACEPARENT"]}))
    for _ in range(3):
        search("flights to Lisbon")
    context.detach(token)
provider.shutdown()
worst = "critical" if "critical" in seen else "warning" if "warning" in seen else "none"
print(f"{role} seen: {worst}", flush=True)
