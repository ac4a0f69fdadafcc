"""The detection service: OTLP spans in, held per trace until it is whole, judged by the
detectors, forwarded with the verdicts on them.

Three threads of work, each bounded: the event loop receives (gRPC and HTTP, decoding and
holding only), one thread judges due traces, one forwards. A slow or absent next endpoint
costs dropped spans, counted, never memory; judging that falls behind costs refused
batches, which the senders retry.
"""

from __future__ import annotations

import asyncio
import logging
import threading
from collections.abc import Sequence

from aiohttp import web
from opentelemetry.metrics import MeterProvider
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import (
    ExportTraceServiceRequest,
)
from opentelemetry.sdk.trace import ReadableSpan
from opentelemetry.sdk.trace.export import SpanExporter

from ..config import Config
from .decode import decode
from .forward import Forwarder
from .judge import Judge
from .receivers import grpc_server, http_app
from .settings import NO, ServeSettings
from .stats import ServiceStats, StatsSnapshot
from .traces import TraceBuffer

__all__ = ["DetectionService"]

logger = logging.getLogger("otel_agentwatch.serve")

# The judging thread looks at the clock at least this often (seconds).
_TICK = 0.5


class DetectionService:
    """``agentwatch serve`` as an object: :meth:`run` it in an event loop, :meth:`stop`
    it from anywhere.

    Args:
        settings: where to listen, how long to wait for a trace, the bounds.
        config: the detectors' settings (its action is ignored: the service observes).
        exporter: where judged spans go; None drops them once judged (counted as
            forwarded nowhere: only ``/status`` and the metrics see them).
        meter_provider: for the service's own metrics and ``agentwatch.detections``.
    """

    def __init__(self, settings: ServeSettings, config: Config, *,
                 exporter: SpanExporter | None,
                 meter_provider: MeterProvider | None = None) -> None:
        self.settings = settings
        self._buffer = TraceBuffer(grace=settings.grace_seconds,
                                   ttl=settings.trace_ttl_seconds,
                                   max_spans=settings.max_spans)
        self.stats = ServiceStats(self._gauges)
        if meter_provider is not None:
            self.stats.observe_with(meter_provider)
        # The service cannot stop a run in another process: it only observes. Turned off
        # (AGENTWATCH_ENABLED=false), it forwards what it receives as it came.
        self._judge = Judge(config.replace(action="observe"), meter_provider) \
            if config.enabled else None
        self._forwarder = Forwarder(exporter, self.stats, max_queue=settings.queue_spans) \
            if exporter is not None else None
        self._stopping = threading.Event()
        self._judging = threading.Thread(target=self._judge_due, name="agentwatch-judge",
                                         daemon=True)
        self.started = threading.Event()
        self.grpc_port: int | None = None
        self.http_port: int | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._stop_requested: asyncio.Event | None = None
        self._stop_early = False

    # --- receiving --------------------------------------------------------------------

    def receive(self, request: ExportTraceServiceRequest) -> int:
        """Holds a request's spans for judging; returns how many it left out (ids that
        are not OTLP's). Raises :class:`~otel_agentwatch.serve.traces.Overloaded` (held
        none) when it cannot."""
        spans, rejected = decode(request)
        try:
            self._buffer.add(spans)
        except Exception:
            self.stats.add(spans_refused=len(spans))
            raise
        self.stats.add(spans_received=len(spans), spans_rejected=rejected)
        return rejected

    def status(self) -> StatsSnapshot:
        return self.stats.snapshot()

    def _gauges(self) -> dict[str, int]:
        return {"traces_live": self._buffer.traces, "runs_live": self._buffer.runs,
                "spans_held": self._buffer.spans,
                "forward_queue": self._forwarder.queued if self._forwarder else 0}

    # --- judging ----------------------------------------------------------------------

    def _judge_due(self) -> None:
        buffer = self._buffer
        while not self._stopping.is_set():
            buffer.arrived.wait(min(buffer.next_due_in(), _TICK))
            buffer.arrived.clear()
            for spans in buffer.take_due():
                self._judge_one(spans)
        for spans in buffer.take_all():  # stopping: judge what is left, whole or not
            self._judge_one(spans)

    def _judge_one(self, spans: Sequence[ReadableSpan]) -> None:
        if self._judge is None:
            if self._forwarder is not None:
                self._forwarder.send(spans)
            return
        try:
            verdicts = self._judge.judge(spans)
        except Exception:  # a detector's bug must not lose the spans: send them unjudged
            logger.exception("agentwatch serve: judging a trace failed; forwarding it as "
                             "it came")
            judged: Sequence[ReadableSpan] = spans
        else:
            judged = verdicts.spans
            self.stats.add(traces_judged=1, spans_flagged=verdicts.flagged,
                           detections_warning=verdicts.warnings,
                           detections_critical=verdicts.criticals)
        if self._forwarder is not None:
            self._forwarder.send(judged)

    # --- running ----------------------------------------------------------------------

    async def run(self) -> None:
        """Listens until :meth:`stop`; then stops taking spans, judges every trace held,
        forwards what it can in ten seconds and returns."""
        self._loop = asyncio.get_running_loop()
        self._stop_requested = asyncio.Event()
        if self._stop_early:
            self._stop_requested.set()
        self._judging.start()
        grpc = runner = None
        try:
            if self.settings.grpc_endpoint != NO:
                grpc = grpc_server(self.receive)
                self.grpc_port = grpc.add_insecure_port(self.settings.grpc_endpoint)
                await grpc.start()
            if self.settings.http_endpoint != NO:
                runner = web.AppRunner(
                    http_app(self.receive, self.status,
                             lambda: not self._stop_requested_now()),
                    access_log=None)
                await runner.setup()
                host, _, port = self.settings.http_endpoint.rpartition(":")
                site = web.TCPSite(runner, host.strip("[]"), int(port))
                await site.start()
                self.http_port = runner.addresses[0][1]
            logger.info("agentwatch serve: listening (gRPC %s, HTTP %s)",
                        self.grpc_port or "off", self.http_port or "off")
            self.started.set()
            await self._stop_requested.wait()
        finally:
            self.started.set()  # also when starting failed: nobody waits for ever
            if grpc is not None:
                await grpc.stop(grace=2.0)
            if runner is not None:
                await runner.cleanup()
            await asyncio.get_running_loop().run_in_executor(None, self._drain)

    def stop(self) -> None:
        """Asks :meth:`run` to finish (thread-safe; also before it started)."""
        self._stop_early = True
        loop, event = self._loop, self._stop_requested
        if loop is not None and event is not None:
            loop.call_soon_threadsafe(event.set)

    def _stop_requested_now(self) -> bool:
        return self._stop_requested is not None and self._stop_requested.is_set()

    def _drain(self) -> None:
        self._stopping.set()
        self._buffer.arrived.set()
        self._judging.join()
        if self._judge is not None:
            self._judge.shutdown()
        if self._forwarder is not None:
            self._forwarder.shutdown()
