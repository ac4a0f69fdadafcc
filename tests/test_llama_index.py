"""LlamaIndex, run offline: its real workflow agents (FunctionAgent with its own
MockFunctionCallingLLM, ReActAgent with a scripted text LLM, AgentWorkflow), awaited and
streamed."""

from __future__ import annotations

import asyncio
import itertools
from typing import Any

import pytest

pytest.importorskip("llama_index.core.agent.workflow")

from llama_index.core.agent.workflow import (
    AgentWorkflow,
    FunctionAgent,
    ReActAgent,
)
from llama_index.core.base.llms.types import (
    ChatMessage,
    MessageRole,
    ToolCallBlock,
)
from llama_index.core.llms import (
    CompletionResponse,
    CompletionResponseGen,
    CustomLLM,
    LLMMetadata,
)
from llama_index.core.llms.callbacks import llm_completion_callback
from llama_index.core.llms.mock import MockFunctionCallingLLM

from otel_agentwatch import AgentHalted, StepKind
from otel_agentwatch.instrumentation.llama_index import LlamaIndexInstrumentor
from tests.sdk_fixtures import pipelines

QUESTION = "Where is order A-1042?"
ANSWER = "The order's status is unknown."
_ids = itertools.count()


@pytest.fixture
def make_pipeline():
    with pipelines(LlamaIndexInstrumentor) as make:
        yield make


def lookup_tool(calls: list[str]):
    def lookup_order(order_id: str) -> str:
        """Look up an order's status."""
        calls.append(order_id)
        return f"order {order_id}: status unknown"

    return lookup_order


def function_llm(lookups: int) -> MockFunctionCallingLLM:
    """Asks for lookup_order until the conversation holds ``lookups`` tool results."""

    def reply(messages: list[ChatMessage], **kwargs: Any) -> ChatMessage:
        answered = sum(1 for message in messages if message.role == MessageRole.TOOL)
        if answered < lookups:
            return ChatMessage(role=MessageRole.ASSISTANT, blocks=[ToolCallBlock(
                tool_call_id=f"call_{next(_ids)}", tool_name="lookup_order",
                tool_kwargs={"order_id": "A-1042"})])
        return ChatMessage(role=MessageRole.ASSISTANT, content=ANSWER)

    return MockFunctionCallingLLM(response_generator=reply, is_chat_model=True)


class ReActScript(CustomLLM):
    """ReAct as text: "Action: lookup_order" until ``lookups`` observations, then an answer."""

    lookups: int = 6

    @property
    def metadata(self) -> LLMMetadata:
        return LLMMetadata(model_name="scripted-react", is_chat_model=False)

    def _reply(self, prompt: str) -> str:
        if prompt.count("user: Observation:") < self.lookups:  # the results so far
            return ('Thought: I need to look up the order.\nAction: lookup_order\n'
                    'Action Input: {"order_id": "A-1042"}')
        return f"Thought: I can answer without using any more tools.\nAnswer: {ANSWER}"

    @llm_completion_callback()
    def complete(self, prompt: str, formatted: bool = False, **kwargs: Any) -> CompletionResponse:
        return CompletionResponse(text=self._reply(prompt))

    @llm_completion_callback()
    def stream_complete(self, prompt: str, formatted: bool = False,
                        **kwargs: Any) -> CompletionResponseGen:
        text = self._reply(prompt)

        def pieces() -> CompletionResponseGen:
            so_far = ""
            for piece in text.splitlines(keepends=True):
                so_far += piece
                yield CompletionResponse(text=so_far, delta=piece)

        return pieces()


def build(kind: str, calls: list[str], lookups: int):
    tools = [lookup_tool(calls)]
    if kind == "function":
        return FunctionAgent(name="support", tools=tools, llm=function_llm(lookups))
    if kind == "react":
        return ReActAgent(name="support", tools=tools, llm=ReActScript(lookups=lookups))
    return AgentWorkflow(agents=[FunctionAgent(name="support", description="orders",
                                               tools=tools, llm=function_llm(lookups))])


def run(agent, streamed: bool = False) -> str:
    async def go() -> str:
        handler = agent.run(user_msg=QUESTION)
        if streamed:
            async for _event in handler.stream_events():
                pass
        return str(await handler)

    return asyncio.run(go())


KINDS = ["function", "react", "workflow"]


@pytest.mark.parametrize("streamed", [False, True], ids=["awaited", "streamed"])
@pytest.mark.parametrize("kind", KINDS)
def test_a_looping_run_is_flagged_on_its_tool_and_agent_spans(make_pipeline, kind, streamed):
    pipeline = make_pipeline()
    calls: list[str] = []
    assert ANSWER in run(build(kind, calls, 6), streamed)
    [agent] = pipeline.spans("invoke_agent support")
    tools = pipeline.spans("execute_tool lookup_order")
    assert len(calls) == len(tools) == 6
    assert {s.context.trace_id for s in tools} == {agent.context.trace_id}
    assert [s.attributes.get("agentwatch.severity") for s in tools] == [
        None, None, "warning", "warning", "critical", "critical"]
    assert agent.attributes["agentwatch.run.severity"] == "critical"
    assert "gen_ai.tool.call.arguments" not in tools[0].attributes
    [step, *_] = pipeline.recorder.of(StepKind.TOOL)
    assert step.args == {"order_id": "A-1042"}
    assert pipeline.recorder.objectives[:1] == [QUESTION]


def test_content_goes_on_the_spans_only_with_capture_on(make_pipeline):
    pipeline = make_pipeline(capture_content=True)
    run(build("function", [], 1))
    [tool] = pipeline.spans("execute_tool")
    assert tool.attributes["gen_ai.tool.call.arguments"] == '{"order_id": "A-1042"}'
    assert tool.attributes["gen_ai.tool.call.result"] == "order A-1042: status unknown"


def test_a_run_that_does_not_loop_is_not_flagged(make_pipeline):
    pipeline = make_pipeline()
    run(build("react", [], 2))
    assert not [s.name for s in pipeline.spans() if s.attributes.get("agentwatch.flagged")]


@pytest.mark.parametrize("streamed", [False, True], ids=["awaited", "streamed"])
@pytest.mark.parametrize("kind", KINDS)
def test_halt_stops_the_run_before_the_tool_runs_again(make_pipeline, kind, streamed):
    """``await handler`` raises the halt; so does the event stream, which would otherwise
    wait forever for the stop event a halted run never publishes."""
    pipeline = make_pipeline(action="halt")
    calls: list[str] = []
    with pytest.raises(AgentHalted) as halted:
        asyncio.run(asyncio.wait_for(_run_async(build(kind, calls, 8), streamed), 60))
    assert halted.value.detection.severity.value == "critical"
    assert len(calls) == 5, "the sixth call, in a run already critical, never ran"
    [agent] = pipeline.spans("invoke_agent support")
    assert agent.status.status_code.name == "ERROR"


async def _run_async(agent, streamed: bool) -> str:
    handler = agent.run(user_msg=QUESTION)
    if streamed:
        async for _event in handler.stream_events():
            pass
    return str(await handler)


@pytest.mark.parametrize("order", ["theirs first", "ours first"])
def test_beside_openinference_each_call_is_one_step_and_halt_still_acts(make_pipeline, order):
    """OpenInference's LlamaIndex instrumentor traces through LlamaIndex's dispatcher: its
    tool span is the call's (ours stands aside), flagged, and halting still works."""
    oi = pytest.importorskip("openinference.instrumentation.llama_index")
    theirs = oi.LlamaIndexInstrumentor()
    pipeline = make_pipeline(action="halt")
    theirs.instrument(tracer_provider=pipeline.provider)
    try:
        calls: list[str] = []
        with pytest.raises(AgentHalted):
            run(build("function", calls, 8))
        assert len(calls) == 5
        assert len(pipeline.recorder.of(StepKind.TOOL)) == 5
        theirs_tools = [s for s in pipeline.spans()
                        if s.attributes.get("openinference.span.kind") == "TOOL"]
        assert len(theirs_tools) == 5
        assert not pipeline.spans("execute_tool"), "no second span of ours for the same call"
        assert [s.attributes.get("agentwatch.severity") for s in theirs_tools] == [
            None, None, "warning", "warning", "critical"]
    finally:
        theirs.uninstrument()
