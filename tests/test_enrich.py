"""What leaves the processor: the same span if unflagged, else a faithful copy plus verdicts."""

from __future__ import annotations

from opentelemetry.sdk.metrics import MeterProvider
from opentelemetry.sdk.metrics.export import InMemoryMetricReader
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import SpanProcessor, TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.trace import Link, SpanKind, Status, StatusCode

from otel_agentwatch import AgentWatchSpanProcessor, Config, on_detection, remove_on_detection
from tests.conftest import detection_counts
from tests.dialects import GenAI

ARGS = {"q": "same"}


class Recorder(SpanProcessor):
    def __init__(self) -> None:
        self.received = []

    def on_end(self, span) -> None:
        self.received.append(span)


class Spy(AgentWatchSpanProcessor):
    """Remembers the span objects the SDK handed to on_end."""

    def __init__(self, *args, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self.given = []

    def on_end(self, span) -> None:
        self.given.append(span)
        super().on_end(span)


def test_unflagged_spans_pass_through_as_the_same_object():
    recorder = Recorder()
    spy = Spy(recorder, config=Config())
    provider = TracerProvider()
    provider.add_span_processor(spy)
    tracer = provider.get_tracer("t")
    with GenAI.agent(tracer):
        GenAI.tool(tracer, "search", ARGS)
        GenAI.chat(tracer)
    assert len(recorder.received) == 3
    assert all(out is given for out, given in zip(recorder.received, spy.given, strict=True))


def test_flagged_copy_keeps_everything_the_span_had():
    recorder = Recorder()
    spy = Spy(recorder, config=Config())
    provider = TracerProvider(resource=Resource.create({"service.name": "svc"}))
    provider.add_span_processor(spy)
    tracer = provider.get_tracer("scope-name", "1.2")
    with GenAI.agent(tracer) as agent:
        link = Link(agent.get_span_context(), {"why": "test"})
        for _ in range(3):
            with tracer.start_as_current_span(
                "execute_tool search", kind=SpanKind.CLIENT, links=[link],
                attributes={"gen_ai.operation.name": "execute_tool",
                            "gen_ai.tool.name": "search",
                            "gen_ai.tool.call.arguments": '{"q": 1}', "custom": "kept"},
            ) as span:
                span.add_event("progress", {"pct": 50})
                span.set_status(Status(StatusCode.OK))
    original, flagged = spy.given[2], recorder.received[2]
    assert flagged is not original
    assert flagged.attributes["agentwatch.flagged"] is True
    for name in ("name", "context", "parent", "kind", "status", "start_time", "end_time",
                 "resource", "instrumentation_scope", "links"):
        assert getattr(flagged, name) == getattr(original, name), name
    assert {k: v for k, v in flagged.attributes.items() if not k.startswith("agentwatch.")} == \
        dict(original.attributes)
    assert [e.name for e in flagged.events] == ["progress", "agentwatch.detection"]
    assert flagged.dropped_attributes == original.dropped_attributes


def test_detections_metric_counts_streaks_by_detector_and_severity():
    reader = InMemoryMetricReader()
    processor = AgentWatchSpanProcessor(config=Config(),
                                        meter_provider=MeterProvider(metric_readers=[reader]))
    provider = TracerProvider()
    provider.add_span_processor(processor)
    tracer = provider.get_tracer("t")
    with GenAI.agent(tracer):
        for _ in range(8):
            GenAI.tool(tracer, "search", ARGS)
    assert detection_counts(reader) == {
        ("loop.repeated_call", "warning"): 1, ("loop.repeated_call", "critical"): 1,
        ("loop.repeated_outcome", "warning"): 1, ("loop.repeated_outcome", "critical"): 1,
    }


def test_callback_receives_each_new_detection_once():
    seen = []
    callback = on_detection(lambda detection: seen.append(
        (detection.detector, detection.severity.value)))
    try:
        provider = TracerProvider()
        provider.add_span_processor(AgentWatchSpanProcessor(config=Config()))
        tracer = provider.get_tracer("t")
        with GenAI.agent(tracer):
            for _ in range(8):
                GenAI.tool(tracer, "search", ARGS, result=None)
    finally:
        remove_on_detection(callback)
    assert seen == [("loop.repeated_call", "warning"), ("loop.repeated_call", "critical")]


def test_without_next_processor_the_open_run_span_is_still_marked():
    """Added after an application's own exporter, we cannot flag exported tool spans, but the
    agent span is still open when we see the loop, so it leaves flagged."""
    exporter = InMemorySpanExporter()
    provider = TracerProvider()
    provider.add_span_processor(SimpleSpanProcessor(exporter))
    provider.add_span_processor(AgentWatchSpanProcessor(config=Config()))
    tracer = provider.get_tracer("t")
    with GenAI.agent(tracer):
        for _ in range(5):
            GenAI.tool(tracer, "search", ARGS)
    spans = exporter.get_finished_spans()
    assert not any("agentwatch.flagged" in s.attributes for s in spans if s.parent)
    (agent,) = [s for s in spans if s.parent is None]
    assert agent.attributes["agentwatch.run.flagged"] is True
    assert agent.attributes["agentwatch.run.severity"] == "critical"
    assert len([e for e in agent.events if e.name == "agentwatch.detection"]) == 4


def test_disabled_processor_changes_nothing():
    recorder = Recorder()
    provider = TracerProvider()
    provider.add_span_processor(AgentWatchSpanProcessor(recorder, config=Config(enabled=False)))
    tracer = provider.get_tracer("t")
    with GenAI.agent(tracer):
        for _ in range(5):
            GenAI.tool(tracer, "search", ARGS)
    assert len(recorder.received) == 6
    assert not any(k.startswith("agentwatch") for s in recorder.received for k in s.attributes)


def test_shutdown_is_idempotent_and_reaches_the_next_processor():
    calls = []

    class Next(SpanProcessor):
        def shutdown(self) -> None:
            calls.append("shutdown")

    processor = AgentWatchSpanProcessor(Next(), config=Config())
    processor.shutdown()
    processor.shutdown()
    assert calls == ["shutdown"]
