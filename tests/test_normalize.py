"""Spans of each dialect become the steps a user would expect; identical calls compare equal."""

from __future__ import annotations

import json

import pytest
from opentelemetry.sdk.trace import Event, ReadableSpan
from opentelemetry.trace import SpanContext, Status, StatusCode

from otel_agentwatch import StepKind, semconv
from otel_agentwatch.normalize import _args, is_agent_span, is_tool_span, normalize
from otel_agentwatch.normalize._args import canonical_result, to_int, tool_arguments
from otel_agentwatch.normalize._span import make_step

RUN = (1, 2)


def span(name: str, attributes: dict, *, status: Status | None = None,
         events: tuple = ()) -> ReadableSpan:
    return ReadableSpan(
        name=name,
        context=SpanContext(trace_id=1, span_id=7, is_remote=False),
        parent=SpanContext(trace_id=1, span_id=2, is_remote=False),
        attributes=attributes,
        events=events,
        status=status or Status(StatusCode.UNSET),
        start_time=10, end_time=20,
    )


def key(value):
    return tool_arguments(value)[1]


class TestToolArguments:
    def test_key_order_and_whitespace_do_not_matter(self):
        """Two JSON encodings of the same arguments are the same call."""
        assert key('{"b": 1, "a": [1, 2]}') == key('{"a":[1,2],"b":1}')
        assert key('{"b": 1, "a": [1, 2]}') != key('{"b": 1, "a": [2, 1]}')

    def test_nested_objects_compare_by_content(self):
        first = '{"filter": {"year": 2020, "tags": ["a", {"x": 1, "y": 2}]}, "q": "x"}'
        second = '{"q": "x", "filter": {"tags": ["a", {"y": 2, "x": 1}], "year": 2020}}'
        assert key(first) == key(second)
        assert key(first) != key(first.replace("2020", "2021"))

    def test_python_literal_equals_json(self):
        """LangChain hands tools str(dict); it must match the JSON form of the same dict."""
        assert key("{'q': 'x', 'n': 2}") == key('{"n": 2, "q": "x"}')

    def test_parsed_arguments_are_returned(self):
        assert tool_arguments('{"path": "a.py", "line": 3}')[0] == {"path": "a.py", "line": 3}

    def test_volatile_ids_are_removed(self):
        """Call ids and LangGraph checkpoint ids differ between otherwise identical calls."""
        first = tool_arguments({"q": "x", "tool_call_id": "a", "langgraph_step": 1})
        second = tool_arguments('{"q": "x", "tool_call_id": "b", "langgraph_step": 2}')
        assert first[0] == second[0] == {"q": "x"}
        assert first[1] == second[1]

    @pytest.mark.parametrize("volatile", [*sorted(_args._VOLATILE_KEYS), "langgraph_node"])
    def test_every_volatile_key_is_removed_from_json_text(self, volatile):
        """The quick look before the scan for volatile keys misses none of them."""
        assert tool_arguments(json.dumps({"q": "x", volatile: "v"}))[0] == {"q": "x"}

    def test_openllmetry_callback_envelope_is_opened(self):
        """Only the tool's own inputs count, not the tags and per-step metadata around them."""
        payload = {"input_str": "{'q': 'x'}", "tags": [], "inputs": {"q": "x"},
                   "metadata": {"checkpoint_ns": "tools:123"}, "kwargs": {"tool_call_id": "c"}}
        assert tool_arguments(json.dumps(payload))[0] == {"q": "x"}

    def test_openllmetry_envelope_without_inputs_uses_input_str(self):
        payload = {"input_str": "{'q': 'x'}", "tags": [], "metadata": {}, "inputs": None}
        assert tool_arguments(json.dumps(payload))[0] == {"q": "x"}

    def test_smolagents_envelope_is_opened(self):
        """smolagents wraps arguments as {args, kwargs, sanitize_inputs_outputs}."""
        wrapped = '{"args": [], "sanitize_inputs_outputs": true, "kwargs": {"query": "x"}}'
        assert tool_arguments(wrapped)[0] == {"query": "x"}
        positional = '{"args": ["final"], "sanitize_inputs_outputs": false, "kwargs": {}}'
        assert tool_arguments(positional)[0] == {"args": ["final"]}

    def test_plain_text_is_kept_but_trimmed(self):
        assert tool_arguments("  ls -la\n") == ("ls -la", "ls -la")

    def test_doubly_encoded_json_is_decoded(self):
        assert key(json.dumps(json.dumps({"b": 1, "a": 2}))) == key({"a": 2, "b": 1})

    def test_huge_text_is_compared_as_is(self):
        """Arguments beyond the parse limit are not parsed (cost) but still compare equal."""
        big = json.dumps({"blob": "x" * 100_000})
        assert tool_arguments(big) == (big, big)

    def test_text_after_a_json_value_makes_it_text(self):
        assert tool_arguments('{"a": 1} and more')[0] == '{"a": 1} and more'

    def test_broken_json_is_text(self):
        assert tool_arguments('{"unterminated": ')[0] == '{"unterminated":'

    def test_none_stays_unknown(self):
        assert tool_arguments(None) == (None, None)


class TestCanonicalResult:
    def test_tool_message_content_only(self):
        """Two answers to two calls say the same thing even though their message ids differ."""
        first = json.dumps({"content": "sunny", "type": "tool", "tool_call_id": "a", "id": "1"})
        second = json.dumps({"content": "sunny", "type": "tool", "tool_call_id": "b", "id": "2"})
        assert canonical_result(first) == canonical_result(second) == "sunny"

    def test_langchain_serialized_and_openllmetry_envelope(self):
        message = {"lc": 1, "type": "constructor", "id": ["ToolMessage"],
                   "kwargs": {"content": "sunny", "tool_call_id": "a", "type": "tool"}}
        assert canonical_result(json.dumps({"output": message, "kwargs": {}})) == "sunny"

    def test_error_status_is_kept(self):
        failed = json.dumps({"content": "boom", "tool_call_id": "a", "status": "error"})
        assert canonical_result(failed) != canonical_result(
            json.dumps({"content": "boom", "tool_call_id": "a", "status": "success"}))


def test_to_int_accepts_numeric_strings_and_rejects_junk():
    assert to_int("951") == 951
    assert to_int(12.0) == 12
    assert to_int(True) is None
    assert to_int("many") is None
    assert to_int(float("nan")) is None


class TestDialects:
    def test_genai_tool(self):
        step = normalize(span("execute_tool search", {
            "gen_ai.operation.name": "execute_tool", "gen_ai.tool.name": "search",
            "gen_ai.tool.call.arguments": '{"q": "x"}', "gen_ai.tool.call.result": "r",
        }), RUN)
        assert (step.kind, step.name, step.args, step.result) == (StepKind.TOOL, "search",
                                                                  {"q": "x"}, "r")
        assert step.call_key == ("search", key({"q": "x"}))
        assert step.run_key == RUN and step.span_id == 7 and step.parent_span_id == 2

    def test_genai_tool_name_from_span_name(self):
        step = normalize(span("execute_tool lookup", {"gen_ai.operation.name": "execute_tool"}),
                         RUN)
        assert step.name == "lookup" and step.args is None and step.call_key is None

    def test_genai_chat_usage_with_deprecated_names(self):
        step = normalize(span("chat gpt-4o", {
            "gen_ai.operation.name": "chat", "gen_ai.request.model": "gpt-4o",
            "gen_ai.usage.prompt_tokens": 10, "gen_ai.usage.completion_tokens": 3,
            "gen_ai.usage.reasoning.output_tokens": 2,
            "gen_ai.output.messages": json.dumps([{"role": "assistant", "parts": [
                {"type": "text", "content": "hello"}]}]),
        }), RUN)
        assert (step.kind, step.name) == (StepKind.LLM, "gpt-4o")
        assert (step.input_tokens, step.output_tokens, step.reasoning_tokens) == (10, 3, 2)
        assert step.output_text == "hello"

    def test_genai_agent(self):
        step = normalize(span("invoke_agent planner", {
            "gen_ai.operation.name": "invoke_agent", "gen_ai.agent.name": "planner"}), RUN)
        assert (step.kind, step.name, step.agent_name) == (StepKind.AGENT, "planner", "planner")

    def test_openinference_llm_with_string_counts(self):
        """Token counts arrive as strings in some exports; they are still counts."""
        step = normalize(span("LiteLLMModel.__call__", {
            "openinference.span.kind": "LLM", "llm.model_name": "o3-mini",
            "llm.token_count.prompt": "422", "llm.token_count.completion": "987"}), RUN)
        assert (step.kind, step.name, step.input_tokens, step.output_tokens) == (
            StepKind.LLM, "o3-mini", 422, 987)

    def test_openinference_chain_is_other(self):
        step = normalize(span("Step 1", {"openinference.span.kind": "CHAIN"}), RUN)
        assert step.kind is StepKind.OTHER

    def test_openllmetry_llm_without_span_kind(self):
        step = normalize(span("ChatOpenAI.chat", {
            "llm.request.type": "chat", "gen_ai.request.model": "gpt-4o",
            "gen_ai.usage.input_tokens": 5, "gen_ai.usage.output_tokens": 1}), RUN)
        assert (step.kind, step.name, step.input_tokens) == (StepKind.LLM, "gpt-4o", 5)

    def test_unknown_span_is_not_a_step(self):
        assert normalize(span("GET /v1/chat", {"http.request.method": "GET"}), RUN) is None
        assert normalize(span("work", {}), RUN) is None

    def test_error_from_status_and_exception_event(self):
        failed = span("execute_tool search", {"gen_ai.operation.name": "execute_tool"},
                      status=Status(StatusCode.ERROR, "timed out"),
                      events=(Event("exception", {"exception.type": "TimeoutError",
                                                  "exception.message": "timed out"}),))
        step = normalize(failed, RUN)
        assert (step.error, step.error_message) == ("TimeoutError", "timed out")
        assert step.outcome_key == ("error", "TimeoutError")

    def test_error_type_attribute_alone_is_an_error(self):
        step = normalize(span("execute_tool x", {"gen_ai.operation.name": "execute_tool",
                                                 "error.type": "ToolException"}), RUN)
        assert step.error == "ToolException"


@pytest.mark.parametrize(("name", "attributes", "expected"), [
    ("invoke_agent research", {}, True),
    ("agent", {"gen_ai.operation.name": "invoke_agent"}, True),
    ("CodeAgent.run", {"openinference.span.kind": "AGENT"}, True),
    ("crew.agent", {"traceloop.span.kind": "agent"}, True),
    ("LangGraph.workflow", {"traceloop.span.kind": "workflow"}, False),
    ("execute_tool search", {"gen_ai.operation.name": "execute_tool"}, False),
    ("anything", None, False),
])
def test_is_agent_span(name, attributes, expected):
    assert is_agent_span(span(name, attributes or {})) is expected


def test_make_step_fills_every_field_in_order():
    """make_step builds Step positionally for speed; each value must land in its field."""
    failed = span("execute_tool search", {"error.type": "Boom"},
                  status=Status(StatusCode.ERROR, "went wrong"))
    step = make_step(failed, {"error.type": "Boom"}, RUN, StepKind.TOOL, "search",
                     arguments=({"q": 1}, "K"), result="R", input_tokens=1, output_tokens=2,
                     reasoning_tokens=3, output_text="T", agent_name="A")
    assert step._asdict() == {
        "kind": StepKind.TOOL, "name": "search", "span_id": 7, "trace_id": 1,
        "run_key": RUN, "parent_span_id": 2, "args": {"q": 1}, "args_key": "K",
        "result": "R", "error": "Boom", "error_message": "went wrong",
        "input_tokens": 1, "output_tokens": 2, "reasoning_tokens": 3,
        "output_text": "T", "agent_name": "A", "start_time": 10, "end_time": 20,
    }


def test_genai_names_match_the_semantic_conventions_package():
    """Our spelled-out names are the ones the installed semconv package defines."""
    gen_ai = pytest.importorskip("opentelemetry.semconv._incubating.attributes.gen_ai_attributes")
    for constant in dir(semconv):
        if constant.startswith("GEN_AI_") and hasattr(gen_ai, constant):
            assert getattr(semconv, constant) == getattr(gen_ai, constant), constant


def test_a_span_in_both_dialects_reads_arguments_from_whichever_has_them():
    """OpenInference's ADK instrumentor: GenAI names the operation, OpenInference carries
    the content."""
    step = normalize(span("execute_tool lookup_order", {
        "gen_ai.operation.name": "execute_tool", "gen_ai.tool.name": "lookup_order",
        "openinference.span.kind": "TOOL", "input.value": '{"order_id": "A-1042"}',
        "output.value": "shipped"}), RUN)
    assert (step.kind, step.args, step.result) == (
        StepKind.TOOL, {"order_id": "A-1042"}, "shipped")
    both = normalize(span("execute_tool lookup_order", {
        "gen_ai.operation.name": "execute_tool", "gen_ai.tool.name": "lookup_order",
        "gen_ai.tool.call.arguments": '{"order_id": "B-7"}',
        "input.value": '{"order_id": "A-1042"}'}), RUN)
    assert both.args == {"order_id": "B-7"}, "the GenAI attribute wins when both are there"


@pytest.mark.parametrize(("name", "attributes", "expected"), [
    ("MCP send tools/call lookup_order", {"mcp.method.name": "tools/call"},
     (StepKind.TOOL, "lookup_order")),
    ("tools/call lookup_order", {"mcp.method.name": "tools/call",
                                 "gen_ai.operation.name": "execute_tool",
                                 "gen_ai.tool.name": "lookup_order"},
     (StepKind.TOOL, "lookup_order")),
    ("MCP send tools/list", {"mcp.method.name": "tools/list"}, (StepKind.OTHER, None)),
])
def test_mcp_tool_calls_are_tool_steps_and_other_methods_are_not(name, attributes, expected):
    step = normalize(span(name, attributes), RUN)
    assert (step.kind, step.name if step.kind is StepKind.TOOL else None) == expected


@pytest.mark.parametrize(("name", "attributes", "expected"), [
    ("execute_tool search", {}, True),
    ("tools/call search", {}, True),
    ("MCP send tools/call search", {}, True),
    ("search", {"openinference.span.kind": "TOOL"}, True),
    ("search.tool", {"traceloop.span.kind": "tool"}, True),
    ("FunctionTool.acall", {"gen_ai.operation.name": "execute_tool"}, True),
    ("chat gpt-4o", {"gen_ai.operation.name": "execute_tool"}, False),
    ("invoke_agent support", {}, False),
    ("MCP send tools/list", {"mcp.method.name": "tools/list"}, False),
    ("anything", None, False),
])
def test_is_tool_span(name, attributes, expected):
    assert is_tool_span(span(name, attributes or {})) is expected
