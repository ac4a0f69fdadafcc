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
    spans_rejected: int = 0  # left out: ids that are not OTLP's (told in the response)
    spans_refused: int = 0  # batches refused while judging was behind: the sender retries
    spans_forwarded: int = 0
    spans_dropped: int = 0  # the forward queue was full
    spans_failed: int = 0  # the next endpoint did not take them
    traces_judged: int = 0
    spans_flagged: int = 0
    detections_warning: int = 0
    detections_critical: int = 0
    traces_live: int = 0
    runs_live: int = 0  # agent runs among the spans held
    spans_held: int = 0
    forward_queue: int = 0


# name, whether a count (else a gauge), its readings (a snapshot field, the `reason` it is
# reported with), unit, description.
_METRICS: tuple[tuple[str, bool, tuple[tuple[str, str | None], ...], str, str], ...] = (
    ("agentwatch.serve.spans.received", True, (("spans_received", None),), "{span}",
     "Spans received and held for judging."),
    ("agentwatch.serve.spans.forwarded", True, (("spans_forwarded", None),), "{span}",
     "Spans the next OTLP endpoint took."),
    ("agentwatch.serve.spans.lost", True,
     (("spans_refused", "refused"), ("spans_rejected", "invalid"),
      ("spans_dropped", "queue_full"),
      ("spans_failed", "export_failed")), "{span}",
     "Spans refused (the sender retries), left out for ids that are not OTLP's, dropped "
     "from a full forward queue, or not taken by the next endpoint."),
    ("agentwatch.serve.traces.judged", True, (("traces_judged", None),), "{trace}",
     "Traces the detectors ran over."),
    ("agentwatch.serve.traces.live", False, (("traces_live", None),), "{trace}",
     "Traces held, waiting to be judged."),
    ("agentwatch.serve.runs.live", False, (("runs_live", None),), "{run}",
     "Agent runs among the spans held, waiting to be judged."),
    ("agentwatch.serve.spans.held", False, (("spans_held", None),), "{span}",
     "Spans held, waiting for their trace to be judged."),
    ("agentwatch.serve.forward.queue", False, (("forward_queue", None),), "{span}",
     "Judged spans waiting to be forwarded."),
)
_COUNTS = tuple(field.name for field in dataclasses.fields(StatsSnapshot)
                if field.name not in ("traces_live", "runs_live", "spans_held",
                                      "forward_queue"))


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

        for name, counts, readings, unit, description in _METRICS:
            create = meter.create_observable_counter if counts else \
                meter.create_observable_gauge
            create(name, [reading(field, **({"reason": reason} if reason else {}))
                          for field, reason in readings], unit=unit, description=description)
