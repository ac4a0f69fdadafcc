"""OpenAI SDK instrumentation: the real client against a scripted server on 127.0.0.1."""

from __future__ import annotations

import asyncio
import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import openai
import pytest
from opentelemetry.trace import SpanKind, StatusCode

from otel_agentwatch import AgentHalted, Config, StepKind
from otel_agentwatch.instrumentation.openai import OpenAIInstrumentor
from tests.scripted_server import (
    HttpError,
    chat_chunks,
    chat_completion,
    response,
    response_events,
)

pytestmark = pytest.mark.frameworks  # needs the agent frameworks of the test extras

SYSTEM = {"role": "system", "content": "You are a support agent."}
ARGS = '{"order_id": "A-1042"}'


def client(server, cls=openai.OpenAI):
    return cls(base_url=server.url + "/v1", api_key="test", max_retries=0)


def lookup_loop(server, oai, turns: int, *, question: str = "Where is order A-1042?",
                result: str = "order A-1042: status unknown"):
    """A hand-written tool loop whose model asks for the same lookup every turn."""
    messages = [SYSTEM, {"role": "user", "content": question}]
    for turn in range(turns):
        server.script(chat_completion(None, [(f"call_{turn}", "lookup_order", ARGS)]))
        reply = oai.chat.completions.create(model="gpt-4o", messages=messages)
        messages.append(reply.choices[0].message)  # the SDK object, as applications do
        for call in reply.choices[0].message.tool_calls:
            messages.append({"role": "tool", "tool_call_id": call.id, "content": result})
    return messages


def test_chat_completion_span_matches_the_scripted_response(server, instrumented):
    server.script(chat_completion("Shipped.", [("call_1", "lookup_order", ARGS)],
                                  prompt_tokens=31, completion_tokens=7, reasoning_tokens=4))
    reply = client(server).chat.completions.create(
        model="gpt-4o", messages=[SYSTEM, {"role": "user", "content": "Where?"}],
        temperature=0.2, max_completion_tokens=300)
    assert reply.choices[0].message.content == "Shipped."
    [span] = instrumented.spans()
    assert span.name == "chat gpt-4o"
    assert span.kind is SpanKind.CLIENT
    attributes = span.attributes
    assert attributes["gen_ai.operation.name"] == "chat"
    assert attributes["gen_ai.provider.name"] == "openai"
    assert attributes["gen_ai.request.model"] == "gpt-4o"
    assert attributes["gen_ai.request.temperature"] == 0.2
    assert attributes["gen_ai.request.max_tokens"] == 300
    assert attributes["gen_ai.response.model"] == "gpt-4o-2024-08-06"
    assert attributes["gen_ai.response.id"] == "chatcmpl-1"
    assert attributes["gen_ai.usage.input_tokens"] == 31
    assert attributes["gen_ai.usage.output_tokens"] == 7
    assert attributes["gen_ai.usage.reasoning.output_tokens"] == 4
    assert attributes["gen_ai.response.finish_reasons"] == ("tool_calls",)
    assert attributes["agentwatch.requested_tools"] == ("lookup_order",)
    assert attributes["agentwatch.requested_tool_call_ids"] == ("call_1",)
    assert attributes["server.address"] == "127.0.0.1"
    # Content capture is off: nothing anyone wrote is on the span.
    assert not [key for key in attributes if "messages" in key or "arguments" in key]
    assert ARGS not in json.dumps(dict(attributes))
    # The detectors still saw the text in-process.
    [step] = instrumented.recorder.of(StepKind.LLM)
    assert step.output_text == "Shipped."


def test_content_capture_puts_messages_and_arguments_on_the_span(server, make_instrumented):
    pipeline = make_instrumented(capture_content=True)
    server.script(chat_completion(None, [("call_1", "lookup_order", ARGS)]))
    client(server).chat.completions.create(
        model="gpt-4o", messages=[SYSTEM, {"role": "user", "content": "Where is A-1042?"}])
    [span] = pipeline.spans()
    inputs = json.loads(span.attributes["gen_ai.input.messages"])
    assert inputs[1] == {"role": "user", "parts": [{"type": "text",
                                                     "content": "Where is A-1042?"}]}
    [output] = json.loads(span.attributes["gen_ai.output.messages"])
    assert output["parts"] == [{"type": "tool_call", "id": "call_1", "name": "lookup_order",
                                "arguments": {"order_id": "A-1042"}}]
    assert output["finish_reason"] == "tool_calls"


def test_streamed_chat_reads_chunks_and_final_usage(server, instrumented):
    server.script(chat_chunks("Your order has shipped.", [("call_9", "notify", '{"to": "me"}')],
                              usage=(40, 12)))
    stream = client(server).chat.completions.create(
        model="gpt-4o", messages=[{"role": "user", "content": "hi"}], stream=True,
        stream_options={"include_usage": True})
    text = "".join(chunk.choices[0].delta.content or "" for chunk in stream if chunk.choices)
    assert text == "Your order has shipped."
    [span] = instrumented.spans()
    assert span.attributes["gen_ai.usage.input_tokens"] == 40
    assert span.attributes["gen_ai.usage.output_tokens"] == 12
    assert span.attributes["gen_ai.response.finish_reasons"] == ("tool_calls",)
    assert span.attributes["agentwatch.requested_tools"] == ("notify",)
    [step] = instrumented.recorder.of(StepKind.LLM)
    assert step.output_text == "Your order has shipped."


def test_stream_closed_early_still_ends_its_span(server, instrumented):
    server.script(chat_chunks("a long answer that nobody reads"))
    with client(server).chat.completions.create(
            model="gpt-4o", messages=[{"role": "user", "content": "hi"}], stream=True) as stream:
        next(iter(stream))
    [span] = instrumented.spans()
    assert span.status.status_code is not StatusCode.ERROR
    assert "gen_ai.usage.input_tokens" not in span.attributes  # usage was never asked for


def test_stream_dropped_half_read_ends_its_span_when_collected(server, instrumented):
    """No close(), no with-block: the span still ends, with the text read so far."""
    import gc

    server.script(chat_chunks("a long answer that nobody reads"))
    stream = client(server).chat.completions.create(
        model="gpt-4o", messages=[{"role": "user", "content": "hi"}], stream=True)
    next(stream), next(stream)
    assert instrumented.spans() == []  # still open while the application holds it
    del stream
    gc.collect()
    [span] = instrumented.spans()
    assert span.name == "chat gpt-4o"
    [step] = instrumented.recorder.of(StepKind.LLM)
    assert step.output_text == "a lo"


def test_async_client_whole_and_streamed(server, instrumented):
    async def run():
        oai = client(server, openai.AsyncOpenAI)
        server.script(chat_completion("one", prompt_tokens=3, completion_tokens=1))
        await oai.chat.completions.create(model="gpt-4o-mini",
                                          messages=[{"role": "user", "content": "a"}])
        server.script(chat_chunks("two", usage=(5, 2)))
        stream = await oai.chat.completions.create(
            model="gpt-4o-mini", messages=[{"role": "user", "content": "b"}], stream=True,
            stream_options={"include_usage": True})
        return [chunk async for chunk in stream]

    chunks = asyncio.run(run())
    assert len(chunks) > 2
    spans = instrumented.spans("chat gpt-4o-mini")
    assert [(s.attributes["gen_ai.usage.input_tokens"], s.attributes["gen_ai.usage.output_tokens"])
            for s in spans] == [(3, 1), (5, 2)]


def test_api_error_marks_the_span_and_reaches_the_caller_unchanged(server, instrumented):
    server.script(HttpError(400, {"error": {"message": "bad request", "type": "invalid"}}))
    with pytest.raises(openai.BadRequestError):
        client(server).chat.completions.create(model="gpt-4o",
                                               messages=[{"role": "user", "content": "x"}])
    [span] = instrumented.spans()
    assert span.status.status_code is StatusCode.ERROR
    assert span.attributes["error.type"] == "BadRequestError"


def test_hand_written_loop_is_flagged_on_its_chat_spans_without_any_enclosing_span(
        server, instrumented):
    lookup_loop(server, client(server), turns=6)
    spans = instrumented.spans("chat")
    assert len(spans) == 6
    assert all(span.parent is None for span in spans)  # every call is a trace of its own
    assert len({span.context.trace_id for span in spans}) == 6
    # Call k carries the result of lookup k-1: the third identical lookup arrives with call 4.
    flags = [span.attributes.get("agentwatch.severity") for span in spans]
    assert flags == [None, None, None, "warning", "warning", "critical"]
    assert "loop.repeated_call" in spans[3].attributes["agentwatch.detections"]
    # The tool steps the detectors saw are the lookups, with their arguments and results.
    tools = instrumented.recorder.of(StepKind.TOOL)
    assert [(t.name, t.args, t.result) for t in tools] == [
        ("lookup_order", {"order_id": "A-1042"}, "order A-1042: status unknown")] * 5


def test_two_conversations_interleaved_are_separate_runs(server, instrumented):
    oai = client(server)
    first = [SYSTEM, {"role": "user", "content": "Where is order A-1042?"}]
    second = [SYSTEM, {"role": "user", "content": "Cancel order A-1042."}]
    for turn in range(3):
        for messages in (first, second):
            server.script(chat_completion(None, [(f"c{turn}", "lookup_order", ARGS)]))
            reply = oai.chat.completions.create(model="gpt-4o", messages=messages)
            messages.append(reply.choices[0].message)
            messages.append({"role": "tool", "tool_call_id": f"c{turn}", "content": "unknown"})
    # Each conversation repeated the lookup only twice (the third answer is never sent).
    assert instrumented.flagged() == []
    assert instrumented.processor.active_runs == 2


def test_responses_api_loop_through_previous_response_id(server, instrumented):
    oai = client(server)
    previous = None
    inputs: list = [{"role": "user", "content": "Find the invoice for ACME."}]
    for turn in range(5):
        server.script(response(None, [(f"fc{turn}", "search_invoices", '{"customer":"ACME"}')],
                               id_=f"resp_{turn}"))
        reply = oai.responses.create(model="gpt-5", instructions="Be brief.", input=inputs,
                                     previous_response_id=previous)
        previous = reply.id
        # Only the new items: the server keeps the conversation.
        inputs = [{"type": "function_call_output", "call_id": f"fc{turn}",
                   "output": "no invoices"}]
    spans = instrumented.spans("chat gpt-5")
    assert [s.attributes["gen_ai.usage.reasoning.output_tokens"] for s in spans] == [3] * 5
    assert spans[0].attributes["gen_ai.response.finish_reasons"] == ("completed",)
    assert spans[0].attributes["agentwatch.requested_tools"] == ("search_invoices",)
    assert [s.attributes.get("agentwatch.severity") for s in spans] == [
        None, None, None, "warning", "warning"]


def test_responses_api_loop_resending_the_whole_history(server, instrumented):
    """The Agents SDK's way: no previous_response_id, every earlier call and output sent
    again. Each output counts once: six identical lookups are six, not 21."""
    oai = client(server)
    items: list = [{"role": "user", "content": "Find the invoice for ACME."}]
    for turn in range(6):
        server.script(response(None, [(f"fc{turn}", "search_invoices", '{"customer":"ACME"}')],
                               id_=f"resp_{turn}"))
        oai.responses.create(model="gpt-5", input=list(items))
        items += [{"type": "function_call", "call_id": f"fc{turn}", "name": "search_invoices",
                   "arguments": '{"customer":"ACME"}'},
                  {"type": "function_call_output", "call_id": f"fc{turn}",
                   "output": "no invoices"}]
    tools = instrumented.recorder.of(StepKind.TOOL)
    assert len(tools) == 5  # the sixth call's output was never sent
    spans = instrumented.spans("chat gpt-5")
    assert [s.attributes.get("agentwatch.severity") for s in spans] == [
        None, None, None, "warning", "warning", "critical"]


def test_responses_api_streaming_and_async(server, instrumented):
    async def run():
        oai = client(server, openai.AsyncOpenAI)
        server.script(response_events(response("streamed answer", usage=(9, 4, 1))))
        stream = await oai.responses.create(model="gpt-5", input="hello", stream=True)
        return [event.type async for event in stream]

    types = asyncio.run(run())
    assert types == ["response.created", "response.completed"]
    [span] = instrumented.spans()
    assert span.attributes["gen_ai.usage.input_tokens"] == 9
    assert span.attributes["gen_ai.usage.reasoning.output_tokens"] == 1
    [step] = instrumented.recorder.of(StepKind.LLM)
    assert step.output_text == "streamed answer"


def test_responses_stream_helper_sync_and_async(server, instrumented):
    """``responses.stream()`` sends its request through ``responses.create(stream=True)``,
    which is traced: one span per call, ended with the last event, the text read."""
    server.script(response_events(response("streamed once", usage=(9, 4, 1))))
    with client(server).responses.stream(model="gpt-5", input="hello") as stream:
        final = stream.get_final_response()
    assert final.output_text == "streamed once"

    async def run():
        oai = client(server, openai.AsyncOpenAI)
        server.script(response_events(response("streamed twice", usage=(9, 4, 1))))
        async with oai.responses.stream(model="gpt-5", input="hello") as stream:
            return [event.type async for event in stream]

    assert asyncio.run(run())[-1] == "response.completed"
    spans = instrumented.spans("chat gpt-5")
    assert len(spans) == 2
    assert all(s.attributes["gen_ai.usage.input_tokens"] == 9 for s in spans)
    assert [step.output_text for step in instrumented.recorder.of(StepKind.LLM)] == [
        "streamed once", "streamed twice"]


def test_halt_raises_before_the_request_is_sent(server, make_instrumented):
    make_instrumented(action="halt")
    oai = client(server)
    with pytest.raises(AgentHalted) as halted:
        lookup_loop(server, oai, turns=8)
    assert halted.value.detection.severity.value == "critical"
    # Six calls went out; the seventh, in a run already critical, never reached the server.
    assert len(server.requests) == 6


def test_halt_works_when_another_instrumentations_model_span_is_current(server,
                                                                       make_instrumented):
    """OpenInference or OpenLLMetry instrumenting the framework: their model span is
    current around the SDK call, so ours is not made, and the halt check still runs."""
    from tests.dialects import GenAI

    instrumented = make_instrumented(action="halt")
    tracer = instrumented.tracer
    oai = client(server)
    with GenAI.agent(tracer), pytest.raises(AgentHalted):
        for _ in range(5):
            GenAI.tool(tracer, "lookup_order", {"order_id": "A-1042"})
        with tracer.start_as_current_span("ChatOpenAI", attributes={
                "openinference.span.kind": "LLM"}):
            server.script(chat_completion("never sent"))
            oai.chat.completions.create(model="gpt-4o",
                                        messages=[{"role": "user", "content": "again"}])
    assert server.requests == []


def test_raw_response_is_untouched_and_its_span_ends(server, instrumented):
    server.script(chat_completion("raw"))
    raw = client(server).chat.completions.with_raw_response.create(
        model="gpt-4o", messages=[{"role": "user", "content": "x"}])
    assert raw.parse().choices[0].message.content == "raw"
    [span] = instrumented.spans()
    assert span.name == "chat gpt-4o"


def test_uninstrument_restores_the_client(server):
    from openai.resources.chat.completions.completions import Completions

    original = Completions.__dict__["create"]
    instrumentor = OpenAIInstrumentor()
    instrumentor.instrument()
    assert Completions.__dict__["create"] is not original
    instrumentor.uninstrument()
    assert Completions.__dict__["create"] is original


def test_a_langchain_chat_model_calling_the_sdk_makes_one_model_span(server, instrumented):
    """The LangChain model span is current while the model calls the SDK: that call is
    the same model call, not a second one."""
    from langchain_core.language_models import BaseChatModel
    from langchain_core.messages import AIMessage
    from langchain_core.outputs import ChatGeneration, ChatResult

    from otel_agentwatch.instrumentation.langchain import LangChainInstrumentor

    class OpenAIBacked(BaseChatModel):
        """A minimal LangChain chat model over the real OpenAI client."""

        base_url: str

        @property
        def _llm_type(self) -> str:
            return "openai-backed"

        def _generate(self, messages, stop=None, run_manager=None, **kwargs):
            reply = client_for(self.base_url).chat.completions.create(
                model="gpt-4o", messages=[{"role": "user", "content": m.content}
                                          for m in messages])
            return ChatResult(generations=[ChatGeneration(
                message=AIMessage(content=reply.choices[0].message.content))])

    def client_for(url):
        return openai.OpenAI(base_url=url + "/v1", api_key="k", max_retries=0)

    langchain = LangChainInstrumentor()
    assert langchain.instrument(tracer_provider=instrumented.provider, config=instrumented.config)
    try:
        server.script(chat_completion("from langchain"))
        answer = OpenAIBacked(base_url=server.url).invoke("hello")
    finally:
        langchain.uninstrument()
    assert answer.content == "from langchain"
    model_spans = [s for s in instrumented.spans()
                   if s.attributes.get("gen_ai.operation.name") == "chat"]
    assert len(model_spans) == 1
    assert model_spans[0].instrumentation_scope.name == "otel_agentwatch.instrumentation.langchain"


def raw_loop_app(server) -> str:
    """An application's hand-written tool loop, knowing nothing of us; its model (the
    server, scripted here) asks for the same lookup five times, then answers."""
    for turn in range(5):
        server.script(chat_completion(None, [(f"call_{turn}", "lookup_order", ARGS)]))
    server.script(chat_completion("It shipped."))
    return textwrap.dedent(f"""
        from openai import OpenAI
        client = OpenAI(base_url="{server.url}/v1", api_key="k", max_retries=0)
        messages = [{{"role": "user", "content": "Where is order A-1042?"}}]
        while True:
            message = client.chat.completions.create(model="gpt-4o",
                                                     messages=messages).choices[0].message
            if not message.tool_calls:
                break
            messages.append(message)
            for call in message.tool_calls:
                messages.append({{"role": "tool", "tool_call_id": call.id, "content": "?"}})
    """)


def test_zero_code_import_line_flags_a_raw_sdk_loop(server):
    """`import otel_agentwatch.auto` alone, in a fresh process: no span of the app's own,
    no instrumentor called by hand; the loop's chat spans leave flagged."""
    from tests.test_setup import parse_console_spans, run_python

    result = run_python("import otel_agentwatch.auto\n" + raw_loop_app(server),
                        OTEL_TRACES_EXPORTER="console")
    assert result.returncode == 0, result.stderr
    spans = parse_console_spans(result.stdout)
    assert [span["name"] for span in spans] == ["chat gpt-4o"] * 6
    severities = [span["attributes"].get("agentwatch.severity") for span in spans]
    assert severities == [None, None, None, "warning", "warning", "critical"]


@pytest.mark.parametrize("action", ["observe", "nudge"])
def test_another_instrumentation_wrapped_first_keeps_its_span_and_we_add_none(server, action):
    """An instrumentation that wrapped ``create`` before us (with wrapt, as the official
    and OpenLLMetry ones do) makes the call's span; we make none, and its spans are
    judged with the tool results we read off the requests; a nudge goes into the
    request after the warning, recorded on its span."""
    import wrapt
    from openai.resources.chat.completions.completions import Completions

    from tests.nudging import notes, nudged
    from tests.sdk_fixtures import Instrumented

    pipeline = Instrumented(Config(action=action))
    for instrumentor in pipeline.instrumentors:  # theirs goes on first
        instrumentor.uninstrument()
    tracer = pipeline.provider.get_tracer("someone-else")

    def theirs(wrapped, instance, args, kwargs):
        with tracer.start_as_current_span("openai.chat", attributes={
                "gen_ai.operation.name": "chat", "gen_ai.request.model": kwargs["model"]}):
            return wrapped(*args, **kwargs)

    original = Completions.__dict__["create"]
    wrapt.wrap_function_wrapper(Completions, "create", theirs)
    try:
        for instrumentor in pipeline.instrumentors:
            instrumentor.instrument(tracer_provider=pipeline.provider, config=pipeline.config)
        lookup_loop(server, client(server), turns=5)
    finally:
        pipeline.close()
        Completions.create = original
    assert [span.name for span in pipeline.spans()] == ["openai.chat"] * 5
    assert [s.attributes.get("agentwatch.severity") for s in pipeline.spans()] == [
        None, None, None, "warning", "warning"]
    told = [index for index, _ in notes(server.requests)]
    assert told == ([4] if action == "nudge" else [])
    assert nudged(pipeline.spans()) == told


def test_a_failure_inside_our_reading_never_reaches_the_application(
        server, instrumented, monkeypatch, lenient_guard, caplog):
    """A request or response we cannot read: the call goes on (untraced, or with a span
    that ends without the reply), one warning is logged, the caller sees nothing."""
    from otel_agentwatch.instrumentation.openai._chat import ChatCompletionsApi

    def broken(*args, **kwargs):
        raise RuntimeError("unexpected SDK object")

    oai = client(server)
    monkeypatch.setattr(ChatCompletionsApi, "reply", broken)
    server.script(chat_completion("still answered"))
    reply = oai.chat.completions.create(model="gpt-4o", messages=[{"role": "user", "content": "a"}])
    assert reply.choices[0].message.content == "still answered"
    [span] = instrumented.spans()
    assert "gen_ai.response.model" not in span.attributes  # ended without the reply

    monkeypatch.setattr(ChatCompletionsApi, "request", broken)
    server.script(chat_completion("untraced"))
    reply = oai.chat.completions.create(model="gpt-4o", messages=[{"role": "user", "content": "b"}])
    assert reply.choices[0].message.content == "untraced"
    assert len(instrumented.spans()) == 1
    assert any("internal error" in record.getMessage() for record in caplog.records)


def test_chat_stream_helper_sync_and_async(server, instrumented):
    """``chat.completions.stream()`` (a context manager, not ``create``): one span per
    call, read from the completion accumulated when the block exits."""
    server.script(chat_chunks("helper text", [("call_h", "lookup_order", ARGS)],
                              usage=(21, 8)))
    with client(server).chat.completions.stream(
            model="gpt-4o", messages=[{"role": "user", "content": "hi"}],
            stream_options={"include_usage": True}) as stream:
        final = stream.get_final_completion()
    assert final.choices[0].message.content == "helper text"

    async def run():
        server.script(chat_chunks("async helper", usage=(5, 2)))
        async with client(server, openai.AsyncOpenAI).chat.completions.stream(
                model="gpt-4o", messages=[{"role": "user", "content": "hi"}],
                stream_options={"include_usage": True}) as stream:
            async for _event in stream:
                pass

    asyncio.run(run())
    first, second = instrumented.spans()
    assert first.attributes["gen_ai.usage.input_tokens"] == 21
    assert first.attributes["agentwatch.requested_tools"] == ("lookup_order",)
    assert second.attributes["gen_ai.usage.output_tokens"] == 2
    assert [step.output_text for step in instrumented.recorder.of(StepKind.LLM)] == [
        "helper text", "async helper"]


def test_opentelemetry_instrument_alone_flags_a_raw_sdk_loop(server):
    """`opentelemetry-instrument python app.py`, the app untouched: our hook attaches the
    processor and instruments the client."""
    import shutil

    from tests.test_setup import parse_console_spans

    command = shutil.which("opentelemetry-instrument", path=str(Path(sys.executable).parent))
    assert command, "opentelemetry-instrument is installed with the test extras"
    app = raw_loop_app(server)
    env = {k: v for k, v in os.environ.items() if not k.startswith(("AGENTWATCH_", "OTEL_"))}
    env.update(OTEL_TRACES_EXPORTER="console", OTEL_METRICS_EXPORTER="none",
               OTEL_LOGS_EXPORTER="none")
    result = subprocess.run([command, sys.executable, "-c", app], env=env,
                            capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr
    spans = [s for s in parse_console_spans(result.stdout) if s["name"] == "chat gpt-4o"]
    assert len(spans) == 6
    assert [s["attributes"].get("agentwatch.severity") for s in spans][-1] == "critical"
