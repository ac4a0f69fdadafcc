"""How runs end: unverified changes and unresolved errors, judged when the run's span ends."""

from __future__ import annotations

import itertools
import json

import pytest

from otel_agentwatch import Config, Severity, StepKind, agent_run, tool
from otel_agentwatch.detectors.termination import (
    EndedAfterErrorsDetector,
    UngroundedAnswerDetector,
    UnverifiedEndingDetector,
)
from otel_agentwatch.normalize._args import tool_arguments
from otel_agentwatch.steps import Step
from tests.conftest import Pipeline
from tests.detecting import Facts, built

_ids = itertools.count(1)
ANCHOR = Step(StepKind.AGENT, "coder", 999, 1, (1, 999))


def call(name: str, error: str | None = None, **args) -> Step:
    parsed, key = tool_arguments(json.dumps(args))
    return Step(StepKind.TOOL, name, next(_ids), 1, (1, 999), args=parsed, args_key=key,
                error=error)


def edit(path: str = "app.py") -> Step:
    return call("str_replace_editor", command="str_replace", path=path, old_str="a",
                new_str="b")


def bash(command: str, error: str | None = None) -> Step:
    return call("bash", error=error, command=command)


def judge(detector, steps, anchor=ANCHOR):
    state = detector.new_state()
    facts = Facts()
    for step in steps:
        assert detector.observe(step, state, facts(step)) is None  # judged at the end only
    return detector.finish(anchor, state)


class TestUnverifiedEnding:
    @pytest.mark.parametrize("steps", [
        [edit()],
        [bash("pytest -q"), edit()],
        [edit(), bash("cat app.py"), edit("b.py")],
        [edit(), bash("echo x > out.txt")],
        [edit(), bash("rm other.py")],
    ], ids=["one edit", "edit after the tests", "edits and a read", "shell redirect",
            "edit then an unrelated delete"])
    def test_changes_left_unverified(self, steps):
        detection = judge(UnverifiedEndingDetector(), steps)
        assert detection.severity is Severity.INFO  # advisory by default
        assert detection.span_id == ANCHOR.span_id
        assert detection.mast_codes == ("FM-3.2", "FM-3.1")

    @pytest.mark.parametrize("steps", [
        [],
        [bash("ls"), call("search", query="x")],
        [edit(), bash("pytest -q")],
        [edit(), edit("b.py"), bash("make build")],
        [edit(), call("run_tests")],
    ], ids=["nothing", "reads only", "edit then tests", "edits then build", "test tool"])
    def test_verified_or_unchanged(self, steps):
        assert judge(UnverifiedEndingDetector(), steps) is None

    def test_a_failed_write_changed_nothing_and_failing_tests_were_still_run(self):
        assert judge(UnverifiedEndingDetector(), [edit(), bash("pytest", error="exit 1")]) is None
        assert judge(UnverifiedEndingDetector(), [bash("sed -i s/a/b/ x", error="1")]) is None

    def test_deleting_its_own_scratch_files_undoes_their_writes(self):
        scratch = [bash("cat <<'EOF' > repro.py\nprint(1)\nEOF"), bash("rm repro.py")]
        assert judge(UnverifiedEndingDetector(), scratch) is None
        assert judge(UnverifiedEndingDetector(), [edit("app.py"), *scratch])

    def test_a_run_that_raised_is_not_judged(self):
        crashed = ANCHOR._replace(error="ValueError")
        assert judge(UnverifiedEndingDetector(), [edit()], crashed) is None


class TestEndedAfterErrors:
    def test_two_failures_at_the_end_warn_three_are_critical(self):
        assert judge(EndedAfterErrorsDetector(), [call("fetch"), call("fetch", error="T")]) is None
        two = judge(EndedAfterErrorsDetector(), [call("fetch", error="Timeout")] * 2)
        assert two.severity is Severity.WARNING
        three = judge(EndedAfterErrorsDetector(), [call("fetch", error="Timeout")] * 3)
        assert three.severity is Severity.CRITICAL
        assert three.evidence["count"] == 3 and len(three.evidence["earlier_span_ids"]) == 3

    def test_errors_resolved_before_the_end_are_fine(self):
        steps = [call("fetch", error="Timeout")] * 3 + [call("fetch")]
        assert judge(EndedAfterErrorsDetector(), steps) is None


class TestUngroundedAnswer:
    def test_an_answer_with_nothing_looked_up_first(self):
        answer = call("final_answer", answer="Smith")
        detection = judge(UngroundedAnswerDetector(), [answer])
        assert detection.severity is Severity.WARNING
        assert detection.span_id == ANCHOR.span_id  # on the run's own span
        assert detection.evidence["earlier_span_ids"] == (format(answer.span_id, "016x"),)
        assert detection.failure_mode == "ungrounded_answer"

    @pytest.mark.parametrize("steps", [
        [call("web_search", query="equine veterinarian"), call("final_answer", answer="x")],
        [call("web_search", error="Timeout", query="q"), call("final_answer", answer="x")],
        [Step(StepKind.AGENT, "search_agent", 5, 1, (1, 999)), call("final_answer", answer="x")],
        [call("python_interpreter", code="print(2 + 2)"), call("final_answer", answer="4")],
        [call("lookup_order", order_id="A-1")],
        [],
    ], ids=["searched first", "a failed search was still a look", "asked an agent",
            "ran code as a tool", "no answer tool", "nothing"])
    def test_looked_first_or_no_answer_tool(self, steps):
        assert judge(UngroundedAnswerDetector(), steps) is None

    def test_a_run_that_raised_is_not_judged(self):
        crashed = ANCHOR._replace(error="ValueError")
        assert judge(UngroundedAnswerDetector(), [call("final_answer", answer="x")],
                     crashed) is None

    def test_answer_tools_and_severity_are_settings(self):
        detector = built(UngroundedAnswerDetector, {
            "AGENTWATCH_TERMINATION_ANSWER_TOOLS": "reply_to_user",
            "AGENTWATCH_TERMINATION_UNGROUNDED_SEVERITY": "info"})
        assert judge(detector, [call("final_answer", answer="x")]) is None
        assert judge(detector, [call("reply_to_user", text="x")]).severity is Severity.INFO


def test_end_to_end_on_the_agent_span(pipeline):
    edit_file = tool("str_replace_editor", tracer_provider=pipeline.provider)(
        lambda command, path, old_str, new_str: "edited")
    run_tests = tool("bash", tracer_provider=pipeline.provider)(lambda command: "1 passed")
    with agent_run("careful", tracer_provider=pipeline.provider):
        edit_file(command="str_replace", path="a.py", old_str="x", new_str="y")
        run_tests(command="pytest -q")
    with agent_run("hasty", tracer_provider=pipeline.provider):
        edit_file(command="str_replace", path="a.py", old_str="x", new_str="y")
    careful, hasty = pipeline.spans("invoke_agent")
    assert not any(key.startswith("agentwatch.") for key in careful.attributes)
    # Advisory: an event and the run's attributes, but the span is not flagged.
    assert "agentwatch.flagged" not in hasty.attributes
    assert hasty.attributes["agentwatch.run.flagged"] is False
    assert hasty.attributes["agentwatch.run.severity"] == "info"
    assert hasty.attributes["agentwatch.run.detections"] == ("termination.unverified",)
    assert hasty.attributes["agentwatch.run.failure_mode"] == "unverified_termination"
    [event] = [e for e in hasty.events if e.name == "agentwatch.detection"]
    assert event.attributes["agentwatch.severity"] == "info"


def test_unverified_endings_flag_when_set_to_warning():
    pipeline = Pipeline(Config(settings={"AGENTWATCH_TERMINATION_UNVERIFIED_SEVERITY":
                                         "warning"}))
    edit_file = tool("str_replace_editor", tracer_provider=pipeline.provider)(
        lambda command, path, old_str, new_str: "edited")
    with agent_run("hasty", tracer_provider=pipeline.provider):
        edit_file(command="str_replace", path="a.py", old_str="x", new_str="y")
    [hasty] = pipeline.spans("invoke_agent")
    assert hasty.attributes["agentwatch.flagged"] is True
    assert hasty.attributes["agentwatch.severity"] == "warning"
    assert hasty.attributes["agentwatch.run.flagged"] is True


def test_thresholds_are_settings():
    detector = built(EndedAfterErrorsDetector,
                     {"AGENTWATCH_TERMINATION_ERRORS_THRESHOLD": "1",
                      "AGENTWATCH_TERMINATION_ERRORS_CRITICAL": "1"})
    assert judge(detector, [call("fetch", error="Timeout")]).severity is Severity.CRITICAL
