"""What the service counts about itself, read by ``/status`` and by its own metrics."""

from __future__ import annotations

import dataclasses
import threading
from collections.abc import Callable
from dataclasses import dataclass

from opentelemetry import metrics
from opentelemetry.metrics import CallbackOptions, Observation

__all__ = ["ServiceStats", "StatsSnapshot"]


@dataclass(frozen=True)
class StatsSnapshot:
    """The counters at one moment (counts since start; gauges now)."""

    spans_received: int = 0
    spans_refused: int = 0  # batches refused while judging was behind: the sender retries
    spans_forwarded: int = 0
    spans_dropped: int = 0  # the forward queue was full
    spans_failed: int = 0  # the next endpoint did not take them
    traces_judged: int = 0
    spans_flagged: int = 0
    detections_warning: int = 0
    detections_critical: int = 0
    traces_live: int = 0
    spans_held: int = 0
    forward_queue: int = 0


_COUNTS = tuple(field.name for field in dataclasses.fields(StatsSnapshot)
                if field.name not in ("traces_live", "spans_held", "forward_queue"))


class ServiceStats:
    """Thread-safe counters; the gauges are read from ``gauges`` when asked."""

    def __init__(self, gauges: Callable[[], dict[str, int]] = dict) -> None:
        self._lock = threading.Lock()
        self._counts = dict.fromkeys(_COUNTS, 0)
        self.gauges = gauges

    def add(self, **counts: int) -> None:
        with self._lock:
            for name, count in counts.items():
                self._counts[name] += count

    def snapshot(self) -> StatsSnapshot:
        with self._lock:
            counts = dict(self._counts)
        return StatsSnapshot(**counts, **self.gauges())

    def observe_with(self, meter_provider: metrics.MeterProvider | None) -> None:
        """Reports the counters as OpenTelemetry metrics of ``meter_provider``."""
        meter = metrics.get_meter("otel_agentwatch.serve", meter_provider=meter_provider)

        def reading(name: str, **labels: str) -> Callable[[CallbackOptions],
                                                         list[Observation]]:
            def observe(_options: CallbackOptions) -> list[Observation]:
                return [Observation(getattr(self.snapshot(), name), labels)]
            return observe

        meter.create_observable_counter(
            "agentwatch.serve.spans.received", [reading("spans_received")], unit="{span}",
            description="Spans received and held for judging.")
        meter.create_observable_counter(
            "agentwatch.serve.spans.forwarded", [reading("spans_forwarded")], unit="{span}",
            description="Spans the next OTLP endpoint took.")
        meter.create_observable_counter(
            "agentwatch.serve.spans.lost",
            [reading("spans_refused", reason="refused"),
             reading("spans_dropped", reason="queue_full"),
             reading("spans_failed", reason="export_failed")], unit="{span}",
            description="Spans refused (the sender retries), dropped from a full forward "
                        "queue, or not taken by the next endpoint.")
        meter.create_observable_counter(
            "agentwatch.serve.traces.judged", [reading("traces_judged")], unit="{trace}",
            description="Traces the detectors ran over.")
        meter.create_observable_gauge(
            "agentwatch.serve.traces.live", [reading("traces_live")], unit="{trace}",
            description="Traces held, waiting to be judged.")
        meter.create_observable_gauge(
            "agentwatch.serve.spans.held", [reading("spans_held")], unit="{span}",
            description="Spans held, waiting for their trace to be judged.")
        meter.create_observable_gauge(
            "agentwatch.serve.forward.queue", [reading("forward_queue")], unit="{span}",
            description="Judged spans waiting to be forwarded.")
