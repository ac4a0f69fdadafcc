"""pydantic-ai, run offline: its real Agent with its own FunctionModel (sync, async and
streamed runs), and its OpenAI model class with the real OpenAI client against the scripted
server on 127.0.0.1."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

import pytest

pydantic_ai = pytest.importorskip("pydantic_ai")

from pydantic_ai import Agent  # noqa: E402
from pydantic_ai.messages import ModelResponse, TextPart, ToolCallPart  # noqa: E402
from pydantic_ai.models.function import AgentInfo, DeltaToolCall, FunctionModel  # noqa: E402

from otel_agentwatch import AgentHalted, StepKind  # noqa: E402
from otel_agentwatch.instrumentation.pydantic_ai import PydanticAIInstrumentor  # noqa: E402
from tests.nudging import notes, nudged  # noqa: E402
from tests.scripted_server import chat_chunks, chat_completion  # noqa: E402
from tests.sdk_fixtures import pipelines  # noqa: E402

ARGS = {"order_id": "A-1042"}
QUESTION = "Where is order A-1042?"


@pytest.fixture
def make_pipeline():
    with pipelines(PydanticAIInstrumentor) as make:
        yield make


def looping_model(lookups: int, per_turn: int = 1) -> FunctionModel:
    """A model that asks for ``lookup_order`` (``per_turn`` calls at once) ``lookups``
    times, then answers; the same script whole and streamed."""
    turns = {"n": 0}

    def next_turn() -> list[tuple[str, dict]] | str:
        turns["n"] += 1
        if turns["n"] > lookups:
            return "The order's status is unknown."
        return [(f"call_{turns['n']}_{i}", ARGS) for i in range(per_turn)]

    def whole(messages: list, info: AgentInfo) -> ModelResponse:
        turn = next_turn()
        if isinstance(turn, str):
            return ModelResponse(parts=[TextPart(turn)])
        return ModelResponse(parts=[ToolCallPart("lookup_order", args, tool_call_id=call_id)
                                    for call_id, args in turn])

    async def streamed(messages: list, info: AgentInfo) -> AsyncIterator:
        turn = next_turn()
        if isinstance(turn, str):
            for word in turn.split(" "):
                yield word + " "
            return
        yield {index: DeltaToolCall(name="lookup_order", json_args='{"order_id": "A-1042"}',
                                    tool_call_id=call_id)
               for index, (call_id, _args) in enumerate(turn)}

    return FunctionModel(whole, stream_function=streamed)


def support_agent(model, calls: list[str]) -> Agent:
    agent = Agent(model, name="support", instructions="Answer questions about orders.")

    @agent.tool_plain
    def lookup_order(order_id: str) -> str:
        """Look up an order's status."""
        calls.append(order_id)
        return f"order {order_id}: status unknown"

    return agent


def run(agent: Agent, mode: str):
    """Run the agent to its end: ``sync``, ``async`` or ``streamed``."""
    if mode == "sync":
        return agent.run_sync(QUESTION).output

    async def run_async():
        return (await agent.run(QUESTION)).output

    async def run_streamed():
        async with agent.run_stream(QUESTION) as streamed:
            return await streamed.get_output()

    return asyncio.run(run_async() if mode == "async" else run_streamed())


@pytest.mark.parametrize("mode", ["sync", "async", "streamed"])
def test_a_looping_run_is_flagged_on_its_tool_and_agent_spans(make_pipeline, mode):
    pipeline = make_pipeline()
    calls: list[str] = []
    assert run(support_agent(looping_model(6), calls), mode).strip() == \
        "The order's status is unknown."
    [agent] = pipeline.spans("invoke_agent support")
    tools, chats = pipeline.spans("execute_tool lookup_order"), pipeline.spans("chat")
    assert len(calls) == len(tools) == 6
    assert len(chats) == 7
    assert {s.context.trace_id for s in (*tools, *chats)} == {agent.context.trace_id}
    assert all(s.parent.span_id == agent.context.span_id for s in (*tools, *chats))
    assert [s.attributes.get("agentwatch.severity") for s in tools] == [
        None, None, "warning", "warning", "critical", "critical"]
    assert agent.attributes["agentwatch.run.severity"] == "critical"
    assert agent.attributes["agentwatch.run.tool_calls"] == 6
    # Content stays in the process by default: the detectors had the arguments, the
    # spans do not.
    assert "gen_ai.tool.call.arguments" not in tools[0].attributes
    assert "gen_ai.tool.call.result" not in tools[0].attributes
    recorded = pipeline.recorder.of(StepKind.TOOL)
    assert len(recorded) == 6 and recorded[0].args == ARGS


def test_the_run_prompt_and_model_replies_reach_the_detectors_without_capture(make_pipeline):
    pipeline = make_pipeline()
    run(support_agent(looping_model(1), []), "sync")
    [agent] = pipeline.spans("invoke_agent")
    assert "gen_ai.input.messages" not in agent.attributes
    llm = pipeline.recorder.of(StepKind.LLM)
    assert llm[-1].output_text == "The order's status is unknown."
    assert pipeline.recorder.objectives == [QUESTION]


def test_content_goes_on_the_spans_only_with_capture_on(make_pipeline):
    pipeline = make_pipeline(capture_content=True)
    run(support_agent(looping_model(1), []), "sync")
    [tool] = pipeline.spans("execute_tool")
    assert tool.attributes["gen_ai.tool.call.arguments"] == '{"order_id":"A-1042"}'
    assert tool.attributes["gen_ai.tool.call.result"] == "order A-1042: status unknown"


def test_a_run_that_does_not_loop_is_not_flagged(make_pipeline):
    pipeline = make_pipeline()
    run(support_agent(looping_model(2), []), "sync")
    assert not [s.name for s in pipeline.spans() if s.attributes.get("agentwatch.flagged")]
    [agent] = pipeline.spans("invoke_agent")
    assert "agentwatch.run.flagged" not in agent.attributes


@pytest.mark.parametrize("mode", ["sync", "async", "streamed"])
def test_halt_stops_the_run_before_the_tool_runs_again(make_pipeline, mode):
    pipeline = make_pipeline(action="halt")
    calls: list[str] = []
    with pytest.raises(AgentHalted) as halted:
        run(support_agent(looping_model(8), calls), mode)
    assert halted.value.detection.severity.value == "critical"
    assert len(calls) == 5, "the sixth call, in a run already critical, never ran"
    assert pipeline.spans("invoke_agent"), "the run span still ends and is exported"
    sixth = pipeline.spans("execute_tool")[5]
    assert sixth.status.status_code.name == "ERROR"
    assert [e.attributes["exception.type"] for e in sixth.events if e.name == "exception"] \
        == ["otel_agentwatch.control.AgentHalted"]


def test_halt_with_tool_calls_in_parallel_reaches_the_caller(make_pipeline):
    """pydantic-ai runs one response's tool calls concurrently; the halt still arrives as
    AgentHalted itself, not wrapped in an exception group."""
    pipeline = make_pipeline(action="halt")
    calls: list[str] = []
    with pytest.raises(AgentHalted):
        run(support_agent(looping_model(4, per_turn=2), calls), "sync")
    assert len(calls) < 8
    assert pipeline.spans("invoke_agent")


def test_one_chat_span_per_request_through_the_openai_client(server, make_pipeline):
    """pydantic-ai's OpenAI model calls the real client: pydantic-ai's chat span is the
    call's span, and our OpenAI instrumentation makes no second one."""
    openai = pytest.importorskip("openai")
    from pydantic_ai.models.openai import OpenAIChatModel
    from pydantic_ai.providers.openai import OpenAIProvider

    pipeline = make_pipeline()
    server.script(*[chat_completion(None, [(f"call_{n}", "lookup_order", '{"order_id": "A-1042"}')])
                    for n in range(5)], chat_completion("The order's status is unknown."))
    client = openai.AsyncOpenAI(base_url=server.url, api_key="test", max_retries=0)
    model = OpenAIChatModel("gpt-4o", provider=OpenAIProvider(openai_client=client))
    calls: list[str] = []
    run(support_agent(model, calls), "sync")
    chats = pipeline.spans("chat")
    assert len(chats) == 6 and len(calls) == 5
    assert all(s.attributes["gen_ai.request.model"] == "gpt-4o" for s in chats)
    assert chats[0].attributes["gen_ai.usage.input_tokens"] == 12
    assert [s.attributes.get("agentwatch.severity")
            for s in pipeline.spans("execute_tool")] == [
        None, None, "warning", "warning", "critical"]


@pytest.mark.parametrize("order", ["theirs first", "ours first"])
@pytest.mark.parametrize("action", ["observe", "halt"])
def test_beside_openinference_each_call_is_one_step_and_halt_still_acts(make_pipeline, order,
                                                                        action):
    """OpenInference's pydantic-ai support is a span processor that adds its attributes to
    pydantic-ai's spans as they end: each call is still one span and one step, flagged,
    and halted. (Registered after ours, its attributes come too late for the exporter
    behind our processor: that order is the application's choice.)"""
    oi = pytest.importorskip("openinference.instrumentation.pydantic_ai")
    theirs = oi.OpenInferenceSpanProcessor()
    pipeline = make_pipeline(before=[theirs] if order == "theirs first" else (),
                             action=action)
    if order == "ours first":
        pipeline.provider.add_span_processor(theirs)
    calls: list[str] = []
    if action == "halt":
        with pytest.raises(AgentHalted):
            run(support_agent(looping_model(6), calls), "sync")
        assert len(calls) == 5
    else:
        run(support_agent(looping_model(6), calls), "sync")
        assert len(calls) == 6
    tools = pipeline.spans("execute_tool")
    assert len(tools) == len(calls) + (action == "halt")
    if order == "theirs first":
        assert all(s.attributes.get("openinference.span.kind") == "TOOL" for s in tools)
    assert len(pipeline.recorder.of(StepKind.TOOL)) == len(tools)
    assert [s.attributes.get("agentwatch.severity") for s in tools][:5] == [
        None, None, "warning", "warning", "critical"]


def test_uninstrument_restores_pydantic_ais_default(make_pipeline):
    pipeline = make_pipeline()
    [instrumentor] = [i for i in pipeline.instrumentors if isinstance(i, PydanticAIInstrumentor)]
    instrumentor.uninstrument()
    run(support_agent(looping_model(1), []), "sync")
    assert not pipeline.spans(), "pydantic-ai's own default (no tracing) is back"


def test_an_application_that_set_its_own_instrumentation_keeps_it(make_pipeline):
    from pydantic_ai.models.instrumented import InstrumentationSettings

    settings = InstrumentationSettings(include_content=True)
    Agent.instrument_all(settings)
    try:
        make_pipeline()
        assert Agent._instrument_default is settings
    finally:
        Agent.instrument_all(False)


@pytest.mark.parametrize(("mode", "beside"), [("sync", None), ("async", None),
                                              ("streamed", None), ("sync", "openinference")])
def test_nudge_tells_the_model_through_the_openai_client(server, make_pipeline, mode, beside):
    """pydantic-ai's OpenAI model calls the real client: the note goes into its next
    request, never into the agent's message history; the same with OpenInference's span
    processor ahead of ours."""
    openai = pytest.importorskip("openai")
    from pydantic_ai.models.openai import OpenAIChatModel
    from pydantic_ai.providers.openai import OpenAIProvider

    before = [pytest.importorskip("openinference.instrumentation.pydantic_ai")
              .OpenInferenceSpanProcessor()] if beside else ()
    pipeline = make_pipeline(action="nudge", before=before)
    reply = chat_completion if mode != "streamed" else chat_chunks
    server.script(*[reply(None if mode != "streamed" else "", [
        (f"call_{n}", "lookup_order", '{"order_id": "A-1042"}')]) for n in range(5)],
                  reply("The order's status is unknown."))
    client = openai.AsyncOpenAI(base_url=server.url, api_key="test", max_retries=0)
    model = OpenAIChatModel("gpt-4o", provider=OpenAIProvider(openai_client=client))
    run(support_agent(model, []), mode)
    assert [index for index, _ in notes(server.requests)] == [3, 5]
    assert nudged(pipeline.spans("chat")) == [3, 5]
