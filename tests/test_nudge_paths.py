"""Nudging (``AGENTWATCH_ACTION=nudge``): the note reaches the model, per model path.

The loops are hand-written agent loops on the real OpenAI and Anthropic clients against
the scripted server, whose model asks for the same lookup every turn; the server keeps
every request it received, which is what these tests read.
"""

from __future__ import annotations

import asyncio
import copy
import json
from collections.abc import Awaitable, Callable
from typing import Any

import anthropic
import openai
import pytest

from otel_agentwatch import AgentHalted, Config
from otel_agentwatch.detectors.base import Severity
from otel_agentwatch.nudge import NOTE_PREFIX
from tests.nudging import notes
from tests.scripted_server import (
    chat_chunks,
    chat_completion,
    message,
    message_events,
    response,
    response_events,
)

pytestmark = pytest.mark.frameworks  # the OpenAI and Anthropic SDKs of the test extras

ARGS = '{"order_id": "A-1042"}'
RESULT = "order A-1042: status unknown"
QUESTION = "Where is order A-1042?"


# --- the note in the request, per model path ------------------------------------------------------

def openai_client(server, cls=openai.OpenAI):
    return cls(base_url=server.url + "/v1", api_key="test", max_retries=0)


def anthropic_client(server, cls=anthropic.Anthropic):
    return cls(base_url=server.url, api_key="test", max_retries=0, open_telemetry=False)


def drive(turns: int, mode: str, script: Callable[[int], None],
          send: Callable[[int], None], asend: Callable[[int], Awaitable[None]],
          answered: Callable[[int], None]) -> None:
    """A hand-written loop of ``turns`` requests: the reply scripted, the request sent
    (``asend`` in the ``async`` mode, else ``send``), the tool answered."""
    if mode == "async":
        async def run() -> None:
            for turn in range(turns):
                script(turn)
                await asend(turn)
                answered(turn)

        asyncio.run(run())
        return
    for turn in range(turns):
        script(turn)
        send(turn)
        answered(turn)


def chat_loop(server, mode: str, turns: int) -> list[Any]:
    """Chat Completions; returns the caller's message list."""
    messages: list[Any] = [{"role": "system", "content": "You are a support agent."},
                           {"role": "user", "content": QUESTION}]
    oai, aoai = openai_client(server), openai_client(server, openai.AsyncOpenAI)

    def script(turn: int) -> None:
        call = [(f"call_{turn}", "lookup_order", ARGS)]
        server.script(chat_completion(None, call) if mode in ("whole", "async")
                      else chat_chunks("", call))

    def send(turn: int) -> None:
        if mode == "whole":
            oai.chat.completions.create(model="gpt-4o", messages=messages)
        elif mode == "stream":
            for _chunk in oai.chat.completions.create(model="gpt-4o", messages=messages,
                                                      stream=True):
                pass
        else:  # the stream helper
            with oai.chat.completions.stream(model="gpt-4o", messages=messages) as stream:
                stream.get_final_completion()

    async def asend(turn: int) -> None:
        await aoai.chat.completions.create(model="gpt-4o", messages=messages)

    def answered(turn: int) -> None:
        messages.append({"role": "assistant", "content": None, "tool_calls": [
            {"id": f"call_{turn}", "type": "function",
             "function": {"name": "lookup_order", "arguments": ARGS}}]})
        messages.append({"role": "tool", "tool_call_id": f"call_{turn}", "content": RESULT})

    drive(turns, mode, script, send, asend, answered)
    return messages


def responses_loop(server, mode: str, turns: int) -> list[Any]:
    """The Responses API through previous_response_id; returns every input list sent."""
    sent: list[Any] = []
    inputs: list[Any] = [{"role": "user", "content": QUESTION}]
    oai, aoai = openai_client(server), openai_client(server, openai.AsyncOpenAI)

    def script(turn: int) -> None:
        body = response(None, [(f"fc{turn}", "lookup_order", ARGS)], id_=f"resp_{turn}")
        server.script(body if mode != "stream" else response_events(body))
        sent.append(inputs)

    def send(turn: int) -> None:
        previous = f"resp_{turn - 1}" if turn else None
        if mode == "whole":
            oai.responses.create(model="gpt-5", input=inputs, previous_response_id=previous)
        else:
            for _event in oai.responses.create(model="gpt-5", input=inputs,
                                               previous_response_id=previous, stream=True):
                pass

    async def asend(turn: int) -> None:
        await aoai.responses.create(model="gpt-5", input=inputs,
                                    previous_response_id=f"resp_{turn - 1}" if turn else None)

    def answered(turn: int) -> None:
        nonlocal inputs  # only the new items: the server keeps the conversation
        inputs = [{"type": "function_call_output", "call_id": f"fc{turn}", "output": RESULT}]

    drive(turns, mode, script, send, asend, answered)
    return sent


def messages_loop(server, mode: str, turns: int) -> list[Any]:
    """Anthropic Messages; returns the caller's message list."""
    messages: list[Any] = [{"role": "user", "content": QUESTION}]
    tool_input = json.loads(ARGS)
    request = {"model": "claude-scripted-1", "max_tokens": 256, "system": "Support agent."}
    claude = anthropic_client(server)
    aclaude = anthropic_client(server, anthropic.AsyncAnthropic)

    def script(turn: int) -> None:
        body = message("Let me look.", [(f"toolu_{turn}", "lookup_order", tool_input)])
        server.script(body if mode in ("whole", "async") else message_events(body))

    def send(turn: int) -> None:
        if mode == "whole":
            claude.messages.create(messages=messages, **request)
        elif mode == "stream":
            for _event in claude.messages.create(messages=messages, stream=True, **request):
                pass
        else:  # the stream helper
            with claude.messages.stream(messages=messages, **request) as stream:
                stream.get_final_message()

    async def asend(turn: int) -> None:
        await aclaude.messages.create(messages=messages, **request)

    def answered(turn: int) -> None:
        messages.append({"role": "assistant", "content": [
            {"type": "tool_use", "id": f"toolu_{turn}", "name": "lookup_order",
             "input": tool_input}]})
        messages.append({"role": "user", "content": [
            {"type": "tool_result", "tool_use_id": f"toolu_{turn}", "content": RESULT}]})

    drive(turns, mode, script, send, asend, answered)
    return messages


Loop = Callable[[Any, str, int], list[Any]]
PATHS: list[tuple[str, Loop, str]] = [
    *[("chat", chat_loop, mode) for mode in ("whole", "async", "stream", "helper")],
    *[("responses", responses_loop, mode) for mode in ("whole", "async", "stream")],
    *[("messages", messages_loop, mode) for mode in ("whole", "async", "stream", "helper")],
]


@pytest.mark.parametrize(("api", "loop", "mode"), PATHS,
                         ids=[f"{api}-{mode}" for api, _, mode in PATHS])
def test_the_next_request_carries_each_finding_once(server, make_instrumented, api, loop,
                                                    mode):
    instrumented = make_instrumented(action="nudge")
    kept = loop(server, mode, 7)
    snapshot = copy.deepcopy(kept)
    noted = notes(server.requests)
    # The 3rd result (carried by request 3) warns, the 5th critical: each is told once,
    # in the request after the one whose span ended with the verdict.
    assert [index for index, _ in noted] == [4, 6]
    assert "called 3 times" in noted[0][1] and "called 5 times" in noted[1][1]
    assert noted[0][1].endswith("use what it returned, or try something different.")
    # The note is the last user message; the caller's own list never had it.
    for index, _ in noted:
        history = server.requests[index].get("messages") or server.requests[index]["input"]
        assert history[-1]["content"].startswith(NOTE_PREFIX)
    assert NOTE_PREFIX not in json.dumps(kept, default=str)
    assert kept == snapshot
    # The model span that carried each note says so, without its text (capture is off).
    spans = instrumented.spans("chat")
    events = [(index, event) for index, span in enumerate(spans)
              for event in span.events if event.name == "agentwatch.nudge"]
    assert [index for index, _ in events] == [4, 6]
    assert events[0][1].attributes["agentwatch.detections"] == (
        "loop.repeated_call", "loop.repeated_outcome")
    assert events[0][1].attributes["agentwatch.nudge.failure_modes"] == ("step_repetition",)
    assert all("agentwatch.nudge.text" not in event.attributes for _, event in events)


@pytest.mark.parametrize("loop", [chat_loop, messages_loop], ids=["chat", "messages"])
def test_a_run_without_findings_gets_no_note(server, make_instrumented, loop):
    make_instrumented(action="nudge")
    loop(server, "whole", 2)
    assert notes(server.requests) == []


def test_the_note_text_goes_on_the_span_only_with_capture_on(server, make_instrumented):
    instrumented = make_instrumented(action="nudge", capture_content=True)
    chat_loop(server, "whole", 5)
    [(_index, note)] = notes(server.requests)
    [event] = [event for span in instrumented.spans("chat") for event in span.events
               if event.name == "agentwatch.nudge"]
    assert event.attributes["agentwatch.nudge.text"] == note


def test_observe_and_halt_add_nothing_to_requests(server, make_instrumented):
    make_instrumented()  # observe
    chat_loop(server, "whole", 7)
    assert notes(server.requests) == []


def test_nudge_then_halt_at_critical(server, make_instrumented):
    """``nudge,halt``: told at warning; a run that goes on regardless halts at critical."""
    make_instrumented(action="nudge,halt")
    with pytest.raises(AgentHalted) as halted:
        chat_loop(server, "whole", 8)
    assert halted.value.detection.severity is Severity.CRITICAL
    assert [index for index, _ in notes(server.requests)] == [4]
    assert len(server.requests) == 6  # the 7th request, in a critical run, was not sent


@pytest.mark.parametrize(("api", "loop", "mode"), PATHS,
                         ids=[f"{api}-{mode}" for api, _, mode in PATHS])
def test_the_remaining_budget_in_every_request(server, make_instrumented, api, loop, mode):
    make_instrumented(action="nudge", nudge_budget="always",
                      settings={"AGENTWATCH_BUDGET_TOOL_CALLS": 20})
    loop(server, mode, 3)
    # The first request opens the run; each later one says what is left of it. In a
    # loop without tool spans, the calls whose results a request carries are counted
    # when its span ends, so each count is one call behind.
    assert [note for _, note in notes(server.requests)] == [
        "[agentwatch] Budget left: 20 of 20 tool calls.",
        "[agentwatch] Budget left: 19 of 20 tool calls."]


def test_the_detections_metric_counts_no_more_when_nudging(server):
    """A nudge is not a detection: the counter is the same whether the model is told."""
    from opentelemetry.sdk.metrics import MeterProvider
    from opentelemetry.sdk.metrics.export import InMemoryMetricReader

    from otel_agentwatch.instrumentation.openai import OpenAIInstrumentor
    from tests.conftest import Pipeline, detection_counts

    counted = {}
    for action in ("observe", "nudge"):
        reader = InMemoryMetricReader()
        pipeline = Pipeline(Config(action=action),
                            meter_provider=MeterProvider(metric_readers=[reader]))
        instrumentor = OpenAIInstrumentor()
        instrumentor.instrument(tracer_provider=pipeline.provider, config=pipeline.processor.config)
        try:
            chat_loop(server, "whole", 7)
        finally:
            instrumentor.uninstrument()
            pipeline.provider.shutdown()
        counted[action] = detection_counts(reader)
    assert counted["observe"][("loop.repeated_call", "critical")] == 1
    assert counted["nudge"] == counted["observe"]
    assert len(notes(server.requests)) == 2  # the nudged run was told, twice


def sdk_backed_model(server):
    """A LangChain chat model that calls the real OpenAI client, as ``ChatOpenAI`` does:
    both the LangChain path and the client's could add a note to one request."""
    from langchain_core.language_models import BaseChatModel
    from langchain_core.messages import AIMessage
    from langchain_core.outputs import ChatGeneration, ChatResult

    client = openai_client(server)

    def as_openai(message: Any) -> dict[str, Any]:
        if message.type == "ai":
            return {"role": "assistant", "content": message.content or None, "tool_calls": [
                {"id": call["id"], "type": "function", "function": {
                    "name": call["name"], "arguments": json.dumps(call["args"])}}
                for call in message.tool_calls]}
        if message.type == "tool":
            return {"role": "tool", "tool_call_id": message.tool_call_id,
                    "content": message.content}
        return {"role": "system" if message.type == "system" else "user",
                "content": message.content}

    class SdkBacked(BaseChatModel):
        @property
        def _llm_type(self) -> str:
            return "sdk-backed"

        def bind_tools(self, tools: Any, **kwargs: Any) -> SdkBacked:
            return self

        def _generate(self, messages, stop=None, run_manager=None, **kwargs):
            reply = client.chat.completions.create(
                model="gpt-4o", messages=[as_openai(m) for m in messages]).choices[0].message
            calls = [{"id": call.id, "name": call.function.name,
                      "args": json.loads(call.function.arguments)}
                     for call in reply.tool_calls or ()]
            return ChatResult(generations=[ChatGeneration(
                message=AIMessage(content=reply.content or "", tool_calls=calls))])

    return SdkBacked()


@pytest.mark.parametrize("budget", ["findings", "always"])
def test_a_langchain_model_over_the_sdk_is_told_once_per_request(server, budget):
    """The note goes in once, at the LangChain layer: the client inside the model call
    adds none of its own, in either budget mode."""
    langchain_agents = pytest.importorskip("langchain.agents")
    from langchain_core.tools import tool

    from otel_agentwatch.instrumentation.langchain import LangChainInstrumentor
    from tests.sdk_fixtures import Instrumented

    pipeline = Instrumented(Config(action="nudge", nudge_budget=budget,
                                   settings={"AGENTWATCH_BUDGET_TOOL_CALLS": 20}))
    langchain = LangChainInstrumentor()
    langchain.instrument(tracer_provider=pipeline.provider, config=pipeline.config)
    pipeline.instrumentors.append(langchain)

    @tool
    def lookup_order(order_id: str) -> str:
        """Look up an order's status."""
        return RESULT

    try:
        server.script(*[chat_completion(None, [(f"call_{turn}", "lookup_order", ARGS)])
                        for turn in range(4)], chat_completion("It is on its way."))
        agent = langchain_agents.create_agent(sdk_backed_model(server), [lookup_order])
        agent.invoke({"messages": [("user", QUESTION)]})
    finally:
        pipeline.close()
    told = notes(server.requests)
    indexes = [index for index, _ in told]
    assert len(indexes) == len(set(indexes)), "one note per request"
    if budget == "findings":
        assert indexes == [3]
        assert told[0][1].endswith("Budget left: 17 of 20 tool calls.")
    else:
        assert indexes == [1, 2, 3, 4]


def test_nudge_on_critical_tells_only_critical_findings(server, make_instrumented):
    make_instrumented(action="nudge", nudge_on="critical")
    chat_loop(server, "whole", 7)
    [(index, note)] = notes(server.requests)
    assert index == 6 and "called 5 times" in note


def test_a_failure_while_adding_the_note_sends_the_request_without_it(
        server, make_instrumented, lenient_guard, monkeypatch):
    from otel_agentwatch.instrumentation.openai._chat import ChatCompletionsApi

    def broken(self, kwargs, text):
        if text:
            raise RuntimeError("a bug in adding the note")
        return dict(kwargs)

    monkeypatch.setattr(ChatCompletionsApi, "with_note", broken)
    make_instrumented(action="nudge")
    chat_loop(server, "whole", 6)
    assert len(server.requests) == 6 and notes(server.requests) == []
