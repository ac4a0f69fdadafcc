"""LangChain and LangGraph instrumentation, driven by real agents with a scripted chat model."""

from __future__ import annotations

import asyncio
import json
import logging
from collections.abc import Iterator
from pathlib import Path

import pytest
from langchain_core.language_models.fake_chat_models import GenericFakeChatModel
from langchain_core.messages import AIMessage, AIMessageChunk
from langchain_core.outputs import ChatGenerationChunk
from langchain_core.tools import BaseTool, tool
from langgraph.graph import END, START, MessagesState, StateGraph
from langgraph.prebuilt import ToolNode, tools_condition
from opentelemetry import trace
from opentelemetry.trace import SpanKind

from otel_agentwatch import AgentHalted, Config
from otel_agentwatch.instrumentation.langchain import LangChainInstrumentor
from tests.conftest import Pipeline

pytestmark = pytest.mark.frameworks  # needs the agent frameworks of the test extras

try:  # langchain 1.x: the agent a LangChain user builds today, named through lc_agent_name
    from langchain.agents import create_agent

    NAMED_AGENTS = True
except ImportError:  # langchain-core 0.3 with langgraph 0.x: the prebuilt ReAct agent
    from langgraph.prebuilt import create_react_agent

    NAMED_AGENTS = False

    def create_agent(model, tools, *, name=None):
        """langgraph 0.x's agent; it carries no agent name, so the graph's is used."""
        return create_react_agent(model, tools)


class ScriptedModel(GenericFakeChatModel):
    """Replies from a script; tools are 'bound' by ignoring them (the script decides)."""

    def bind_tools(self, tools, **kwargs):
        return self


class StreamingScriptedModel(ScriptedModel):
    """Streams each scripted reply: text word by word, tool calls as one chunk."""

    def _stream(self, messages, stop=None, run_manager=None, **kwargs):
        reply = next(self.messages)
        for word in reply.content.split(" ") if reply.content else []:
            chunk = ChatGenerationChunk(message=AIMessageChunk(content=word + " "))
            if run_manager is not None:
                run_manager.on_llm_new_token(word + " ", chunk=chunk)
            yield chunk
        if reply.tool_calls:
            yield ChatGenerationChunk(message=AIMessageChunk(content="", tool_call_chunks=[
                {"name": call["name"], "args": json.dumps(call["args"]), "id": call["id"],
                 "index": index} for index, call in enumerate(reply.tool_calls)]))


def calls(*tool_calls: tuple[str, dict], turn: int = 0) -> AIMessage:
    return AIMessage(
        content="",
        tool_calls=[{"name": name, "args": args, "id": f"call_{turn}_{i}"}
                    for i, (name, args) in enumerate(tool_calls)],
        usage_metadata={"input_tokens": 120 + turn, "output_tokens": 9, "total_tokens": 129 + turn,
                        "output_token_details": {"reasoning": 4}},
    )


def looping_model(repeats: int, *tool_calls: tuple[str, dict]) -> ScriptedModel:
    script = [calls(*(tool_calls or [("lookup_order", {"order_id": "A-1042"})]), turn=i)
              for i in range(repeats)]
    script.append(AIMessage(content="Your order has shipped."))
    return ScriptedModel(messages=iter(script), disable_streaming=True)


executions: list[str] = []


@tool
def lookup_order(order_id: str) -> str:
    """Look up an order by id."""
    executions.append(order_id)
    current = trace.get_current_span()
    return f"order {order_id}: shipped (current span: {getattr(current, 'name', '?')})"


@tool
async def alookup_order(order_id: str) -> str:
    """Look up an order by id, asynchronously."""
    executions.append(order_id)
    current = trace.get_current_span()
    return f"order {order_id}: shipped (current span: {getattr(current, 'name', '?')})"


@pytest.fixture
def instrumented(request, caplog) -> Iterator[Pipeline]:
    """An instrumented pipeline; fails the test if OpenTelemetry logged a context error."""
    options = getattr(request, "param", {})
    config = Config(**options)
    pipeline = Pipeline(config)
    instrumentor = LangChainInstrumentor()
    assert instrumentor.instrument(tracer_provider=pipeline.provider, config=config)
    executions.clear()
    with caplog.at_level(logging.ERROR, logger="opentelemetry.context"):
        yield pipeline
    instrumentor.uninstrument()
    pipeline.provider.shutdown()
    assert not [r for r in caplog.records if r.name == "opentelemetry.context"], \
        "a span was detached in another context than it was attached in"


def by_name(pipeline: Pipeline, prefix: str):
    return [s for s in pipeline.spans() if s.name.startswith(prefix)]


def _id(span) -> int:
    return span.context.span_id


def test_create_agent_span_tree(instrumented):
    """invoke_agent at the root, chat and execute_tool spans under it, GenAI attributes set."""
    agent = create_agent(looping_model(2), [lookup_order], name="support")
    agent.invoke({"messages": [("user", "Where is A-1042?")]},
                 config={"configurable": {"thread_id": "thread-7"}})

    name = "support" if NAMED_AGENTS else "LangGraph"
    (root,) = by_name(instrumented, "invoke_agent")
    assert root.name == f"invoke_agent {name}" and root.parent is None
    assert root.attributes["gen_ai.operation.name"] == "invoke_agent"
    assert root.attributes["gen_ai.agent.name"] == name
    chats, tools = by_name(instrumented, "chat "), by_name(instrumented, "execute_tool ")
    assert len(chats) == 3 and len(tools) == 2
    assert all(s.parent.span_id == _id(root) for s in chats + tools)
    assert all(s.kind is SpanKind.CLIENT for s in chats)
    assert all(s.kind is SpanKind.INTERNAL for s in tools)

    first_tool = tools[0]
    assert first_tool.name == "execute_tool lookup_order"
    assert first_tool.attributes["gen_ai.tool.name"] == "lookup_order"
    assert first_tool.attributes["gen_ai.tool.call.id"] == "call_0_0"
    assert first_tool.attributes["gen_ai.conversation.id"] == "thread-7"
    assert first_tool.attributes["langgraph.node"] == "tools"
    assert isinstance(first_tool.attributes["langgraph.step"], int)
    assert "gen_ai.tool.call.arguments" not in first_tool.attributes  # capture is off
    assert "gen_ai.tool.call.result" not in first_tool.attributes

    chat = chats[0]
    assert chat.attributes["gen_ai.operation.name"] == "chat"
    assert chat.attributes["gen_ai.usage.input_tokens"] == 120
    assert chat.attributes["gen_ai.usage.output_tokens"] == 9
    assert chat.attributes["gen_ai.usage.reasoning.output_tokens"] == 4
    assert chat.attributes["gen_ai.response.finish_reasons"] == ("tool_calls",)
    assert "gen_ai.output.messages" not in chat.attributes


def test_repeated_tool_calls_are_flagged_by_the_defaults(instrumented):
    agent = create_agent(looping_model(6), [lookup_order])
    agent.invoke({"messages": [("user", "Where is A-1042?")]})
    severities = [s.attributes.get("agentwatch.severity")
                  for s in by_name(instrumented, "execute_tool")]
    assert severities == [None, None, "warning", "warning", "critical", "critical"]
    (root,) = by_name(instrumented, "invoke_agent")
    assert root.attributes["agentwatch.run.severity"] == "critical"


def test_the_tool_body_runs_under_its_own_span(instrumented):
    """HTTP calls and user code inside a tool nest under the execute_tool span."""
    agent = create_agent(looping_model(1), [lookup_order])
    result = agent.invoke({"messages": [("user", "Where is A-1042?")]})
    tool_message = result["messages"][2]
    assert "current span: execute_tool lookup_order" in tool_message.content


@pytest.mark.parametrize("instrumented", [{"capture_content": True}], indirect=True)
def test_content_is_exported_only_when_capture_is_on(instrumented):
    agent = create_agent(looping_model(1), [lookup_order])
    agent.invoke({"messages": [("user", "Where is A-1042?")]})
    (tool_span,) = by_name(instrumented, "execute_tool")
    assert '"order_id": "A-1042"' in tool_span.attributes["gen_ai.tool.call.arguments"]
    assert "shipped" in tool_span.attributes["gen_ai.tool.call.result"]
    assert "tool_call" in by_name(instrumented, "chat")[0].attributes["gen_ai.output.messages"]


def test_ainvoke_and_async_tools(instrumented):
    agent = create_agent(looping_model(5, ("alookup_order", {"order_id": "A-1"})),
                         [alookup_order])
    result = asyncio.run(agent.ainvoke({"messages": [("user", "Where is A-1?")]}))
    tools = by_name(instrumented, "execute_tool")
    assert [s.attributes.get("agentwatch.severity") for s in tools] == [
        None, None, "warning", "warning", "critical"]
    (root,) = by_name(instrumented, "invoke_agent")
    assert all(s.parent.span_id == _id(root) for s in tools)
    assert "current span: execute_tool alookup_order" in result["messages"][2].content


def test_astream_events(instrumented):
    agent = create_agent(looping_model(5), [lookup_order])

    async def consume() -> int:
        count = 0
        async for _event in agent.astream_events({"messages": [("user", "Where?")]},
                                                 version="v2"):
            count += 1
        return count

    assert asyncio.run(consume()) > 0
    tools = by_name(instrumented, "execute_tool")
    assert len(tools) == 5 and tools[-1].attributes["agentwatch.severity"] == "critical"


def test_two_parallel_tool_calls_per_step(instrumented):
    """Parallel calls are siblings under the agent; repeating the pair is still caught."""
    model = looping_model(5, ("lookup_order", {"order_id": "A-1"}),
                          ("lookup_order", {"order_id": "B-2"}))
    create_agent(model, [lookup_order]).invoke({"messages": [("user", "Both orders?")]})
    (root,) = by_name(instrumented, "invoke_agent")
    tools = by_name(instrumented, "execute_tool")
    assert len(tools) == 10 and sorted(executions) == ["A-1"] * 5 + ["B-2"] * 5
    assert all(s.parent.span_id == _id(root) for s in tools)
    assert "loop.repeated_outcome" in root.attributes["agentwatch.run.detections"]
    assert root.attributes["agentwatch.run.severity"] == "critical"


def react_graph(model: ScriptedModel, tools: ToolNode):
    """A ReAct loop built by hand: model node, tool node, back to the model."""
    def call_model(state: MessagesState):
        return {"messages": [model.invoke(state["messages"])]}

    builder = StateGraph(MessagesState)
    builder.add_node("agent", call_model)
    builder.add_node("tools", tools)
    builder.add_edge(START, "agent")
    builder.add_conditional_edges("agent", tools_condition)
    builder.add_edge("tools", "agent")
    return builder.compile()


def test_hand_built_state_graph(instrumented):
    react_graph(looping_model(4), ToolNode([lookup_order])).invoke(
        {"messages": [("user", "Where is A-1042?")]})

    (root,) = by_name(instrumented, "invoke_agent")
    assert root.name == "invoke_agent LangGraph"
    tools = by_name(instrumented, "execute_tool")
    assert len(tools) == 4 and all(s.parent.span_id == _id(root) for s in tools)
    assert [s.attributes.get("agentwatch.severity") for s in tools][2:] == ["warning", "warning"]


def test_a_graph_under_a_name_of_its_own_is_an_agent(instrumented):
    """run_name (or compile(name=...)) renames the graph; it is still an agent invocation."""
    graph = react_graph(looping_model(1), ToolNode([lookup_order]))
    graph.with_config(run_name="support").invoke({"messages": [("user", "Where is A-1042?")]})

    (root,) = by_name(instrumented, "invoke_agent")
    assert root.name == "invoke_agent support" and root.parent is None
    assert root.attributes["gen_ai.operation.name"] == "invoke_agent"
    assert root.attributes["gen_ai.agent.name"] == "support"
    steps = by_name(instrumented, "execute_tool") + by_name(instrumented, "chat")
    assert len(steps) == 3  # the first chat span too, started under the graph's first node
    assert all(s.attributes["gen_ai.agent.name"] == "support" for s in steps)


def test_a_plain_chain_is_not_an_agent(instrumented):
    """A top-level LCEL chain that calls a tool keeps its own name and no agent attributes."""
    from langchain_core.runnables import RunnableLambda

    chain = RunnableLambda(lambda order_id: {"order_id": order_id}) | lookup_order
    chain.invoke("A-1042")
    (root,) = [s for s in instrumented.spans() if s.parent is None]
    assert root.name == "RunnableSequence"
    assert "gen_ai.operation.name" not in root.attributes
    (tool_span,) = by_name(instrumented, "execute_tool")
    assert "gen_ai.agent.name" not in tool_span.attributes


@pytest.mark.parametrize("instrumented", [{"action": "halt"}], indirect=True)
def test_halt_stops_the_run_before_the_next_tool_call(instrumented):
    """Critical at the 5th identical call: the 6th never runs, and the agent raises."""
    agent = create_agent(looping_model(8), [lookup_order])
    with pytest.raises(AgentHalted) as halted:
        agent.invoke({"messages": [("user", "Where is A-1042?")]})
    assert len(executions) == 5
    assert halted.value.detection.severity.value == "critical"
    assert halted.value.detection.detector in ("loop.repeated_call", "loop.repeated_outcome")
    (root,) = by_name(instrumented, "invoke_agent")
    assert root.attributes["error.type"] == "AgentHalted"


@pytest.mark.parametrize("instrumented", [{"action": "halt", "halt_on": "warning"}],
                         indirect=True)
def test_halt_on_warning(instrumented):
    agent = create_agent(looping_model(8), [lookup_order])
    with pytest.raises(AgentHalted):
        asyncio.run(agent.ainvoke({"messages": [("user", "Where is A-1042?")]}))
    assert len(executions) == 3


@pytest.mark.parametrize("instrumented", [{"action": "halt"}], indirect=True)
def test_tool_error_handlers_do_not_swallow_the_halt(instrumented):
    """ToolNode(handle_tool_errors=True) catches Exception; AgentHalted is not one."""
    graph = react_graph(looping_model(8), ToolNode([lookup_order], handle_tool_errors=True))
    with pytest.raises(AgentHalted):
        graph.invoke({"messages": [("user", "Where?")]})
    assert len(executions) == 5


def test_observe_never_changes_the_run(instrumented):
    agent = create_agent(looping_model(8), [lookup_order])
    result = agent.invoke({"messages": [("user", "Where is A-1042?")]})
    assert result["messages"][-1].content == "Your order has shipped."
    assert len(executions) == 8


def test_uninstrument_restores_langchain():
    pipeline = Pipeline(Config())
    instrumentor = LangChainInstrumentor()
    original = BaseTool.__dict__["run"]
    instrumentor.instrument(tracer_provider=pipeline.provider, config=Config())
    assert BaseTool.__dict__["run"] is not original
    instrumentor.uninstrument()
    assert BaseTool.__dict__["run"] is original
    create_agent(looping_model(2), [lookup_order]).invoke({"messages": [("user", "x")]})
    assert pipeline.spans() == []


def test_instrument_twice_and_uninstrument_twice_are_harmless():
    instrumentor = LangChainInstrumentor()
    pipeline = Pipeline(Config())
    assert instrumentor.instrument(tracer_provider=pipeline.provider, config=Config())
    assert instrumentor.instrument(tracer_provider=pipeline.provider, config=Config())
    instrumentor.uninstrument()
    instrumentor.uninstrument()
    assert not instrumentor.is_instrumented


def test_openinference_active_means_no_second_handler():
    """With OpenInference's LangChain instrumentation on, its spans are read, not doubled."""
    openinference = pytest.importorskip("openinference.instrumentation.langchain")
    pipeline = Pipeline(Config())
    theirs = openinference.LangChainInstrumentor()
    theirs.instrument(tracer_provider=pipeline.provider)
    ours = LangChainInstrumentor()
    ours.instrument(tracer_provider=pipeline.provider, config=Config())
    try:
        create_agent(looping_model(5), [lookup_order]).invoke({"messages": [("user", "x")]})
    finally:
        ours.uninstrument()
        theirs.uninstrument()
    tool_spans = [s for s in pipeline.spans()
                  if s.attributes.get("openinference.span.kind") == "TOOL"
                  or s.name.startswith("execute_tool")]
    assert len(tool_spans) == 5, [s.name for s in tool_spans]
    assert all(s.attributes.get("openinference.span.kind") == "TOOL" for s in tool_spans)
    assert tool_spans[-1].attributes["agentwatch.severity"] == "critical"


def test_recursion_limit_is_an_error(instrumented):
    from langgraph.errors import GraphRecursionError

    # A hand-built loop: langgraph 0.x's prebuilt agent stops itself at the last step.
    graph = react_graph(looping_model(50), ToolNode([lookup_order]))
    with pytest.raises(GraphRecursionError):
        graph.invoke({"messages": [("user", "x")]}, config={"recursion_limit": 6})
    (root,) = by_name(instrumented, "invoke_agent")
    assert root.attributes["error.type"] == "GraphRecursionError"
    assert "loop.step_limit" in root.attributes["agentwatch.detections"]
    assert root.attributes["agentwatch.severity"] == "critical"
    assert root.attributes["agentwatch.run.flagged"] is True


@pytest.mark.parametrize("instrumented", [{"langchain_chains": "all"}], indirect=True)
def test_interrupt_is_control_flow_not_an_error(instrumented):
    from langgraph.checkpoint.memory import InMemorySaver

    try:
        from langgraph.types import interrupt
    except ImportError:
        pytest.skip("this langgraph has no interrupt()")

    def ask(state: MessagesState):
        interrupt("approve?")
        return {"messages": [AIMessage(content="approved")]}

    builder = StateGraph(MessagesState)
    builder.add_node("ask", ask)
    builder.add_edge(START, "ask")
    graph = builder.compile(checkpointer=InMemorySaver())
    result = graph.invoke({"messages": [("user", "go")]},
                          config={"configurable": {"thread_id": "t"}})
    assert "__interrupt__" in result
    assert any(s.name == "ask" for s in instrumented.spans())  # the interrupted node's span
    assert not any("error.type" in s.attributes for s in instrumented.spans())


def test_astream_and_a_streaming_model(instrumented):
    """astream over a model that streams its replies."""
    script = [calls(("lookup_order", {"order_id": "A-1"}), turn=i) for i in range(3)]
    script.append(AIMessage(content="Your order has shipped, as the tracking page says."))
    model = StreamingScriptedModel(messages=iter(script))
    agent = create_agent(model, [lookup_order])

    async def consume() -> list:
        return [chunk async for chunk in agent.astream(
            {"messages": [("user", "Where?")]}, stream_mode="messages")]

    chunks = asyncio.run(consume())
    assert any("shipped" in getattr(message, "content", "") for message, _meta in chunks)
    (root,) = by_name(instrumented, "invoke_agent")
    chats, tools = by_name(instrumented, "chat"), by_name(instrumented, "execute_tool")
    assert len(chats) == 4 and len(tools) == 3
    assert all(s.parent.span_id == _id(root) for s in chats + tools)
    assert tools[2].attributes["agentwatch.severity"] == "warning"


def test_parallel_branches_keep_their_parents(instrumented):
    """Two LangGraph branches running at once, each calling a tool, both under the graph."""
    def branch(order_id: str):
        def node(state: MessagesState):
            lookup_order.invoke({"order_id": order_id})
            return {"messages": [AIMessage(content=order_id)]}
        return node

    builder = StateGraph(MessagesState)
    builder.add_node("left", branch("L-1"))
    builder.add_node("right", branch("R-2"))
    builder.add_edge(START, "left")
    builder.add_edge(START, "right")
    builder.add_edge("left", END)
    builder.add_edge("right", END)
    builder.compile().invoke({"messages": [("user", "both")]})
    (root,) = by_name(instrumented, "invoke_agent")
    tools = by_name(instrumented, "execute_tool")
    assert sorted(s.attributes["langgraph.node"] for s in tools) == ["left", "right"]
    assert all(s.parent.span_id == _id(root) for s in tools)


class BrokenModel(ScriptedModel):
    def _generate(self, messages, stop=None, run_manager=None, **kwargs):
        raise ConnectionError("model endpoint down")


def test_failing_model_call_in_async_code(instrumented):
    """The error is on the chat span, and the span is not left current in the caller."""
    agent = create_agent(BrokenModel(messages=iter([])), [lookup_order])
    with pytest.raises(ConnectionError):
        asyncio.run(agent.ainvoke({"messages": [("user", "x")]}))
    (chat,) = by_name(instrumented, "chat")
    assert chat.attributes["error.type"] == "ConnectionError"


def test_failing_streamed_model_call(instrumented):
    """A streamed reply that yields nothing fails inside langchain-core, in async code."""
    model = ScriptedModel(messages=iter([calls(("lookup_order", {"order_id": "A"}))]))
    agent = create_agent(model, [lookup_order])

    async def consume() -> None:
        async for _ in agent.astream({"messages": [("user", "x")]}, stream_mode="messages"):
            pass

    with pytest.raises(ValueError, match="No generations found in stream"):
        asyncio.run(consume())
    (chat,) = by_name(instrumented, "chat")
    assert chat.attributes["error.type"] == "ValueError"


@pytest.mark.skipif(not NAMED_AGENTS, reason="langgraph 0.x marks no nested agent")
def test_nested_agent_is_its_own_invoke_agent_span(instrumented):
    """A create_agent agent called from another agent's tool gets its own run."""
    inner = create_agent(looping_model(1), [lookup_order], name="researcher")

    @tool
    def ask_researcher(question: str) -> str:
        """Ask the research agent."""
        return inner.invoke({"messages": [("user", question)]})["messages"][-1].content

    outer = create_agent(looping_model(1, ("ask_researcher", {"question": "A-1?"})),
                         [ask_researcher], name="manager")
    outer.invoke({"messages": [("user", "Where is A-1?")]})
    agents = {s.attributes["gen_ai.agent.name"]: s for s in by_name(instrumented, "invoke_agent")}
    assert set(agents) == {"manager", "researcher"}
    (delegation,) = by_name(instrumented, "execute_tool ask_researcher")
    assert agents["researcher"].parent.span_id == _id(delegation)
    (lookup,) = by_name(instrumented, "execute_tool lookup_order")
    assert lookup.parent.span_id == _id(agents["researcher"])
    assert lookup.attributes["gen_ai.agent.name"] == "researcher"


# --- nudge: the note reaches the model, whichever way the agent is run --------------------------

@pytest.fixture
def lookup_model():
    """The example's model (``examples/nudged_agent.py``), keeping what it was sent."""
    import importlib
    import sys

    from pydantic import Field

    pytest.importorskip("langchain.agents", reason="the example is a langchain 1.x agent")

    examples = str(Path(__file__).resolve().parent.parent / "examples")
    sys.path.insert(0, examples)
    try:
        example = importlib.import_module("nudged_agent")
    finally:
        sys.path.remove(examples)

    class Recording(example.LookupModel):
        received: list = Field(default_factory=list)

        def _generate(self, messages, stop=None, run_manager=None, **kwargs):
            self.received.append(list(messages))
            return super()._generate(messages, stop, run_manager, **kwargs)

    return Recording


def _notes(received: list) -> list[str]:
    """The notes among the messages each model call was given (the last one, if any)."""
    from otel_agentwatch.nudge import NOTE_PREFIX

    return [messages[-1].content for messages in received
            if str(messages[-1].content).startswith(NOTE_PREFIX)]


@pytest.mark.parametrize("instrumented", [{"action": "nudge"}], indirect=True)
@pytest.mark.parametrize("how", ["invoke", "ainvoke", "astream messages"])
def test_an_obedient_model_told_it_loops_answers_instead(instrumented, lookup_model, how):
    model = lookup_model(obedient=True)
    agent = create_agent(model, [lookup_order])
    request = {"messages": [("user", "Where is A-1042?")]}
    if how == "invoke":
        result = agent.invoke(request)
    elif how == "ainvoke":
        result = asyncio.run(agent.ainvoke(request))
    else:
        async def consume() -> None:
            async for _chunk in agent.astream(request, stream_mode="messages"):
                pass

        asyncio.run(consume())
        result = None
    assert len(executions) == 3  # warned at the 3rd lookup, told, and it answered
    [note] = _notes(model.received)
    assert "lookup_order called 3 times in a row" in note
    if result is not None:  # the graph's state never held the note
        assert result["messages"][-1].content.startswith("Order A-1042 has shipped")
        assert not any(str(m.content).startswith("[agentwatch]") for m in result["messages"])
    chats = by_name(instrumented, "chat")
    assert [s.events[-1].name if s.events else None for s in chats] == [
        None, None, None, "agentwatch.nudge"]
    (root,) = by_name(instrumented, "invoke_agent")
    assert root.attributes["agentwatch.run.severity"] == "warning"
    assert root.attributes["agentwatch.run.nudges"] == 1


@pytest.mark.parametrize("instrumented", [{"action": "nudge,halt"}], indirect=True)
def test_a_stubborn_model_is_told_twice_then_halted(instrumented, lookup_model):
    model = lookup_model(obedient=False)
    agent = create_agent(model, [lookup_order])
    with pytest.raises(AgentHalted) as halted:
        agent.invoke({"messages": [("user", "Where is A-1042?")]})
    assert halted.value.detection.severity.value == "critical"
    assert len(executions) == 5
    notes = _notes(model.received)
    assert ["3 times" in notes[0], "5 times" in notes[1]] == [True, True] and len(notes) == 2


@pytest.mark.parametrize("instrumented", [{"action": "halt"}], indirect=True)
def test_without_nudge_the_model_is_told_nothing(instrumented, lookup_model):
    model = lookup_model(obedient=True)
    with pytest.raises(AgentHalted):
        create_agent(model, [lookup_order]).invoke({"messages": [("user", "Where?")]})
    assert _notes(model.received) == []


# --- acting whoever traces: OpenInference's and OpenLLMetry's LangChain instrumentors ------

from tests.other_tracers import (  # noqa: E402
    is_ours,
    own_process,
    run_in_own_process,
    their_instrumentor,
    tracer_params,
)
from tests.sdk_fixtures import beside  # noqa: E402


def _tool_spans(pipeline: Pipeline) -> list:
    return [s for s in pipeline.spans() if "lookup_order" in s.name
            and not s.name.startswith(("chat", "invoke_agent"))]


@pytest.mark.parametrize("tracer", tracer_params("langchain"))
@pytest.mark.parametrize("mode", ["invoke", "ainvoke"])
def test_halt_stops_the_run_whoever_traces_it(tracer, mode):
    """Their spans, our verdicts: the 6th lookup never runs, AgentHalted reaches the
    caller, and each call has one span (theirs)."""
    config = Config(action="halt")
    executions.clear()
    _module, _cls, order, via = tracer
    with beside(their_instrumentor(tracer), LangChainInstrumentor, config, order,
                via) as pipeline:
        agent = create_agent(looping_model(8), [lookup_order])
        request = {"messages": [("user", "Where is A-1042?")]}
        with pytest.raises(AgentHalted) as halted:
            if mode == "invoke":
                agent.invoke(request)
            else:
                asyncio.run(agent.ainvoke(request))
        spans = _tool_spans(pipeline)
    assert len(executions) == 5
    assert halted.value.detection.severity.value == "critical"
    assert len(spans) == 5 and not any(is_ours(s) for s in spans)
    assert spans[-1].attributes["agentwatch.severity"] == "critical"


@pytest.mark.parametrize("tracer", tracer_params("langchain"))
def test_nudge_tells_the_model_whoever_traces_it(tracer, lookup_model):
    config = Config(action="nudge")
    executions.clear()
    model = lookup_model(obedient=True)
    _module, _cls, order, via = tracer
    with beside(their_instrumentor(tracer), LangChainInstrumentor, config, order,
                via) as pipeline:
        result = create_agent(model, [lookup_order]).invoke(
            {"messages": [("user", "Where is A-1042?")]})
        spans = pipeline.spans()
    assert len(executions) == 3
    [note] = _notes(model.received)
    assert "lookup_order called 3 times in a row" in note
    assert result["messages"][-1].content.startswith("Order A-1042 has shipped")
    nudged = [s for s in spans if any(e.name == "agentwatch.nudge" for e in s.events)]
    assert len(nudged) == 1 and not is_ours(nudged[0])


@pytest.mark.parametrize("which", own_process("langchain"))
def test_acting_whoever_traces_with_a_tracer_that_stays_on(which):
    """The same tests, for an instrumentation that cannot be undone, in a process where
    it is the first to instrument (in the order the test names)."""
    name, module = which
    pytest.importorskip(module)
    summary = run_in_own_process("tests/test_langchain.py", "whoever_traces_it", name)
    assert summary.startswith("3 passed"), summary
