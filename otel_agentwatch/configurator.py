"""``OTEL_PYTHON_CONFIGURATOR=agentwatch``: ``opentelemetry-instrument``'s SDK set-up with
the processor in front of the exporters it configures.

``opentelemetry-instrument`` runs one configurator, before the instrumentors. With
``opentelemetry-distro`` installed, its configurator builds the tracer provider with a
batch processor per exporter, and the processor :func:`~otel_agentwatch.init` adds
afterwards comes too late for the exported spans to carry their per-span flags. Chosen
by name, this configurator does the same set-up (the SDK's own, which is what the
distro's configurator runs) with :class:`~otel_agentwatch.AgentWatchSpanProcessor` in
front of all those exporters. That needs the SDK's ``export_span_processor`` hook
(OpenTelemetry SDK 1.40 and later); without it the set-up is the SDK's alone and the
processor is added afterwards, as without this configurator.

Not chosen, it stays out of the way: ``opentelemetry-instrument`` runs only the first
configurator it finds, so this one runs the one that would have run without it.
"""

from __future__ import annotations

import inspect
import logging
import os
from importlib.metadata import entry_points
from typing import Any

from opentelemetry import trace
from opentelemetry.sdk._configuration import _initialize_components, _OTelSDKConfigurator
from opentelemetry.sdk.trace import SpanProcessor, SynchronousMultiSpanProcessor, TracerProvider
from opentelemetry.sdk.trace.export import BatchSpanProcessor, SpanExporter

from ._setup import adopt
from .config import Config
from .processor import AgentWatchSpanProcessor
from .settings import ConfigError

__all__ = ["AgentWatchConfigurator"]

logger = logging.getLogger("otel_agentwatch")

NAME = "agentwatch"  # the entry point's name: what OTEL_PYTHON_CONFIGURATOR selects
_GROUP = "opentelemetry_configurator"
_SELECTOR = "OTEL_PYTHON_CONFIGURATOR"
_TRACES_EXPORTER = "OTEL_TRACES_EXPORTER"


class AgentWatchConfigurator(_OTelSDKConfigurator):
    """The SDK's configuration, with the agentwatch processor in front of every exporter.

    Selected with ``OTEL_PYTHON_CONFIGURATOR=agentwatch``; otherwise it runs the other
    configurator installed, if any, in its place.
    """

    def _configure(self, **kwargs: Any) -> None:
        if os.environ.get(_SELECTOR) != NAME:
            _run_the_other_configurator(kwargs)
            return
        try:
            config = Config.from_env()
            front = ExportFront(config) if config.enabled and _sdk_has_export_hook() else None
        except (ConfigError, TypeError, ValueError):
            # Raising here would leave the whole SDK unconfigured: set it up without us;
            # init() raises the error again, after the instrumentors, for
            # opentelemetry-instrument to report.
            super()._configure(**kwargs)
            return
        if front is None:
            if config.enabled:
                logger.info("otel-agentwatch: this OpenTelemetry SDK has no export hook "
                            "(1.40+); the processor is added after its exporters")
            super()._configure(**kwargs)
            return
        # As opentelemetry-distro does, and init() when it sets tracing up: OTLP unless
        # the application says otherwise (the SDK alone would export nothing).
        os.environ.setdefault(_TRACES_EXPORTER, "otlp")
        super()._configure(export_span_processor=front.processor_for, **kwargs)
        provider = trace.get_tracer_provider()
        # No exporter configured, or a configuration file that ignores the hook: init()
        # adds the processor afterwards, as without this configurator.
        if front.used and isinstance(provider, TracerProvider):
            adopt(front.processor, provider, config)


class ExportFront:
    """One :class:`AgentWatchSpanProcessor` in front of all the exporters the SDK
    configures, each behind its own batch processor: one set of detectors, however
    many exporters."""

    def __init__(self, config: Config) -> None:
        self._exports = SynchronousMultiSpanProcessor()
        self.processor = AgentWatchSpanProcessor(self._exports, config=config)
        self.used = False

    def processor_for(self, exporter: SpanExporter) -> SpanProcessor:
        """The SDK's ``export_span_processor`` hook, called once per exporter."""
        self._exports.add_span_processor(BatchSpanProcessor(exporter))
        if self.used:
            return SpanProcessor()  # does nothing: the first one feeds every exporter
        self.used = True
        return self.processor


def _sdk_has_export_hook() -> bool:
    return "export_span_processor" in inspect.signature(_initialize_components).parameters


def _run_the_other_configurator(kwargs: dict[str, Any]) -> None:
    """What ``opentelemetry-instrument`` would have run had this package not been
    installed: the first other configurator, or none."""
    for entry_point in entry_points(group=_GROUP):
        if entry_point.name != NAME:
            logger.info("otel-agentwatch: running the configurator %r (set %s=%s to put "
                        "the processor in front of its exporters)",
                        entry_point.name, _SELECTOR, NAME)
            entry_point.load()().configure(**kwargs)
            return
