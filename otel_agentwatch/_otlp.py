"""The official OTLP exporters, for the protocol ``OTEL_EXPORTER_OTLP_PROTOCOL`` names.

Given no endpoint, each exporter reads ``OTEL_EXPORTER_OTLP_(TRACES_|METRICS_)ENDPOINT``,
``_HEADERS`` and ``_TIMEOUT`` itself. Given one, it is a base URL as
``OTEL_EXPORTER_OTLP_ENDPOINT`` has it: over HTTP the signal's path is added, as the SDK
does for that variable. ``http/json`` has no Python exporter: ``http/protobuf`` is used.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from opentelemetry.sdk.metrics.export import MetricExporter
    from opentelemetry.sdk.trace.export import SpanExporter

__all__ = ["otlp_metric_exporter", "otlp_span_exporter"]


def otlp_span_exporter(protocol: str, endpoint: str = "") -> SpanExporter:
    if protocol == "grpc":
        from opentelemetry.exporter.otlp.proto.grpc.trace_exporter import OTLPSpanExporter

        return OTLPSpanExporter(endpoint=endpoint) if endpoint else OTLPSpanExporter()
    from opentelemetry.exporter.otlp.proto.http.trace_exporter import (
        OTLPSpanExporter as HttpSpanExporter,
    )

    return HttpSpanExporter(endpoint=_signal(endpoint, "traces")) if endpoint \
        else HttpSpanExporter()


def otlp_metric_exporter(protocol: str, endpoint: str = "") -> MetricExporter:
    if protocol == "grpc":
        from opentelemetry.exporter.otlp.proto.grpc.metric_exporter import (
            OTLPMetricExporter,
        )

        return OTLPMetricExporter(endpoint=endpoint) if endpoint else OTLPMetricExporter()
    from opentelemetry.exporter.otlp.proto.http.metric_exporter import (
        OTLPMetricExporter as HttpMetricExporter,
    )

    return HttpMetricExporter(endpoint=_signal(endpoint, "metrics")) if endpoint \
        else HttpMetricExporter()


def _signal(base: str, signal: str) -> str:
    return f"{base.rstrip('/')}/v1/{signal}"
