"""Agents working together badly: handoff cycles and tools outside an agent's role."""

from __future__ import annotations

import itertools
import json

from otel_agentwatch import Config, StepKind, agent_run, tool
from otel_agentwatch.detectors.coordination import HandoffCycleDetector, RoleViolationDetector
from otel_agentwatch.normalize._args import tool_arguments
from otel_agentwatch.steps import Step
from tests.conftest import Pipeline
from tests.detecting import built, flags

_ids = itertools.count(1)


def agent(name: str) -> Step:
    """A sub-agent's invocation ending: a step of the manager's run."""
    return Step(StepKind.AGENT, name, next(_ids), 1, (1, 1))


def said(name: str) -> Step:
    """A model call by one agent of a group chat sharing one run."""
    return Step(StepKind.LLM, "gpt-4o", next(_ids), 1, (1, 1), agent_name=name,
                output_text="...")


def call(result: str, agent_name: str | None = None, name: str = "search") -> Step:
    parsed, key = tool_arguments(json.dumps({"q": result}))
    return Step(StepKind.TOOL, name, next(_ids), 1, (1, 1), args=parsed, args_key=key,
                result=result, agent_name=agent_name)


class TestHandoffCycle:
    def test_work_bouncing_between_two_agents_with_nothing_learnt(self):
        steps = [call("the spec")] + [agent("coder"), agent("reviewer")] * 5
        # Three rounds (the 6th handoff) warn, five (the 10th) are critical.
        assert flags(HandoffCycleDetector(3, 5), steps) == ["warning"] * 4 + ["critical"]

    def test_a_group_chat_going_round_three_agents(self):
        rounds = [said("planner"), said("planner"), said("coder"), said("critic")] * 5
        found = flags(HandoffCycleDetector(3, 5), rounds)
        assert found and found[-1] == "critical"

    def test_an_alternation_that_keeps_learning_is_the_design_working(self):
        steps = []
        for index in range(10):
            steps += [agent("orchestrator"), agent("web_surfer"), call(f"page {index}")]
        assert flags(HandoffCycleDetector(3, 5), steps) == []

    def test_one_agent_working_alone_is_no_handoff(self):
        assert flags(HandoffCycleDetector(3, 5), [said("solo")] * 20) == []


class TestRoleViolation:
    def test_tools_outside_the_declared_set(self):
        detector = built(RoleViolationDetector,
                         {"AGENTWATCH_AGENT_TOOLS": "researcher=search|read_page"})
        steps = [call("x", "researcher"), call("y", "researcher", name="bash"),
                 call("z", "coder", name="bash"), call("w", "researcher", name="bash"),
                 call("v", "researcher", name="delete_file")]
        assert flags(detector, steps) == ["warning", "warning", "critical"]

    def test_end_to_end_with_agent_run_naming_the_tool_spans(self):
        pipeline = Pipeline(Config(settings={"AGENTWATCH_AGENT_TOOLS": "researcher=search"}))
        search = tool("search", tracer_provider=pipeline.provider)(lambda q: "ok")
        shell = tool("bash", tracer_provider=pipeline.provider)(lambda command: "ok")
        with agent_run("researcher", tracer_provider=pipeline.provider):
            search(q="a")
            shell(command="rm -rf /tmp/x")
        ok, bad = pipeline.spans("execute_tool")
        assert ok.attributes["gen_ai.agent.name"] == "researcher"
        assert "agentwatch.flagged" not in ok.attributes
        assert bad.attributes["agentwatch.detections"] == ("coordination.role_violation",)
        pipeline.provider.shutdown()
