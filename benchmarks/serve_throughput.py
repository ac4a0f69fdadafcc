"""Throughput and memory of one ``agentwatch serve`` replica, against the same service
with the detectors turned off (``AGENTWATCH_ENABLED=false``: receive, hold, forward), in
the same run.

    python benchmarks/serve_throughput.py [--runs 3000] [--paced-seconds 20]

The service runs as it is deployed, a separate process (``python -m otel_agentwatch.cli
serve``), forwarding over OTLP/gRPC to a receiver in this process that counts what
arrives. The spans are the agent runs of ``benchmarks/overhead.py`` (an ``invoke_agent``
span holding ten ``chat``/``execute_tool`` pairs with the attributes the GenAI
instrumentations set, one tool call in ten repeating the previous one), encoded once as
OTLP requests of 512 spans, as an SDK's batch processor sends them; a run's spans may
fall in two requests.

* capacity: every request sent as fast as the service takes them (it answers "retry
  later" when judging falls behind, and the sender retries); spans per second from the
  first request to the last span forwarded, less the grace period.
* zero loss below it: the same requests sent at 80% of that rate for ``--paced-seconds``;
  every span must arrive, none refused or dropped.
* memory per live run: runs held (a grace period longer than the test), the service's
  resident memory before and after, divided by the runs.

The two cores of this machine are shared by the service and this process (sender and
receiver), so the figures are a floor for a replica with cores of its own.
"""

from __future__ import annotations

import argparse
import json
import os
import socket
import subprocess
import sys
import threading
import time
import urllib.request
from collections.abc import Callable, Sequence
from concurrent import futures
from pathlib import Path
from typing import Any

import grpc
from opentelemetry.exporter.otlp.proto.common.trace_encoder import encode_spans
from opentelemetry.proto.collector.trace.v1 import trace_service_pb2, trace_service_pb2_grpc
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

sys.path.insert(0, str(Path(__file__).resolve().parent))
from overhead import _drive, _workload  # the same agent runs

REQUEST_SPANS = 512


class Counter(trace_service_pb2_grpc.TraceServiceServicer):
    """The next hop: counts the spans it is sent, and when the last came."""

    def __init__(self) -> None:
        self.spans = 0
        self.last = 0.0
        self.lock = threading.Lock()

    def Export(self, request: Any, context: Any) -> Any:  # gRPC's name
        count = sum(len(scope.spans) for resource in request.resource_spans
                    for scope in resource.scope_spans)
        with self.lock:
            self.spans += count
            self.last = time.perf_counter()
        return trace_service_pb2.ExportTraceServiceResponse()


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def encoded_runs(runs: int) -> tuple[list[bytes], int]:
    """The runs' spans as serialized OTLP requests, and how many spans in all."""
    exporter = InMemorySpanExporter()
    provider = TracerProvider()
    provider.add_span_processor(SimpleSpanProcessor(exporter))
    _drive(provider, _workload(11, runs))
    spans = list(exporter.get_finished_spans())
    requests = [encode_spans(spans[start:start + REQUEST_SPANS]).SerializeToString()
                for start in range(0, len(spans), REQUEST_SPANS)]
    return requests, len(spans)


class Service:
    """``agentwatch serve`` in a process of its own."""

    def __init__(self, forward_port: int, *, enabled: bool, grace: float) -> None:
        self.grpc_port, self.http_port = _free_port(), _free_port()
        env = {**os.environ, "AGENTWATCH_SERVE_METRICS": "false",
               "AGENTWATCH_ENABLED": "true" if enabled else "false"}
        self.process = subprocess.Popen(
            [sys.executable, "-m", "otel_agentwatch.cli", "serve",
             "--grpc", f"127.0.0.1:{self.grpc_port}", "--http", f"127.0.0.1:{self.http_port}",
             "--forward", f"http://127.0.0.1:{forward_port}", "--grace", str(grace),
             "--max-spans", "200000", "--queue-spans", "50000"],
            env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        self.channel = grpc.insecure_channel(f"127.0.0.1:{self.grpc_port}")
        self.stub = self.channel.unary_unary(
            "/opentelemetry.proto.collector.trace.v1.TraceService/Export",
            request_serializer=lambda body: body,
            response_deserializer=trace_service_pb2.ExportTraceServiceResponse.FromString)
        deadline = time.monotonic() + 60
        while True:
            try:
                self.status()
                break
            except OSError:
                if time.monotonic() > deadline:
                    raise RuntimeError("the service did not start") from None
                time.sleep(0.2)

    def send(self, body: bytes) -> int:
        """Sends one request until it is taken; returns the refusals on the way."""
        refused = 0
        while True:
            try:
                self.stub(body, timeout=30)
                return refused
            except grpc.RpcError as error:
                if error.code() is not grpc.StatusCode.UNAVAILABLE:
                    raise
                refused += 1
                time.sleep(0.05)

    def status(self) -> dict[str, int]:
        with urllib.request.urlopen(f"http://127.0.0.1:{self.http_port}/status",
                                    timeout=5) as answer:
            return dict(json.load(answer))

    def rss_bytes(self) -> int:
        for line in Path(f"/proc/{self.process.pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) * 1024
        raise RuntimeError("no VmRSS")

    def stop(self) -> None:
        self.channel.close()
        self.process.terminate()
        try:
            self.process.wait(60)
        except subprocess.TimeoutExpired:
            self.process.kill()


def _wait_for(counter: Counter, spans: int, timeout: float = 600) -> None:
    deadline = time.monotonic() + timeout
    while counter.spans < spans:
        if time.monotonic() > deadline:
            raise RuntimeError(f"{counter.spans} of {spans} spans arrived")
        time.sleep(0.02)


def measure(enabled: bool, runs: int, paced_seconds: float,
            out: Callable[[str], None]) -> dict[str, float]:
    grace = 0.5
    requests, total = encoded_runs(runs)
    counter = Counter()
    receiver = grpc.server(futures.ThreadPoolExecutor(2))
    trace_service_pb2_grpc.add_TraceServiceServicer_to_server(counter, receiver)
    port = receiver.add_insecure_port("127.0.0.1:0")
    receiver.start()
    label = "detectors on" if enabled else "detectors off"
    try:
        # Capacity: as fast as it takes them.
        service = Service(port, enabled=enabled, grace=grace)
        try:
            start = time.perf_counter()
            refusals = sum(service.send(body) for body in requests)
            _wait_for(counter, total)
            seconds = counter.last - start - grace
            capacity = total / seconds
            out(f"{label}: {total} spans in {seconds:.2f} s: {capacity:,.0f} spans/s "
                f"({refusals} refusals to retry)")
            # Zero loss below it: paced at 80%, for paced_seconds.
            rate = 0.8 * capacity
            counter.spans = 0
            sent = 0
            begin = time.perf_counter()
            index = 0
            while time.perf_counter() - begin < paced_seconds:
                body = requests[index % len(requests)]
                index += 1
                refusals = service.send(body)
                sent += REQUEST_SPANS if index % len(requests) else \
                    total - REQUEST_SPANS * (len(requests) - 1)
                if refusals:
                    raise RuntimeError(f"refused at {rate:,.0f} spans/s")
                ahead = sent / rate - (time.perf_counter() - begin)
                if ahead > 0:
                    time.sleep(ahead)
            _wait_for(counter, sent)
            status = service.status()
            lost = status["spans_refused"] + status["spans_dropped"] + status["spans_failed"]
            out(f"{label}: paced at {rate:,.0f} spans/s for {paced_seconds:.0f} s: "
                f"{sent} sent, {counter.spans} arrived, {lost} refused or dropped")
        finally:
            service.stop()
        # Memory per live run: held, not yet judged.
        service = Service(port, enabled=enabled, grace=3600)
        try:
            time.sleep(1.0)
            before = service.rss_bytes()
            for body in requests:
                service.send(body)
            while service.status()["spans_received"] < total:
                time.sleep(0.1)
            time.sleep(0.5)
            per_run = (service.rss_bytes() - before) / runs
            out(f"{label}: {runs} runs held: {per_run / 1024:,.1f} KiB per live run "
                f"({total // runs} spans each)")
        finally:
            service.stop()
    finally:
        receiver.stop(None)
    return {"capacity": capacity, "paced_rate": rate, "paced_sent": sent,
            "paced_arrived": counter.spans, "lost": lost, "kib_per_run": per_run / 1024}


def main(argv: Sequence[str] | None = None, out: Callable[[str], None] = print) -> dict:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--runs", type=int, default=3000)
    parser.add_argument("--paced-seconds", type=float, default=20.0)
    args = parser.parse_args(argv)
    off = measure(False, args.runs, args.paced_seconds, out)
    on = measure(True, args.runs, args.paced_seconds, out)
    out(f"capacity with the detectors: {on['capacity']:,.0f} spans/s, "
        f"{on['capacity'] / off['capacity']:.2f} of the service without them "
        f"({off['capacity']:,.0f}); memory per live run {on['kib_per_run']:,.1f} KiB "
        f"({off['kib_per_run']:,.1f} without)")
    return {"off": off, "on": on}


if __name__ == "__main__":
    main()
