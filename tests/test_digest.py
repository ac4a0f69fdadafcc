"""Keyed digests of tool arguments and results on spans exported with capture off."""

from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st

from otel_agentwatch import Config, agent_run, tool
from otel_agentwatch.digest import DIGEST_HEX_DIGITS, Digester
from tests.conftest import Pipeline

ARGUMENTS = "agentwatch.tool.arguments_digest"
RESULT = "agentwatch.tool.result_digest"


class TestDigester:
    def test_equal_calls_have_equal_digests_and_nothing_else_does(self):
        digester = Digester("deployment key")
        first = digester.digest({"order_id": "A-1042", "verbose": True})
        assert first == digester.digest({"verbose": True, "order_id": "A-1042"})
        assert first != digester.digest({"order_id": "A-1043", "verbose": True})
        assert len(first) == DIGEST_HEX_DIGITS and int(first, 16) >= 0

    def test_the_key_decides_who_can_compare(self):
        shared = Digester("deployment key"), Digester("deployment key")
        assert shared[0].digest("x") == shared[1].digest("x") and shared[0].shared
        own = Digester(), Digester()
        assert own[0].digest("x") != own[1].digest("x") and not own[0].shared

    @given(st.recursive(st.none() | st.booleans() | st.integers() | st.floats() |
                        st.text(max_size=50),
                        lambda inner: st.lists(inner, max_size=4) |
                        st.dictionaries(st.text(max_size=10), inner, max_size=4),
                        max_leaves=30))
    @settings(max_examples=200, deadline=None)
    def test_any_value_has_a_digest(self, value):
        assert len(Digester().digest(value)) == DIGEST_HEX_DIGITS


def run_lookups(pipeline: Pipeline, order_ids: list[str]) -> list:
    lookup = tool("lookup_order", tracer_provider=pipeline.provider)(
        lambda order_id: f"order {order_id}: shipped")
    with agent_run("support", tracer_provider=pipeline.provider):
        for order_id in order_ids:
            lookup(order_id=order_id)
    return pipeline.spans("execute_tool")


def test_tool_spans_carry_digests_instead_of_their_content():
    pipeline = Pipeline(Config())
    first, again, other = run_lookups(pipeline, ["A-1042", "A-1042", "B-7"])
    for span in (first, again, other):
        assert "gen_ai.tool.call.arguments" not in span.attributes
        assert "gen_ai.tool.call.result" not in span.attributes
        assert len(span.attributes[ARGUMENTS]) == len(span.attributes[RESULT]) == 16
    assert first.attributes[ARGUMENTS] == again.attributes[ARGUMENTS]
    assert first.attributes[RESULT] == again.attributes[RESULT]
    assert first.attributes[ARGUMENTS] != other.attributes[ARGUMENTS]
    assert first.attributes[RESULT] != other.attributes[RESULT]
    pipeline.provider.shutdown()


def test_with_a_shared_key_two_processes_digest_alike():
    made = []
    for _process in range(2):
        pipeline = Pipeline(Config(digest_key="deployment key"))
        made.append(run_lookups(pipeline, ["A-1042"])[0].attributes[ARGUMENTS])
        pipeline.provider.shutdown()
    assert made[0] == made[1]


def test_no_digests_with_capture_on_or_when_turned_off():
    for config in (Config(capture_content=True), Config(digests=False)):
        pipeline = Pipeline(config)
        [span] = run_lookups(pipeline, ["A-1042"])
        assert ARGUMENTS not in span.attributes and RESULT not in span.attributes
        pipeline.provider.shutdown()


def test_the_key_is_never_shown():
    config = Config.from_env({"AGENTWATCH_DIGEST_KEY": "s3cret"})
    assert config.digest_key == "s3cret"
    assert "s3cret" not in repr(config)
    from otel_agentwatch.cli.reference import effective_settings

    shown = {setting.env: setting.format(value) for setting, value in effective_settings(config)}
    assert shown["AGENTWATCH_DIGEST_KEY"] == "(set)"


def test_a_replayed_export_keeps_the_digests_it_came_with(tmp_path):
    """Replayed (``agentwatch analyze``, a detection service), spans whose content is
    known by its digests only keep them: nothing is digested twice."""
    from google.protobuf.json_format import MessageToJson
    from opentelemetry.exporter.otlp.proto.common.trace_encoder import encode_spans

    from otel_agentwatch.cli.exports import read_spans
    from otel_agentwatch.cli.replay import replay

    pipeline = Pipeline(Config())
    original = run_lookups(pipeline, ["A-1042"] * 3)
    pipeline.provider.shutdown()
    path = tmp_path / "export.json"
    path.write_text(MessageToJson(encode_spans(pipeline.spans())))
    replayed = [span for span in replay(list(read_spans(path)), Config())
                if span.name.startswith("execute_tool")]
    assert [s.attributes[ARGUMENTS] for s in replayed] == \
        [s.attributes[ARGUMENTS] for s in original]
    assert [s.attributes[RESULT] for s in replayed] == [s.attributes[RESULT] for s in original]
    assert replayed[-1].attributes["agentwatch.detections"] == (
        "loop.repeated_call", "loop.repeated_outcome")
