"""Per-call cost of our OpenAI and Anthropic instrumentation against the bare clients.

    python benchmarks/sdk_overhead.py [--conversations 10] [--turns 20] [--rounds 7]
    python benchmarks/sdk_overhead.py --instructions     # needs valgrind

The real clients talk to the scripted server of ``tests/scripted_server.py`` on
127.0.0.1. The workload is a hand-written tool loop: each conversation runs ``--turns``
calls, every request carrying the history so far and the result of the tool the previous
reply asked for, which is the path that turns requests into tool steps. Three APIs:
OpenAI Chat Completions (whole), the same streamed with usage, and Anthropic Messages
(the SDK's own tracing off). Per API, two pipelines alternated in rotating order round by
round, the median reported:

* ``bare``: the client uninstrumented, no tracing at all;
* ``agentwatch``: our instrumentation and AgentWatchSpanProcessor in front of a
  BatchSpanProcessor with an exporter that drops everything.

The HTTP round trip to a local server dominates a call; the added time per call is the
number to read, the ratio says how it compares with the cheapest call there can be.
Timings on a shared machine move by more than what we add, so ``--instructions`` counts
CPU instructions instead, under valgrind's callgrind, one process per pipeline less a
process that only sets up and warms up. There the clients answer in-process from the
same script (an ``httpx2`` mock transport, no socket), since a server thread's polling
would be counted too; the ratio is against the client's own work.
"""

from __future__ import annotations

import argparse
import gc
import logging
import statistics
import sys
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from _callgrind import instructions
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import (
    BatchSpanProcessor,
    SpanExporter,
    SpanExportResult,
)

from otel_agentwatch import AgentWatchSpanProcessor, Config
from otel_agentwatch.instrumentation.anthropic import AnthropicInstrumentor
from otel_agentwatch.instrumentation.openai import OpenAIInstrumentor
from tests.scripted_server import (
    ScriptedServer,
    chat_chunks,
    chat_completion,
    message,
)


class _Drop(SpanExporter):
    def export(self, spans: Any) -> SpanExportResult:
        return SpanExportResult.SUCCESS


def _openai_chat(server: ScriptedServer, turns: int, stream: bool,
                 in_process: bool) -> Callable[[int], None]:
    import openai  # here: --instructions processes load only the SDK they drive

    client = openai.OpenAI(base_url=server.url + "/v1", api_key="k", max_retries=0,
                           http_client=server.http_client() if in_process else None)

    def conversation(index: int) -> None:
        messages: list[Any] = [{"role": "system", "content": "You are a research agent."},
                               {"role": "user", "content": f"Question {index}?"}]
        for turn in range(turns):
            call = (f"call_{turn}", "search", f'{{"query": "topic {turn % 7}"}}')
            if stream:
                server.script(chat_chunks("", [call], usage=(100 + turn, 12)))
                chunks = list(client.chat.completions.create(
                    model="gpt-4o", messages=messages, stream=True,
                    stream_options={"include_usage": True}))
                assert chunks
            else:
                server.script(chat_completion(None, [call]))
                client.chat.completions.create(model="gpt-4o", messages=messages)
            messages.append({"role": "assistant", "content": None, "tool_calls": [{
                "id": call[0], "type": "function",
                "function": {"name": call[1], "arguments": call[2]}}]})
            messages.append({"role": "tool", "tool_call_id": call[0],
                             "content": "results: " + "lorem ipsum " * 20})

    return conversation


def _anthropic_messages(server: ScriptedServer, turns: int,
                        in_process: bool) -> Callable[[int], None]:
    import anthropic

    client = anthropic.Anthropic(base_url=server.url, api_key="k", max_retries=0,
                                 open_telemetry=False,
                                 http_client=server.http_client() if in_process else None)

    def conversation(index: int) -> None:
        messages: list[Any] = [{"role": "user", "content": f"Question {index}?"}]
        for turn in range(turns):
            arguments = {"query": f"topic {turn % 7}"}
            server.script(message(None, [(f"toolu_{turn}", "search", arguments)]))
            reply = client.messages.create(model="claude-scripted-1", max_tokens=256,
                                           system="You are a research agent.",
                                           messages=messages)
            messages.append({"role": "assistant", "content": reply.content})
            messages.append({"role": "user", "content": [{
                "type": "tool_result", "tool_use_id": f"toolu_{turn}",
                "content": "results: " + "lorem ipsum " * 20}]})

    return conversation


def _pipelines(sdks: Sequence[str] = ("openai", "anthropic"),
               ) -> dict[str, tuple[Callable[[], None], Callable[[], None]]]:
    provider = TracerProvider()
    config = Config()
    provider.add_span_processor(AgentWatchSpanProcessor(BatchSpanProcessor(_Drop()),
                                                        config=config))
    instrumentors = [{"openai": OpenAIInstrumentor, "anthropic": AnthropicInstrumentor}[sdk]()
                     for sdk in sdks]

    def on() -> None:
        for instrumentor in instrumentors:
            instrumentor.instrument(tracer_provider=provider, config=config)

    def off() -> None:
        for instrumentor in instrumentors:
            instrumentor.uninstrument()

    return {"bare": (lambda: None, lambda: None), "agentwatch": (on, off)}


def _workloads(server: ScriptedServer, turns: int, in_process: bool = False,
               ) -> dict[str, Callable[[], Callable[[int], None]]]:
    """Each API's conversation, built on demand (building one imports its SDK)."""
    return {
        "openai chat": lambda: _openai_chat(server, turns, False, in_process),
        "openai chat, streamed": lambda: _openai_chat(server, turns, True, in_process),
        "anthropic messages": lambda: _anthropic_messages(server, turns, in_process),
    }


INSTRUCTION_CONVERSATIONS, INSTRUCTION_TURNS = 3, 20


def _drive(pipeline: str, label: str, setup_only: bool) -> None:
    """One process's work for --instructions."""
    on, _off = _pipelines([label.split()[0]])[pipeline]
    on()
    with ScriptedServer() as server:
        conversation = _workloads(server, INSTRUCTION_TURNS, in_process=True)[label]()
        conversation(-1)
        if not setup_only:
            for index in range(INSTRUCTION_CONVERSATIONS):
                conversation(index)


def _instructions() -> None:
    def count(*drive: str) -> int:
        return instructions(__file__, "--drive", *drive)

    calls = INSTRUCTION_CONVERSATIONS * INSTRUCTION_TURNS
    print(f"CPU instructions per call, all threads (callgrind), {calls} calls")
    with ScriptedServer() as server:
        labels = list(_workloads(server, 1))
    for label in labels:
        per_call = {pipeline: (count(pipeline, label) - count(pipeline, label, "setup")) / calls
                    for pipeline in ("bare", "agentwatch")}
        bare, ours = per_call["bare"], per_call["agentwatch"]
        print(f"{label:24s} bare {bare:12,.0f}   agentwatch {ours:12,.0f}   "
              f"+{ours - bare:10,.0f} ({ours / bare:.2f}x)")


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--conversations", type=int, default=10)
    parser.add_argument("--turns", type=int, default=20)
    parser.add_argument("--rounds", type=int, default=7)
    parser.add_argument("--instructions", action="store_true",
                        help="count instructions under callgrind instead of timing")
    parser.add_argument("--drive", nargs="+", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    logging.getLogger("httpx").setLevel(logging.WARNING)
    if args.drive:
        _drive(args.drive[0], args.drive[1], setup_only=len(args.drive) > 2)
        return 0
    if args.instructions:
        _instructions()
        return 0
    pipelines = _pipelines()
    names = list(pipelines)
    calls = args.conversations * args.turns
    with ScriptedServer() as server:
        workloads = _workloads(server, args.turns)
        print(f"{args.conversations} conversations x {args.turns} calls per round, "
              f"{args.rounds} rounds (median), scripted server on 127.0.0.1")
        for label, build in workloads.items():
            conversation = build()
            conversation(-1)  # warm up the client and its connection
            times: dict[str, list[float]] = {name: [] for name in names}
            for round_index in range(args.rounds):
                shift = round_index % len(names)
                for name in names[shift:] + names[:shift]:
                    on, off = pipelines[name]
                    gc.collect()
                    on()
                    try:
                        start = time.perf_counter()
                        for index in range(args.conversations):
                            conversation(round_index * 1000 + index)
                        times[name].append(time.perf_counter() - start)
                    finally:
                        off()
            per_call = {name: statistics.median(values) / calls * 1e6
                        for name, values in times.items()}
            bare, ours = per_call["bare"], per_call["agentwatch"]
            print(f"{label:24s} bare {bare:7.0f} us/call   agentwatch {ours:7.0f} us/call   "
                  f"+{ours - bare:5.0f} us ({ours / bare:.2f}x)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
