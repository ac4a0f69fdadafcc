"""The detection service's parts without its servers: the trace buffer's timing and
bounds, decoding that forwards what was sent unchanged, and the verdicts put on received
spans."""

from __future__ import annotations

import contextlib
import json

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from opentelemetry.exporter.otlp.proto.common.trace_encoder import encode_spans
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest
from opentelemetry.proto.common.v1.common_pb2 import (
    AnyValue,
    ArrayValue,
    InstrumentationScope,
    KeyValue,
    KeyValueList,
)
from opentelemetry.proto.resource.v1.resource_pb2 import Resource
from opentelemetry.proto.trace.v1.trace_pb2 import ResourceSpans, ScopeSpans, Span, Status

from otel_agentwatch import Config, semconv
from otel_agentwatch.serve.decode import decode, decode_request
from otel_agentwatch.serve.judge import Judge
from otel_agentwatch.serve.traces import Overloaded, TraceBuffer

# --- OTLP messages built by hand, as any sender might ---------------------------------

HAS_IS_REMOTE, IS_REMOTE = 0x100, 0x200


def kv(key: str, value: object) -> KeyValue:
    return KeyValue(key=key, value=any_value(value))


def any_value(value: object) -> AnyValue:
    if isinstance(value, bool):
        return AnyValue(bool_value=value)
    if isinstance(value, int):
        return AnyValue(int_value=value)
    if isinstance(value, float):
        return AnyValue(double_value=value)
    if isinstance(value, bytes):
        return AnyValue(bytes_value=value)
    if isinstance(value, dict):
        return AnyValue(kvlist_value=KeyValueList(values=[kv(k, v) for k, v in value.items()]))
    if isinstance(value, list):
        return AnyValue(array_value=ArrayValue(values=[any_value(v) for v in value]))
    return AnyValue(string_value=str(value))


def span(trace: int, span_id: int, parent: int | None, name: str, start: int,
         attributes: dict[str, object] | None = None, *, remote: bool = False,
         error: bool = False) -> Span:
    return Span(
        trace_id=trace.to_bytes(16, "big"), span_id=span_id.to_bytes(8, "big"),
        parent_span_id=parent.to_bytes(8, "big") if parent else b"", name=name,
        kind=Span.SPAN_KIND_INTERNAL, start_time_unix_nano=start,
        end_time_unix_nano=start + 1000,
        attributes=[kv(k, v) for k, v in (attributes or {}).items()],
        status=Status(code=Status.STATUS_CODE_ERROR if error else Status.STATUS_CODE_UNSET),
        flags=HAS_IS_REMOTE | (IS_REMOTE if remote else 0))


def request(*spans: Span, service: str = "agent") -> ExportTraceServiceRequest:
    return ExportTraceServiceRequest(resource_spans=[ResourceSpans(
        resource=Resource(attributes=[kv("service.name", service)]),
        scope_spans=[ScopeSpans(scope=InstrumentationScope(name="tests", version="1"),
                                spans=list(spans))])])


def looping_trace(trace: int, calls: int = 5) -> list[Span]:
    """An agent span and ``calls`` identical tool calls under it."""
    spans = [span(trace, 1, None, "invoke_agent planner", 0,
                  {"gen_ai.operation.name": "invoke_agent", "gen_ai.agent.name": "planner"})]
    spans[0].end_time_unix_nano = 10_000_000
    for index in range(calls):
        spans.append(span(trace, 100 + index, 1, "execute_tool search", (index + 1) * 1000_000,
                          {"gen_ai.operation.name": "execute_tool", "gen_ai.tool.name": "search",
                           "gen_ai.tool.call.arguments": json.dumps({"q": "flights"})}))
    return spans


# --- decoding: forwarded as sent -------------------------------------------------------

values = st.recursive(
    st.one_of(st.text(max_size=20), st.booleans(),
              st.integers(min_value=-2**63, max_value=2**63 - 1),
              st.floats(allow_nan=False), st.binary(max_size=20)),
    lambda children: st.one_of(st.lists(children, max_size=4),
                               st.dictionaries(st.text(max_size=8), children, max_size=4)),
    max_leaves=12)


@given(attributes=st.dictionaries(st.text(min_size=1, max_size=12), values, max_size=6),
       remote=st.booleans(), dropped=st.integers(0, 1000))
@settings(max_examples=150, deadline=None)
def test_a_span_is_forwarded_as_it_was_sent(attributes: dict[str, object], remote: bool,
                                            dropped: int) -> None:
    """All the sender said, but for a link's trace state (see serve.decode)."""
    sent = span(7, 2, 1, "anything", 5, attributes, remote=remote)
    sent.dropped_attributes_count = dropped
    sent.events.add(name="an event", time_unix_nano=6, attributes=[kv("k", {"a": [1, 2]})])
    sent.links.add(trace_id=(9).to_bytes(16, "big"), span_id=(3).to_bytes(8, "big"),
                   attributes=[kv("why", "follows")],
                   flags=HAS_IS_REMOTE | (IS_REMOTE if remote else 0))
    sent.trace_state = "congo=t61rcWkgMzE"
    original = request(sent)
    original.resource_spans[0].schema_url = "https://opentelemetry.io/schemas/1.26.0"
    again = encode_spans(decode_request(original))
    assert again == original


def test_a_root_span_keeps_its_kind_status_and_resource() -> None:
    sent = span(7, 1, None, "root", 5, error=True)
    sent.kind = Span.SPAN_KIND_SERVER
    sent.status.message = "boom"
    [decoded] = decode_request(request(sent, service="gateway"))
    assert decoded.parent is None
    assert decoded.kind.name == "SERVER"
    assert decoded.status.description == "boom"
    assert decoded.resource.attributes["service.name"] == "gateway"
    assert encode_spans([decoded]) == request(sent, service="gateway")


# --- the buffer: when a trace is judged, and how much it holds -------------------------


class Clock:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


def held(trace: int, *, root: bool, count: int = 1) -> list:
    spans = [span(trace, 10 + i, 1, "child", i) for i in range(count)]
    if root:
        spans.append(span(trace, 1, None, "root", 0))
    return decode_request(request(*spans))


def test_a_rooted_trace_is_due_after_a_quiet_grace_period() -> None:
    clock = Clock()
    buffer = TraceBuffer(grace=5, ttl=300, max_spans=1000, clock=clock)
    buffer.add(held(1, root=True))
    clock.now = 4
    buffer.add(held(1, root=False))  # another process's spans, still coming
    clock.now = 8.9
    assert buffer.take_due() == []
    clock.now = 9.1
    [spans] = buffer.take_due()
    assert len(spans) == 3 and buffer.spans == 0 and buffer.traces == 0


def test_a_trace_whose_root_never_comes_is_due_at_its_ttl() -> None:
    clock = Clock()
    buffer = TraceBuffer(grace=5, ttl=60, max_spans=1000, clock=clock)
    buffer.add(held(1, root=False))
    clock.now = 59
    assert buffer.take_due() == [] and buffer.next_due_in() == pytest.approx(1)
    clock.now = 60
    assert len(buffer.take_due()) == 1


def test_late_spans_of_a_judged_trace_wait_only_for_the_grace_period() -> None:
    clock = Clock()
    buffer = TraceBuffer(grace=5, ttl=300, max_spans=1000, clock=clock)
    buffer.add(held(1, root=True))
    clock.now = 6
    assert len(buffer.take_due()) == 1
    buffer.add(held(1, root=False))
    clock.now = 12
    assert len(buffer.take_due()) == 1


def test_close_to_full_the_oldest_traces_are_judged_early() -> None:
    clock = Clock()
    buffer = TraceBuffer(grace=5, ttl=300, max_spans=1000, clock=clock)
    for trace in range(1, 10):
        buffer.add(held(trace, root=False, count=100))
    buffer.add(held(10, root=False, count=50))  # 950: above the high-water mark
    early = buffer.take_due()
    assert early and len(early[0]) == 100
    assert early[0][0].get_span_context().trace_id == 1  # the oldest first


@given(st.lists(st.tuples(st.integers(1, 30), st.integers(1, 400), st.booleans(),
                          st.floats(0, 20)), max_size=60))
@settings(max_examples=100, deadline=None)
def test_the_buffer_never_holds_more_than_its_bound_and_loses_nothing(
        batches: list[tuple[int, int, bool, float]]) -> None:
    clock = Clock()
    buffer = TraceBuffer(grace=5, ttl=60, max_spans=1000, clock=clock)
    accepted = taken = 0
    for trace, count, take, wait in batches:
        spans = held(trace, root=False, count=count)
        with contextlib.suppress(Overloaded):
            accepted += buffer.add(spans)
        assert buffer.spans <= 1000
        clock.now += wait
        if take:
            taken += sum(map(len, buffer.take_due()))
    taken += sum(map(len, buffer.take_all()))
    assert taken == accepted and buffer.spans == 0


# --- judging: verdicts onto the spans as received ---------------------------------------


def test_the_verdicts_go_onto_the_spans_as_received() -> None:
    received = decode_request(request(*looping_trace(5), service="planner-svc"))
    judge = Judge(Config())
    try:
        verdicts = judge.judge(received)
    finally:
        judge.shutdown()
    assert verdicts.criticals >= 1 and verdicts.flagged >= 3
    by_id = {s.get_span_context().span_id: s for s in verdicts.spans}
    last = by_id[104]
    assert last.attributes[semconv.SEVERITY] == "critical"
    assert last.resource.attributes["service.name"] == "planner-svc"
    assert last.instrumentation_scope.name == "tests"
    assert last.attributes["gen_ai.tool.call.arguments"] == '{"q": "flights"}'
    assert by_id[100] is received[1]  # the first call: nothing to add, the same object


# --- whatever a sender sends ---------------------------------------------------------------


def _raw_span(trace: bytes, span_id: bytes, parent: bytes, kind: int, start: int, end: int,
              name: str, state: str, flags: int, code: int,
              attributes: dict[str, object]) -> Span:
    raw = Span(trace_id=trace, span_id=span_id, parent_span_id=parent, name=name,
               start_time_unix_nano=start, end_time_unix_nano=end, trace_state=state,
               flags=flags, attributes=[kv(k, v) for k, v in attributes.items()])
    raw.kind = kind  # an enum field takes any int: unknown kinds are kept as sent
    raw.status.code = code
    return raw


raw_spans = st.builds(
    _raw_span, st.sampled_from([b"", b"\x01" * 16, b"\x02" * 16, b"\x03" * 7]),
    st.binary(max_size=9), st.sampled_from([b"", b"\x01" * 8, b"\x00" * 8]),
    st.integers(0, 9), st.integers(0, 2**64 - 1), st.integers(0, 2**64 - 1),
    st.text(max_size=30), st.text(max_size=20), st.integers(0, 2**32 - 1),
    st.integers(0, 5),
    st.dictionaries(st.sampled_from(["gen_ai.operation.name", "gen_ai.tool.name",
                                     "gen_ai.tool.call.arguments", "openinference.span.kind",
                                     "agentwatch.severity", "other"]),
                    values, max_size=4))


@given(st.lists(raw_spans, max_size=8))
@settings(max_examples=150, deadline=None)
def test_whatever_spans_a_sender_sends_are_held_judged_and_written_again(
        spans: list[Span]) -> None:
    """Ids of any length, unknown kinds and status codes, any trace state and flags, any
    attribute values: decoded, held, judged and encoded for the next hop, none lost but
    those whose ids OTLP does not allow (told to the sender)."""
    received, rejected = decode(request(*spans))
    assert len(received) + rejected == len(spans)
    buffer = TraceBuffer(grace=0, ttl=1, max_spans=100_000)
    buffer.add(received)
    judge = Judge(Config())
    try:
        judged = [verdicts for trace_spans in buffer.take_all()
                  for verdicts in [judge.judge(trace_spans)]]
    finally:
        judge.shutdown()
    assert sum(len(v.spans) for v in judged) == len(received)
    encode_spans([span for v in judged for span in v.spans])


def test_a_trace_with_no_agent_model_or_tool_span_passes_as_it_came() -> None:
    received = decode_request(request(
        span(9, 1, None, "GET /orders", 0, {"http.request.method": "GET"}),
        span(9, 2, 1, "SELECT orders", 10, {"db.system.name": "postgresql"})))
    judge = Judge(Config())
    replayed = []
    replay = judge._replayer.replay
    judge._replayer.replay = lambda spans: replayed.append(1) or replay(spans)  # counted
    try:
        verdicts = judge.judge(received)
        assert replayed == []  # the replay, most of judging's cost, is not paid
        judge.judge(decode_request(request(*looping_trace(8))))
        assert replayed == [1]
    finally:
        judge.shutdown()
    assert all(out is sent for out, sent in zip(verdicts.spans, received, strict=True))


def test_the_buffer_counts_the_agent_runs_it_holds() -> None:
    clock = Clock()
    buffer = TraceBuffer(grace=5, ttl=300, max_spans=1000, clock=clock)
    buffer.add(decode_request(request(*looping_trace(1), *looping_trace(2)[:3])))
    buffer.add(held(3, root=True))  # no agent span: a trace, not a run
    assert (buffer.traces, buffer.runs) == (3, 2)
    clock.now = 6
    buffer.take_due()
    assert (buffer.traces, buffer.runs) == (0, 0)
