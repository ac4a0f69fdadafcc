"""Shared fixtures: a real SDK pipeline with our processor in front of an in-memory exporter."""

from __future__ import annotations

import os
from collections.abc import Iterator
from typing import Any

import pytest
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

from otel_agentwatch import AgentWatchSpanProcessor, Config, _guard


@pytest.fixture(autouse=True)
def _strict_guard() -> Iterator[None]:
    """Internal errors fail our tests instead of disappearing into a log line."""
    _guard.raise_internal_errors(True)
    yield
    _guard.raise_internal_errors(False)


@pytest.fixture
def lenient_guard() -> Iterator[None]:
    """For tests of the guard itself: internal errors are logged, as for users."""
    _guard.raise_internal_errors(False)
    yield


@pytest.fixture(autouse=True)
def _clean_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    """No setting leaks in from the machine running the tests."""
    for name in list(os.environ):
        if name.startswith("AGENTWATCH_") and name != "AGENTWATCH_PHOENIX_VENV":
            monkeypatch.delenv(name, raising=False)
    for name in ("OTEL_INSTRUMENTATION_GENAI_CAPTURE_MESSAGE_CONTENT", "OTEL_TRACES_EXPORTER",
                 "OTEL_EXPORTER_OTLP_PROTOCOL", "OTEL_EXPORTER_OTLP_TRACES_PROTOCOL"):
        monkeypatch.delenv(name, raising=False)


class Pipeline:
    """Provider -> AgentWatchSpanProcessor -> SimpleSpanProcessor -> InMemorySpanExporter.

    ``before``: span processors the provider runs ahead of ours (another instrumentation's
    processor that rewrites spans as they end, say)."""

    def __init__(self, config: Config | None = None, before=(), **options) -> None:
        self.exporter = InMemorySpanExporter()
        self.processor = AgentWatchSpanProcessor(
            SimpleSpanProcessor(self.exporter), config=config or Config(), **options
        )
        self.provider = TracerProvider()
        for processor in before:
            self.provider.add_span_processor(processor)
        self.provider.add_span_processor(self.processor)
        self.tracer = self.provider.get_tracer("tests")

    def spans(self, name_prefix: str = ""):
        return [s for s in self.exporter.get_finished_spans() if s.name.startswith(name_prefix)]


def detection_counts(reader: Any) -> dict[tuple[str, str], int]:
    """The ``agentwatch.detections`` counter an ``InMemoryMetricReader`` read, by
    ``(detector, severity)``."""
    counts = {}
    for resource_metrics in reader.get_metrics_data().resource_metrics:
        for scope_metrics in resource_metrics.scope_metrics:
            for metric in scope_metrics.metrics:
                if metric.name == "agentwatch.detections":
                    for point in metric.data.data_points:
                        counts[point.attributes["agentwatch.detector"],
                               point.attributes["agentwatch.severity"]] = point.value
    return counts


@pytest.fixture
def pipeline() -> Iterator[Pipeline]:
    built = Pipeline()
    yield built
    built.provider.shutdown()


# --- provider SDK tests (imported lazily: only those tests load openai and anthropic) ----------

@pytest.fixture
def server():
    """A scripted model provider on 127.0.0.1 (tests/scripted_server.py)."""
    from tests.scripted_server import ScriptedServer

    with ScriptedServer() as running:
        yield running


@pytest.fixture
def make_instrumented():
    """Builds pipelines with the OpenAI and Anthropic SDKs instrumented into them."""
    from tests.sdk_fixtures import Instrumented

    made = []

    def make(**settings):
        built = Instrumented(Config(**settings))
        made.append(built)
        return built

    yield make
    for built in made:
        built.close()


@pytest.fixture
def instrumented(make_instrumented):
    return make_instrumented()


@pytest.fixture
def restored_context():
    """For tests that halt a run under another instrumentation whose wrappers end their
    spans on ``Exception`` only (OpenInference's): the span it leaves attached after the
    halt must not be the parent of the tests that follow."""
    from opentelemetry import context as otel_context

    token = otel_context.attach(otel_context.get_current())
    yield
    otel_context.detach(token)
