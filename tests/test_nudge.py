"""Nudging (``AGENTWATCH_ACTION=nudge``): what a note says, and the settings. That the
note reaches the model, per model path: ``tests/test_nudge_paths.py``."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from otel_agentwatch import Config, ConfigError
from otel_agentwatch.detectors.base import Detection, Severity
from otel_agentwatch.nudge import NOTE_PREFIX, NudgeWriter, budget_left

# --- what a note says -------------------------------------------------------------------------

def found(detector: str = "loop.repeated_call", severity: str = "warning",
          failure_mode: str = "step_repetition", tool: str = "lookup_order",
          message_text: str = "lookup_order called 3 times in a row with identical arguments",
          ) -> Detection:
    return Detection(detector=detector, failure_mode=failure_mode,
                     severity=Severity(severity), score=0.5, message=message_text,
                     mast_codes=(), span_id=1, trace_id=1, run_key=(1, 1),
                     evidence={"count": 3, "tool": tool})


class TestWording:
    def test_the_built_in_wording_says_what_was_found_and_what_to_do(self):
        nudge = NudgeWriter().write([found()])
        assert nudge.text == (
            "[agentwatch] lookup_order called 3 times in a row with identical arguments. "
            "Calling it again will return the same: use what it returned, or try "
            "something different.")
        assert [d.detector for d in nudge.detections] == ["loop.repeated_call"]
        assert nudge.budget is False

    def test_one_sentence_per_failure_of_one_tool(self):
        outcome = found("loop.repeated_outcome",
                        message_text="lookup_order returned the same result 3 times")
        other = found(tool="search", message_text="search called 3 times in a row")
        nudge = NudgeWriter().write([found(), outcome, other])
        assert nudge.text.count("lookup_order") == 1
        assert "search called 3 times" in nudge.text

    def test_templates_from_the_environment_and_from_code(self):
        config = Config.from_env({
            "AGENTWATCH_ACTION": "nudge",
            "AGENTWATCH_NUDGE_TEMPLATE_STEP_REPETITION": "Stop calling $tool ($count calls).",
        })
        assert NudgeWriter.from_config(config).write([found()]).text == \
            "[agentwatch] Stop calling lookup_order (3 calls)."
        by_id = NudgeWriter.from_config(config, {
            "loop.repeated_call": lambda d: f"{d.severity.value}: enough of it."})
        assert by_id.write([found()]).text == "[agentwatch] warning: enough of it."

    def test_a_template_returning_none_leaves_the_finding_out(self):
        writer = NudgeWriter({"step_repetition": lambda d: None})
        assert writer.write([found()]) is None

    def test_a_template_that_raises_falls_back_to_the_built_in_wording(self, lenient_guard,
                                                                        caplog):
        def broken(detection: Detection) -> str:
            raise RuntimeError("a bug in the user's template")

        nudge = NudgeWriter({"loop.repeated_call": broken}).write([found()])
        assert "Calling it again will return the same" in nudge.text
        assert "nudge template" in caplog.text and "the built-in wording is used" in caplog.text

    def test_what_is_not_a_template_is_refused(self):
        with pytest.raises(TypeError, match="neither text nor a callable"):
            NudgeWriter({"loop.repeated_call": 3})  # type: ignore[dict-item]

    def test_the_budget_left(self):
        assert budget_left([("tool_calls", 28, 40), ("cost_usd", 3.8, 5.0),
                            ("tokens", 120_000, 100_000)]) == (
            "Budget left: 12 of 40 tool calls, $1.20 of $5.00, 0 of 100,000 tokens.")
        nudge = NudgeWriter().write([found()], [("tool_calls", 28, 40)])
        assert nudge.text.endswith("Budget left: 12 of 40 tool calls.") and nudge.budget
        assert NudgeWriter().write([], [("tool_calls", 28, 40)]) is None
        alone = NudgeWriter(budget_always=True).write([], [("tool_calls", 28, 40)])
        assert alone.text == "[agentwatch] Budget left: 12 of 40 tool calls."

    def test_a_note_stays_short_whatever_the_detections_carry(self):
        huge = found(message_text="x" * 100_000)
        many = [found(tool=f"tool{index}", message_text="y" * 5000) for index in range(50)]
        assert len(NudgeWriter().write([huge]).text) < 700
        assert len(NudgeWriter().write(many).text) <= 2000


class TestWhateverTheDetectionsCarry:
    """The host comes first: a note is written, bounded, or not at all, never an error."""

    evidence = st.dictionaries(st.sampled_from(["tool", "count", "path"]) | st.text(max_size=30),
                               st.one_of(
        st.text(max_size=300), st.integers(), st.floats(allow_nan=True),
        st.lists(st.text(max_size=20), max_size=5)), max_size=6)

    @given(st.lists(st.tuples(st.text(max_size=2000), st.text(max_size=40), evidence),
                    max_size=12),
           st.text(max_size=300))
    @settings(max_examples=200, deadline=None)
    def test_any_message_evidence_and_template(self, findings, template):
        detections = [Detection(detector=detector or "x.y", failure_mode="step_repetition",
                                severity=Severity.WARNING, score=0.5, message=message,
                                mast_codes=(), span_id=1, trace_id=1, run_key=(1, 1),
                                evidence=evidence)
                      for message, detector, evidence in findings]
        for writer in (NudgeWriter(), NudgeWriter({"step_repetition": template})):
            nudge = writer.write(detections, [("tool_calls", 3, 2), ("cost_usd", 1e308, 1.0)])
            if nudge is not None:
                assert nudge.text.startswith(NOTE_PREFIX) and len(nudge.text) <= 2000


class TestSettings:
    @pytest.mark.parametrize(("given", "read"), [
        ("nudge", "nudge"), ("halt,nudge", "nudge,halt"), (" nudge , halt ", "nudge,halt"),
        ("observe", "observe")])
    def test_actions(self, given, read):
        config = Config.from_env({"AGENTWATCH_ACTION": given})
        assert config.action == read
        assert config.nudges == ("nudge" in read) and config.halts == ("halt" in read)

    @pytest.mark.parametrize("given", ["stop", "observe,halt", "nudge,pause"])
    def test_an_unknown_action_is_refused_with_what_is_accepted(self, given):
        with pytest.raises(ConfigError, match="one of observe, nudge, halt, nudge,halt"):
            Config.from_env({"AGENTWATCH_ACTION": given})

    def test_nudge_templates_are_not_taken_for_typos(self, caplog):
        from otel_agentwatch import AgentWatchSpanProcessor

        AgentWatchSpanProcessor(config=Config.from_env({
            "AGENTWATCH_ACTION": "nudge", "AGENTWATCH_NUDGE_TEMPLATE_STEP_REPETITION": "x",
            "AGENTWATCH_LOOP_REPEAT_TRESHOLD": "4"}))
        warned = " ".join(record.getMessage() for record in caplog.records)
        assert "AGENTWATCH_LOOP_REPEAT_TRESHOLD" in warned
        assert "NUDGE_TEMPLATE" not in warned
