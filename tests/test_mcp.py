"""MCP, run offline: the real ``mcp`` client and server, connected in-process."""

from __future__ import annotations

import asyncio
import sys
import textwrap

import pytest

mcp = pytest.importorskip("mcp")

from mcp.server.mcpserver import MCPServer  # noqa: E402

if sys.version_info >= (3, 11):
    from builtins import BaseExceptionGroup
else:  # anyio's dependency there
    from exceptiongroup import BaseExceptionGroup

from otel_agentwatch import AgentHalted  # noqa: E402
from otel_agentwatch.instrumentation.mcp import MCPInstrumentor  # noqa: E402
from tests.sdk_fixtures import pipelines  # noqa: E402
from tests.test_setup import parse_console_spans, run_python  # noqa: E402

ARGS = {"order_id": "A-1042"}


@pytest.fixture
def make_pipeline():
    with pipelines(MCPInstrumentor) as make:
        yield make


def order_server(calls: list[str], fail: bool = False) -> MCPServer:
    server = MCPServer("orders")

    @server.tool()
    def lookup_order(order_id: str) -> str:
        """Look up an order's status."""
        calls.append(order_id)
        if fail:
            raise ValueError(f"no order {order_id}")
        return f"order {order_id}: status unknown"

    return server


def call_repeatedly(pipeline, server: MCPServer, times: int) -> None:
    """An agent span around ``times`` identical calls, as a hand-written agent makes them."""

    async def agent() -> None:
        tracer = pipeline.provider.get_tracer("app")
        with tracer.start_as_current_span(
                "invoke_agent support", attributes={"gen_ai.operation.name": "invoke_agent"}):
            async with mcp.Client(server) as client:
                for _ in range(times):
                    await client.call_tool("lookup_order", ARGS)

    asyncio.run(agent())


def test_each_tool_call_is_a_client_span_and_a_loop_is_flagged(make_pipeline):
    pipeline = make_pipeline()
    calls: list[str] = []
    call_repeatedly(pipeline, order_server(calls), 6)
    tools = pipeline.spans("tools/call lookup_order")
    [agent] = pipeline.spans("invoke_agent")
    assert len(tools) == len(calls) == 6
    assert all(s.kind.name == "CLIENT" and s.parent.span_id == agent.context.span_id
               for s in tools)
    assert tools[0].attributes["gen_ai.operation.name"] == "execute_tool"
    assert tools[0].attributes["gen_ai.tool.name"] == "lookup_order"
    assert tools[0].attributes["mcp.method.name"] == "tools/call"
    assert [s.attributes.get("agentwatch.severity") for s in tools] == [
        None, None, "warning", "warning", "critical", "critical"]
    assert agent.attributes["agentwatch.run.severity"] == "critical"
    # The detectors had the arguments and the result; the spans do not, by default.
    assert "gen_ai.tool.call.arguments" not in tools[0].attributes
    [step, *_] = pipeline.recorder.steps
    assert step.args == ARGS and step.result == "{\"result\":\"order A-1042: status unknown\"}"


def test_content_goes_on_the_span_only_with_capture_on(make_pipeline):
    pipeline = make_pipeline(capture_content=True)
    call_repeatedly(pipeline, order_server([]), 1)
    [tool] = pipeline.spans("tools/call")
    assert tool.attributes["gen_ai.tool.call.arguments"] == '{"order_id": "A-1042"}'
    assert "order A-1042: status unknown" in tool.attributes["gen_ai.tool.call.result"]


def test_a_tool_error_marks_the_span(make_pipeline):
    pipeline = make_pipeline()
    call_repeatedly(pipeline, order_server([], fail=True), 1)
    [tool] = pipeline.spans("tools/call")
    assert tool.attributes["error.type"] == "tool_error"
    assert tool.status.status_code.name == "ERROR"
    assert pipeline.recorder.steps[0].error is not None


def test_halt_stops_the_request_and_arrives_in_the_clients_task_group(make_pipeline):
    """The client runs an anyio task group: what its ``async with`` body raises reaches
    the caller inside a BaseExceptionGroup, AgentHalted among its leaves."""
    pipeline = make_pipeline(action="halt")
    calls: list[str] = []
    with pytest.raises(BaseExceptionGroup) as raised:
        call_repeatedly(pipeline, order_server(calls), 8)
    [halted] = _leaves(raised.value)
    assert isinstance(halted, AgentHalted)
    assert halted.detection.severity.value == "critical"
    assert len(calls) == 5, "the sixth request was never sent"


def test_inside_a_frameworks_tool_span_no_second_span_is_made(make_pipeline):
    """A framework's tool that calls an MCP server: its span is the call's; ours adds the
    MCP attributes to it."""
    pipeline = make_pipeline()
    tracer = pipeline.provider.get_tracer("framework")
    server = order_server([])

    async def tool() -> None:
        async with mcp.Client(server) as client:
            with tracer.start_as_current_span(
                    "execute_tool lookup_order",
                    attributes={"gen_ai.operation.name": "execute_tool",
                                "gen_ai.tool.name": "lookup_order"}):
                await client.call_tool("lookup_order", ARGS)

    asyncio.run(tool())
    [span] = pipeline.spans()
    assert span.name == "execute_tool lookup_order"
    assert span.attributes["mcp.method.name"] == "tools/call"


def test_with_the_one_import_line_mcps_own_spans_are_not_second_steps():
    """With the global provider (``import otel_agentwatch.auto``), the ``mcp`` package's
    own spans (here, the server being in-process, its ``execute_tool`` server span) nest
    under ours: each call is still one step, and the loop is flagged."""
    result = run_python(textwrap.dedent("""
        import asyncio
        import otel_agentwatch.auto
        import mcp
        from mcp.server.mcpserver import MCPServer
        from opentelemetry import trace

        server = MCPServer("orders")

        @server.tool()
        def lookup_order(order_id: str) -> str:
            return f"order {order_id}: status unknown"

        async def agent():
            tracer = trace.get_tracer("app")
            with tracer.start_as_current_span(
                    "invoke_agent support", attributes={"gen_ai.operation.name": "invoke_agent"}):
                async with mcp.Client(server) as client:
                    for _ in range(5):
                        await client.call_tool("lookup_order", {"order_id": "A-1042"})

        asyncio.run(agent())
    """), OTEL_TRACES_EXPORTER="console")
    assert result.returncode == 0, result.stderr
    spans = parse_console_spans(result.stdout)
    ours = [s for s in spans if s["name"] == "tools/call lookup_order"
            and s["kind"] == "SpanKind.CLIENT"]
    theirs = [s for s in spans if s["name"] == "tools/call lookup_order"
              and s["kind"] == "SpanKind.SERVER"]
    assert len(ours) == 5 and len(theirs) == 5, [s["name"] for s in spans]
    assert theirs[0]["attributes"]["gen_ai.operation.name"] == "execute_tool"
    assert {s["parent_id"] for s in theirs} == {s["context"]["span_id"] for s in ours}
    assert [s["attributes"].get("agentwatch.severity") for s in ours] == [
        None, None, "warning", "warning", "critical"]
    assert not any(s["attributes"].get("agentwatch.flagged") for s in theirs)
    [agent] = [s for s in spans if s["name"] == "invoke_agent support"]
    assert agent["attributes"]["agentwatch.run.tool_calls"] == 5, "one step per call"


def test_beside_openinference_each_call_is_one_step(make_pipeline):
    oi = pytest.importorskip("openinference.instrumentation.mcp")
    theirs = oi.MCPInstrumentor()
    theirs.instrument(tracer_provider=None)
    try:
        pipeline = make_pipeline()
        call_repeatedly(pipeline, order_server([]), 5)
        tools = pipeline.spans("tools/call")
        assert len(tools) == len(pipeline.recorder.steps) == 5
        assert tools[-1].attributes["agentwatch.severity"] == "critical"
    finally:
        theirs.uninstrument()


def test_beside_openinference_halt_still_stops_the_request(make_pipeline):
    oi = pytest.importorskip("openinference.instrumentation.mcp")
    theirs = oi.MCPInstrumentor()
    theirs.instrument(tracer_provider=None)
    try:
        pipeline = make_pipeline(action="halt")
        calls: list[str] = []
        with pytest.raises(BaseExceptionGroup) as raised:
            call_repeatedly(pipeline, order_server(calls), 8)
        assert any(isinstance(leaf, AgentHalted) for leaf in _leaves(raised.value))
        assert len(calls) == 5
    finally:
        theirs.uninstrument()


def _leaves(group: BaseExceptionGroup) -> list[BaseException]:
    return [leaf for error in group.exceptions
            for leaf in (_leaves(error) if isinstance(error, BaseExceptionGroup) else [error])]


def test_outside_any_span_the_calls_of_one_session_are_one_run(make_pipeline):
    """An MCP client's own loop, with no span around it: each call would be a trace of
    its own; the session makes them one run, flagged and halted."""
    pipeline = make_pipeline(action="halt")
    calls: list[str] = []
    server = order_server(calls)

    async def loop() -> None:
        async with mcp.Client(server) as client:
            for _ in range(8):
                await client.call_tool("lookup_order", ARGS)

    with pytest.raises(BaseExceptionGroup):
        asyncio.run(loop())
    tools = pipeline.spans("tools/call")
    assert all(s.parent is None for s in tools)
    assert [s.attributes.get("agentwatch.severity") for s in tools] == [
        None, None, "warning", "warning", "critical"]
    assert len(calls) == 5
