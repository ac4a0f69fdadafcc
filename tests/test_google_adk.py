"""Google ADK, run offline: its real LlmAgent and InMemoryRunner with a scripted model (a
``BaseLlm`` subclass). ADK pins an older OpenTelemetry than the test extras, so these run
in an environment of their own (``.ci/run``); elsewhere they are skipped.

ADK traces through the global tracer provider: one whose only processor forwards to the
current test's pipeline (tests.sdk_fixtures.global_forward).
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncGenerator

import pytest

pytest.importorskip("google.adk")

from google.adk.agents import LlmAgent
from google.adk.agents.run_config import RunConfig, StreamingMode
from google.adk.models import BaseLlm, LlmRequest, LlmResponse
from google.adk.runners import InMemoryRunner
from google.genai import types

from otel_agentwatch import AgentHalted, StepKind
from otel_agentwatch.instrumentation.google_adk import GoogleADKInstrumentor
from tests.sdk_fixtures import Recorded, pipelines

QUESTION = "Where is order A-1042?"


@pytest.fixture
def make_pipeline():
    with pipelines(GoogleADKInstrumentor, base=Recorded, through_global=True) as make:
        yield make


class ScriptedModel(BaseLlm):
    """Asks for ``lookup_order`` until it has ``lookups`` answers, then answers. Counts
    the answers in the request, so it keeps no state of its own."""

    model: str = "scripted-model"
    lookups: int = 6

    async def generate_content_async(self, llm_request: LlmRequest, stream: bool = False,
                                     ) -> AsyncGenerator[LlmResponse, None]:
        answered = sum(1 for content in llm_request.contents for part in content.parts or ()
                       if part.function_response is not None)
        if answered < self.lookups:
            part = types.Part(function_call=types.FunctionCall(
                id=f"call_{answered}", name="lookup_order", args={"order_id": "A-1042"}))
        else:
            part = types.Part.from_text(text="The order's status is unknown.")
        if stream and part.text:
            yield LlmResponse(content=types.Content(
                role="model", parts=[types.Part.from_text(text="The order's ")]), partial=True)
        yield LlmResponse(
            content=types.Content(role="model", parts=[part]), partial=False,
            turn_complete=True,
            usage_metadata=types.GenerateContentResponseUsageMetadata(
                prompt_token_count=10, candidates_token_count=5, total_token_count=15))


def support_runner(calls: list[str], lookups: int = 6) -> InMemoryRunner:
    def lookup_order(order_id: str) -> dict:
        """Look up an order's status."""
        calls.append(order_id)
        return {"order_id": order_id, "status": "unknown"}

    agent = LlmAgent(name="support", model=ScriptedModel(lookups=lookups),
                     instruction="Answer questions about orders.", tools=[lookup_order])
    return InMemoryRunner(agent=agent, app_name="orders")


def run(runner: InMemoryRunner, mode: str) -> list:
    """Run to the end: ``async`` (run_async), ``sync`` (run) or ``streamed`` (SSE)."""
    message = types.Content(role="user", parts=[types.Part.from_text(text=QUESTION)])
    session = asyncio.run(runner.session_service.create_session(app_name="orders",
                                                                user_id="u"))
    if mode == "sync":
        return list(runner.run(user_id="u", session_id=session.id, new_message=message))
    config = RunConfig(streaming_mode=StreamingMode.SSE if mode == "streamed"
                       else StreamingMode.NONE)

    async def collect() -> list:
        return [event async for event in runner.run_async(
            user_id="u", session_id=session.id, new_message=message, run_config=config)]

    return asyncio.run(collect())


@pytest.mark.parametrize("mode", ["async", "sync", "streamed"])
def test_a_looping_run_is_flagged_on_its_tool_and_agent_spans(make_pipeline, mode):
    pipeline = make_pipeline()
    calls: list[str] = []
    run(support_runner(calls), mode)
    [agent] = pipeline.spans("invoke_agent support")
    tools = pipeline.spans("execute_tool lookup_order")
    assert len(calls) == len(tools) == 6
    assert {s.context.trace_id for s in tools} == {agent.context.trace_id}
    assert all(s.parent.span_id == agent.context.span_id for s in tools)
    assert [s.attributes.get("agentwatch.severity") for s in tools] == [
        None, None, "warning", "warning", "critical", "critical"]
    assert agent.attributes["agentwatch.run.severity"] == "critical"
    # ADK's spans carry no content by default; the detectors had it.
    assert "gen_ai.tool.call.arguments" not in tools[0].attributes
    steps = pipeline.recorder.of(StepKind.TOOL)
    assert len(steps) == 6 and steps[0].args == {"order_id": "A-1042"}
    assert pipeline.recorder.objectives[:1] == [QUESTION]


def test_content_goes_on_the_spans_only_with_capture_on(make_pipeline):
    pipeline = make_pipeline(capture_content=True)
    run(support_runner([], lookups=1), "async")
    [tool] = pipeline.spans("execute_tool")
    assert tool.attributes["gen_ai.tool.call.arguments"] == '{"order_id": "A-1042"}'
    assert tool.attributes["gen_ai.tool.call.result"] == \
        '{"order_id": "A-1042", "status": "unknown"}'


def test_a_run_that_does_not_loop_is_not_flagged(make_pipeline):
    pipeline = make_pipeline()
    run(support_runner([], lookups=2), "async")
    assert not [s.name for s in pipeline.spans() if s.attributes.get("agentwatch.flagged")]


@pytest.mark.parametrize("mode", ["async", "streamed"])
def test_halt_stops_the_run_before_the_tool_runs_again(make_pipeline, mode):
    pipeline = make_pipeline(action="halt")
    calls: list[str] = []
    with pytest.raises(AgentHalted) as halted:
        run(support_runner(calls, lookups=8), mode)
    assert halted.value.detection.severity.value == "critical"
    assert len(calls) == 5, "the sixth call, in a run already critical, never ran"
    assert pipeline.spans("invoke_agent support"), "the agent span still ends"


def test_halt_in_the_synchronous_runner_arrives_as_the_cause_of_its_runtime_error(
        make_pipeline):
    """``Runner.run`` turns any BaseException of the run into a RuntimeError."""
    make_pipeline(action="halt")
    calls: list[str] = []
    with pytest.raises(RuntimeError) as raised:
        run(support_runner(calls, lookups=8), "sync")
    assert isinstance(raised.value.__cause__, AgentHalted)
    assert len(calls) == 5


@pytest.mark.parametrize("action", ["observe", "halt"])
def test_beside_openinference_each_call_is_one_step_and_halt_still_acts(make_pipeline,
                                                                        action):
    """OpenInference's ADK instrumentor replaces ADK's tracers with its own: its tool spans
    carry both dialects; each call is one step, flagged, and halted."""
    oi = pytest.importorskip("openinference.instrumentation.google_adk")
    theirs = oi.GoogleADKInstrumentor()
    pipeline = make_pipeline(action=action)
    theirs.instrument(tracer_provider=pipeline.provider)
    try:
        calls: list[str] = []
        if action == "halt":
            with pytest.raises(AgentHalted):
                run(support_runner(calls, lookups=8), "async")
            assert len(calls) == 5
        else:
            run(support_runner(calls), "async")
            assert len(calls) == 6
        tools = pipeline.spans("execute_tool")
        assert all(s.attributes.get("openinference.span.kind") == "TOOL" for s in tools)
        # One step per call (and one for the halted call, whose span ends with the halt).
        assert len(pipeline.recorder.of(StepKind.TOOL)) == len(tools) == \
            len(calls) + (action == "halt")
        assert [s.attributes.get("agentwatch.severity") for s in tools][:5] == [
            None, None, "warning", "warning", "critical"]
    finally:
        theirs.uninstrument()


def test_uninstrument_leaves_new_runners_without_the_plugin(make_pipeline):
    pipeline = make_pipeline(action="halt")
    [instrumentor] = [i for i in pipeline.instrumentors if isinstance(i, GoogleADKInstrumentor)]
    instrumentor.uninstrument()
    calls: list[str] = []
    run(support_runner(calls, lookups=8), "async")
    assert len(calls) == 8, "not halted: the plugin is gone"
