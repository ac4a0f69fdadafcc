"""Agents working together badly: handoff cycles and tools outside an agent's role."""

from __future__ import annotations

import contextlib
import itertools
import json

from otel_agentwatch import Config, StepKind, agent_run, tool
from otel_agentwatch.detectors.coordination import (
    HandoffCycleDetector,
    RepeatedFailureDetector,
    RoleViolationDetector,
)
from otel_agentwatch.normalize._args import tool_arguments
from otel_agentwatch.steps import Step
from tests.conftest import Pipeline
from tests.detecting import built, flags, observe, severities

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


def failed(run: int, error: str = "FileConversionException", name: str = "inspect_file",
           path: str = "data/task.xlsx", trace: int = 1) -> Step:
    """A tool call that failed, in run ``run`` of trace ``trace``."""
    parsed, key = tool_arguments(json.dumps({"file_path": path}))
    return Step(StepKind.TOOL, name, next(_ids), trace, (trace, run), args=parsed,
                args_key=key, error=error, error_message=f"{error}: could not convert {path}")


def worked(run: int, name: str = "inspect_file", trace: int = 1) -> Step:
    parsed, key = tool_arguments(json.dumps({"file_path": "data/other.pdf"}))
    return Step(StepKind.TOOL, name, next(_ids), trace, (trace, run), args=parsed,
                args_key=key, result="the text")


class TestRepeatedFailure:
    def test_the_same_failure_met_by_one_run_after_another(self):
        # A manager fails to read the file, then hands the reading to sub-agent after
        # sub-agent, each trying once: no run has a streak of its own.
        steps = [failed(run) for run in range(1, 7)]
        assert severities(RepeatedFailureDetector(3, 5), steps) == [
            None, None, "warning", "warning", "critical", "critical"]

    def test_a_run_failing_again_is_its_own_streak_not_a_handoff(self):
        steps = [failed(1), failed(1), failed(1), failed(2), failed(2)]
        assert flags(RepeatedFailureDetector(3, 5), steps) == []

    def test_each_stage_is_announced_once(self):
        detector = RepeatedFailureDetector(3, 5)
        state = detector.new_state()
        found = [observe(detector, failed(run), state) for run in range(1, 8)]
        assert [d.new for d in found if d] == [True, False, True, False, False]
        warning = found[2]
        assert warning.evidence["count"] == 3
        assert len(warning.evidence["earlier_span_ids"]) == 2  # the two runs before

    def test_the_tool_working_again_ends_it(self):
        steps = [failed(1), failed(2), worked(3), failed(4), failed(5)]
        assert flags(RepeatedFailureDetector(3, 5), steps) == []

    def test_different_failures_and_other_tools_are_not_the_same_call(self):
        steps = [failed(1), failed(2, error="PermissionError"), failed(3, name="visit_page"),
                 failed(4, error="TimeoutError"), worked(5, name="visit_page")]
        assert flags(RepeatedFailureDetector(3, 5), steps) == []

    def test_a_failure_that_says_nothing_compares_arguments(self):
        detector = RepeatedFailureDetector(3, 5)
        vague = [failed(run, error="error")._replace(error_message=None) for run in (1, 2)]
        other = failed(3, error="error", path="data/elsewhere.csv")._replace(error_message=None)
        same = failed(4, error="error")._replace(error_message=None)
        assert flags(detector, [*vague, other, same]) == ["warning"]
        unknown = [failed(run, error="error")._replace(error_message=None, args_key=None)
                   for run in range(10, 16)]
        assert flags(detector, unknown) == []


class TestRepeatedFailureInATrace:
    """Through the processor: the state is the trace's, shared by its runs, and goes with it."""

    @staticmethod
    def manager_and_sub_agents(pipeline: Pipeline, sub_agents: int) -> None:
        def convert(file_path: str) -> str:
            raise ValueError(f"could not convert {file_path}")

        inspect = tool("inspect_file", tracer_provider=pipeline.provider)(convert)

        def try_to_read() -> None:
            with contextlib.suppress(ValueError):
                inspect(file_path="data/task.xlsx")

        with agent_run("manager", tracer_provider=pipeline.provider):
            try_to_read()  # the manager tries, then hands the same file to each sub-agent
            for _ in range(sub_agents):
                with agent_run("search_agent", tracer_provider=pipeline.provider):
                    try_to_read()

    def test_a_manager_handing_a_failing_read_to_sub_agents(self, pipeline):
        self.manager_and_sub_agents(pipeline, sub_agents=2)
        manager_try, first, second = pipeline.spans("execute_tool")
        assert "agentwatch.flagged" not in manager_try.attributes
        assert "agentwatch.flagged" not in first.attributes
        assert second.attributes["agentwatch.detections"] == ("coordination.repeated_failure",)
        assert second.attributes["agentwatch.severity"] == "warning"
        # No run had more than one failure: the runs' own streak detector saw nothing.
        assert all("loop.error_streak" not in span.attributes.get("agentwatch.detections", ())
                   for span in pipeline.spans())

    def test_traces_do_not_add_up_and_are_forgotten_when_they_end(self, pipeline):
        for _ in range(3):  # three tasks, each with one retry by a sub-agent
            self.manager_and_sub_agents(pipeline, sub_agents=1)
        assert not any("agentwatch.flagged" in span.attributes for span in pipeline.spans())
        assert pipeline.processor._engine._traces == {}
