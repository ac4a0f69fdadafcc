"""Whatever a span carries, detection goes on: no exception, no skipped span, no detector
switched off. The conftest's strict guard turns any internal error into a test failure.
"""

from __future__ import annotations

import itertools
import json
import math

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from opentelemetry.sdk.trace import ReadableSpan
from opentelemetry.trace import SpanContext, Status, StatusCode

from otel_agentwatch import AgentWatchSpanProcessor, Config, semconv, tool
from otel_agentwatch.normalize import classify, normalize
from tests.conftest import Pipeline
from tests.dialects import GenAI

DEEP = "[" * 5000 + "]" * 5000  # past the interpreter's recursion limit
NESTED = json.dumps(json.loads("[" * 100 + "1" + "]" * 100))  # past MAX_DEPTH, parseable


def _critical_at_fifth(pipeline: Pipeline) -> None:
    tools = pipeline.spans("execute_tool")
    assert len(tools) == 5
    assert tools[4].attributes["agentwatch.severity"] == "critical"


@pytest.mark.parametrize("arguments", [DEEP, NESTED, '{"args": 1, "kwargs": {}}',
                                       '{"q": ' + DEEP + "}"],
                         ids=["deeper than the interpreter", "deeper than MAX_DEPTH",
                              "a malformed smolagents envelope", "deep inside an object"])
def test_hostile_arguments_are_compared_as_text(arguments):
    """Five identical calls are flagged whatever their arguments look like."""
    pipeline = Pipeline(Config())
    with pipeline.tracer.start_as_current_span(
            "invoke_agent a", attributes={"gen_ai.operation.name": "invoke_agent"}):
        for _ in range(5):
            with pipeline.tracer.start_as_current_span("execute_tool t", attributes={
                    "gen_ai.operation.name": "execute_tool", "gen_ai.tool.name": "t",
                    "gen_ai.tool.call.arguments": arguments,
                    "gen_ai.tool.call.result": DEEP}):
                pass
    _critical_at_fifth(pipeline)


@pytest.mark.parametrize("tokens", [math.inf, -math.inf, math.nan, "1e400", 10**30])
def test_impossible_token_counts_are_no_counts(tokens):
    pipeline = Pipeline(Config())
    with GenAI.agent(pipeline.tracer), pipeline.tracer.start_as_current_span("chat m", attributes={
            "gen_ai.operation.name": "chat", "gen_ai.usage.input_tokens": tokens,
            "gen_ai.usage.output_tokens": tokens, "gen_ai.output.messages": DEEP}):
        pass
    assert len(pipeline.spans("chat")) == 1


class Clause:
    """An argument whose == does not answer (SQLAlchemy clauses build an expression)."""

    def __init__(self, text: str) -> None:
        self.text = text

    def __eq__(self, other):
        raise TypeError("Boolean value of this clause is not defined")

    __hash__ = object.__hash__

    def __str__(self) -> str:
        return self.text


@pytest.mark.parametrize("argument", [lambda: Clause("status = 'open'"),
                                      lambda: np.arange(4), lambda: {"filter": np.arange(4)}],
                         ids=["raising ==", "numpy array", "numpy array inside a dict"])
def test_arguments_whose_equality_raises_are_compared_by_their_text(argument):
    pipeline = Pipeline(Config())

    @tool(tracer_provider=pipeline.provider)
    def query(where):
        return "3 rows"

    with GenAI.agent(pipeline.tracer):
        for _ in range(5):
            query(argument())
    _critical_at_fifth(pipeline)
    assert len(pipeline.processor.detectors) == len(Pipeline(Config()).processor.detectors)


# --- property-based: every dialect, any attribute values ------------------------------------

_ATOMS = st.one_of(
    st.text(max_size=40), st.booleans(), st.integers(-(2**63), 2**63 - 1),
    st.floats(allow_nan=True, allow_infinity=True),
)
_JSON = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=20),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=8), inner,
                                                                max_size=4),
    max_leaves=12,
).map(json.dumps)
_HOSTILE_TEXT = st.sampled_from([
    DEEP, NESTED, '{"args": 1, "kwargs": {}}', '{"args": [1], "kwargs": 2}', "1e400", "nan",
    '{"input_str": 3, "inputs": 4, "metadata": {}}', '{"lc": 1, "kwargs": ' + DEEP + "}",
    '{"content": ' + DEEP + ', "tool_call_id": "x"}', "'" * 1000, "(" * 3000,
    '[{"role": "user", "parts": ' + DEEP + "}]", '"' + "\\\"" * 500 + '"',
])
_VALUES = st.one_of(_ATOMS, _JSON, _HOSTILE_TEXT,
                    st.lists(_ATOMS | _HOSTILE_TEXT, max_size=4).map(tuple))

_COMMON = [semconv.ERROR_TYPE, semconv.GEN_AI_AGENT_NAME]
# Per dialect: the key that names it, the kinds it knows, and the keys it reads.
_DIALECT_KEYS = {
    "genai": (semconv.GEN_AI_OPERATION_NAME, ("execute_tool", "chat", "invoke_agent"), [
        semconv.GEN_AI_TOOL_NAME, semconv.GEN_AI_TOOL_CALL_ARGUMENTS,
        semconv.GEN_AI_TOOL_CALL_RESULT, semconv.GEN_AI_TOOL_CALL_ID,
        semconv.GEN_AI_RESPONSE_MODEL, semconv.GEN_AI_REQUEST_MODEL,
        semconv.GEN_AI_USAGE_INPUT_TOKENS, semconv.GEN_AI_USAGE_OUTPUT_TOKENS,
        semconv.GEN_AI_USAGE_REASONING_OUTPUT_TOKENS, semconv.GEN_AI_OUTPUT_MESSAGES,
        semconv.GEN_AI_INPUT_MESSAGES]),
    "openinference": (semconv.OI_SPAN_KIND, ("TOOL", "LLM", "AGENT"), [
        semconv.OI_INPUT_VALUE, semconv.OI_OUTPUT_VALUE, semconv.OI_TOOL_NAME,
        semconv.OI_MODEL_NAME, semconv.OI_TOKENS_PROMPT, semconv.OI_TOKENS_COMPLETION,
        semconv.OI_OUTPUT_MESSAGE_CONTENT, "llm.input_messages.0.message.role",
        "llm.input_messages.0.message.content"]),
    "openllmetry": (semconv.TL_SPAN_KIND, ("tool", "agent", "task"), [
        semconv.TL_ENTITY_INPUT, semconv.TL_ENTITY_OUTPUT, semconv.TL_ENTITY_NAME,
        semconv.TL_REQUEST_TYPE, semconv.GEN_AI_TOOL_CALL_ARGUMENTS,
        semconv.GEN_AI_USAGE_INPUT_TOKENS, "gen_ai.prompt.0.role", "gen_ai.prompt.0.content"]),
    "mcp": (semconv.MCP_METHOD_NAME, ("tools/call", "tools/list", "initialize"), [
        semconv.GEN_AI_TOOL_NAME, semconv.GEN_AI_TOOL_CALL_ARGUMENTS,
        semconv.GEN_AI_TOOL_CALL_RESULT, semconv.JSONRPC_REQUEST_ID, semconv.OI_INPUT_VALUE]),
}


@st.composite
def _span_attributes(draw: st.DrawFn, dialect: str) -> dict:
    marker, kinds, keys = _DIALECT_KEYS[dialect]
    # Mostly a kind the dialect knows, so that the values are read.
    kind = draw(st.sampled_from(kinds)) if draw(st.integers(0, 9)) else draw(_VALUES)
    attributes = {marker: kind}
    for key in draw(st.lists(st.sampled_from(keys + _COMMON), max_size=6, unique=True)):
        attributes[key] = draw(_HOSTILE_TEXT if draw(st.booleans()) else _VALUES)
    return attributes


def _span(span_id: int, parent: int | None, attributes: dict, error: bool,
          trace_id: int = 7) -> ReadableSpan:
    context = SpanContext(trace_id=trace_id, span_id=span_id, is_remote=False)
    return ReadableSpan(
        name="execute_tool x", context=context, attributes=attributes,
        parent=SpanContext(trace_id=trace_id, span_id=parent, is_remote=False) if parent
        else None,
        status=Status(StatusCode.ERROR, "failed") if error else Status(StatusCode.UNSET),
        start_time=1, end_time=2,
    )


class _Collect:
    def __init__(self) -> None:
        self.ended: list[ReadableSpan] = []

    def on_start(self, span, parent_context=None) -> None: ...

    def on_end(self, span) -> None:
        self.ended.append(span)

    def shutdown(self) -> None: ...

    def force_flush(self, timeout_millis: int = 30000) -> bool:
        return True


_TRACES = itertools.count(1)


@pytest.fixture(scope="module")
def _processor() -> tuple[AgentWatchSpanProcessor, _Collect]:
    """One processor for every example (each its own trace): building one per example
    would cost more than the examples."""
    collect = _Collect()
    return AgentWatchSpanProcessor(collect, config=Config()), collect


@pytest.mark.parametrize("dialect", sorted(_DIALECT_KEYS))
@settings(max_examples=700, deadline=None,
          suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture])
@given(data=st.data())
def test_any_attributes_give_a_step_and_every_span_goes_on(dialect, data, _processor):
    """Read five times in one run (so the detectors compare the values with each other),
    any attributes a span of this dialect may carry: no exception (the strict guard
    raises any), every span handed on, no detector switched off."""
    attributes = data.draw(_span_attributes(dialect))
    error = data.draw(st.booleans())
    shape = classify(_span(2, 1, attributes, error))
    if shape is not None:
        assert normalize(_span(2, 1, attributes, error), (7, 1)) is not None
    processor, collect = _processor
    running = len(processor.detectors)
    before = len(collect.ended)
    trace = next(_TRACES)
    for index in range(5):
        processor.on_end(_span(10 + index, 1, attributes, error, trace))
    processor.on_end(_span(1, None, {"gen_ai.operation.name": "invoke_agent"}, False, trace))
    assert len(collect.ended) - before == 6
    assert len(processor.detectors) == running


# --- size: work and memory on the application's thread are bounded ---------------------------

LONG_COMMANDS = {
    "one long word": "echo " + "x" * 1_000_000,
    "a long run of spaces": "echo" + " " * 200_000 + "a",
    "a long quoted script": 'python -c "' + "a = 1\n" * 170_000 + '"',
    "a long line of separators": "true;" * 200_000,
}


@pytest.mark.parametrize("command", LONG_COMMANDS.values(), ids=LONG_COMMANDS.keys())
def test_a_long_shell_command_is_read_only_up_to_the_limit(command, monkeypatch):
    """What is tokenized and split is at most COMMAND_LIMIT characters, whatever the
    command's length (a 200 KB one held the agent's thread for a second; 200 KB of spaces,
    for minutes), and the command is still classified from its start."""
    from otel_agentwatch.detectors import actions

    read: list[int] = []
    split = actions._split
    monkeypatch.setattr(actions, "_split", lambda text: read.append(len(text)) or split(text))
    cache: dict = {}
    action = actions.classify_action("bash", {"command": command}, cache)
    assert read and max(read) <= actions.COMMAND_LIMIT
    assert action.kind in (actions.OTHER, actions.VERIFY)
    assert all(not isinstance(key, str) or len(key) <= actions.COMMAND_LIMIT for key in cache)
    assert actions.classify_action("bash", {"command": command}, cache) == action


def test_a_write_at_the_start_of_a_long_command_is_still_a_write():
    from otel_agentwatch.detectors.actions import WRITE, classify_action

    action = classify_action("bash", {"command": "sed -i s/a/b/ f.py && " + "x" * 500_000})
    assert (action.kind, action.resource) == (WRITE, "f.py")


def test_memory_after_runs_with_megabyte_arguments_is_bounded():
    """100 runs of three shell calls with a different 1 MB command each: once they end,
    the processor holds well under 1 MB of it (its command cache held every command)."""
    import gc
    import tracemalloc

    processor = AgentWatchSpanProcessor(config=Config())  # nothing behind it keeps spans
    gc.collect()
    tracemalloc.start()
    before = tracemalloc.take_snapshot()
    for run in range(1, 101):
        command = json.dumps({"command": f"cat f{run}.py " + "x" * 1_000_000})
        for index in range(3):
            processor.on_end(_span(10 + index, 1, {
                "gen_ai.operation.name": "execute_tool", "gen_ai.tool.name": "bash",
                "gen_ai.tool.call.arguments": command, "gen_ai.tool.call.result": "ok"},
                False, trace_id=run))
        processor.on_end(_span(1, None, {"gen_ai.operation.name": "invoke_agent"}, False,
                               trace_id=run))
        del command
    gc.collect()
    grown = sum(stat.size_diff for stat in
                tracemalloc.take_snapshot().compare_to(before, "filename"))
    tracemalloc.stop()
    assert grown < 1_000_000


def test_an_agent_span_never_ended_is_not_kept_alive():
    import gc
    import weakref

    pipeline = Pipeline(Config())
    span = pipeline.tracer.start_span("invoke_agent lost",
                                      attributes={"gen_ai.operation.name": "invoke_agent"})
    assert pipeline.processor.live_spans == 1
    dropped = weakref.ref(span)
    del span
    gc.collect()
    assert dropped() is None
