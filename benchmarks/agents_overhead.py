"""Cost of our OpenAI Agents SDK instrumentation against the uninstrumented SDK, with
OpenInference's instrumentor measured beside it in the same run.

    python benchmarks/agents_overhead.py [--runs 40] [--rounds 7]

The workload is the SDK's real ``Runner.run_sync`` with its ``OpenAIResponsesModel`` and
the real ``openai`` client, answered in-process from a script (an ``httpx2`` mock
transport: no socket, so the model's round trip costs as little as it can and our share
shows): each agent run makes six tool calls and a final answer, seven model calls.
Pipelines, each in a process of its own (the SDK's trace processors are process-wide),
alternated round by round, the median reported:

* ``bare``: the SDK with no trace processor (its default one uploads to OpenAI's
  dashboard), no OpenTelemetry;
* ``agentwatch``: ``otel_agentwatch.init()``'s instrumentation (the Agents SDK mirror and
  the OpenAI client's) with AgentWatchSpanProcessor in front of a BatchSpanProcessor whose
  exporter drops everything;
* ``openinference``: OpenInference's ``OpenAIAgentsInstrumentor`` (when installed) with
  the same BatchSpanProcessor and exporter, no detection.
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

PIPELINES = ("bare", "agentwatch", "openinference")
TOOL_CALLS = 6


def _scripted_client() -> Any:
    """An AsyncOpenAI client whose every request is answered from the script below."""
    import httpx2
    import openai

    from tests.scripted_server import response

    turn = 0

    def answer(request: Any) -> Any:
        nonlocal turn
        body = json.loads(request.content or b"{}")
        outputs = sum(1 for item in body.get("input", ())
                      if isinstance(item, dict) and item.get("type") == "function_call_output")
        turn += 1
        reply = (response(None, [(f"call_{outputs}", "lookup_order",
                                  json.dumps({"order_id": f"A-{turn}"}))], id_=f"resp_{turn}")
                 if outputs < TOOL_CALLS else response("Done."))
        return httpx2.Response(200, headers={"content-type": "application/json"},
                               content=json.dumps(reply).encode())

    return openai.AsyncOpenAI(base_url="http://scripted/v1", api_key="k", max_retries=0,
                              http_client=httpx2.AsyncClient(
                                  transport=httpx2.MockTransport(answer)))


def _set_up(pipeline: str) -> None:
    import agents
    from opentelemetry.sdk.trace import TracerProvider
    from opentelemetry.sdk.trace.export import (
        BatchSpanProcessor,
        SpanExporter,
        SpanExportResult,
    )

    class Drop(SpanExporter):
        def export(self, spans: Any) -> SpanExportResult:
            return SpanExportResult.SUCCESS

    agents.set_trace_processors([])
    if pipeline == "agentwatch":
        import otel_agentwatch

        otel_agentwatch.init(tracer_provider=TracerProvider(), span_exporter=Drop())
    elif pipeline == "openinference":
        from openinference.instrumentation.openai_agents import OpenAIAgentsInstrumentor

        provider = TracerProvider()
        provider.add_span_processor(BatchSpanProcessor(Drop()))
        OpenAIAgentsInstrumentor().instrument(tracer_provider=provider)


def drive(pipeline: str, runs: int) -> float:
    """In this process: ``runs`` agent runs after a warm-up; seconds per run."""
    import agents

    _set_up(pipeline)

    @agents.function_tool
    def lookup_order(order_id: str) -> str:
        """Look up an order's status."""
        return f"order {order_id}: shipped"

    agent = agents.Agent(name="support", instructions="Answer questions about orders.",
                         tools=[lookup_order],
                         model=agents.OpenAIResponsesModel(model="gpt-5",
                                                           openai_client=_scripted_client()))
    for _ in range(3):
        agents.Runner.run_sync(agent, "Where is my order?")
    start = time.perf_counter()
    for _ in range(runs):
        agents.Runner.run_sync(agent, "Where is my order?")
    return (time.perf_counter() - start) / runs


def _available(pipeline: str) -> bool:
    if pipeline != "openinference":
        return True
    try:
        import openinference.instrumentation.openai_agents  # noqa: F401
    except ImportError:
        return False
    return True


def main(argv: Sequence[str] | None = None, out: Callable[[str], None] = print) -> dict:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--runs", type=int, default=40)
    parser.add_argument("--rounds", type=int, default=7)
    parser.add_argument("--drive", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.drive:
        print(drive(args.drive, args.runs))
        return {}
    pipelines = [p for p in PIPELINES if _available(p)]
    times: dict[str, list[float]] = {p: [] for p in pipelines}
    for round_index in range(args.rounds):
        # Rotating order, so that no pipeline always runs first (or last) in a round.
        for pipeline in pipelines[round_index % len(pipelines):] + \
                pipelines[:round_index % len(pipelines)]:
            result = subprocess.run(
                [sys.executable, __file__, "--drive", pipeline, "--runs", str(args.runs)],
                capture_output=True, text=True, check=True)
            times[pipeline].append(float(result.stdout.strip().splitlines()[-1]))
    bare = statistics.median(times["bare"])
    out(f"agent runs per process: {args.runs} ({TOOL_CALLS} tool calls, "
        f"{TOOL_CALLS + 1} model calls each), rounds: {args.rounds} (median)")
    medians = {}
    for pipeline in pipelines:
        medians[pipeline] = statistics.median(times[pipeline])
        out(f"{pipeline:14s} {medians[pipeline] * 1e3:7.2f} ms/run  "
            f"{medians[pipeline] / bare:5.2f}x")
    if "openinference" not in pipelines:
        out("openinference: not installed (pip install openinference-instrumentation-"
            "openai-agents)")
    return medians


if __name__ == "__main__":
    main()
