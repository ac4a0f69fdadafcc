"""The host application comes first: our failures stay ours, bad data never fails."""

from __future__ import annotations

import asyncio
import logging
import threading

import pytest

from otel_agentwatch import Config, on_detection, remove_on_detection
from otel_agentwatch.detectors.loop import RepeatedCallDetector
from tests.conftest import Pipeline
from tests.dialects import GenAI

ARGS = {"q": "same"}


class ExplodingDetector(RepeatedCallDetector):
    id = "test.exploding"

    def observe(self, step, state, facts):
        raise RuntimeError("detector bug")


class FlakyDetector(RepeatedCallDetector):
    """Raises on the steps whose arguments say so: the failure belongs to those steps."""

    id = "test.flaky"

    def observe(self, step, state, facts):
        if step.args.get("q") == "poison":
            raise RuntimeError("detector bug")
        return super().observe(step, state, facts)


def test_a_raising_detector_loses_the_step_not_the_process(lenient_guard, caplog):
    """A detector that raises in one run sits out that run (after three failures) and
    still judges every other run; the other detectors and the spans are unaffected."""
    pipeline = Pipeline(Config(), extra_detectors=[FlakyDetector()])
    with caplog.at_level(logging.WARNING, logger="otel_agentwatch"):
        with GenAI.agent(pipeline.tracer):  # poisoned: fails, sits out after three
            for _ in range(5):
                GenAI.tool(pipeline.tracer, "search", {"q": "poison"})
        with GenAI.agent(pipeline.tracer):  # a clean run: the detector judges it
            for _ in range(5):
                GenAI.tool(pipeline.tracer, "search", ARGS)
    tools = pipeline.spans("execute_tool")
    assert len(tools) == 10
    poisoned, clean = tools[:5], tools[5:]
    assert poisoned[4].attributes["agentwatch.severity"] == "critical"  # the built-in one
    assert "test.flaky" not in poisoned[4].attributes["agentwatch.detections"]
    assert "test.flaky" in clean[4].attributes["agentwatch.detections"]
    assert "test.flaky" in [d.id for d in pipeline.processor.detectors]
    warnings = [r for r in caplog.records if "test.flaky" in r.getMessage()]
    assert len(warnings) == 1, "logged once, then at debug level"


def test_a_failing_step_does_not_reset_a_streak_the_detector_keeps(lenient_guard):
    """One failure (under the per-run limit) loses that step only: the detector's streak
    across it goes on."""
    pipeline = Pipeline(Config(), extra_detectors=[FlakyDetector()])
    with GenAI.agent(pipeline.tracer):
        for index in range(6):
            GenAI.tool(pipeline.tracer, "other", {"q": "poison"}) if index == 2 else None
            GenAI.tool(pipeline.tracer, "search", ARGS)
    last = pipeline.spans("execute_tool")[-1]
    counts = [event.attributes["agentwatch.evidence.count"] for event in last.events
              if event.attributes.get("agentwatch.detector") == "test.flaky"]
    assert counts == [6], "the six calls around the lost step are one streak"


def test_internal_error_passes_the_span_through_unchanged(pipeline, lenient_guard, monkeypatch,
                                                         caplog):
    """If the processor itself fails, the exporter still gets every span, as it was."""
    def broken(*_args):
        raise ValueError("normalizer bug")

    monkeypatch.setattr("otel_agentwatch.processor.classify", broken)
    with caplog.at_level(logging.WARNING, logger="otel_agentwatch"), GenAI.agent(pipeline.tracer):
        for _ in range(3):
            GenAI.tool(pipeline.tracer, "search", ARGS)
    assert len(pipeline.spans()) == 4
    assert not any("agentwatch.flagged" in s.attributes for s in pipeline.spans())
    logged = [r for r in caplog.records if "internal error" in r.getMessage()]
    assert len(logged) == 1, "logged once per site, not once per span"
    assert "application is unaffected" in logged[0].getMessage()


def test_raising_callback_does_not_reach_the_application(pipeline, lenient_guard, caplog):
    calls = []

    def bad_callback(detection):
        calls.append(detection)
        raise RuntimeError("user callback bug")

    on_detection(bad_callback)
    try:
        with caplog.at_level(logging.WARNING, logger="otel_agentwatch"), \
                GenAI.agent(pipeline.tracer):
            for _ in range(5):
                GenAI.tool(pipeline.tracer, "search", ARGS)
    finally:
        remove_on_detection(bad_callback)
    assert calls, "the callback was called"
    assert len([r for r in caplog.records if "bad_callback" in r.getMessage()]) == 1


@pytest.mark.parametrize("attributes", [
    {"gen_ai.operation.name": "execute_tool", "gen_ai.tool.call.arguments": "{" * 5000},
    {"gen_ai.operation.name": "execute_tool", "gen_ai.tool.call.arguments": "[" * 50 + "]" * 50},
    {"gen_ai.operation.name": "execute_tool",
     "gen_ai.tool.call.arguments": "(" + "1," * 5000 + ")"},
    {"gen_ai.operation.name": "execute_tool", "gen_ai.tool.name": 42},
    {"gen_ai.operation.name": 7, "gen_ai.usage.input_tokens": "lots"},
    {"gen_ai.operation.name": "chat", "gen_ai.output.messages": "[{\"parts\": 5}]"},
    {"gen_ai.operation.name": "chat", "gen_ai.output.messages": "not json"},
    {"openinference.span.kind": "TOOL", "input.value": "\x00\ud800", "output.value": "{\"lc\": 1}"},
    {"openinference.span.kind": ("TOOL",), "llm.token_count.prompt": True},
    {"traceloop.span.kind": "tool", "traceloop.entity.input": "{\"input_str\": 5, \"inputs\": []}"},
    {"traceloop.span.kind": "tool",
     "traceloop.entity.output": "{\"output\": {\"output\": {\"output\": {\"output\": 1}}}}"},
])
def test_malformed_span_data_never_fails(pipeline, attributes):
    """Even with internal errors raised (our test mode), junk attributes are handled."""
    with GenAI.agent(pipeline.tracer):
        for _ in range(3):
            with pipeline.tracer.start_as_current_span("junk", attributes=attributes):
                pass
    assert len(pipeline.spans()) == 4


def test_threads_keep_separate_runs(pipeline):
    """Two agents in two threads calling the same tool in lockstep are not one loop."""
    barrier = threading.Barrier(4)

    def agent():
        with GenAI.agent(pipeline.tracer):
            for _ in range(2):
                barrier.wait()
                GenAI.tool(pipeline.tracer, "search", ARGS)

    threads = [threading.Thread(target=agent) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert len(pipeline.spans("execute_tool")) == 8
    assert not any("agentwatch.flagged" in s.attributes for s in pipeline.spans())


def test_asyncio_tasks_keep_separate_runs(pipeline):
    """Interleaved asyncio tasks each have their own run through the context."""
    async def agent():
        with GenAI.agent(pipeline.tracer):
            for _ in range(2):
                await asyncio.sleep(0)
                GenAI.tool(pipeline.tracer, "search", ARGS)

    async def main():
        await asyncio.gather(*(agent() for _ in range(5)))

    asyncio.run(main())
    assert len(pipeline.spans("execute_tool")) == 10
    assert not any("agentwatch.flagged" in s.attributes for s in pipeline.spans())


def test_spans_made_inside_a_callback_are_not_fed_back(pipeline):
    """A callback that traces its own work does not produce detections of its own."""
    seen = []

    def traced_callback(detection):
        seen.append(detection.detector)
        for _ in range(5):
            GenAI.tool(pipeline.tracer, "alert", {"to": "oncall"})

    on_detection(traced_callback)
    try:
        with GenAI.agent(pipeline.tracer):
            for _ in range(3):
                GenAI.tool(pipeline.tracer, "search", ARGS)
    finally:
        remove_on_detection(traced_callback)
    assert seen
    alerts = [s for s in pipeline.spans() if "alert" in s.name]
    assert alerts and not any("agentwatch.flagged" in s.attributes for s in alerts)


class ExplodingJudge(RepeatedCallDetector):
    id = "test.exploding_judge"

    def finish(self, anchor, state):
        raise RuntimeError("judge bug")


def test_raising_run_judge_is_logged_and_the_run_span_still_exported(lenient_guard, caplog):
    pipeline = Pipeline(Config(), extra_detectors=[ExplodingJudge()])
    for _ in range(2):
        with caplog.at_level(logging.WARNING, logger="otel_agentwatch"), \
                GenAI.agent(pipeline.tracer):
            GenAI.tool(pipeline.tracer, "search", ARGS)
    assert len(pipeline.spans("invoke_agent")) == 2
    assert len([r for r in caplog.records if "exploding_judge" in r.getMessage()]) == 1


def test_flushing_again_and_again_against_a_stuck_exporter_starts_one_worker():
    from otel_agentwatch._deadline import BoundedFlush

    release, calls = threading.Event(), []

    def stuck(timeout_millis: int) -> bool:
        calls.append(timeout_millis)
        return release.wait(30)

    flush = BoundedFlush(stuck, "test flush")
    assert [flush(10) for _ in range(5)] == [False] * 5
    assert len(calls) == 1, "later calls wait on the flush already running"
    release.set()
    assert flush(5000) is True
