"""AutoGen AgentChat, run offline: its real AssistantAgent (and a team) with autogen-ext's
ReplayChatCompletionClient as the model. autogen-core pins protobuf 5, below what the
test extras resolve to, so these run in an environment of their own (``.ci/run``);
elsewhere they are skipped.

AutoGen traces through the global tracer provider: one whose only processor forwards to
the current test's pipeline (tests.sdk_fixtures.global_forward).
"""

from __future__ import annotations

import asyncio
import json
import logging

import pytest

pytest.importorskip("autogen_agentchat")
pytest.importorskip("autogen_ext.models.replay")

from autogen_agentchat.agents import AssistantAgent
from autogen_agentchat.base import TaskResult
from autogen_agentchat.teams import RoundRobinGroupChat
from autogen_core import FunctionCall
from autogen_core.models import CreateResult, ModelFamily, RequestUsage
from autogen_ext.models.replay import ReplayChatCompletionClient

from otel_agentwatch import AgentHalted, StepKind
from otel_agentwatch.instrumentation.autogen import AutoGenInstrumentor
from tests.sdk_fixtures import Recorded, pipelines

TASK = "Where is order A-1042?"
ANSWER = "The order's status is unknown."
ARGS = json.dumps({"order_id": "A-1042"})
MODEL_INFO = {"vision": False, "function_calling": True, "json_output": False,
              "family": ModelFamily.UNKNOWN, "structured_output": False}

# The replay client logs a token-count warning per request.
logging.getLogger("autogen_core.events").setLevel(logging.ERROR)


@pytest.fixture
def make_pipeline():
    with pipelines(AutoGenInstrumentor, base=Recorded, through_global=True) as make:
        yield make


def support_agent(calls: list[str], lookups: int, per_turn: int = 1,
                  sync_tool: bool = False) -> AssistantAgent:
    def lookup(order_id: str) -> str:
        calls.append(order_id)
        return f"order {order_id}: status unknown"

    async def lookup_order(order_id: str) -> str:
        """Look up an order's status."""
        return lookup(order_id)

    if sync_tool:  # AutoGen runs a plain function in a worker thread
        def lookup_order(order_id: str) -> str:  # type: ignore[no-redef]
            """Look up an order's status."""
            return lookup(order_id)

    usage = RequestUsage(prompt_tokens=10, completion_tokens=5)
    script: list[CreateResult | str] = [
        CreateResult(finish_reason="function_calls", usage=usage, cached=False,
                     content=[FunctionCall(id=f"call_{turn}_{index}", name="lookup_order",
                                           arguments=ARGS) for index in range(per_turn)])
        for turn in range(lookups)]
    script.append(ANSWER)
    return AssistantAgent("support", model_client=ReplayChatCompletionClient(
        script, model_info=MODEL_INFO), tools=[lookup_order], max_tool_iterations=lookups + 1)


def run(agent, streamed: bool = False) -> str:
    async def go() -> str:
        if streamed:
            result = None
            async for item in agent.run_stream(task=TASK):
                if isinstance(item, TaskResult):
                    result = item
            assert result is not None
        else:
            result = await agent.run(task=TASK)
        return str(result.messages[-1].content)

    return asyncio.run(asyncio.wait_for(go(), 60))


@pytest.mark.parametrize(("streamed", "sync_tool"), [(False, False), (True, False), (False, True)],
                         ids=["run", "run_stream", "plain function tool"])
def test_a_looping_run_is_flagged_on_autogens_own_spans(make_pipeline, streamed, sync_tool):
    pipeline = make_pipeline()
    calls: list[str] = []
    assert run(support_agent(calls, 6, sync_tool=sync_tool), streamed) == ANSWER
    [agent] = pipeline.spans("invoke_agent support")
    tools = pipeline.spans("execute_tool lookup_order")
    assert len(calls) == len(tools) == 6
    assert all(s.parent.span_id == agent.context.span_id for s in tools)
    assert [s.attributes.get("agentwatch.severity") for s in tools] == [
        None, None, "warning", "warning", "critical", "critical"]
    assert agent.attributes["agentwatch.run.severity"] == "critical"
    assert "gen_ai.tool.call.arguments" not in tools[0].attributes
    [step, *_] = pipeline.recorder.of(StepKind.TOOL)
    assert step.args == {"order_id": "A-1042"}
    assert step.result == "order A-1042: status unknown"


def test_content_goes_on_the_spans_only_with_capture_on(make_pipeline):
    pipeline = make_pipeline(capture_content=True)
    run(support_agent([], 1))
    [tool] = pipeline.spans("execute_tool")
    assert json.loads(tool.attributes["gen_ai.tool.call.arguments"]) == {"order_id": "A-1042"}
    assert tool.attributes["gen_ai.tool.call.result"] == "order A-1042: status unknown"


@pytest.mark.parametrize("streamed", [False, True], ids=["run", "run_stream"])
def test_halt_stops_the_run_before_the_next_batch_of_tool_calls(make_pipeline, streamed):
    make_pipeline(action="halt")
    calls: list[str] = []
    with pytest.raises(AgentHalted) as halted:
        run(support_agent(calls, 8), streamed)
    assert halted.value.detection.severity.value == "critical"
    assert len(calls) == 5, "the sixth call, in a run already critical, never ran"


def test_halt_stops_a_whole_batch_of_parallel_calls(make_pipeline):
    make_pipeline(action="halt")
    calls: list[str] = []
    with pytest.raises(AgentHalted):
        run(support_agent(calls, 4, per_turn=3))
    assert len(calls) == 6, "two batches of three ran; none of the third"


def test_in_a_team_the_loop_is_flagged_but_the_run_is_not_stopped(make_pipeline):
    """A team's runtime stores a member's BaseException and the team's run then waits
    forever: a team member is not halted (the run completes), only flagged."""
    pipeline = make_pipeline(action="halt")
    calls: list[str] = []
    team = RoundRobinGroupChat([support_agent(calls, 6)], max_turns=1)
    result = asyncio.run(asyncio.wait_for(team.run(task=TASK), 60))
    assert result.messages[-1].content == ANSWER
    assert len(calls) == 6
    tools = pipeline.spans("execute_tool lookup_order")
    assert tools[-1].attributes["agentwatch.severity"] == "critical"


@pytest.mark.parametrize("action", ["observe", "halt"])
def test_beside_openinference_each_call_is_one_step_and_halt_still_acts(make_pipeline, action):
    """OpenInference's AutoGen instrumentor puts a tool span of its own around AutoGen's:
    the inner one is part of the same call, so each call is one step, flagged."""
    oi = pytest.importorskip("openinference.instrumentation.autogen_agentchat")
    theirs = oi.AutogenAgentChatInstrumentor()
    pipeline = make_pipeline(action=action)
    theirs.instrument(tracer_provider=None)
    try:
        calls: list[str] = []
        if action == "halt":
            with pytest.raises(AgentHalted):
                run(support_agent(calls, 8))
            assert len(calls) == 5
        else:
            run(support_agent(calls, 6))
            assert len(calls) == 6
        tools = [s for s in pipeline.spans()
                 if s.attributes.get("openinference.span.kind") == "TOOL"]
        assert len(tools) == len(calls) == len(pipeline.recorder.of(StepKind.TOOL))
        assert [s.attributes.get("agentwatch.severity") for s in tools][:5] == [
            None, None, "warning", "warning", "critical"]
    finally:
        theirs.uninstrument()
