"""CrewAI, run offline: its real Crew, Agent and tools, the model reached through CrewAI's
own OpenAI provider (the real ``openai`` client) against the scripted server. CrewAI pins
pydantic below what the test extras resolve to, so these run in an environment of their
own (``.ci/run``); elsewhere they are skipped."""

from __future__ import annotations

import asyncio
import importlib.util
import json
import os
import tempfile

import pytest

if importlib.util.find_spec("crewai") is None:
    pytest.skip("crewai is not installed here (it has an environment of its own)",
                allow_module_level=True)

# Before CrewAI is imported: no telemetry to CrewAI's servers (it would delay the exit of
# the test process), no tracing prompt, and the files a kickoff writes kept out of $HOME.
_HOME = tempfile.mkdtemp(prefix="agentwatch-crewai-")
os.environ.update(CREWAI_DISABLE_TELEMETRY="true", CREWAI_TRACING_ENABLED="false",
                  HOME=_HOME, XDG_DATA_HOME=_HOME)
os.environ.pop("OPENAI_API_KEY", None)

from crewai import LLM, Agent, Crew, Task  # noqa: E402
from crewai.tools import tool  # noqa: E402

from otel_agentwatch import AgentHalted, Config, StepKind  # noqa: E402
from otel_agentwatch.instrumentation.crewai import CrewAIInstrumentor  # noqa: E402
from tests.nudging import notes, nudged  # noqa: E402
from tests.scripted_server import chat_completion  # noqa: E402
from tests.sdk_fixtures import beside, pipelines  # noqa: E402

ROLE = "Support agent"
ARGS = json.dumps({"order_id": "A-1042"})
ANSWER = "Order A-1042 is in transit."
KICKOFFS = ["kickoff", "kickoff_async", "akickoff"]


@pytest.fixture
def make_pipeline():
    with pipelines(CrewAIInstrumentor) as make:
        yield make


def lookup_tool(calls: list[str], same_result: bool = False):
    @tool("lookup_order")
    def lookup_order(order_id: str) -> str:
        """Look up an order by its id and return its status."""
        calls.append(order_id)
        # A result that changes each time: CrewAI's own guard, which stops the 5th call
        # that also returned the same result, stays out of the way.
        return f"Order {order_id}: in transit" + ("" if same_result else f" (#{len(calls)})")

    return lookup_order


def script(server, lookups: int, react: bool = False) -> None:
    if react:
        for index in range(lookups):
            server.script(chat_completion(
                "Thought: I should look the order up.\nAction: lookup_order\n"
                f'Action Input: {{"order_id": "A-{1042 + index}"}}', model="o1-mini"))
        server.script(chat_completion(f"Thought: I now know the final answer\n"
                                      f"Final Answer: {ANSWER}", model="o1-mini"))
        return
    server.script(*[chat_completion(None, [(f"call_{index}", "lookup_order", ARGS)],
                                    model="gpt-4o-mini") for index in range(lookups)],
                  chat_completion(ANSWER, model="gpt-4o-mini"))


def crew(server, calls: list[str], same_result: bool = False, react: bool = False) -> Crew:
    # Made after the pipeline is: CrewAI's OpenAI provider keeps the client method it
    # first calls, so an LLM made before instrumenting would stay untraced.
    llm = LLM(model="o1-mini" if react else "gpt-4o-mini", base_url=f"{server.url}/v1",
              api_key="test")
    agent = Agent(role=ROLE, goal="Answer order questions", backstory="You help customers.",
                  tools=[lookup_tool(calls, same_result)], llm=llm, max_iter=12)
    task = Task(description="Where is order A-1042?", expected_output="The order's status",
                agent=agent)
    return Crew(name="support crew", agents=[agent], tasks=[task])


def kickoff(team: Crew, how: str):
    if how == "kickoff":
        return team.kickoff()
    return asyncio.run(getattr(team, how)())


def assert_loop_flagged(pipeline, calls: list[str], count: int = 6) -> None:
    [workflow] = pipeline.spans("invoke_workflow support crew")
    [agent] = pipeline.spans(f"invoke_agent {ROLE}")
    tools = pipeline.spans("execute_tool lookup_order")
    assert len(tools) == len(calls) == count
    assert agent.parent.span_id == workflow.context.span_id
    assert all(s.parent.span_id == agent.context.span_id for s in tools)
    assert [s.attributes.get("agentwatch.severity") for s in tools] == [
        None, None, "warning", "warning", "critical", "critical"][:count]
    # The verdict is the agent's run's, not the crew's.
    assert agent.attributes["agentwatch.run.severity"] == "critical"
    assert "agentwatch.run.severity" not in workflow.attributes
    assert "gen_ai.tool.call.arguments" not in tools[0].attributes
    steps = [s for s in pipeline.recorder.of(StepKind.TOOL) if s.name == "lookup_order"]
    assert [s.args for s in steps] == [{"order_id": "A-1042"}] * count
    assert steps[0].result.startswith("Order A-1042: in transit")


@pytest.mark.parametrize("how", KICKOFFS)
def test_a_tool_loop_is_flagged_on_its_tool_and_agent_spans(server, make_pipeline, how):
    pipeline = make_pipeline()
    calls: list[str] = []
    script(server, 6)
    output = kickoff(crew(server, calls), how)
    assert output.raw == ANSWER
    assert_loop_flagged(pipeline, calls)
    # Each model request is one chat span (ours, through the openai client), no more.
    assert len(pipeline.spans("chat ")) == len(server.requests) == 7
    # The task is the agent's objective, for the detectors (not on the span).
    assert pipeline.recorder.objectives[:1] == ["Where is order A-1042?"]


@pytest.mark.parametrize("how", KICKOFFS)
def test_halt_stops_the_run_before_the_tool_runs_again(server, make_pipeline, how):
    pipeline = make_pipeline(action="halt")
    calls: list[str] = []
    script(server, 8)
    with pytest.raises(AgentHalted):
        kickoff(crew(server, calls), how)
    assert len(calls) == 5
    [agent] = pipeline.spans(f"invoke_agent {ROLE}")
    assert agent.status.status_code.name == "ERROR"


def test_crewai_s_own_guard_and_our_verdict_meet_at_the_fifth_call(server, make_pipeline):
    """The same result five times: CrewAI stops the run after the 5th call, which we
    flag critical first."""
    pipeline = make_pipeline()
    calls: list[str] = []
    script(server, 6)
    with pytest.raises(Exception, match="same arguments 5 times"):
        crew(server, calls, same_result=True).kickoff()
    assert_loop_flagged(pipeline, calls, count=5)


def test_tool_calls_written_as_text_are_steps_too(server, make_pipeline):
    """A model without function calling (ReAct text): CrewAI runs the tool through its
    structured tool; each call is one span and one step with its arguments."""
    pipeline = make_pipeline()
    calls: list[str] = []
    script(server, 2, react=True)
    assert crew(server, calls, react=True).kickoff().raw == ANSWER
    assert calls == ["A-1042", "A-1043"]
    assert len(pipeline.spans("execute_tool lookup_order")) == 2
    steps = [s for s in pipeline.recorder.of(StepKind.TOOL) if s.name == "lookup_order"]
    assert [s.args for s in steps] == [{"order_id": "A-1042"}, {"order_id": "A-1043"}]


def test_an_agent_on_its_own_is_a_run(server, make_pipeline):
    pipeline = make_pipeline()
    calls: list[str] = []
    script(server, 6)
    llm = LLM(model="gpt-4o-mini", base_url=f"{server.url}/v1", api_key="test")
    agent = Agent(role=ROLE, goal="Answer order questions", backstory="You help customers.",
                  tools=[lookup_tool(calls)], llm=llm, max_iter=12)
    agent.kickoff("Where is order A-1042?")
    [span] = pipeline.spans(f"invoke_agent {ROLE}")
    assert span.parent is None
    assert span.attributes["agentwatch.run.severity"] == "critical"
    assert len(calls) == 6


def test_content_goes_on_the_spans_only_with_capture_on(server, make_pipeline):
    pipeline = make_pipeline(capture_content=True)
    calls: list[str] = []
    script(server, 1)
    crew(server, calls).kickoff()
    [span] = pipeline.spans("execute_tool lookup_order")
    assert json.loads(span.attributes["gen_ai.tool.call.arguments"]) == {"order_id": "A-1042"}
    assert span.attributes["gen_ai.tool.call.result"].startswith("Order A-1042")


@pytest.mark.usefixtures("restored_context")
@pytest.mark.parametrize("order", ["theirs first", "ours first"])
@pytest.mark.parametrize("action", ["observe", "halt", "nudge"])
def test_beside_openinference_each_call_is_one_step_and_halt_still_acts(server, order,
                                                                        action):
    """OpenInference's CrewAI instrumentor wraps the tool's run and the task: each call is
    one step, the agent's run is one run, flagged, halting works, and so does nudging."""
    oi = pytest.importorskip("openinference.instrumentation.crewai")
    with beside(oi.CrewAIInstrumentor(), CrewAIInstrumentor, Config(action=action),
                order) as pipeline:
        calls: list[str] = []
        script(server, 8 if action == "halt" else 6)
        if action == "halt":
            with pytest.raises(AgentHalted):
                crew(server, calls).kickoff()
            assert len(calls) == 5
        else:
            crew(server, calls).kickoff()
            assert len(calls) == 6
        told = [index for index, _ in notes(server.requests)]
        assert told == ([3, 5] if action == "nudge" else [])
        steps = [s for s in pipeline.recorder.of(StepKind.TOOL) if s.name == "lookup_order"]
        assert len(steps) == len(calls)
        assert all(s.args == {"order_id": "A-1042"} for s in steps)
        agents = [s for s in pipeline.spans() if s.attributes.get("agentwatch.run.severity")]
        assert [s.attributes["agentwatch.run.severity"] for s in agents] == ["critical"]


@pytest.mark.parametrize("how", KICKOFFS)
def test_nudge_tells_the_agent_through_the_openai_client(server, make_pipeline, how):
    """CrewAI's OpenAI provider calls the real client: the note goes into its next
    request (the 4th, after the 3rd lookup warned; the 6th, after the 5th went critical)."""
    pipeline = make_pipeline(action="nudge")
    calls: list[str] = []
    script(server, 6)
    assert kickoff(crew(server, calls), how).raw == ANSWER
    told = notes(server.requests)
    assert [index for index, _ in told] == [3, 5]
    assert "lookup_order called 3 times" in told[0][1]
    assert nudged(pipeline.spans("chat ")) == [3, 5]
