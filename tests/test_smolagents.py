"""smolagents, run offline: its real ToolCallingAgent and CodeAgent (CodeAct, the code run
by its own interpreter) with a scripted model through smolagents' model interface, and
its OpenAIServerModel with the real OpenAI client against the scripted server."""

from __future__ import annotations

import pytest

smolagents = pytest.importorskip("smolagents")

from smolagents import tool  # noqa: E402
from smolagents.models import (  # noqa: E402
    ChatMessage,
    ChatMessageToolCall,
    ChatMessageToolCallFunction,
    MessageRole,
    Model,
)

from otel_agentwatch import AgentHalted, Config, StepKind  # noqa: E402
from otel_agentwatch.instrumentation.smolagents import SmolagentsInstrumentor  # noqa: E402
from tests.nudging import notes, nudged  # noqa: E402
from tests.scripted_server import chat_completion  # noqa: E402
from tests.sdk_fixtures import beside, pipelines  # noqa: E402

TASK = "Where is order A-1042?"
LOOKUP = 'Thought: look it up.\n<code>\nr = lookup_order("A-1042")\nprint(r)\n</code>'
LOOP = ('Thought: look it up, again and again.\n<code>\nfor _ in range({n}):\n'
        '    r = lookup_order(order_id="A-1042")\nprint(r)\n</code>')
FINAL = 'Thought: done.\n<code>\nfinal_answer("The order\'s status is unknown.")\n</code>'


@pytest.fixture
def make_pipeline():
    with pipelines(SmolagentsInstrumentor) as make:
        yield make


class Scripted(Model):
    """Answers each request with the next message of a script (the last one repeats)."""

    def __init__(self, script: list[ChatMessage]) -> None:
        super().__init__(model_id="scripted")
        self.script = script
        self.turn = 0

    def generate(self, messages, stop_sequences=None, response_format=None,
                 tools_to_call_from=None, **kwargs) -> ChatMessage:
        message = self.script[min(self.turn, len(self.script) - 1)]
        self.turn += 1
        return message


def tool_calls(*calls: tuple[str, dict]) -> ChatMessage:
    return ChatMessage(role=MessageRole.ASSISTANT, content=None, tool_calls=[
        ChatMessageToolCall(id=f"call_{id(arguments)}_{index}", type="function",
                            function=ChatMessageToolCallFunction(name=name, arguments=arguments))
        for index, (name, arguments) in enumerate(calls)])


def code(text: str) -> ChatMessage:
    return ChatMessage(role=MessageRole.ASSISTANT, content=text)


def lookup_tool(calls: list[str]):
    @tool
    def lookup_order(order_id: str) -> str:
        """Look up an order's status.

        Args:
            order_id: The order's id, such as "A-1042".
        """
        calls.append(order_id)
        return f"order {order_id}: status unknown"

    return lookup_order


LOOKUP_CALL = ("lookup_order", {"order_id": "A-1042"})
ANSWER = ("final_answer", {"answer": "The order's status is unknown."})


def tool_calling_agent(calls: list[str], lookups: int, per_turn: int = 1, model=None):
    script = [tool_calls(*[LOOKUP_CALL] * per_turn)] * lookups + [tool_calls(ANSWER)]
    return smolagents.ToolCallingAgent(tools=[lookup_tool(calls)], model=model or Scripted(script),
                                       max_steps=12, verbosity_level=0, name="support")


def code_agent(calls: list[str], lookups: int, in_one_block: bool = False):
    script = ([code(LOOP.format(n=lookups))] if in_one_block else [code(LOOKUP)] * lookups) \
        + [code(FINAL)]
    return smolagents.CodeAgent(tools=[lookup_tool(calls)], model=Scripted(script),
                                max_steps=12, verbosity_level=0, name="support")


def run(agent, stream: bool = False):
    if stream:
        return list(agent.run(TASK, stream=True))[-1].output
    return agent.run(TASK)


def assert_loop_flagged(pipeline, calls: list[str], count: int = 6) -> None:
    [agent] = pipeline.spans("invoke_agent support")
    tools = pipeline.spans("execute_tool lookup_order")
    assert len(calls) == len(tools) == count
    assert all(s.parent.span_id == agent.context.span_id for s in tools), \
        "tool spans are the agent's children, also from CodeAct's worker thread"
    assert [s.attributes.get("agentwatch.severity") for s in tools][:6] == [
        None, None, "warning", "warning", "critical", "critical"][:count]
    assert agent.attributes["agentwatch.run.severity"] == "critical"
    assert "gen_ai.tool.call.arguments" not in tools[0].attributes
    steps = [step for step in pipeline.recorder.of(StepKind.TOOL) if step.name == "lookup_order"]
    assert steps[0].args == {"order_id": "A-1042"}, "positional arguments named by the tool"


@pytest.mark.parametrize("stream", [False, True], ids=["whole", "streamed"])
def test_a_tool_calling_loop_is_flagged_on_its_tool_and_agent_spans(make_pipeline, stream):
    pipeline = make_pipeline()
    calls: list[str] = []
    assert run(tool_calling_agent(calls, 6), stream) == "The order's status is unknown."
    assert_loop_flagged(pipeline, calls)
    assert pipeline.recorder.objectives[:1] == [TASK]


@pytest.mark.parametrize("stream", [False, True], ids=["whole", "streamed"])
def test_a_codeact_loop_across_steps_is_flagged(make_pipeline, stream):
    pipeline = make_pipeline()
    calls: list[str] = []
    assert run(code_agent(calls, 6), stream) == "The order's status is unknown."
    assert_loop_flagged(pipeline, calls)


def test_a_loop_written_inside_one_code_block_is_one_step_per_call(make_pipeline):
    pipeline = make_pipeline()
    calls: list[str] = []
    run(code_agent(calls, 6, in_one_block=True))
    assert_loop_flagged(pipeline, calls)


def test_content_goes_on_the_spans_only_with_capture_on(make_pipeline):
    pipeline = make_pipeline(capture_content=True)
    run(tool_calling_agent([], 1))
    [tool] = pipeline.spans("execute_tool lookup_order")
    assert tool.attributes["gen_ai.tool.call.arguments"] == '{"order_id": "A-1042"}'
    assert tool.attributes["gen_ai.tool.call.result"] == "order A-1042: status unknown"


def test_a_run_that_does_not_loop_is_not_flagged(make_pipeline):
    pipeline = make_pipeline()
    run(code_agent([], 2))
    assert not [s.name for s in pipeline.spans() if s.attributes.get("agentwatch.flagged")]


@pytest.mark.parametrize("kind", ["code", "tool calling"])
def test_an_answer_given_without_looking_anything_up_is_flagged_on_the_agent(
        make_pipeline, kind):
    pipeline = make_pipeline()
    build = code_agent if kind == "code" else tool_calling_agent
    assert run(build([], 0)) == "The order's status is unknown."
    [agent] = pipeline.spans("invoke_agent support")
    assert agent.attributes["agentwatch.severity"] == "warning"
    assert agent.attributes["agentwatch.run.detections"] == ("termination.ungrounded",)
    [answer] = pipeline.spans("execute_tool final_answer")
    assert "agentwatch.flagged" not in answer.attributes


@pytest.mark.parametrize(("agent", "stream"), [
    ("tool calling", False), ("tool calling", True), ("code", False), ("code in one block", False),
    ("code", True)])
def test_halt_stops_the_run_before_the_tool_runs_again(make_pipeline, agent, stream):
    pipeline = make_pipeline(action="halt")
    calls: list[str] = []
    build = {"tool calling": lambda: tool_calling_agent(calls, 8),
             "code": lambda: code_agent(calls, 8),
             "code in one block": lambda: code_agent(calls, 8, in_one_block=True)}[agent]
    with pytest.raises(AgentHalted) as halted:
        run(build(), stream)
    assert halted.value.detection.severity.value == "critical"
    assert len(calls) == 5, "the sixth call, in a run already critical, never ran"
    [span] = pipeline.spans("invoke_agent support")
    assert span.status.status_code.name == "ERROR", "the run ends with the halt on its span"


def test_halt_with_tool_calls_in_parallel_reaches_the_caller(make_pipeline):
    """Several tool calls in one message run in smolagents' thread pool; the halt comes
    through it unchanged."""
    make_pipeline(action="halt")
    calls: list[str] = []
    with pytest.raises(AgentHalted):
        run(tool_calling_agent(calls, 4, per_turn=3))
    assert len(calls) < 12


def test_model_calls_through_the_openai_client_are_chat_spans(server, make_pipeline):
    pipeline = make_pipeline()
    server.script(*[chat_completion(None, [(f"call_{n}", "lookup_order", '{"order_id": "A-1042"}')])
                    for n in range(5)],
                  chat_completion(None, [("call_end", "final_answer",
                                          '{"answer": "The order\'s status is unknown."}')]))
    model = smolagents.OpenAIServerModel(model_id="gpt-4o", api_base=server.url, api_key="test")
    calls: list[str] = []
    assert run(tool_calling_agent(calls, 0, model=model)) == "The order's status is unknown."
    [agent] = pipeline.spans("invoke_agent support")
    chats = pipeline.spans("chat")
    assert len(chats) == 6 and len(calls) == 5
    assert all(s.parent.span_id == agent.context.span_id for s in chats)
    assert pipeline.spans("execute_tool lookup_order")[-1].attributes["agentwatch.severity"] \
        == "critical"


@pytest.mark.usefixtures("restored_context")
@pytest.mark.parametrize("order", ["theirs first", "ours first"])
@pytest.mark.parametrize("action", ["observe", "halt"])
def test_beside_openinference_each_call_is_one_step_and_halt_still_acts(order, action):
    """OpenInference's instrumentor wraps the same methods: each call is one step (the
    outer span's), flagged, and halting works, whichever wraps first."""
    oi = pytest.importorskip("openinference.instrumentation.smolagents")
    with beside(oi.SmolagentsInstrumentor(), SmolagentsInstrumentor, Config(action=action),
                order) as pipeline:
        calls: list[str] = []
        if action == "halt":
            with pytest.raises(AgentHalted):
                run(code_agent(calls, 8))
            assert len(calls) == 5
        else:
            run(code_agent(calls, 6))
            assert len(calls) == 6
        steps = [step for step in pipeline.recorder.of(StepKind.TOOL)
                 if step.name == "lookup_order"]
        # One step per call; halted, OpenInference's outer span of the stopped call ends
        # with the halt, a step too (ours, outer, stops the call before any span).
        assert len(steps) == len(calls) + (action == "halt" and order == "ours first")
        flagged = [s for s in pipeline.spans() if s.attributes.get("agentwatch.severity")]
        assert {s.attributes["agentwatch.severity"] for s in flagged} == {"warning", "critical"}


def test_a_manager_handing_an_unreadable_file_to_its_sub_agent_is_flagged(make_pipeline):
    """The manager fails to read the file, then asks its managed agent twice, which fails
    once each time: three runs with one failure each, so only the trace shows it."""

    @tool
    def inspect_file(file_path: str) -> str:
        """Read a file as text.

        Args:
            file_path: The file's path.
        """
        raise ValueError(f"could not convert {file_path}")

    read = ("inspect_file", {"file_path": "task.xlsx"})
    gave_up = ("final_answer", {"answer": "I could not read it."})
    search = smolagents.ToolCallingAgent(
        tools=[inspect_file], model=Scripted([tool_calls(read), tool_calls(gave_up)] * 2),
        max_steps=4, verbosity_level=0, name="search_agent", description="Reads files.")
    manager = smolagents.CodeAgent(
        tools=[inspect_file], managed_agents=[search], max_steps=6, verbosity_level=0,
        name="manager", model=Scripted([
            code('Thought: read it.\n<code>\nprint(inspect_file(file_path="task.xlsx"))\n</code>'),
            code('Thought: ask.\n<code>\nprint(search_agent(task="Read task.xlsx"))\n</code>'),
            code('Thought: again.\n<code>\nprint(search_agent(task="Read task.xlsx!"))\n</code>'),
            code('Thought: done.\n<code>\nfinal_answer("42")\n</code>')]))
    pipeline = make_pipeline()
    assert manager.run("What is in task.xlsx?") == "42"
    reads = pipeline.spans("execute_tool inspect_file")
    assert [s.attributes.get("agentwatch.detections") for s in reads] == [
        None, None, ("coordination.repeated_failure",)]
    first, second = pipeline.spans("invoke_agent search_agent")
    assert "agentwatch.run.severity" not in first.attributes
    assert second.attributes["agentwatch.run.severity"] == "warning"


@pytest.mark.usefixtures("restored_context")
@pytest.mark.parametrize("order", ["theirs first", "ours first"])
def test_nudge_beside_openinference(server, order):
    """OpenInference's model span is the one current around the client's request: the
    note still goes into the next request, on its span."""
    oi = pytest.importorskip("openinference.instrumentation.smolagents")
    with beside(oi.SmolagentsInstrumentor(), SmolagentsInstrumentor, Config(action="nudge"),
                order) as pipeline:
        script_lookups(server)
        model = smolagents.OpenAIServerModel(model_id="gpt-4o", api_base=server.url,
                                             api_key="test")
        assert run(tool_calling_agent([], 0, model=model)) == "The order's status is unknown."
        nudged_spans = [s for s in pipeline.spans()
                        if any(e.name == "agentwatch.nudge" for e in s.events)]
    assert [index for index, _ in notes(server.requests)] == [3, 5]
    assert len(nudged_spans) == 2


def script_lookups(server) -> None:
    """Five identical lookups asked for, then the answer, over the OpenAI API."""
    server.script(*[chat_completion(None, [(f"call_{n}", "lookup_order", '{"order_id": "A-1042"}')])
                    for n in range(5)],
                  chat_completion(None, [("call_end", "final_answer",
                                          '{"answer": "The order\'s status is unknown."}')]))


def test_nudge_tells_the_model_through_the_openai_client(server, make_pipeline):
    """OpenAIServerModel calls the real client: the note goes into its next request."""
    pipeline = make_pipeline(action="nudge")
    script_lookups(server)
    model = smolagents.OpenAIServerModel(model_id="gpt-4o", api_base=server.url, api_key="test")
    assert run(tool_calling_agent([], 0, model=model)) == "The order's status is unknown."
    assert [index for index, _ in notes(server.requests)] == [3, 5]
    assert nudged(pipeline.spans("chat")) == [3, 5]
