"""The issue's acceptance case, once per dialect: five identical tool calls under an agent."""

from __future__ import annotations

import pytest

from tests.dialects import DIALECTS

SEARCH_ARGS = {"query": "weather in Paris", "limit": 3, "lang": "en"}


def _tools(pipeline):
    return [s for s in pipeline.spans() if s.parent is not None and "search" in s.name]


def _agentwatch(span):
    return {k: v for k, v in span.attributes.items() if k.startswith("agentwatch.")}


@pytest.mark.parametrize("dialect", DIALECTS, ids=lambda d: d.name)
class TestRepeatedToolCalls:
    def test_third_and_fourth_are_warnings_fifth_is_critical(self, pipeline, dialect):
        """Identical calls (keys reordered, ids varying) flag from the 3rd; the 5th is critical."""
        with dialect.agent(pipeline.tracer):
            for _ in range(5):
                dialect.tool(pipeline.tracer, "search", SEARCH_ARGS, result="sunny, 21C")

        tools = _tools(pipeline)
        assert len(tools) == 5
        assert [s.attributes.get("agentwatch.severity") for s in tools] == [
            None, None, "warning", "warning", "critical"]
        for span in tools[2:]:
            assert span.attributes["agentwatch.flagged"] is True
            assert "loop.repeated_call" in span.attributes["agentwatch.detections"]
            assert span.attributes["agentwatch.mast_codes"] == ("FM-1.3",)
            assert span.attributes["agentwatch.failure_mode"] == "step_repetition"
        for span in tools[:2]:
            assert not _agentwatch(span)

    def test_flagged_span_carries_one_event_per_detection_with_evidence(self, pipeline, dialect):
        """The event names the detector, severity, score and the earlier spans of the streak."""
        with dialect.agent(pipeline.tracer):
            for _ in range(5):
                dialect.tool(pipeline.tracer, "search", SEARCH_ARGS, result="sunny")
        tools = _tools(pipeline)
        fifth = tools[4]
        events = {e.attributes["agentwatch.detector"]: e for e in fifth.events
                  if e.name == "agentwatch.detection"}
        assert set(events) == set(fifth.attributes["agentwatch.detections"])
        event = events["loop.repeated_call"]
        assert event.attributes["agentwatch.severity"] == "critical"
        assert event.attributes["agentwatch.score"] == 1.0
        assert event.attributes["agentwatch.evidence.count"] == 5
        earlier = [format(s.context.span_id, "016x") for s in tools[:4]]
        assert list(event.attributes["agentwatch.evidence.earlier_span_ids"]) == earlier
        assert "search" in event.attributes["agentwatch.message"]

    def test_agent_span_carries_one_event_per_stage_and_the_run_summary(self, pipeline, dialect):
        """The run's span gets the warning and the critical event once each, not one per span."""
        with dialect.agent(pipeline.tracer):
            for _ in range(7):
                dialect.tool(pipeline.tracer, "search", SEARCH_ARGS, result="sunny")
        (root,) = [s for s in pipeline.spans() if s.parent is None]
        repeated = [e.attributes["agentwatch.severity"] for e in root.events
                    if e.attributes.get("agentwatch.detector") == "loop.repeated_call"]
        assert repeated == ["warning", "critical"]
        assert root.attributes["agentwatch.run.flagged"] is True
        assert root.attributes["agentwatch.run.severity"] == "critical"
        assert "loop.repeated_call" in root.attributes["agentwatch.run.detections"]
        assert root.attributes["agentwatch.run.tool_calls"] == 7

    def test_different_arguments_are_not_flagged(self, pipeline, dialect):
        """Five searches for five different things are an agent at work, not a loop."""
        with dialect.agent(pipeline.tracer):
            for city in ("Paris", "Rome", "Oslo", "Lima", "Kyiv"):
                dialect.tool(pipeline.tracer, "search", {**SEARCH_ARGS, "query": city})
        assert not any(_agentwatch(s) for s in pipeline.spans())

    def test_model_calls_between_repeats_do_not_break_the_streak(self, pipeline, dialect):
        """A ReAct loop alternates model and tool; the tool streak still counts."""
        with dialect.agent(pipeline.tracer):
            for _ in range(3):
                dialect.chat(pipeline.tracer)
                dialect.tool(pipeline.tracer, "search", SEARCH_ARGS)
        tools = _tools(pipeline)
        assert tools[2].attributes["agentwatch.severity"] == "warning"
        chats = [s for s in pipeline.spans() if "search" not in s.name and s.parent is not None]
        assert chats and not any(_agentwatch(s) for s in chats)
        (root,) = [s for s in pipeline.spans() if s.parent is None]
        assert root.attributes["agentwatch.run.llm_calls"] == 3


def test_a_tool_span_inside_another_tool_call_is_the_same_call(pipeline):
    """Two instrumentations tracing one call (OpenInference's tool span around a
    framework's own, a framework's tool span around an MCP request): one step, the outer
    one, so the argument-less inner span neither counts nor breaks the streak. A tool
    called by an agent nested inside a tool is that agent's step, as before."""
    def start(name, **attributes):
        return pipeline.tracer.start_as_current_span(name, attributes=attributes)

    agent = {"gen_ai.operation.name": "invoke_agent"}
    tool = {"gen_ai.operation.name": "execute_tool"}
    with start("invoke_agent support", **agent):
        for _ in range(5):
            with start("search", **{"openinference.span.kind": "TOOL", "tool.name": "search",
                                    "input.value": '{"query": "weather"}'}), \
                    start("execute_tool search", **tool, **{"gen_ai.tool.name": "search"}):
                pass
        with start("execute_tool delegate", **tool), start("invoke_agent helper", **agent), \
                start("execute_tool lookup", **tool):
            pass
    outer = [s for s in pipeline.spans("search")]
    assert [s.attributes.get("agentwatch.severity") for s in outer] == [
        None, None, "warning", "warning", "critical"]
    assert not any(s.attributes.get("agentwatch.flagged")
                   for s in pipeline.spans("execute_tool search"))
    [agent] = pipeline.spans("invoke_agent support")
    assert agent.attributes["agentwatch.run.tool_calls"] == 6, "5 searches and the delegation"


def test_an_agent_span_named_as_such_after_it_started_is_its_run(pipeline):
    """Frameworks that set an agent span's GenAI attributes after starting it (CrewAI's own
    spans do): once its first child starts, it is the run's anchor, and the verdict is its,
    not the trace root's."""
    tracer = pipeline.tracer
    with tracer.start_as_current_span("crew kickoff"), \
            tracer.start_as_current_span("Support agent") as agent:
        agent.set_attributes({"gen_ai.operation.name": "invoke_agent",
                              "gen_ai.agent.name": "Support agent"})
        for _ in range(5):
            DIALECTS[0].tool(tracer, "search", SEARCH_ARGS, result="sunny")
    [agent_span] = pipeline.spans("Support agent")
    [root] = pipeline.spans("crew kickoff")
    assert agent_span.attributes["agentwatch.run.severity"] == "critical"
    assert agent_span.attributes["agentwatch.run.tool_calls"] == 5
    assert "agentwatch.run.severity" not in root.attributes
