"""The service's two OTLP doors and its HTTP endpoints for people and probes.

* gRPC (``grpc.aio``): ``opentelemetry.proto.collector.trace.v1.TraceService/Export``.
* HTTP (``aiohttp``): ``POST /v1/traces`` with ``application/x-protobuf`` (gzip or not,
  as the Collector's ``otlphttp`` exporter sends it), ``GET /healthz``, ``GET /status``.

Both answer "retry later" when the service cannot hold a batch (gRPC ``UNAVAILABLE``,
HTTP 503 with ``Retry-After``), which the OTLP exporters of the SDKs and the Collector
retry with back-off, as the OTLP specification asks of a server that cannot keep up.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from typing import Any

import grpc
from aiohttp import web
from google.protobuf.message import DecodeError
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import (
    ExportTracePartialSuccess,
    ExportTraceServiceRequest,
    ExportTraceServiceResponse,
)
from opentelemetry.proto.collector.trace.v1.trace_service_pb2_grpc import (
    TraceServiceServicer,
    add_TraceServiceServicer_to_server,
)

from .stats import StatsSnapshot
from .traces import Overloaded

__all__ = ["MAX_MESSAGE_BYTES", "grpc_server", "http_app"]

# Batches up to this size are taken (the Collector's own OTLP receiver takes 4 MiB by
# default over gRPC, and any size over HTTP).
MAX_MESSAGE_BYTES = 32 * 1024 * 1024
_PROTOBUF = "application/x-protobuf"
_RETRY_AFTER_SECONDS = "2"

Receive = Callable[[ExportTraceServiceRequest], int]  # returns the spans left out


class _TraceService(TraceServiceServicer):
    def __init__(self, receive: Receive) -> None:
        self._receive = receive

    async def Export(self, request: ExportTraceServiceRequest,  # gRPC's name
                     context: grpc.aio.ServicerContext[Any, Any]) -> ExportTraceServiceResponse:
        try:
            rejected = self._receive(request)
        except Overloaded as error:
            await context.abort(grpc.StatusCode.UNAVAILABLE, f"agentwatch serve: {error}")
        return _response(rejected)


def _response(rejected: int) -> ExportTraceServiceResponse:
    """OTLP's answer: a partial success when spans were left out (not to be retried)."""
    if not rejected:
        return ExportTraceServiceResponse()
    return ExportTraceServiceResponse(partial_success=ExportTracePartialSuccess(
        rejected_spans=rejected,
        error_message=f"{rejected} spans left out: a trace id of 16 bytes and span ids of "
                      "8 bytes, not all zero, are required"))


def grpc_server(receive: Receive) -> grpc.aio.Server:
    """A gRPC server (not started, no port yet) that hands each request to ``receive``."""
    server = grpc.aio.server(options=[
        ("grpc.max_receive_message_length", MAX_MESSAGE_BYTES)])
    add_TraceServiceServicer_to_server(  # type: ignore[no-untyped-call]  # generated code
        _TraceService(receive), server)
    return server


def http_app(receive: Receive, status: Callable[[], StatsSnapshot],
             healthy: Callable[[], bool]) -> web.Application:
    """The HTTP endpoints: OTLP traces in, health, and the service's counters."""

    async def traces(request: web.Request) -> web.Response:
        if request.content_type != _PROTOBUF:
            return web.json_response(
                {"error": f"only {_PROTOBUF} is taken (OTLP/HTTP with protobuf)"},
                status=415)
        try:
            message = ExportTraceServiceRequest.FromString(await request.read())
        except DecodeError as error:
            return web.json_response({"error": f"not an OTLP trace request: {error}"},
                                     status=400)
        try:
            rejected = receive(message)
        except Overloaded as error:
            return web.json_response({"error": str(error)}, status=503,
                                     headers={"Retry-After": _RETRY_AFTER_SECONDS})
        return web.Response(body=_response(rejected).SerializeToString(),
                            content_type=_PROTOBUF)

    async def healthz(_request: web.Request) -> web.Response:
        if healthy():
            return web.json_response({"status": "ok"})
        return web.json_response({"status": "stopping"}, status=503)

    async def status_page(_request: web.Request) -> web.Response:
        return web.json_response(dataclasses.asdict(status()))

    app = web.Application(client_max_size=MAX_MESSAGE_BYTES)
    app.router.add_post("/v1/traces", traces)
    app.router.add_get("/healthz", healthz)
    app.router.add_get("/status", status_page)
    return app
