"""Spans applications open themselves: the ``tool`` decorator and ``agent_run``."""

from __future__ import annotations

import asyncio

import pytest
from opentelemetry import trace
from opentelemetry.trace import StatusCode

from otel_agentwatch import AgentHalted, Config, StepKind, agent_run, tool
from tests.conftest import Pipeline
from tests.scripted_server import chat_completion


def make_tools(provider):
    ran: list[str] = []

    @tool(tracer_provider=provider)
    def read_file(path: str, limit: int = 100) -> str:
        ran.append(path)
        return f"contents of {path} (current span: {trace.get_current_span().name})"

    @tool("fetch_url", tracer_provider=provider)
    async def fetch(url: str) -> str:
        ran.append(url)
        return "<html>"

    return read_file, fetch, ran


def test_tool_makes_an_execute_tool_span_that_is_current_inside(pipeline):
    read_file, _, _ = make_tools(pipeline.provider)
    assert read_file("a.py") == "contents of a.py (current span: execute_tool read_file)"
    [span] = pipeline.spans()
    assert span.name == "execute_tool read_file"
    assert span.attributes["gen_ai.operation.name"] == "execute_tool"
    assert span.attributes["gen_ai.tool.name"] == "read_file"
    assert "gen_ai.tool.call.arguments" not in span.attributes  # capture is off


def test_tool_keeps_the_function_signature_and_name(pipeline):
    read_file, fetch, _ = make_tools(pipeline.provider)
    assert read_file.__name__ == "read_file"
    assert asyncio.iscoroutinefunction(fetch)
    assert list(__import__("inspect").signature(read_file).parameters) == ["path", "limit"]


def test_async_tool_and_a_custom_name(pipeline):
    _, fetch, ran = make_tools(pipeline.provider)
    assert asyncio.run(fetch("https://example.com")) == "<html>"
    assert ran == ["https://example.com"]
    [span] = pipeline.spans()
    assert span.name == "execute_tool fetch_url"


def test_tool_on_a_method_leaves_self_out_of_the_arguments():
    recorder_pipeline = Pipeline(Config(capture_content=True))

    class Repo:
        @tool(tracer_provider=recorder_pipeline.provider)
        def grep(self, pattern: str) -> list[str]:
            return [pattern]

    assert Repo().grep("TODO") == ["TODO"]
    [span] = recorder_pipeline.spans()
    assert span.attributes["gen_ai.tool.call.arguments"] == '{"pattern": "TODO"}'
    assert span.attributes["gen_ai.tool.call.result"] == '["TODO"]'
    recorder_pipeline.provider.shutdown()


def test_tool_error_is_recorded_and_reraised(pipeline):
    @tool(tracer_provider=pipeline.provider)
    def flaky() -> None:
        raise TimeoutError("upstream timed out")

    with pytest.raises(TimeoutError):
        flaky()
    [span] = pipeline.spans()
    assert span.status.status_code is StatusCode.ERROR
    assert span.attributes["error.type"] == "TimeoutError"


def test_repeated_tool_calls_inside_agent_run_are_flagged_on_the_tool_spans(pipeline):
    read_file, _, _ = make_tools(pipeline.provider)
    with agent_run("coder", tracer_provider=pipeline.provider):
        for _ in range(5):
            read_file("setup.py")
    tools = pipeline.spans("execute_tool")
    assert [s.attributes.get("agentwatch.severity") for s in tools] == [
        None, None, "warning", "warning", "critical"]
    [agent] = pipeline.spans("invoke_agent")
    assert agent.name == "invoke_agent coder"
    assert agent.attributes["gen_ai.agent.name"] == "coder"
    assert agent.attributes["agentwatch.run.flagged"] is True
    assert all(s.parent.span_id == agent.context.span_id for s in tools)


def test_agent_run_as_decorator_sync_and_async(pipeline):
    read_file, fetch, _ = make_tools(pipeline.provider)

    @agent_run("sync-agent", tracer_provider=pipeline.provider)
    def work() -> str:
        return read_file("x")

    @agent_run("async-agent", conversation_id="t-1", tracer_provider=pipeline.provider)
    async def awork() -> str:
        return await fetch("y")

    work()
    work()  # a fresh span per call
    asyncio.run(awork())
    agents = pipeline.spans("invoke_agent")
    assert [s.name for s in agents] == ["invoke_agent sync-agent"] * 2 + [
        "invoke_agent async-agent"]
    assert agents[2].attributes["gen_ai.conversation.id"] == "t-1"
    assert len({s.context.trace_id for s in agents}) == 3


def test_agent_run_records_an_error_and_reraises(pipeline):
    with pytest.raises(KeyError), agent_run("broken", tracer_provider=pipeline.provider):
        raise KeyError("missing")
    [agent] = pipeline.spans()
    assert agent.status.status_code is StatusCode.ERROR


@pytest.mark.frameworks
def test_sdk_loop_inside_agent_run_with_tool_spans_is_flagged_once_per_call(server):
    """Tool spans and the tool results in the next request describe the same calls:
    the detectors count each call once, on its execute_tool span."""
    import openai

    from tests.sdk_fixtures import Instrumented

    pipeline = Instrumented()
    try:
        lookup = tool("lookup_order", tracer_provider=pipeline.provider)(
            lambda order_id: "unknown")
        client = openai.OpenAI(base_url=server.url + "/v1", api_key="k", max_retries=0)
        with agent_run("support", tracer_provider=pipeline.provider):
            messages = [{"role": "user", "content": "Where is A-1?"}]
            for turn in range(5):
                server.script(chat_completion(
                    None, [(f"c{turn}", "lookup_order", '{"order_id": "A-1"}')]))
                reply = client.chat.completions.create(model="gpt-4o", messages=messages)
                messages.append(reply.choices[0].message)
                messages.append({"role": "tool", "tool_call_id": f"c{turn}",
                                 "content": lookup(order_id="A-1")})
        assert len(pipeline.recorder.of(StepKind.TOOL)) == 5  # not 5 + 4
        assert [s.attributes.get("agentwatch.severity")
                for s in pipeline.spans("execute_tool")] == [
            None, None, "warning", "warning", "critical"]
        assert pipeline.flagged("chat") == []
        [agent] = pipeline.spans("invoke_agent")
        assert all(s.context.trace_id == agent.context.trace_id for s in pipeline.spans())
    finally:
        pipeline.close()


def test_halt_stops_a_tool_before_it_runs():
    pipeline = Pipeline(Config(action="halt"))
    read_file, _, ran = make_tools(pipeline.provider)
    with pytest.raises(AgentHalted), agent_run("coder", tracer_provider=pipeline.provider):
        for _ in range(10):
            read_file("setup.py")
    assert len(ran) == 5  # the fifth made the run critical; the sixth did not run
    pipeline.provider.shutdown()


def test_bad_arguments_fail_clearly():
    with pytest.raises(TypeError, match="tool name"):
        tool(42)
    with pytest.raises(ValueError, match="non-empty"):
        tool("  ")
    with pytest.raises(ValueError, match="agent name"):
        agent_run("")
    run = agent_run("once")
    with run, pytest.raises(RuntimeError, match="entered once"), run:
        pass
