"""What leaves the process: content only with capture on, decided by the span's own pipeline."""

from __future__ import annotations

import pytest
from opentelemetry.trace import StatusCode

from otel_agentwatch import Config, agent_run, tool
from tests.conftest import Pipeline

SECRET = "card 4111-1111-1111-1111"


def _failing_tool(pipeline: Pipeline):
    @tool(tracer_provider=pipeline.provider)
    def charge(card: str) -> None:
        raise ValueError(f"declined: {card}")

    return charge


@pytest.mark.parametrize("capture", [False, True], ids=["capture off", "capture on"])
def test_a_failing_tool_exports_its_error_message_only_with_capture_on(capture):
    pipeline = Pipeline(Config(capture_content=capture))
    with pytest.raises(ValueError), agent_run("billing", tracer_provider=pipeline.provider):
        _failing_tool(pipeline)(SECRET)
    tool_span, agent_span = pipeline.spans("execute_tool")[0], pipeline.spans("invoke_agent")[0]
    for span in (tool_span, agent_span):
        assert span.status.status_code is StatusCode.ERROR
        assert span.attributes["error.type"] == "ValueError"
        [event] = [e for e in span.events if e.name == "exception"]
        assert event.attributes["exception.type"] == "ValueError"
        exported = repr((dict(span.attributes), [dict(e.attributes) for e in span.events],
                         span.status.description))
        assert (SECRET in exported) is capture


def test_capture_is_decided_by_the_pipeline_the_span_goes_to():
    """Another pipeline in the process with capture on does not put content on the spans
    of a pipeline with it off (and the other way round)."""
    quiet, recording = Pipeline(Config()), Pipeline(Config(capture_content=True))
    for pipeline in (quiet, recording):
        @tool(tracer_provider=pipeline.provider)
        def lookup(order_id: str) -> str:
            return f"{order_id}: shipped to {SECRET}"

        lookup("A-1042")
    [quiet_span], [recorded_span] = quiet.spans(), recording.spans()
    assert "gen_ai.tool.call.arguments" not in quiet_span.attributes
    assert "gen_ai.tool.call.result" not in quiet_span.attributes
    assert recorded_span.attributes["gen_ai.tool.call.arguments"] == '{"order_id": "A-1042"}'
    assert SECRET in recorded_span.attributes["gen_ai.tool.call.result"]
