"""``init()``: attach the processor to the application's tracing, or set tracing up."""

from __future__ import annotations

import logging
import sys
import threading
from collections.abc import Callable, Iterable, Mapping
from typing import Any

from opentelemetry import trace
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import SpanProcessor, SynchronousMultiSpanProcessor, TracerProvider
from opentelemetry.sdk.trace.export import BatchSpanProcessor, SpanExporter

from ._deadline import BoundedFlush
from ._fork import renew_in_child
from ._otlp import otlp_span_exporter
from .config import Config
from .detectors import Detector
from .instrumentation import frameworks_named, instrument_when_imported
from .nudge import NudgeTemplate
from .processor import AgentWatchSpanProcessor

__all__ = ["AgentWatchHandle", "adopt", "init"]

logger = logging.getLogger("otel_agentwatch")


_lock = threading.Lock()
_current: AgentWatchHandle | None = None
renew_in_child(sys.modules[__name__], lambda module: setattr(module, "_lock", threading.Lock()))


class AgentWatchHandle:
    """What :func:`init` set up; :meth:`shutdown` undoes it (idempotent).

    Attributes:
        processor: the processor in the pipeline, or None when disabled by configuration.
        tracer_provider: the provider it is attached to.
        owns_provider: True when ``init`` created the provider (then shutting down the
            handle flushes and shuts down that provider and its exporter).
    """

    def __init__(self, processor: AgentWatchSpanProcessor | None,
                 tracer_provider: TracerProvider | None, owns_provider: bool,
                 uninstrument: Callable[[], None] | None = None) -> None:
        self.processor = processor
        self.tracer_provider = tracer_provider
        self.owns_provider = owns_provider
        self._uninstrument = uninstrument
        self._closed = False
        self._flush: BoundedFlush | None = None

    def force_flush(self, timeout_millis: int = 30000) -> bool:
        """Export what is buffered; False if the timeout passed first (the export goes on
        in the background) or it failed."""
        if self.owns_provider and self.tracer_provider is not None:
            if self._flush is None:
                self._flush = BoundedFlush(self.tracer_provider.force_flush, "force_flush")
            return self._flush(timeout_millis)
        if self.processor is not None:
            return self.processor.force_flush(timeout_millis)
        return True

    def shutdown(self) -> None:
        """Flush and stop. Afterwards spans pass through untouched."""
        global _current
        with _lock:
            if self._closed:
                return
            self._closed = True
            if _current is self:
                _current = None
        if self._uninstrument is not None:
            self._uninstrument()
        if self.owns_provider and self.tracer_provider is not None:
            self.tracer_provider.shutdown()
        elif self.processor is not None:
            self.processor.shutdown()


def init(*, config: Config | None = None, tracer_provider: TracerProvider | None = None,
         span_exporter: SpanExporter | None = None,
         extra_detectors: Iterable[Detector[Any] | type[Detector[Any]]] = (),
         nudge_templates: Mapping[str, NudgeTemplate] | None = None,
         ) -> AgentWatchHandle:
    """Set up otel-agentwatch; what ``import otel_agentwatch.auto`` calls.

    * With no SDK ``TracerProvider`` set, creates one (resource from ``OTEL_SERVICE_NAME``
      and ``OTEL_RESOURCE_ATTRIBUTES``; exporter from ``OTEL_TRACES_EXPORTER`` and the
      ``OTEL_EXPORTER_OTLP_*`` variables), with the processor wrapping a
      ``BatchSpanProcessor``, and makes it the global provider.
    * Instruments the frameworks ``AGENTWATCH_INSTRUMENT`` names (default: every one
      supported) when the application imports them.
    * Runs the detectors ``config`` selects (built-in, and installed by other packages
      under the entry point group ``otel_agentwatch.detectors``) and ``extra_detectors``
      (:class:`~otel_agentwatch.Detector` instances, or subclasses to build from their
      settings).
    * With ``AGENTWATCH_ACTION`` including ``nudge``, words the notes with
      ``nudge_templates`` (text or a callable of the detection, by detector id or
      failure mode) where given, else the ``AGENTWATCH_NUDGE_TEMPLATE_*`` settings or
      the built-in wording.
    * With one already set (or passed as ``tracer_provider``), adds the processor to
      it. Its exporters were added before us, so they export spans without the per-span
      flags; the run's open agent or root span is still marked, and the metric and
      callbacks work. Pass ``span_exporter`` (or add
      ``AgentWatchSpanProcessor(BatchSpanProcessor(exporter))`` yourself) to export
      flagged spans with their flags.

    Calling ``init`` again returns the first handle until that one is shut down.
    Raises :class:`~otel_agentwatch.ConfigError` on bad configuration, ``TypeError`` for
    something in ``extra_detectors`` that is not a detector.
    """
    global _current
    config = config if config is not None else Config.from_env()
    frameworks_named(config.instrument)  # an unknown name fails here, before any set-up
    with _lock:
        if _current is not None:
            return _current
        if not config.enabled:
            return AgentWatchHandle(None, None, owns_provider=False)
        found = tracer_provider or trace.get_tracer_provider()
        owns = not isinstance(found, TracerProvider)
        if span_exporter is not None:
            exporting: SpanProcessor | None = BatchSpanProcessor(span_exporter)
        else:
            exporting = _exporting_from(config) if owns else None
        processor = AgentWatchSpanProcessor(exporting, config=config,
                                            extra_detectors=extra_detectors,
                                            nudge_templates=nudge_templates)
        if isinstance(found, TracerProvider):
            provider = found
            provider.add_span_processor(processor)
        else:  # no SDK provider yet (the API's placeholder): ours becomes the global one
            provider = TracerProvider(resource=Resource.create())
            provider.add_span_processor(processor)
            trace.set_tracer_provider(provider)
        _current = _handle(processor, provider, owns, config)
        return _current


def adopt(processor: AgentWatchSpanProcessor, provider: TracerProvider,
          config: Config) -> AgentWatchHandle:
    """Take a processor that is already in ``provider``'s pipeline (put there by the
    configurator) as what :func:`init` set up: a later ``init()`` returns its handle."""
    global _current
    with _lock:
        if _current is None:
            _current = _handle(processor, provider, False, config)
        return _current


def _handle(processor: AgentWatchSpanProcessor, provider: TracerProvider, owns: bool,
            config: Config) -> AgentWatchHandle:
    uninstrument = instrument_when_imported(
        frameworks_named(config.instrument), tracer_provider=provider, config=config)
    return AgentWatchHandle(processor, provider, owns_provider=owns, uninstrument=uninstrument)


def post_instrument() -> None:
    """``opentelemetry-instrument``'s hook (entry point group
    ``opentelemetry_post_instrument``): :func:`init`, once the SDK it configures (if any)
    is in place. A configuration error raises here, at start, as it should."""
    init()


def _exporting_from(config: Config) -> SpanProcessor | None:
    """A batch processor per exporter ``OTEL_TRACES_EXPORTER`` names (several side by side,
    as the SDK allows), or None for ``none``."""
    processors = [BatchSpanProcessor(exporter) for name in config.traces_exporter
                  if (exporter := _exporter_named(name, config)) is not None]
    if not processors:
        return None
    if len(processors) == 1:
        return processors[0]
    fan_out = SynchronousMultiSpanProcessor()  # type: ignore[no-untyped-call]  # the SDK leaves its __init__ unannotated
    for processor in processors:
        fan_out.add_span_processor(processor)
    return fan_out


def _exporter_named(name: str, config: Config) -> SpanExporter | None:
    if name == "none":
        return None
    if name == "console":
        from opentelemetry.sdk.trace.export import ConsoleSpanExporter

        return ConsoleSpanExporter()
    if config.otlp_protocol == "http/json":
        logger.warning("otel-agentwatch: OTLP over http/json has no Python exporter; "
                       "sending http/protobuf to the same endpoint")
    return otlp_span_exporter(config.otlp_protocol)
