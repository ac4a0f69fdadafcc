"""Test helpers for ``agentwatch serve``: the service run in a thread, and an OTLP receiver
standing for the next hop (the Collector or a backend) that can be made to refuse."""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from opentelemetry.sdk.trace import ReadableSpan
from opentelemetry.sdk.trace.export import SpanExporter

from otel_agentwatch import Config
from otel_agentwatch.serve.decode import decode_request
from otel_agentwatch.serve.service import DetectionService
from otel_agentwatch.serve.settings import ServeSettings
from tests.otlp_receiver import GrpcReceiver


class Sink(GrpcReceiver):
    """The next hop (a Collector, a backend) over OTLP/gRPC, with what it received as SDK
    spans, resource and scope included."""

    def spans(self) -> list[ReadableSpan]:
        return [span for request in list(self.received.requests)
                for span in decode_request(request)]


@contextmanager
def sink() -> Iterator[Sink]:
    receiver = Sink()
    try:
        yield receiver
    finally:
        receiver.close()


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
