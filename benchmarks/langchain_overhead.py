"""Per-step cost of tracing a LangGraph agent: ours against none and against OpenInference.

    python benchmarks/langchain_overhead.py [--runs 10] [--steps 20] [--rounds 5]

The agent is ``langchain.agents.create_agent`` with a scripted chat model and one tool;
each run makes ``--steps`` tool calls (one in ten repeating the previous call) and a
final answer. A step is one model call and one tool call. Pipelines, alternated in rotating
order round by round in one process, the median reported:

* ``none``: no instrumentation at all;
* ``agentwatch``: our LangChain instrumentation and AgentWatchSpanProcessor in front of
  a BatchSpanProcessor with an exporter that drops everything;
* ``openinference``: OpenInference's LangChain instrumentation with the same batch
  processor and exporter (no detectors), when it is installed.
"""

from __future__ import annotations

import argparse
import gc
import logging
import random
import statistics
import sys
import time
from collections.abc import Callable, Sequence

from langchain.agents import create_agent
from langchain_core.language_models.fake_chat_models import GenericFakeChatModel
from langchain_core.messages import AIMessage
from langchain_core.tools import tool
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import BatchSpanProcessor, SpanExporter, SpanExportResult

from otel_agentwatch import AgentWatchSpanProcessor, Config
from otel_agentwatch.instrumentation.langchain import LangChainInstrumentor


class _Drop(SpanExporter):
    def export(self, spans) -> SpanExportResult:
        return SpanExportResult.SUCCESS


class _Scripted(GenericFakeChatModel):
    def bind_tools(self, tools, **kwargs):
        return self


@tool
def search(query: str) -> str:
    """Search the knowledge base."""
    return f"results for {query}: " + "lorem ipsum " * 20


def _script(steps: int, rng: random.Random) -> list[AIMessage]:
    script, previous = [], None
    for step in range(steps):
        query = previous if previous and rng.random() < 0.1 else f"topic {rng.randrange(10**6)}"
        previous = query
        script.append(AIMessage(content="", tool_calls=[
            {"name": "search", "args": {"query": query}, "id": f"call_{step}"}]))
    script.append(AIMessage(content="done"))
    return script


def _workload(runs: int, steps: int) -> list[list[AIMessage]]:
    rng = random.Random(5)
    return [_script(steps, rng) for _ in range(runs)]


def _run_agents(scripts: list[list[AIMessage]]) -> float:
    agents = [create_agent(_Scripted(messages=iter(script), disable_streaming=True), [search])
              for script in scripts]
    start = time.perf_counter()
    for agent in agents:
        agent.invoke({"messages": [("user", "research this")]},
                     config={"recursion_limit": 10_000})
    return time.perf_counter() - start


def _ours() -> tuple[Callable[[], None], Callable[[], None]]:
    provider = TracerProvider()
    provider.add_span_processor(
        AgentWatchSpanProcessor(BatchSpanProcessor(_Drop()), config=Config()))
    instrumentor = LangChainInstrumentor()
    return (lambda: instrumentor.instrument(tracer_provider=provider, config=Config()),
            instrumentor.uninstrument)


def _openinference() -> tuple[Callable[[], None], Callable[[], None]] | None:
    try:
        from openinference.instrumentation.langchain import LangChainInstrumentor as Theirs
    except ImportError:
        return None
    provider = TracerProvider()
    provider.add_span_processor(BatchSpanProcessor(_Drop()))
    instrumentor = Theirs()
    return (lambda: instrumentor.instrument(tracer_provider=provider), instrumentor.uninstrument)


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--runs", type=int, default=10)
    parser.add_argument("--steps", type=int, default=20)
    parser.add_argument("--rounds", type=int, default=5)
    args = parser.parse_args(argv)
    # OpenInference records whole conversations as attributes and overflows the SDK's
    # attribute limit on every long run; the SDK warns each time.
    logging.getLogger("opentelemetry.attributes").setLevel(logging.ERROR)

    pipelines: dict[str, tuple[Callable[[], None], Callable[[], None]]] = {
        "none": (lambda: None, lambda: None), "agentwatch": _ours()}
    theirs = _openinference()
    if theirs is not None:
        pipelines["openinference"] = theirs
    times: dict[str, list[float]] = {name: [] for name in pipelines}
    _run_agents(_workload(2, args.steps))  # warm up LangGraph itself
    names = list(pipelines)
    for round_index in range(args.rounds):
        # Rotate the order, so no pipeline always runs first (after the previous one's
        # garbage) or last.
        for name in names[round_index % len(names):] + names[:round_index % len(names)]:
            on, off = pipelines[name]
            scripts = _workload(args.runs, args.steps)
            gc.collect()
            on()
            try:
                times[name].append(_run_agents(scripts))
            finally:
                off()
    steps = args.runs * args.steps
    per_step = {name: statistics.median(values) / steps * 1e3 for name, values in times.items()}
    print(f"{args.runs} runs x {args.steps} steps per round, {args.rounds} rounds (median)")
    for name, value in per_step.items():
        print(f"{name:14s} {value:7.3f} ms/step  ({value / per_step['none']:.2f}x none)")
    if "openinference" in per_step:
        added_ours = per_step["agentwatch"] - per_step["none"]
        added_theirs = per_step["openinference"] - per_step["none"]
        print(f"added per step: agentwatch {added_ours * 1e3:.0f} us, "
              f"openinference {added_theirs * 1e3:.0f} us "
              f"({per_step['agentwatch'] / per_step['openinference']:.2f}x openinference)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
