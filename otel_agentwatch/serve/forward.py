"""Judged spans on their way to the next OTLP endpoint: a bounded queue and one thread
that hands batches to the official exporter.

When the endpoint is slow or down, the exporter retries within its timeout and the
queue fills; beyond ``max_queue`` spans the new ones are dropped, counted and logged
(at most once per ``_LOG_EVERY`` seconds), so memory stays bounded whatever happens
downstream. The SDK's ``BatchSpanProcessor`` queues the same way but does not say, on
every SDK version we support, how many it dropped: the counts are what an operator needs.
"""

from __future__ import annotations

import logging
import threading
import time
from collections import deque
from collections.abc import Sequence

from opentelemetry.sdk.trace import ReadableSpan
from opentelemetry.sdk.trace.export import SpanExporter, SpanExportResult

from .stats import ServiceStats

__all__ = ["Forwarder"]

logger = logging.getLogger("otel_agentwatch.serve")

_LOG_EVERY = 10.0


class Forwarder:
    """Sends judged spans on with ``exporter``, in batches of ``batch_size``; never blocks
    the caller. Call :meth:`shutdown` to send what is queued and stop."""

    def __init__(self, exporter: SpanExporter, stats: ServiceStats, *,
                 max_queue: int = 20_000, batch_size: int = 512) -> None:
        self._exporter = exporter
        self._stats = stats
        self._max_queue = max_queue
        self._batch_size = batch_size
        self._queue: deque[ReadableSpan] = deque()
        self._ready = threading.Condition()
        self._stopping = False
        self._logged_at = -_LOG_EVERY
        self._thread = threading.Thread(target=self._work, name="agentwatch-forward",
                                        daemon=True)
        self._thread.start()

    @property
    def queued(self) -> int:
        return len(self._queue)

    def send(self, spans: Sequence[ReadableSpan]) -> None:
        """Queues ``spans``; those beyond the queue's room are dropped and counted."""
        with self._ready:
            room = 0 if self._stopping else self._max_queue - len(self._queue)
            kept = spans[:max(room, 0)]
            self._queue.extend(kept)
            self._ready.notify()
        dropped = len(spans) - len(kept)
        if dropped:
            self._stats.add(spans_dropped=dropped)
            if self._time_to_log():
                logger.warning("agentwatch serve: forward queue full (%d spans): dropped "
                               "%d; %d dropped in all", self._max_queue, dropped,
                               self._stats.snapshot().spans_dropped)

    def shutdown(self, timeout: float = 10.0) -> None:
        """Sends what is queued (for at most ``timeout`` seconds), then shuts the
        exporter down; what is left is counted as dropped."""
        with self._ready:
            self._stopping = True
            self._ready.notify()
        self._thread.join(timeout)
        with self._ready:
            left = len(self._queue)
            self._queue.clear()
        if left:
            self._stats.add(spans_dropped=left)
            logger.warning("agentwatch serve: %d spans not forwarded at shutdown", left)
        self._exporter.shutdown()

    def _work(self) -> None:
        while True:
            with self._ready:
                while not self._queue and not self._stopping:
                    self._ready.wait()
                if not self._queue:
                    return
                batch = [self._queue.popleft()
                         for _ in range(min(self._batch_size, len(self._queue)))]
            self._export(batch)

    def _export(self, batch: list[ReadableSpan]) -> None:
        try:
            result = self._exporter.export(batch)
        except Exception:  # an exporter bug must not end the thread that forwards
            logger.exception("agentwatch serve: the exporter raised")
            result = SpanExportResult.FAILURE
        if result is SpanExportResult.SUCCESS:
            self._stats.add(spans_forwarded=len(batch))
            return
        self._stats.add(spans_failed=len(batch))
        if self._time_to_log():
            logger.warning("agentwatch serve: the next endpoint did not take %d spans; "
                           "%d failed in all", len(batch), self._stats.snapshot().spans_failed)

    def _time_to_log(self) -> bool:
        """Whether a warning may be logged now: at most one per ``_LOG_EVERY`` seconds."""
        now = time.monotonic()
        if now - self._logged_at < _LOG_EVERY:
            return False
        self._logged_at = now
        return True
