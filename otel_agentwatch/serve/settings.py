"""The settings of ``agentwatch serve``, each declared once (``AGENTWATCH_SERVE_*``); the
command's flags override them. The detectors' settings are read as everywhere else
(:class:`~otel_agentwatch.Config`), so one environment configures both the agents'
processes and the service.
"""

from __future__ import annotations

import dataclasses
import os
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from ..settings import Kind, Setting, SettingValues, boolean, integer, number

__all__ = ["SERVE_SETTINGS", "ServeSettings", "parse_address"]

NO = "none"


def parse_address(text: str) -> str:
    """``host:port`` (port 0: any free one), or ``none``; ``ValueError`` otherwise."""
    text = text.strip()
    if text.lower() == NO:
        return NO
    host, colon, port = text.rpartition(":")
    if not colon or not host or not port.isdigit() or int(port) > 65535:
        raise ValueError(text)
    return text


def _address(value: Any) -> bool:
    try:
        return isinstance(value, str) and parse_address(value) == value
    except ValueError:
        return False


_ADDRESS = Kind("host:port, or none", parse_address, _address)

GRPC_ENDPOINT = Setting(
    "AGENTWATCH_SERVE_GRPC_ENDPOINT", _ADDRESS, "0.0.0.0:4317",
    "Where `agentwatch serve` listens for OTLP over gRPC; `none` for not at all.")
HTTP_ENDPOINT = Setting(
    "AGENTWATCH_SERVE_HTTP_ENDPOINT", _ADDRESS, "0.0.0.0:4318",
    "Where `agentwatch serve` listens for OTLP over HTTP/protobuf (`POST /v1/traces`), "
    "and answers `GET /healthz` and `GET /status`; `none` for not at all.")
FORWARD_ENDPOINT = Setting(
    "AGENTWATCH_SERVE_FORWARD_ENDPOINT",
    Kind("a URL, or none", str.strip, lambda value: isinstance(value, str)), "",
    "Where `agentwatch serve` sends the judged spans (and its own metrics), as "
    "`OTEL_EXPORTER_OTLP_ENDPOINT` would say it (`http://collector:4317`; the protocol is "
    "`OTEL_EXPORTER_OTLP_PROTOCOL`'s); unset, the standard variables say; `none`: nowhere.")
GRACE_SECONDS = Setting(
    "AGENTWATCH_SERVE_GRACE_SECONDS", number(0), 10.0,
    "A trace is judged once its root span arrived and no span of it came for this long "
    "(what other processes still had queued has time to come).")
TRACE_TTL_SECONDS = Setting(
    "AGENTWATCH_SERVE_TRACE_TTL_SECONDS", number(1), 300.0,
    "A trace is judged at the latest this long after its first span, root or not.")
MAX_SPANS = Setting(
    "AGENTWATCH_SERVE_MAX_SPANS", integer(1000), 100_000,
    "Most spans held for judging; close to it the oldest traces are judged early, and "
    "beyond it batches are refused (the sender retries).")
QUEUE_SPANS = Setting(
    "AGENTWATCH_SERVE_QUEUE_SPANS", integer(512), 20_000,
    "Most judged spans waiting to be forwarded; beyond it they are dropped and counted.")
METRICS = Setting(
    "AGENTWATCH_SERVE_METRICS", boolean(), True,
    "Send the service's own metrics (`agentwatch.serve.*`, `agentwatch.detections`) "
    "with the spans.")

# ServeSettings field -> its setting, in the order the reference lists them.
_FIELDS: tuple[tuple[str, Setting[Any]], ...] = (
    ("grpc_endpoint", GRPC_ENDPOINT), ("http_endpoint", HTTP_ENDPOINT),
    ("forward_endpoint", FORWARD_ENDPOINT), ("grace_seconds", GRACE_SECONDS),
    ("trace_ttl_seconds", TRACE_TTL_SECONDS), ("max_spans", MAX_SPANS),
    ("queue_spans", QUEUE_SPANS), ("metrics", METRICS),
)
SERVE_SETTINGS: tuple[Setting[Any], ...] = tuple(setting for _, setting in _FIELDS)


@dataclass(frozen=True)
class ServeSettings:
    """Validated settings of the detection service."""

    grpc_endpoint: str = GRPC_ENDPOINT.default
    http_endpoint: str = HTTP_ENDPOINT.default
    forward_endpoint: str = FORWARD_ENDPOINT.default
    grace_seconds: float = GRACE_SECONDS.default
    trace_ttl_seconds: float = TRACE_TTL_SECONDS.default
    max_spans: int = MAX_SPANS.default
    queue_spans: int = QUEUE_SPANS.default
    metrics: bool = METRICS.default

    def __post_init__(self) -> None:
        for name, setting in _FIELDS:
            object.__setattr__(self, name, setting.validate(getattr(self, name)))

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None) -> ServeSettings:
        """Read from ``environ`` (default ``os.environ``); raises
        :class:`~otel_agentwatch.ConfigError`."""
        values = SettingValues.resolve(SERVE_SETTINGS, os.environ if environ is None
                                       else environ)
        return cls(**{name: values[setting] for name, setting in _FIELDS})

    def replace(self, **changes: Any) -> ServeSettings:
        """A copy with some settings changed (``None`` keeps one), validated."""
        return dataclasses.replace(self, **{name: value for name, value in changes.items()
                                            if value is not None})
