"""The OpenAI Agents SDK, run offline: its real Runner and OpenAI model classes, the real
OpenAI client against the scripted server on 127.0.0.1."""

from __future__ import annotations

import asyncio

import pytest

agents = pytest.importorskip("agents")

import openai  # noqa: E402

from otel_agentwatch import AgentHalted, Config, StepKind  # noqa: E402
from otel_agentwatch.instrumentation.openai_agents import OpenAIAgentsInstrumentor  # noqa: E402
from tests.nudging import notes, nudged  # noqa: E402
from tests.scripted_server import response, response_events  # noqa: E402
from tests.sdk_fixtures import Instrumented, pipelines  # noqa: E402

ARGS = '{"order_id": "A-1042"}'


@pytest.fixture
def make_pipeline():
    # The SDK's default processor exports to OpenAI's dashboard: not offline.
    with pipelines(OpenAIAgentsInstrumentor,
                   prepare=lambda: agents.set_trace_processors([])) as make:
        yield make


def support_agent(server, calls: list[str], streaming: bool = False):
    @agents.function_tool
    def lookup_order(order_id: str) -> str:
        """Look up an order's status."""
        calls.append(order_id)
        return f"order {order_id}: status unknown"

    client = openai.AsyncOpenAI(base_url=server.url, api_key="test", max_retries=0)
    return agents.Agent(
        name="support", instructions="Answer questions about orders.", tools=[lookup_order],
        model=agents.OpenAIResponsesModel(model="gpt-5", openai_client=client))


def script_loop(server, lookups: int, streaming: bool = False) -> None:
    replies = [response(None, [(f"call_{turn}", "lookup_order", ARGS)], id_=f"resp_{turn}")
               for turn in range(lookups)] + [response("The order's status is unknown.")]
    server.script(*(response_events(reply) for reply in replies) if streaming else replies)


def test_a_looping_run_is_one_trace_flagged_on_its_tool_and_agent_spans(server, make_pipeline):
    pipeline = make_pipeline()
    calls: list[str] = []
    script_loop(server, 6)
    result = agents.Runner.run_sync(support_agent(server, calls), "Where is order A-1042?")
    assert result.final_output == "The order's status is unknown."
    [agent] = pipeline.spans("invoke_agent")
    tools, chats = pipeline.spans("execute_tool lookup_order"), pipeline.spans("chat")
    assert len(calls) == len(tools) == 6
    assert len(chats) == 7, "one span per model call: the SDK's, not a second one of ours"
    assert {s.context.trace_id for s in (agent, *tools, *chats)} == {agent.context.trace_id}
    assert all(s.parent.span_id == agent.context.span_id for s in (*tools, *chats))
    assert [s.attributes.get("agentwatch.severity") for s in tools] == [
        None, None, "warning", "warning", "critical", "critical"]
    assert agent.attributes["agentwatch.run.severity"] == "critical"
    assert chats[0].name == "chat gpt-5-2025-08-07"
    assert chats[0].attributes["gen_ai.usage.input_tokens"] == 20
    # Content stays in the process by default.
    assert "gen_ai.tool.call.arguments" not in tools[0].attributes


def test_content_goes_on_the_spans_only_with_capture_on(server, make_pipeline):
    pipeline = make_pipeline(capture_content=True)
    script_loop(server, 1)
    agents.Runner.run_sync(support_agent(server, []), "Where is order A-1042?")
    [tool] = pipeline.spans("execute_tool")
    assert tool.attributes["gen_ai.tool.call.arguments"] == ARGS
    assert tool.attributes["gen_ai.tool.call.result"] == "order A-1042: status unknown"


@pytest.mark.parametrize("mode", ["sync", "async", "streamed"])
def test_halt_stops_the_run_before_the_tool_runs_again(server, make_pipeline, mode):
    pipeline = make_pipeline(action="halt")
    calls: list[str] = []
    script_loop(server, 8, streaming=mode == "streamed")
    agent = support_agent(server, calls)

    async def run_async():
        return await agents.Runner.run(agent, "Where is order A-1042?")

    async def run_streamed():
        streamed = agents.Runner.run_streamed(agent, "Where is order A-1042?")
        async for _event in streamed.stream_events():
            pass
        return streamed

    with pytest.raises(AgentHalted) as halted:
        if mode == "sync":
            agents.Runner.run_sync(agent, "Where is order A-1042?")
        else:
            asyncio.run(run_async() if mode == "async" else run_streamed())
    assert halted.value.detection.severity.value == "critical"
    assert len(calls) == 5, "the sixth call, in a run already critical, never ran"
    assert pipeline.spans("invoke_agent"), "the agent span still ends and is exported"


# Other instrumentations that mirror the SDK: (module, how their tool spans are marked).
MIRRORS = {
    "openinference": ("openinference.instrumentation.openai_agents",
                      ("openinference.span.kind", "TOOL")),
    "openllmetry": ("opentelemetry.instrumentation.openai_agents",
                    ("traceloop.span.kind", "tool")),
}


@pytest.mark.parametrize("order", ["theirs first", "ours first"])
@pytest.mark.parametrize("action", ["observe", "halt", "nudge"])
@pytest.mark.parametrize("other", sorted(MIRRORS))
def test_beside_another_mirror_each_call_is_one_step_and_halt_still_acts(server, make_pipeline,
                                                                         other, action, order):
    """OpenInference's and OpenLLMetry's instrumentors mirror the SDK too: their spans are
    the steps (ours stand aside), the loop is flagged on them, and halt still stops the
    run through them, whichever is instrumented first (OpenInference's replaces the SDK's
    processors with its own: ours is added back behind it); nudge still tells the model."""
    module, (kind_key, tool_kind) = MIRRORS[other]
    theirs = pytest.importorskip(module).OpenAIAgentsInstrumentor()
    agents.set_trace_processors([])
    pipeline = Instrumented(Config(action=action))
    ours = OpenAIAgentsInstrumentor()
    if order == "theirs first":
        theirs.instrument(tracer_provider=pipeline.provider)
    assert ours.instrument(tracer_provider=pipeline.provider, config=pipeline.config)
    if order == "ours first":
        theirs.instrument(tracer_provider=pipeline.provider)
    pipeline.instrumentors.append(ours)
    try:
        calls: list[str] = []
        script_loop(server, 6)
        if action == "halt":
            with pytest.raises(AgentHalted):
                agents.Runner.run_sync(support_agent(server, calls), "Where is A-1042?")
            assert len(calls) == 5
        else:
            agents.Runner.run_sync(support_agent(server, calls), "Where is A-1042?")
            assert len(calls) == 6
        told = [index for index, _ in notes(server.requests)]
        assert told == ([3, 5] if action == "nudge" else [])
        tools = [s for s in pipeline.spans() if s.attributes.get(kind_key) == tool_kind]
        assert len(tools) == len(calls)
        assert not pipeline.spans("execute_tool") and not pipeline.spans("invoke_agent"), \
            "no second span of ours for the same call"
        assert len(pipeline.recorder.of(StepKind.TOOL)) == len(calls)
        assert [s.attributes.get("agentwatch.severity") for s in tools][:5] == [
            None, None, "warning", "warning", "critical"]
    finally:
        theirs.uninstrument()
        pipeline.close()


class ScriptedModel(agents.Model):
    """A model of the application's own (no OpenAI client, so no SDK call to halt at):
    asks for ``lookup_order`` ``lookups`` times, then answers."""

    def __init__(self, lookups: int) -> None:
        self.turns = 0
        self.lookups = lookups

    async def get_response(self, *args, **kwargs) -> agents.ModelResponse:
        from openai.types.responses import (
            ResponseFunctionToolCall,
            ResponseOutputMessage,
            ResponseOutputText,
        )

        self.turns += 1
        if self.turns <= self.lookups:
            item = ResponseFunctionToolCall(type="function_call", name="lookup_order",
                                            call_id=f"call_{self.turns}", arguments=ARGS)
        else:
            item = ResponseOutputMessage(
                id="msg", type="message", role="assistant", status="completed",
                content=[ResponseOutputText(type="output_text", text="unknown",
                                            annotations=[])])
        return agents.ModelResponse(output=[item], usage=agents.Usage(), response_id=None)

    def stream_response(self, *args, **kwargs):
        raise NotImplementedError


def test_openinference_instrumented_after_ours_does_not_take_the_halt_away(make_pipeline):
    """OpenInference's instrumentor replaces the SDK's processors with its own: ours is
    added back behind it, so the function span still halts a run whose model is not an
    OpenAI client (no SDK call to halt at)."""
    oi = pytest.importorskip("openinference.instrumentation.openai_agents")
    pipeline = make_pipeline(action="halt")
    theirs = oi.OpenAIAgentsInstrumentor()
    theirs.instrument(tracer_provider=pipeline.provider)
    try:
        calls: list[str] = []

        @agents.function_tool
        def lookup_order(order_id: str) -> str:
            """Look up an order's status."""
            calls.append(order_id)
            return f"order {order_id}: status unknown"

        agent = agents.Agent(name="support", tools=[lookup_order], model=ScriptedModel(8))
        with pytest.raises(AgentHalted):
            agents.Runner.run_sync(agent, "Where is order A-1042?")
        assert len(calls) == 5
    finally:
        theirs.uninstrument()


@pytest.mark.parametrize("mode", ["sync", "async", "streamed"])
def test_nudge_tells_the_model_through_the_openai_client(server, make_pipeline, mode):
    """The SDK calls the real client, so the note goes into its next request (the 4th,
    after the 3rd lookup warned; the 6th after the 5th went critical), on that call's
    span; the SDK's own history never holds it."""
    pipeline = make_pipeline(action="nudge")
    calls: list[str] = []
    script_loop(server, 6, streaming=mode == "streamed")
    agent = support_agent(server, calls)

    async def run_streamed():
        streamed = agents.Runner.run_streamed(agent, "Where is order A-1042?")
        async for _event in streamed.stream_events():
            pass
        return streamed

    if mode == "sync":
        agents.Runner.run_sync(agent, "Where is order A-1042?")
    elif mode == "async":
        asyncio.run(agents.Runner.run(agent, "Where is order A-1042?"))
    else:
        asyncio.run(run_streamed())
    told = notes(server.requests)
    assert [index for index, _ in told] == [3, 5]
    assert "lookup_order called 3 times" in told[0][1]
    assert nudged(pipeline.spans("chat")) == [3, 5]
    assert len(calls) == 6  # told, not stopped: this scripted model pays no attention
