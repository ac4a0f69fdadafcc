"""What the host application can rely on, tried as an operator would try it.

    python benchmarks/reliability.py [--quick]

Six checks, each printed with its figure:

* fuzzed spans: spans of every dialect with hostile attribute values (JSON nested past
  the interpreter's limit, megabyte strings, infinite and NaN numbers, malformed
  envelopes, random JSON), five of each in a run: exceptions that reached the caller,
  spans not handed on, internal errors logged, detector failures;
* threads: 8 threads, each running 1,000 agent runs (``agent_run`` + ``@tool``) of five
  identical calls: runs flagged critical, and detections that landed in another run;
* fork under load: 100 forks while 3 threads run agents; a child that does not finish
  a run of its own within 30 s counts as hung;
* a dead collector: the application thread's time per span with the OTLP exporter
  pointed at a closed port, against the same pipeline exporting nowhere; and how long
  ``force_flush(5000)`` takes then;
* memory per live run (10,000 runs of 3 tool steps, still open);
* memory kept after 100 finished runs whose shell commands are 1 MB each.

``--quick`` runs a tenth of each (a smoke test; the figures in docs/reliability.md are
from the full run). The exit status is 1 when a count that must be zero is not (an
exception, a lost span, a crossed detection, a hung or failed child, a flush that
claimed success); timings are reported, never judged.
"""

from __future__ import annotations

import argparse
import gc
import json
import logging
import math
import os
import random
import signal
import sys
import threading
import time
import tracemalloc
from collections.abc import Callable, Sequence

from opentelemetry.sdk.trace import ReadableSpan, SpanProcessor, TracerProvider
from opentelemetry.sdk.trace.export import BatchSpanProcessor, SpanExporter, SpanExportResult
from opentelemetry.trace import SpanContext, Status, StatusCode

from otel_agentwatch import AgentWatchSpanProcessor, Config, agent_run, tool

# --- fuzzed spans ----------------------------------------------------------------------------

_DEEP = "[" * 5000 + "]" * 5000
_MARKERS = {
    "gen_ai.operation.name": ("execute_tool", "chat", "invoke_agent", "text_completion"),
    "openinference.span.kind": ("TOOL", "LLM", "AGENT", "CHAIN"),
    "traceloop.span.kind": ("tool", "agent", "task", "workflow"),
}
_KEYS = (
    "gen_ai.tool.name", "gen_ai.tool.call.arguments", "gen_ai.tool.call.result",
    "gen_ai.usage.input_tokens", "gen_ai.usage.output_tokens", "gen_ai.output.messages",
    "gen_ai.input.messages", "gen_ai.agent.name", "gen_ai.response.model", "error.type",
    "input.value", "output.value", "tool.name", "llm.token_count.prompt",
    "llm.output_messages.0.message.content", "traceloop.entity.input",
    "traceloop.entity.output", "traceloop.entity.name", "llm.request.type",
)


def _hostile_value(rng: random.Random) -> object:
    choice = rng.randrange(12)
    if choice == 0:
        return _DEEP
    if choice == 1:
        return json.dumps({"command": "cat f.py " + " " * rng.randrange(1, 300_000)})
    if choice == 2:
        return rng.choice((math.inf, -math.inf, math.nan, 1e308, -(2**63)))
    if choice == 3:
        return rng.choice(('{"args": 1, "kwargs": {}}', '{"input_str": 3, "inputs": 4, '
                           '"metadata": {}}', '{"lc": 1, "kwargs": ' + _DEEP + "}",
                           "1e400", "(" * 3000, "'" * 1000))
    if choice == 4:
        return tuple(rng.choice(("a", 1, 2.5, True)) for _ in range(rng.randrange(5)))
    if choice == 5:
        return "x" * rng.randrange(1_000_000)
    if choice in (6, 7):
        return json.dumps(_random_json(rng, 4))
    if choice == 8:
        return rng.randrange(-(2**63), 2**63)
    if choice == 9:
        return rng.random() * 10 ** rng.randrange(-5, 300)
    return "".join(chr(rng.randrange(32, 0x2FFF)) for _ in range(rng.randrange(40)))


def _random_json(rng: random.Random, depth: int) -> object:
    if depth == 0 or rng.random() < 0.3:
        return rng.choice((None, True, rng.randrange(100), rng.random(), "text", ""))
    if rng.random() < 0.5:
        return [_random_json(rng, depth - 1) for _ in range(rng.randrange(4))]
    return {rng.choice(("path", "query", "args", "kwargs", "command", "id")):
            _random_json(rng, depth - 1) for _ in range(rng.randrange(4))}


def _span(trace_id: int, span_id: int, parent: int | None, attributes: dict,
          error: bool = False) -> ReadableSpan:
    return ReadableSpan(
        name="execute_tool fuzz", attributes=attributes,
        context=SpanContext(trace_id=trace_id, span_id=span_id, is_remote=False),
        parent=SpanContext(trace_id=trace_id, span_id=parent, is_remote=False)
        if parent else None,
        status=Status(StatusCode.ERROR, "failed") if error else Status(StatusCode.UNSET),
        start_time=1, end_time=2,
    )


class _Count:
    """The processor behind ours: counts what it is handed, keeps nothing."""

    def __init__(self) -> None:
        self.ended = 0

    def on_start(self, span: object, parent_context: object = None) -> None: ...

    def on_end(self, span: ReadableSpan) -> None:
        self.ended += 1

    def shutdown(self) -> None: ...

    def force_flush(self, timeout_millis: int = 30000) -> bool:
        return True


class _Records(logging.Handler):
    def __init__(self) -> None:
        super().__init__(logging.DEBUG)
        self.messages: list[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.messages.append(record.getMessage())


def fuzz(runs: int, seed: int = 1) -> dict[str, int]:
    rng = random.Random(seed)
    count = _Count()
    processor = AgentWatchSpanProcessor(count, config=Config())
    records = _Records()
    logger = logging.getLogger("otel_agentwatch")
    logger.addHandler(records)
    level = logger.level
    logger.setLevel(logging.DEBUG)
    raised = spans = 0
    try:
        for trace_id in range(1, runs + 1):
            marker = rng.choice(tuple(_MARKERS))
            attributes = {marker: rng.choice(_MARKERS[marker]) if rng.random() < 0.9
                          else _hostile_value(rng)}
            for key in rng.sample(_KEYS, rng.randrange(1, 7)):
                attributes[key] = _hostile_value(rng)
            error = rng.random() < 0.2
            for index in range(5):
                spans += 1
                try:
                    processor.on_end(_span(trace_id, 10 + index, 1, attributes, error))
                except Exception:
                    raised += 1
            spans += 1
            try:
                processor.on_end(_span(trace_id, 1, None,
                                       {"gen_ai.operation.name": "invoke_agent"}))
            except Exception:
                raised += 1
    finally:
        logger.removeHandler(records)
        logger.setLevel(level)
    return {
        "spans": spans, "raised": raised, "lost": spans - count.ended,
        "internal_errors": sum("internal error" in m and "detector " not in m
                               for m in records.messages),
        "detector_failures": sum("internal error in detector" in m for m in records.messages),
    }


# --- threads -----------------------------------------------------------------------------------

class _Flags(SpanExporter):
    def __init__(self) -> None:
        self.agents: list[tuple[int, str | None, object]] = []
        self.lock = threading.Lock()

    def export(self, spans: Sequence[ReadableSpan]) -> SpanExportResult:
        with self.lock:
            for span in spans:
                if span.name.startswith("invoke_agent"):
                    self.agents.append((span.context.trace_id,
                                        span.attributes.get("gen_ai.agent.name"),
                                        span.attributes.get("agentwatch.run.severity")))
        return SpanExportResult.SUCCESS


def threads(workers: int, runs_each: int) -> dict[str, int]:
    exporter = _Flags()
    provider = TracerProvider()
    batch = BatchSpanProcessor(exporter, max_queue_size=1 << 17, schedule_delay_millis=50)
    provider.add_span_processor(AgentWatchSpanProcessor(batch, config=Config()))

    @tool(tracer_provider=provider)
    def lookup(order_id: str) -> str:
        return f"order {order_id}: shipped"

    @tool(tracer_provider=provider)
    def other(order_id: str) -> str:
        return f"order {order_id}"

    def work(worker: int) -> None:
        for run in range(runs_each):
            # Even workers loop; odd ones never repeat: a detection in their runs would
            # have crossed over from another thread's.
            with agent_run(f"worker-{worker}", tracer_provider=provider):
                for call in range(5):
                    if worker % 2 == 0:
                        lookup("A-1042")
                    else:
                        other(f"B-{run}-{call}")

    pool = [threading.Thread(target=work, args=(worker,)) for worker in range(workers)]
    for thread in pool:
        thread.start()
    for thread in pool:
        thread.join()
    provider.shutdown()
    looping = [a for a in exporter.agents if int(str(a[1]).split("-")[1]) % 2 == 0]
    clean = [a for a in exporter.agents if int(str(a[1]).split("-")[1]) % 2 == 1]
    return {"runs": len(exporter.agents),
            "looping_runs_critical": sum(a[2] == "critical" for a in looping),
            "looping_runs": len(looping),
            "clean_runs_flagged": sum(a[2] is not None for a in clean)}


# --- fork under load ---------------------------------------------------------------------------

def forks(count: int, deadline_s: float = 30.0) -> dict[str, int]:
    processor = AgentWatchSpanProcessor(config=Config())
    provider = TracerProvider()
    provider.add_span_processor(processor)

    @tool(tracer_provider=provider)
    def lookup(order_id: str) -> str:
        return f"order {order_id}: shipped"

    stop = threading.Event()

    def busy() -> None:
        while not stop.is_set():
            with agent_run("busy", tracer_provider=provider):
                for _ in range(6):
                    lookup("A-1042")

    interval = sys.getswitchinterval()
    sys.setswitchinterval(1e-4)  # forks land inside critical sections
    pool = [threading.Thread(target=busy, daemon=True) for _ in range(3)]
    for thread in pool:
        thread.start()
    hung = failed = 0
    try:
        for _ in range(count):
            pid = os.fork()
            if pid == 0:
                code = 1
                try:
                    with agent_run("child", tracer_provider=provider):
                        for _ in range(5):
                            lookup("A-1")
                    code = 0 if processor.active_runs == 0 else 2
                finally:
                    os._exit(code)
            end = time.monotonic() + deadline_s
            while True:
                done, status = os.waitpid(pid, os.WNOHANG)
                if done:
                    failed += os.waitstatus_to_exitcode(status) != 0
                    break
                if time.monotonic() > end:
                    os.kill(pid, signal.SIGKILL)
                    os.waitpid(pid, 0)
                    hung += 1
                    break
                time.sleep(0.005)
    finally:
        stop.set()
        sys.setswitchinterval(interval)
        for thread in pool:
            thread.join()
    return {"forks": count, "hung": hung, "failed": failed}


# --- a dead collector --------------------------------------------------------------------------

class _Nowhere(SpanExporter):
    def export(self, spans: Sequence[ReadableSpan]) -> SpanExportResult:
        return SpanExportResult.SUCCESS


def dead_collector(runs: int, rounds: int = 5) -> dict[str, float]:
    from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter

    def pipeline(exporter: SpanExporter, ours: bool) -> tuple[TracerProvider, SpanProcessor]:
        # Not shut down at exit: the SDK's shutdown waits out the dead exporter's retries.
        provider = TracerProvider(shutdown_on_exit=False)
        batch = BatchSpanProcessor(exporter)
        processor = AgentWatchSpanProcessor(batch, config=Config()) if ours else batch
        provider.add_span_processor(processor)
        return provider, processor

    def drive(provider: TracerProvider) -> float:
        tracer = provider.get_tracer("reliability")
        start = time.perf_counter()
        for run in range(runs):
            with tracer.start_as_current_span(
                    "invoke_agent a", attributes={"gen_ai.operation.name": "invoke_agent"}):
                for call in range(5):
                    with tracer.start_as_current_span("execute_tool t", attributes={
                            "gen_ai.operation.name": "execute_tool", "gen_ai.tool.name": "t",
                            "gen_ai.tool.call.arguments": json.dumps({"q": run, "c": call})}):
                        pass
        return (time.perf_counter() - start) / (runs * 6) * 1e6

    # Its retry warnings say what we know: nothing listens on port 9.
    logging.getLogger("opentelemetry.exporter.otlp").setLevel(logging.CRITICAL)
    result: dict[str, float] = {}
    for ours in (False, True):
        dead = OTLPSpanExporter(endpoint="http://127.0.0.1:9/v1/traces", timeout=10)
        dead_provider, dead_processor = pipeline(dead, ours)
        live_provider, _ = pipeline(_Nowhere(), ours)
        times: dict[str, list[float]] = {"dead": [], "nowhere": []}
        for _ in range(rounds):
            times["nowhere"].append(drive(live_provider))
            times["dead"].append(drive(dead_provider))
        prefix = "ours_" if ours else "sdk_"
        result[prefix + "ratio"] = min(times["dead"]) / min(times["nowhere"])
        if ours:
            result["dead_us"], result["nowhere_us"] = min(times["dead"]), min(times["nowhere"])
            start = time.perf_counter()
            result["flushed"] = float(dead_processor.force_flush(5000))
            result["flush_s"] = time.perf_counter() - start
        # Not dead_provider.shutdown(): the SDK's shutdown waits for the exporter's retries.
        live_provider.shutdown()
    return result


# --- memory --------------------------------------------------------------------------------------

def memory_after_megabyte_runs(runs: int) -> float:
    processor = AgentWatchSpanProcessor(config=Config())
    gc.collect()
    tracemalloc.start()
    before = tracemalloc.take_snapshot()
    for trace_id in range(1, runs + 1):
        command = json.dumps({"command": f"cat f{trace_id}.py " + "x" * 1_000_000})
        for index in range(3):
            processor.on_end(_span(trace_id, 10 + index, 1, {
                "gen_ai.operation.name": "execute_tool", "gen_ai.tool.name": "bash",
                "gen_ai.tool.call.arguments": command, "gen_ai.tool.call.result": "ok"}))
        processor.on_end(_span(trace_id, 1, None, {"gen_ai.operation.name": "invoke_agent"}))
        del command
    gc.collect()
    grown = sum(stat.size_diff for stat in
                tracemalloc.take_snapshot().compare_to(before, "filename"))
    tracemalloc.stop()
    return float(grown)


def main(argv: Sequence[str] | None = None, out: Callable[[str], None] = print) -> dict:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="a tenth of each check")
    args = parser.parse_args(argv)
    scale = 10 if args.quick else 1
    # The live-run memory figure is the overhead benchmark's, measured the same way.
    from overhead import measure_memory

    results: dict[str, dict[str, float]] = {}
    results["fuzz"] = fuzz(4000 // scale)
    found = results["fuzz"]
    out(f"fuzzed spans:      {found['spans']} spans, {found['raised']} exceptions into the "
        f"caller, {found['lost']} not handed on, {found['internal_errors']} internal errors "
        f"logged, {found['detector_failures']} detector failures")
    results["threads"] = threads(8, 1000 // scale)
    found = results["threads"]
    out(f"threads:           8 x {1000 // scale} runs: {found['looping_runs_critical']} of "
        f"{found['looping_runs']} looping runs critical, {found['clean_runs_flagged']} "
        f"clean runs flagged (crossed detections)")
    if hasattr(os, "fork"):
        results["fork"] = forks(100 // scale)
        found = results["fork"]
        out(f"fork under load:   {found['forks']} forks, {found['hung']} hung, "
            f"{found['failed']} failed")
    results["dead_collector"] = dead_collector(2000 // scale)
    found = results["dead_collector"]
    out(f"dead collector:    app thread {found['dead_us']:.1f} us/span against "
        f"{found['nowhere_us']:.1f} exporting nowhere ({found['ours_ratio']:.2f}x; the bare "
        f"SDK's pipeline alone: {found['sdk_ratio']:.2f}x); force_flush(5000) returned "
        f"{bool(found['flushed'])} after {found['flush_s']:.1f} s")
    live = measure_memory(10_000 // scale, 3)
    results["memory"] = {"per_live_run_bytes": live,
                         "after_megabyte_runs_bytes": memory_after_megabyte_runs(100 // scale)}
    out(f"memory:            {live / 1024:.1f} KiB per live run (3 tool steps); "
        f"{results['memory']['after_megabyte_runs_bytes'] / 1024:.0f} KiB kept after "
        f"{100 // scale} runs with 1 MB commands")
    return results


def broken(results: dict[str, dict[str, float]]) -> list[str]:
    """The guarantees the results break (timings aside)."""
    found = [f"{check}.{name}" for check, name in (
        ("fuzz", "raised"), ("fuzz", "lost"), ("fuzz", "internal_errors"),
        ("fuzz", "detector_failures"), ("threads", "clean_runs_flagged"),
        ("fork", "hung"), ("fork", "failed")) if results.get(check, {}).get(name)]
    threads_found = results["threads"]
    if threads_found["looping_runs_critical"] != threads_found["looping_runs"]:
        found.append("threads.looping_runs_critical")
    if results["dead_collector"]["flushed"]:
        found.append("dead_collector.flushed")
    return found


if __name__ == "__main__":
    failures = broken(main())
    if failures:
        print("broken: " + ", ".join(failures))
    raise SystemExit(1 if failures else 0)
