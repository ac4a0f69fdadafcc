"""Test helpers for ``agentwatch serve``: the service run in a thread, and an OTLP receiver
standing for the next hop (the Collector or a backend) that can be made to refuse."""

from __future__ import annotations

import asyncio
import threading
import time
from collections.abc import Iterator
from concurrent import futures
from contextlib import contextmanager
from typing import Any

import grpc
from opentelemetry.proto.collector.trace.v1 import trace_service_pb2, trace_service_pb2_grpc
from opentelemetry.sdk.trace import ReadableSpan
from opentelemetry.sdk.trace.export import SpanExporter

from otel_agentwatch import Config
from otel_agentwatch.serve.decode import decode_request
from otel_agentwatch.serve.service import DetectionService
from otel_agentwatch.serve.settings import ServeSettings


class Sink(trace_service_pb2_grpc.TraceServiceServicer):
    """An OTLP/gRPC receiver on 127.0.0.1 that keeps what it is sent; ``down`` makes it
    answer UNAVAILABLE (as a Collector that cannot take more), after ``delay`` seconds (a
    slow one)."""

    def __init__(self) -> None:
        self.requests: list[trace_service_pb2.ExportTraceServiceRequest] = []
        self.down = False
        self.delay = 0.0
        self._lock = threading.Lock()
        self._server = grpc.server(futures.ThreadPoolExecutor(4))
        trace_service_pb2_grpc.add_TraceServiceServicer_to_server(self, self._server)
        self.port = self._server.add_insecure_port("127.0.0.1:0")
        self._server.start()

    @property
    def endpoint(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def Export(self, request: Any, context: Any) -> Any:  # gRPC's name
        if self.down:
            time.sleep(self.delay)
            context.abort(grpc.StatusCode.UNAVAILABLE, "down for the test")
        with self._lock:
            self.requests.append(request)
        return trace_service_pb2.ExportTraceServiceResponse()

    def spans(self) -> list[ReadableSpan]:
        with self._lock:
            requests = list(self.requests)
        return [span for request in requests for span in decode_request(request)]

    def stop(self) -> None:
        self._server.stop(None)


@contextmanager
def sink() -> Iterator[Sink]:
    receiver = Sink()
    try:
        yield receiver
    finally:
        receiver.stop()


@contextmanager
def running(exporter: SpanExporter | None, config: Config | None = None,
            meter_provider: Any = None, **settings: Any) -> Iterator[DetectionService]:
    """A service on free ports of 127.0.0.1, stopped (drained) on leaving."""
    chosen = ServeSettings(grpc_endpoint="127.0.0.1:0", http_endpoint="127.0.0.1:0",
                           forward_endpoint="none", **settings)
    service = DetectionService(chosen, config or Config(), exporter=exporter,
                               meter_provider=meter_provider)
    thread = threading.Thread(target=lambda: asyncio.run(service.run()), daemon=True)
    thread.start()
    assert service.started.wait(10), "the service did not start"
    try:
        yield service
    finally:
        service.stop()
        thread.join(30)
        assert not thread.is_alive(), "the service did not stop"
