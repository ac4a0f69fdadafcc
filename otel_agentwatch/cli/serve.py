"""``agentwatch serve``: the detection service from the command line (see
:mod:`otel_agentwatch.serve`)."""

from __future__ import annotations

import argparse
import asyncio
import logging
import os
import signal
import sys
from typing import TYPE_CHECKING
from urllib.parse import urlsplit

from ..config import Config
from ..settings import ConfigError
from ..version import __version__

if TYPE_CHECKING:
    from opentelemetry.sdk.metrics import MeterProvider
    from opentelemetry.sdk.trace.export import SpanExporter

    from ..serve.settings import ServeSettings

__all__ = ["add_arguments", "run_serve"]

_STANDARD_ENDPOINTS = ("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT", "OTEL_EXPORTER_OTLP_ENDPOINT")
_HERE = ("localhost", "127.0.0.1", "::1", "0.0.0.0", "")


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """The command's flags; each overrides its ``AGENTWATCH_SERVE_*`` setting."""
    parser.add_argument("--grpc", metavar="HOST:PORT",
                        help="OTLP/gRPC address, or none (AGENTWATCH_SERVE_GRPC_ENDPOINT)")
    parser.add_argument("--http", metavar="HOST:PORT",
                        help="OTLP/HTTP address, also /healthz and /status, or none "
                             "(AGENTWATCH_SERVE_HTTP_ENDPOINT)")
    parser.add_argument("--forward", metavar="URL",
                        help="where judged spans go, or none "
                             "(AGENTWATCH_SERVE_FORWARD_ENDPOINT)")
    parser.add_argument("--grace", type=float, metavar="SECONDS",
                        help="quiet time after a trace's root arrived "
                             "(AGENTWATCH_SERVE_GRACE_SECONDS)")
    parser.add_argument("--ttl", type=float, metavar="SECONDS",
                        help="longest a trace is held (AGENTWATCH_SERVE_TRACE_TTL_SECONDS)")
    parser.add_argument("--max-spans", type=int, metavar="N",
                        help="most spans held (AGENTWATCH_SERVE_MAX_SPANS)")
    parser.add_argument("--queue-spans", type=int, metavar="N",
                        help="most spans waiting to be forwarded "
                             "(AGENTWATCH_SERVE_QUEUE_SPANS)")


def run_serve(config: Config, args: argparse.Namespace) -> int:
    """Runs the service until SIGTERM or SIGINT; returns the exit status."""
    try:
        from ..serve.service import DetectionService
    except ImportError as error:
        print(f"agentwatch serve needs the serve extra: pip install "
              f"'otel-agentwatch[serve]' ({error})", file=sys.stderr)
        return 2
    from ..serve.settings import ServeSettings

    try:
        settings = ServeSettings.from_env().replace(
            grpc_endpoint=args.grpc, http_endpoint=args.http, forward_endpoint=args.forward,
            grace_seconds=args.grace, trace_ttl_seconds=args.ttl, max_spans=args.max_spans,
            queue_spans=args.queue_spans)
        exporter, meter_provider = _next_endpoint(settings, config)
    except ConfigError as error:
        print(f"agentwatch: configuration error: {error}", file=sys.stderr)
        return 2
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(message)s")
    service = DetectionService(settings, config, exporter=exporter,
                               meter_provider=meter_provider)

    async def main() -> None:
        loop = asyncio.get_running_loop()
        for signum in (signal.SIGTERM, signal.SIGINT):
            loop.add_signal_handler(signum, service.stop)
        await service.run()

    try:
        asyncio.run(main())
    except (OSError, RuntimeError) as error:  # an address in use, say
        print(f"agentwatch serve: cannot listen: {error}", file=sys.stderr)
        return 1
    finally:
        if meter_provider is not None:
            meter_provider.shutdown()
    return 0


def _next_endpoint(settings: ServeSettings, config: Config,
                   ) -> tuple[SpanExporter | None, MeterProvider | None]:
    """The exporter of judged spans and the service's meter provider, both to the next
    endpoint; (None, None) for ``none``. Raises :class:`ConfigError` where the spans would
    come back to this service."""
    from opentelemetry.sdk.metrics import MeterProvider
    from opentelemetry.sdk.metrics.export import PeriodicExportingMetricReader
    from opentelemetry.sdk.resources import Resource

    from .._otlp import otlp_metric_exporter, otlp_span_exporter
    from ..serve.settings import FORWARD_ENDPOINT, NO

    endpoint = settings.forward_endpoint
    if endpoint.lower() == NO:
        return None, None
    standard = next((os.environ[name] for name in _STANDARD_ENDPOINTS
                     if os.environ.get(name, "").strip()), "")
    if not endpoint and not standard:
        raise ConfigError(FORWARD_ENDPOINT.env, "",
                          "where to send the judged spans: a URL (or "
                          "OTEL_EXPORTER_OTLP_ENDPOINT), or none; the exporters' default, "
                          "localhost:4317, is this service")
    given = endpoint or standard
    try:
        target = urlsplit(given if "//" in given else "//" + given)
        target_port = target.port
    except ValueError:
        raise ConfigError(FORWARD_ENDPOINT.env if endpoint else "OTEL_EXPORTER_OTLP_ENDPOINT",
                          given, "a URL such as http://collector:4317") from None
    for address in (settings.grpc_endpoint, settings.http_endpoint):
        host, _, port = address.rpartition(":")
        if address != NO and target_port == int(port) and target.hostname in _HERE and \
                host.strip("[]") in _HERE:
            raise ConfigError(FORWARD_ENDPOINT.env, endpoint or standard,
                              f"an endpoint other than this service's own ({address})")
    exporter = otlp_span_exporter(config.otlp_protocol, endpoint)
    if not settings.metrics:
        return exporter, None
    resource = Resource.create({"service.name": "agentwatch-serve",
                                "service.version": __version__}
                               if not os.environ.get("OTEL_SERVICE_NAME") else {})
    return exporter, MeterProvider(
        [PeriodicExportingMetricReader(otlp_metric_exporter(config.otlp_protocol, endpoint))],
        resource=resource)
