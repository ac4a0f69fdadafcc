"""``agentwatch serve``: a run whose spans come from two processes is judged whole; the
spans reach the next endpoint with the verdicts and otherwise as sent; the service stays
bounded when that endpoint is down."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path

import pytest

pytest.importorskip("aiohttp")

from opentelemetry.exporter.otlp.proto.grpc.trace_exporter import OTLPSpanExporter
from opentelemetry.exporter.otlp.proto.http import Compression
from opentelemetry.exporter.otlp.proto.http.trace_exporter import (
    OTLPSpanExporter as HttpSpanExporter,
)
from opentelemetry.sdk.trace.export import SpanExportResult
from serving import running, sink
from test_serve_parts import looping_trace, request

from otel_agentwatch import semconv
from otel_agentwatch.serve.decode import decode_request

EMITTER = Path(__file__).with_name("serve_emitter.py")


def wait_for(condition, timeout: float = 30.0) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError("timed out")
        time.sleep(0.05)


@pytest.mark.parametrize("capture", ["false", "true"])
def test_a_loop_split_across_two_processes_is_flagged_critical(capture: str) -> None:
    env = {**os.environ, "OTEL_INSTRUMENTATION_GENAI_CAPTURE_MESSAGE_CONTENT": capture,
           "AGENTWATCH_DIGEST_KEY": "shared by the deployment", "OTEL_BSP_SCHEDULE_DELAY": "100"}
    with sink() as next_hop, running(OTLPSpanExporter(endpoint=next_hop.endpoint),
                                     grace_seconds=0.3) as service:
        result = subprocess.run(
            [sys.executable, str(EMITTER), "orchestrator",
             f"http://127.0.0.1:{service.grpc_port}"],
            env=env, capture_output=True, text=True, timeout=120, check=True)
        wait_for(lambda: len(next_hop.spans()) == 6)
    # Neither process saw the loop critical: 2 calls in one, 3 in the other.
    assert "orchestrator seen: none" in result.stdout
    assert "worker seen: warning" in result.stdout
    spans = next_hop.spans()
    tools = sorted((s for s in spans if s.name == "execute_tool search"),
                   key=lambda s: s.start_time)
    assert {s.resource.attributes["service.name"] for s in tools} == {"orchestrator", "worker"}
    if capture == "false":
        assert all(semconv.GEN_AI_TOOL_CALL_ARGUMENTS not in (s.attributes or {}) for s in tools)
        assert all((s.attributes or {}).get(semconv.TOOL_ARGUMENTS_DIGEST) for s in tools)
    assert tools[-1].attributes[semconv.SEVERITY] == "critical"
    detectors = {e.attributes[semconv.EVENT_DETECTOR] for e in tools[-1].events
                 if e.name == semconv.DETECTION_EVENT}
    assert "loop.repeated_call" in detectors
    agent = next(s for s in spans if s.name == "invoke_agent researcher")
    assert agent.attributes[semconv.RUN_SEVERITY] == "critical"
    assert service.status().detections_critical >= 1


# --- spans as other senders send them -----------------------------------------------------



def test_http_protobuf_gzipped_as_the_collector_sends_it() -> None:
    with sink() as next_hop, running(OTLPSpanExporter(endpoint=next_hop.endpoint),
                                     grace_seconds=0.2) as service:
        sender = HttpSpanExporter(endpoint=f"http://127.0.0.1:{service.http_port}/v1/traces",
                                  compression=Compression.Gzip)
        assert sender.export(decode_request(request(*looping_trace(3)))) is \
            SpanExportResult.SUCCESS
        wait_for(lambda: len(next_hop.spans()) == 6)
    severities = {s.attributes.get(semconv.SEVERITY) for s in next_hop.spans()}
    assert "critical" in severities


def test_its_own_metrics_and_the_detections_are_reported() -> None:
    from opentelemetry.sdk.metrics import MeterProvider
    from opentelemetry.sdk.metrics.export import InMemoryMetricReader

    reader = InMemoryMetricReader()
    with sink() as next_hop, running(OTLPSpanExporter(endpoint=next_hop.endpoint),
                                     meter_provider=MeterProvider([reader]),
                                     grace_seconds=0.1) as service:
        service.receive(request(*looping_trace(4)))
        wait_for(lambda: len(next_hop.spans()) == 6)
    points = {}
    for resource in reader.get_metrics_data().resource_metrics:
        for scope in resource.scope_metrics:
            for metric in scope.metrics:
                for point in metric.data.data_points:
                    reason = point.attributes.get("reason")
                    points[metric.name + (f"[{reason}]" if reason else "")] = point.value
    assert points["agentwatch.serve.spans.received"] == 6
    assert points["agentwatch.serve.spans.forwarded"] == 6
    assert points["agentwatch.serve.spans.lost[queue_full]"] == 0
    assert points["agentwatch.serve.traces.judged"] == 1
    assert points["agentwatch.serve.spans.held"] == 0
    assert points["agentwatch.serve.runs.live"] == 0
    assert points["agentwatch.detections"] >= 1


def test_spans_with_ids_otlp_does_not_allow_are_left_out_and_the_sender_told() -> None:
    import grpc
    from opentelemetry.proto.collector.trace.v1 import trace_service_pb2_grpc

    bad = looping_trace(6)[1]
    bad.span_id = b"\x01" * 9
    with running(None) as service:
        channel = grpc.insecure_channel(f"127.0.0.1:{service.grpc_port}")
        stub = trace_service_pb2_grpc.TraceServiceStub(channel)
        answer = stub.Export(request(*looping_trace(5), bad), timeout=10)
        channel.close()
        status = service.status()
    assert answer.partial_success.rejected_spans == 1
    assert "8 bytes" in answer.partial_success.error_message
    assert status.spans_received == 6 and status.spans_rejected == 1


def test_health_status_and_wrong_bodies() -> None:
    import urllib.error
    import urllib.request

    with running(None) as service:
        base = f"http://127.0.0.1:{service.http_port}"
        with urllib.request.urlopen(base + "/healthz") as answer:
            assert json.load(answer) == {"status": "ok"}
        for body, kind, status in ((b"{}", "application/json", 415),
                                   (b"\xff\x00garbage", "application/x-protobuf", 400)):
            post = urllib.request.Request(base + "/v1/traces", data=body,
                                          headers={"Content-Type": kind})
            with pytest.raises(urllib.error.HTTPError) as refused:
                urllib.request.urlopen(post)
            assert refused.value.code == status
        with urllib.request.urlopen(base + "/status") as answer:
            status_now = json.load(answer)
    assert status_now["spans_received"] == 0 and "forward_queue" in status_now


def test_several_senders_split_every_trace_and_each_span_arrives_once() -> None:
    """As several Collectors' loadbalancing exporters drive one replica: each sends part
    of every trace, in no particular order."""
    import random
    import threading

    traces = [looping_trace(1000 + n) for n in range(24)]
    chunks: list[list] = [[] for _ in range(4)]
    shuffled = [s for spans in traces for s in spans]
    random.Random(7).shuffle(shuffled)
    for index, sent in enumerate(shuffled):
        chunks[index % 4].append(sent)
    with sink() as next_hop, running(OTLPSpanExporter(endpoint=next_hop.endpoint),
                                     grace_seconds=0.5) as service:
        def send(chunk: list) -> None:
            sender = OTLPSpanExporter(endpoint=f"http://127.0.0.1:{service.grpc_port}")
            for start in range(0, len(chunk), 7):
                assert sender.export(decode_request(request(*chunk[start:start + 7]))) is \
                    SpanExportResult.SUCCESS
            sender.shutdown()

        senders = [threading.Thread(target=send, args=(chunk,)) for chunk in chunks]
        for thread in senders:
            thread.start()
        for thread in senders:
            thread.join()
        wait_for(lambda: len(next_hop.spans()) == len(shuffled))
    forwarded = next_hop.spans()
    ids = [(s.get_span_context().trace_id, s.get_span_context().span_id) for s in forwarded]
    assert len(set(ids)) == len(ids) == 24 * 6
    agents = [s for s in forwarded if s.name.startswith("invoke_agent")]
    assert [s.attributes.get(semconv.RUN_SEVERITY) for s in agents] == ["critical"] * 24
    assert service.status().traces_judged >= 24


def test_with_the_next_endpoint_down_memory_stays_bounded_and_drops_are_counted() -> None:
    with sink() as next_hop:
        next_hop.down, next_hop.delay = True, 2.0  # slow, then refusing
        exporter = OTLPSpanExporter(endpoint=next_hop.endpoint, timeout=2)
        with running(exporter, grace_seconds=0, queue_spans=600) as service:
            sender = OTLPSpanExporter(endpoint=f"http://127.0.0.1:{service.grpc_port}")
            seen = []
            for batch in range(60):
                spans = [s for n in range(10) for s in looping_trace(batch * 100 + n + 1)]
                assert sender.export(decode_request(request(*spans))) is \
                    SpanExportResult.SUCCESS
                seen.append(service.status())
            wait_for(lambda: service.status().spans_held == 0)
            last = service.status()
    assert max(s.forward_queue for s in seen) <= 600
    assert max(s.spans_held for s in seen) <= 100_000
    assert last.spans_received == 3600
    assert last.spans_dropped > 0 and last.spans_forwarded == 0
    # Every span is accounted for, dropped or failed, but for the batch in flight when
    # the service stopped.
    final = service.status()
    assert 3600 - 512 <= final.spans_dropped + final.spans_failed <= 3600


# --- the command ----------------------------------------------------------------------------


def free_port() -> int:
    import socket

    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


@pytest.mark.parametrize(("arguments", "said"), [
    ([], "AGENTWATCH_SERVE_FORWARD_ENDPOINT"),
    (["--forward", "http://localhost:4317"], "this service's own"),
    (["--grace", "-1"], "AGENTWATCH_SERVE_GRACE_SECONDS"),
    (["--grpc", "nowhere"], "AGENTWATCH_SERVE_GRPC_ENDPOINT"),
    (["--forward", "http://collector:port"], "a URL such as"),
])
def test_the_command_refuses_a_configuration_that_cannot_work(
        arguments: list[str], said: str, capsys: pytest.CaptureFixture[str],
        monkeypatch: pytest.MonkeyPatch) -> None:
    from otel_agentwatch.cli import main

    for name in ("OTEL_EXPORTER_OTLP_ENDPOINT", "OTEL_EXPORTER_OTLP_TRACES_ENDPOINT"):
        monkeypatch.delenv(name, raising=False)
    assert main(["serve", *arguments]) == 2
    assert said in capsys.readouterr().err


def test_an_address_in_use_is_said_plainly(capsys: pytest.CaptureFixture[str]) -> None:
    import socket

    from otel_agentwatch.cli import main

    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        assert main(["serve", "--grpc", "none", "--http", f"127.0.0.1:{port}",
                     "--forward", "none"]) == 1
    assert "cannot listen" in capsys.readouterr().err


def test_the_command_judges_what_it_holds_when_stopped() -> None:
    """SIGTERM (a rolling update) before a trace's grace period ended: the trace is judged
    and forwarded on the way out, not lost."""
    import signal

    grpc_port = free_port()
    with sink() as next_hop:
        service = subprocess.Popen(
            [sys.executable, "-m", "otel_agentwatch.cli", "serve",
             "--grpc", f"127.0.0.1:{grpc_port}", "--http", "none",
             "--forward", next_hop.endpoint, "--grace", "600"],
            env={**os.environ, "AGENTWATCH_SERVE_METRICS": "false"},
            stderr=subprocess.PIPE, text=True)
        try:
            sender = OTLPSpanExporter(endpoint=f"http://127.0.0.1:{grpc_port}")
            deadline = time.monotonic() + 30
            while sender.export(decode_request(request(*looping_trace(9)))) is not \
                    SpanExportResult.SUCCESS:
                assert time.monotonic() < deadline, "the service did not start"
                time.sleep(0.2)
            time.sleep(0.5)
            assert next_hop.spans() == []  # held: its grace period has not passed
            service.send_signal(signal.SIGTERM)
            assert service.wait(30) == 0
        finally:
            service.kill()
        log = service.stderr.read() if service.stderr else ""
    assert "listening" in log
    forwarded = next_hop.spans()
    assert len(forwarded) == 6
    assert "critical" in {s.attributes.get(semconv.SEVERITY) for s in forwarded}
