"""Anthropic SDK instrumentation: the real client against a scripted server on 127.0.0.1,
with the SDK's own tracing off (our spans) and on (its spans, read, never doubled)."""

from __future__ import annotations

import asyncio

import anthropic
import pytest
from opentelemetry.trace import SpanKind, StatusCode

from otel_agentwatch import AgentHalted, StepKind
from tests.scripted_server import HttpError, message, message_events

pytestmark = pytest.mark.frameworks  # needs the agent frameworks of the test extras

QUESTION = [{"role": "user", "content": "Is the build green?"}]


def client(server, pipeline=None, cls=anthropic.Anthropic):
    """Our spans, unless ``pipeline`` is given: then the SDK traces itself into it."""
    tracing = {"tracer_provider": pipeline.provider} if pipeline is not None else False
    return cls(base_url=server.url, api_key="test", max_retries=0, open_telemetry=tracing)


def run_tests_loop(server, claude, turns: int, *, is_error: bool = False) -> None:
    """A hand-written loop whose model keeps asking to run the same test command."""
    messages = list(QUESTION)
    for turn in range(turns):
        server.script(message("Let me check.", [(f"toolu_{turn}", "bash",
                                                 {"command": "pytest -q"})]))
        reply = claude.messages.create(model="claude-scripted-1", max_tokens=512,
                                       system="You are a CI helper.", messages=messages)
        messages.append({"role": "assistant", "content": reply.content})
        messages.append({"role": "user", "content": [{
            "type": "tool_result", "tool_use_id": reply.content[-1].id,
            "content": "1 failed", "is_error": is_error}]})


def test_message_span_matches_the_scripted_response(server, instrumented):
    server.script(message("All green.", thinking="The log says 0 failed.", usage=(210, 33)))
    reply = client(server).messages.create(model="claude-scripted-1", max_tokens=512,
                                           messages=QUESTION)
    assert reply.content[-1].text == "All green."
    [span] = instrumented.spans()
    assert span.name == "chat claude-scripted-1"
    assert span.kind is SpanKind.CLIENT
    attributes = span.attributes
    assert attributes["gen_ai.provider.name"] == "anthropic"
    assert attributes["gen_ai.request.max_tokens"] == 512
    assert attributes["gen_ai.response.model"] == "claude-sonnet-4-5-20250929"
    assert attributes["gen_ai.usage.input_tokens"] == 210
    assert attributes["gen_ai.usage.output_tokens"] == 33
    assert attributes["gen_ai.response.finish_reasons"] == ("end_turn",)
    assert "gen_ai.output.messages" not in attributes
    # The thinking reaches the detectors (in-process) with the text.
    [step] = instrumented.recorder.of(StepKind.LLM)
    assert step.output_text == "The log says 0 failed.\nAll green."


def test_cached_input_tokens_count_as_input(server, instrumented):
    body = message("ok")
    body["usage"].update(cache_read_input_tokens=1000, cache_creation_input_tokens=50)
    server.script(body)
    client(server).messages.create(model="claude-scripted-1", max_tokens=10, messages=QUESTION)
    [span] = instrumented.spans()
    assert span.attributes["gen_ai.usage.input_tokens"] == 30 + 1000 + 50


def test_messages_stream_helper_sync_and_async(server, instrumented):
    body = message("Streaming works.", [("toolu_1", "bash", {"command": "ls"})], usage=(12, 6))
    server.script(message_events(body))
    with client(server).messages.stream(model="claude-haiku-4-5", max_tokens=64,
                                        messages=QUESTION) as stream:
        text = "".join(stream.text_stream)
    assert text == "Streaming works."

    async def run():
        server.script(message_events(body))
        claude = client(server, cls=anthropic.AsyncAnthropic)
        async with claude.messages.stream(model="claude-haiku-4-5", max_tokens=64,
                                          messages=QUESTION) as stream:
            return await stream.get_final_message()

    final = asyncio.run(run())
    assert final.content[0].text == "Streaming works."
    spans = instrumented.spans("chat claude-haiku-4-5")
    assert len(spans) == 2
    for span in spans:
        assert span.attributes["gen_ai.usage.output_tokens"] == 6
        assert span.attributes["gen_ai.response.finish_reasons"] == ("tool_use",)
        assert span.attributes["agentwatch.requested_tools"] == ("bash",)
        assert span.attributes["agentwatch.requested_tool_call_ids"] == ("toolu_1",)


def test_beta_messages_and_parse_are_traced_as_messages(server, instrumented):
    """``beta.messages`` (create, stream) and ``messages.parse`` take the same requests and
    give the same messages: each call is a chat span with what the reply said."""
    claude = client(server)
    server.script(message("beta create", usage=(5, 2)))
    claude.beta.messages.create(model="claude-scripted-1", max_tokens=64, messages=QUESTION)
    server.script(message("parsed", usage=(6, 2)))
    claude.messages.parse(model="claude-scripted-1", max_tokens=64, messages=QUESTION)
    server.script(message_events(message("beta streamed", usage=(7, 2))))
    with claude.beta.messages.stream(model="claude-scripted-1", max_tokens=64,
                                     messages=QUESTION) as stream:
        assert stream.get_final_message().content[0].text == "beta streamed"
    spans = instrumented.spans("chat claude-scripted-1")
    assert [s.attributes["gen_ai.usage.input_tokens"] for s in spans] == [5, 6, 7]
    assert [step.output_text for step in instrumented.recorder.of(StepKind.LLM)] == [
        "beta create", "parsed", "beta streamed"]


def test_create_with_stream_true_reads_raw_events(server, instrumented):
    server.script(message_events(message("raw events", thinking="hmm", usage=(8, 3))))
    events = list(client(server).messages.create(model="claude-scripted-1", max_tokens=64,
                                                 messages=QUESTION, stream=True))
    assert events[-1].type == "message_stop"
    [span] = instrumented.spans()
    assert span.attributes["gen_ai.usage.input_tokens"] == 8
    assert span.attributes["gen_ai.usage.output_tokens"] == 3
    [step] = instrumented.recorder.of(StepKind.LLM)
    assert step.output_text == "hmm\nraw events"


def test_async_create(server, instrumented):
    async def run():
        server.script(message("async ok", usage=(4, 2)))
        claude = client(server, cls=anthropic.AsyncAnthropic)
        return await claude.messages.create(model="claude-scripted-1", max_tokens=64,
                                            messages=QUESTION)

    assert asyncio.run(run()).content[0].text == "async ok"
    [span] = instrumented.spans()
    assert span.attributes["gen_ai.usage.input_tokens"] == 4


def test_api_error_marks_the_span(server, instrumented):
    server.script(HttpError(529, {"type": "error",
                                  "error": {"type": "overloaded_error", "message": "busy"}}))
    with pytest.raises(anthropic.APIStatusError):
        client(server).messages.create(model="claude-scripted-1", max_tokens=8,
                                       messages=QUESTION)
    [span] = instrumented.spans()
    assert span.status.status_code is StatusCode.ERROR
    assert "error.type" in span.attributes


def test_hand_written_loop_is_flagged_on_its_chat_spans(server, instrumented):
    run_tests_loop(server, client(server), turns=5)
    spans = instrumented.spans("chat")
    assert all(span.parent is None for span in spans)
    assert [s.attributes.get("agentwatch.severity") for s in spans] == [
        None, None, None, "warning", "warning"]
    assert "loop.repeated_call" in spans[3].attributes["agentwatch.detections"]


def test_tool_results_marked_as_errors_make_an_error_streak(server, instrumented):
    run_tests_loop(server, client(server), turns=5, is_error=True)
    tools = instrumented.recorder.of(StepKind.TOOL)
    assert [t.error for t in tools] == ["tool_error"] * 4
    assert any("loop.error_streak" in s.attributes.get("agentwatch.detections", ())
               for s in instrumented.spans())


def test_sdk_own_tracing_is_read_not_doubled(server, instrumented):
    """With anthropic's tracing on, its span is the call's only span, and is flagged."""
    run_tests_loop(server, client(server, instrumented), turns=5)
    names = [span.name for span in instrumented.spans()]
    assert names == ["anthropic.messages.create"] * 5
    spans = instrumented.spans()
    assert [s.attributes.get("agentwatch.severity") for s in spans] == [
        None, None, None, "warning", "warning"]
    assert spans[0].attributes["gen_ai.usage.output_tokens"] == 9  # read from its attributes


def scripted_runner_loop(server, claude, turns: int,
                         stream: bool = False) -> tuple[str, list[str]]:
    """The SDK's own tool runner (``beta.messages.tool_runner``) over a model that asks
    for the same command every turn, then answers; ``stream``: its streaming mode."""
    ran: list[str] = []

    @anthropic.beta_tool
    def bash(command: str) -> str:
        """Run a shell command."""
        ran.append(command)
        return "1 failed"

    shape = message_events if stream else (lambda body: body)
    for turn in range(turns):
        server.script(shape(message("Let me check.", [(f"toolu_{turn}", "bash",
                                                       {"command": "pytest -q"})],
                                    id_=f"msg_{turn}")))
    server.script(shape(message("Still failing; giving up.", id_="msg_last")))
    runner = claude.beta.messages.tool_runner(model="claude-scripted-1", max_tokens=512,
                                              tools=[bash], messages=QUESTION, stream=stream)
    final = runner.until_done()
    return final.content[-1].text, ran


@pytest.mark.parametrize("stream", [False, True], ids=["whole", "streamed"])
def test_the_sdk_tool_runner_loop_is_flagged_on_our_chat_spans(server, instrumented, stream):
    """SDK tracing off: our chat spans, the runner's tool results read off its requests."""
    answer, ran = scripted_runner_loop(server, client(server), turns=5, stream=stream)
    assert answer == "Still failing; giving up." and ran == ["pytest -q"] * 5
    spans = instrumented.spans("chat")
    assert len(spans) == 6  # the 6th request carries the 5th identical result
    assert [s.attributes.get("agentwatch.severity") for s in spans] == [
        None, None, None, "warning", "warning", "critical"]


def test_the_sdk_tool_runner_traced_by_the_sdk_is_flagged_on_its_tool_spans(
        server, instrumented):
    """SDK tracing on: its own invoke_agent and tool spans are read, none doubled; its
    tool spans carry no arguments (its content mode is off), so the arguments the model
    gave each call, seen by our instrumentation, stand in."""
    scripted_runner_loop(server, client(server, instrumented), turns=5)
    spans = instrumented.spans()
    tools = [s for s in spans if s.attributes.get("gen_ai.operation.name") == "execute_tool"]
    assert len(tools) == 5
    assert [s.attributes.get("agentwatch.severity") for s in tools] == [
        None, None, "warning", "warning", "critical"]
    assert not instrumented.spans("chat")  # the SDK's call spans are the only ones


def test_halt_stops_the_next_request(server, make_instrumented):
    make_instrumented(action="halt", halt_on="warning")
    with pytest.raises(AgentHalted):
        run_tests_loop(server, client(server), turns=6)
    # The fourth call was flagged (warning); the fifth was never sent.
    assert len(server.requests) == 4


@pytest.mark.parametrize("sdk_tracing", [False, True], ids=["our spans", "its spans"])
def test_halt_stops_the_sdk_tool_runner(server, make_instrumented, sdk_tracing):
    """The runner's next request raises AgentHalted once its run is critical, whichever
    spans describe it; the tool is not run again."""
    pipeline = make_instrumented(action="halt")
    with pytest.raises(AgentHalted):
        scripted_runner_loop(server, client(server, pipeline if sdk_tracing else None),
                             turns=9)
    # Critical on our chat spans with the 6th request (it carries the 5th identical
    # result), on its tool spans with the 5th tool call: the next request is never sent.
    assert len(server.requests) == (5 if sdk_tracing else 6)


def test_text_the_sdk_span_ended_before_is_still_judged(server, instrumented):
    """With the SDK's tracing on (content mode off), its span ends inside the call, before
    we read the reply: the text detectors get the text late, and their verdict goes on
    the run's agent span."""
    import otel_agentwatch

    claude = client(server, instrumented)
    restated = "I will look at the failing test again and then decide what to change next."
    with otel_agentwatch.agent_run("ci-helper", tracer_provider=instrumented.provider):
        for turn in range(5):
            server.script(message(restated, id_=f"msg_{turn}"))
            claude.messages.create(model="claude-scripted-1", max_tokens=64,
                                   messages=[*QUESTION, {"role": "assistant", "content": "?"},
                                             {"role": "user", "content": f"turn {turn}"}])
    calls = instrumented.spans("anthropic.messages.create")
    assert len(calls) == 5 and not any("agentwatch.flagged" in s.attributes for s in calls)
    (agent,) = instrumented.spans("invoke_agent")
    assert "loop.repeated_text" in agent.attributes["agentwatch.run.detections"]
    assert agent.attributes["agentwatch.run.severity"] == "critical"
