"""``agentwatch serve``: the detectors as an OTLP-in, OTLP-out service behind the
OpenTelemetry Collector, for runs whose spans come from several processes.

* :mod:`.receivers`: OTLP over gRPC and HTTP/protobuf in; ``/healthz``, ``/status``.
* :mod:`.decode`: export requests as SDK spans that keep all the sender said.
* :mod:`.traces`: spans held per trace until the trace is whole (grace, TTL, bounds).
* :mod:`.judge`: a whole trace through the detectors, the verdicts onto its spans.
* :mod:`.forward`: the judged spans on to the next endpoint (bounded, counted).
* :mod:`.stats`: the service's counters and metrics; :mod:`.settings`: its settings.
* :mod:`.service`: :class:`DetectionService`, which puts them together.

Needs the ``serve`` extra (``pip install 'otel-agentwatch[serve]'``: aiohttp).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from .settings import SERVE_SETTINGS, ServeSettings
from .stats import StatsSnapshot

if TYPE_CHECKING:
    from .service import DetectionService

__all__ = ["SERVE_SETTINGS", "DetectionService", "ServeSettings", "StatsSnapshot"]


def __getattr__(name: str) -> Any:
    # The service needs the extra's server libraries; the settings (read by
    # `agentwatch config`) do not.
    if name == "DetectionService":
        from .service import DetectionService

        return DetectionService
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
