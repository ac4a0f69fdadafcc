"""Each loop detector on hand-made step sequences: what it must flag, and the traps it must not."""

from __future__ import annotations

import itertools
import json

import pytest

from otel_agentwatch import Config, Severity, StepKind
from otel_agentwatch.detectors import PROFILES, build_detectors
from otel_agentwatch.detectors.cycle import CycleDetector
from otel_agentwatch.detectors.loop import (
    ErrorStreakDetector,
    RepeatedCallDetector,
    RepeatedOutcomeDetector,
    StepLimitDetector,
)
from otel_agentwatch.detectors.resources import EditChurnDetector, RedundantReadDetector
from otel_agentwatch.detectors.text import RepeatedTextDetector
from otel_agentwatch.normalize._args import canonical_result, tool_arguments
from otel_agentwatch.steps import Step
from tests.detecting import flags, observe, severities

_ids = itertools.count(1)


def tool(name: str, args, result: str | None = "ok", error: str | None = None,
         message: str | None = None) -> Step:
    parsed, key = tool_arguments(json.dumps(args) if not isinstance(args, str) else args)
    return Step(StepKind.TOOL, name, next(_ids), 1, (1, 1), args=parsed, args_key=key,
                result=canonical_result(result) if error is None else None, error=error,
                error_message=message)


def llm(text: str | None = None) -> Step:
    return Step(StepKind.LLM, "model", next(_ids), 1, (1, 1), output_text=text)


run = severities  # severity per step, None where nothing was detected


def bash(command: str, result: str = "ok", error: str | None = None) -> Step:
    return tool("bash", {"command": command}, result, error)


def view(path: str, result: str = "contents", view_range=None) -> Step:
    args = {"command": "view", "path": path}
    if view_range:
        args["view_range"] = view_range
    return tool("str_replace_based_edit_tool", args, result)


def replace(path: str, old: str, new: str) -> Step:
    return tool("str_replace_based_edit_tool",
                {"command": "str_replace", "path": path, "old_str": old, "new_str": new})


class TestRepeatedCall:
    def test_streak_of_identical_calls(self):
        steps = [tool("search", {"q": "x"}) for _ in range(6)]
        assert run(RepeatedCallDetector(), steps) == [
            None, None, "warning", "warning", "critical", "critical"]

    def test_another_call_breaks_the_streak(self):
        steps = [tool("search", {"q": "x"}), tool("search", {"q": "x"}), tool("read", {"p": 1}),
                 tool("search", {"q": "x"}), tool("search", {"q": "x"})]
        assert flags(RepeatedCallDetector(), steps) == []

    def test_one_event_per_stage(self):
        detector, state = RepeatedCallDetector(), RepeatedCallDetector().new_state()
        new = [d.new for s in range(7) if (d := observe(detector, tool("s", {"q": 1}), state))]
        assert new == [True, False, True, False, False]

    def test_near_duplicates_only_when_asked(self):
        steps = [tool("search", {"query": f"orders of customer 7 page {i}, newest first"})
                 for i in range(5)]
        assert flags(RepeatedCallDetector(), steps) == []
        assert run(RepeatedCallDetector(similarity=0.7), steps)[2:] == [
            "warning", "warning", "critical"]

    def test_code_rewritten_with_a_changed_literal_is_the_same_call(self):
        """CodeAct: the same block with another literal continues the streak (by default);
        code that does something else does not."""
        steps = [tool("python_interpreter",
                      {"code": f"matches = re.findall(pattern, content[:{n}])\n"
                               "for match in matches:\n    print(match)"})
                 for n in (10_000, 50_000, 100_000, 200_000, 400_000)]
        assert run(RepeatedCallDetector(), steps)[2:] == ["warning", "warning", "critical"]
        assert flags(RepeatedCallDetector(code_similarity=0.0), steps) == []
        different = [tool("python_interpreter", {"code": code}) for code in (
            "import json\nprint(json.dumps(config))", "rows = load('a.csv')\nprint(len(rows))",
            "print(sorted(set(words))[:10])")]
        assert flags(RepeatedCallDetector(), different) == []

    def test_a_refused_call_sent_again_is_a_retry(self):
        """mini-swe-agent refuses a reply with two commands before running either; the
        model sends the same command again: one run of it, not a repetition. The same
        call failing on and on is loop.error_streak's."""
        refused = "Please always provide EXACTLY ONE action in triple backticks"
        sed = "sed -i 's/path/request.path/' sites.py"
        steps = [bash(sed, error="FormatError"), bash(sed, error="FormatError"), bash(sed)]
        assert flags(RepeatedCallDetector(), steps) == []
        assert flags(ErrorStreakDetector(), [
            tool("bash", {"command": sed}, error="FormatError", message=refused)
            for _ in range(3)]) != []
        # Failures between successes neither count nor break a streak.
        mixed = [bash(sed), bash(sed, error="Timeout"), bash(sed), bash(sed, error="Timeout"),
                 bash(sed)]
        assert run(RepeatedCallDetector(), mixed)[-1] == "warning"

    def test_unknown_arguments_are_never_the_same(self):
        unknown = Step(StepKind.TOOL, "search", 1, 1, (1, 1))
        assert flags(RepeatedCallDetector(), [unknown] * 6) == []


class TestRepeatedOutcome:
    def test_same_call_same_result_anywhere_in_the_window(self):
        steps = []
        for i in range(5):
            steps += [tool("status", {"job": 7}, "pending"), tool("sleep", {"s": i})]
        assert [s for s in run(RepeatedOutcomeDetector(), steps) if s] == [
            "warning", "warning", "critical"]

    def test_changing_results_are_progress(self):
        steps = [tool("status", {"job": 7}, f"{i}% done") for i in range(8)]
        assert flags(RepeatedOutcomeDetector(), steps) == []

    def test_the_same_output_after_each_change_is_news(self):
        """Running the reproduction again after each edit checks the edit: the same
        failure after a change says the change did not help. Without edits between, the
        same run again and again learns nothing (and the OpenHands rule counts both)."""
        repro = bash("python reproduce.py", "AssertionError: 1 != 2")
        edited = []
        for i in range(5):
            edited += [bash(f"sed -i 's/a{i}/b{i}/' app.py"), repro._replace(span_id=i + 100)]
        assert flags(RepeatedOutcomeDetector(), edited) == []
        assert flags(RepeatedOutcomeDetector(since_change=False), edited)
        unchanged = [bash("ls", f"{i}") if i % 2 else repro._replace(span_id=i + 200)
                     for i in range(10)]
        assert [s for s in run(RepeatedOutcomeDetector(), unchanged) if s] == [
            "warning", "warning", "critical"]

    def test_old_calls_leave_the_window(self):
        steps = [tool("status", {"job": 7}, "pending")]
        steps += [tool("other", {"i": i}) for i in range(10)]
        steps += [tool("status", {"job": 7}, "pending"), tool("status", {"job": 7}, "pending")]
        assert flags(RepeatedOutcomeDetector(window=5), steps) == []
        assert flags(RepeatedOutcomeDetector(window=30), steps) == ["warning"]


class TestErrorStreak:
    def test_same_tool_failing_the_same_way_with_varying_arguments(self):
        """TRAIL's page_down loop: junk arguments vary, the TypeError stays."""
        steps = [tool("page_down", {"": v}, error="error",
                      message=f"TypeError: unexpected keyword argument '{v}'")
                 for v in ("", "x", "", "y", "")]
        assert run(ErrorStreakDetector(), steps) == [
            None, None, "warning", "warning", "critical"]

    def test_different_failures_are_debugging(self):
        steps = [bash(f"python t{i}.py", error="error", result=None) for i in range(5)]
        steps = [s._replace(error_message=f"exit {i}: different output {i}")
                 for i, s in enumerate(steps)]
        assert flags(ErrorStreakDetector(), steps) == []

    def test_a_success_ends_the_streak(self):
        failing = tool("fetch", {"u": 1}, error="TimeoutError")
        steps = [failing, failing, tool("fetch", {"u": 1}, "ok"), failing, failing]
        assert flags(ErrorStreakDetector(), steps) == []

    def test_openhands_rule_needs_the_same_arguments(self):
        steps = [tool("page_down", {"": v}, error="TypeError") for v in ("a", "b", "c", "d")]
        assert flags(ErrorStreakDetector(3, 4, same_arguments=True), steps) == []
        same = [tool("page_down", {"": "a"}, error="TypeError") for _ in range(4)]
        assert run(ErrorStreakDetector(3, 4, same_arguments=True), same) == [
            None, None, "warning", "critical"]


class TestCycle:
    def test_alternation_of_two_calls(self):
        steps = [tool("a", {"i": 1}), tool("b", {"i": 2})] * 4
        assert run(CycleDetector(), steps) == [
            None, None, None, None, None, "warning", "warning", "critical"]

    def test_cycle_of_three(self):
        steps = [tool("a", {}), tool("b", {}), tool("c", {})] * 4
        result = run(CycleDetector(), steps)
        assert result[8] == "warning" and result[:8] == [None] * 8
        assert result[-1] == "critical"

    def test_one_call_repeated_is_left_to_repeated_call(self):
        assert flags(CycleDetector(), [tool("a", {"i": 1})] * 8) == []

    def test_edit_test_rounds_are_not_a_cycle(self):
        """Trap: edit, test, edit, test, with different edits each round."""
        steps = []
        for i in range(6):
            steps += [replace("app.py", f"v{i}", f"v{i + 1}"), bash("pytest -q", f"{i} failed")]
        assert flags(CycleDetector(), steps) == []

    def test_results_that_change_break_the_cycle_unless_ignored(self):
        steps = []
        for i in range(5):
            steps += [tool("poll", {"job": 1}, f"step {i}"), tool("wait", {"s": 1})]
        assert flags(CycleDetector(), steps) == []
        assert flags(CycleDetector(with_results=False), steps) != []

    def test_gemini_rule_counts_period_one_and_ignores_model_steps(self):
        gemini = CycleDetector(5, 5, min_period=1, max_period=5, with_results=False)
        steps = [step for _ in range(5) for step in (llm("thinking"), tool("a", {"i": 1}))]
        assert [s for s in run(gemini, steps) if s] == ["critical"]
        alternation = [tool("a", {}), tool("b", {})] * 5
        assert run(gemini, alternation).index("critical") == 9  # the 10th call


class TestRedundantRead:
    def test_rereading_an_unchanged_file(self):
        steps = [view("a.py") for _ in range(5)]
        assert run(RedundantReadDetector(), steps) == [
            None, None, None, "warning", "critical"]

    def test_view_edit_view_rounds_on_one_file(self):
        """Trap: the file changes between views; nothing is redundant."""
        steps = []
        for i in range(5):
            steps += [view("a.py", f"version {i}"), replace("a.py", f"v{i}", f"v{i + 1}")]
        assert flags(RedundantReadDetector(warning_at=1), steps) == []

    def test_a_line_range_inside_a_whole_read_is_covered(self):
        steps = [bash("cat a.py"), bash("sed -n '10,20p' a.py"), bash("head -n 5 a.py")]
        assert run(RedundantReadDetector(warning_at=1), steps) == [None, "warning", "warning"]

    def test_new_ranges_are_new_information(self):
        steps = [bash(f"sed -n '{i * 20},{i * 20 + 19}p' a.py") for i in range(8)]
        assert flags(RedundantReadDetector(warning_at=1), steps) == []

    def test_a_write_by_shell_resets_reads(self):
        steps = [bash("cat a.py"), bash("cat a.py"), bash("sed -i 's/x/y/' a.py"),
                 bash("cat a.py")]
        assert flags(RedundantReadDetector(warning_at=2), steps) == []

    def test_a_different_result_means_the_file_changed(self):
        steps = [bash("cat log.txt", f"{i} lines") for i in range(5)]
        assert flags(RedundantReadDetector(warning_at=1), steps) == []

    def test_repeated_searches_are_left_to_the_call_detectors(self):
        steps = [tool("web_search", {"query": "x"}, "r") for _ in range(5)]
        assert flags(RedundantReadDetector(), steps) == []


class TestEditChurn:
    def test_edit_undone(self):
        steps = [replace("a.py", "x = 1", "x = 2"), replace("a.py", "x = 2", "x = 1"),
                 replace("a.py", "x = 1", "x = 2"), replace("a.py", "x = 2", "x = 1")]
        assert run(EditChurnDetector(), steps) == [None, "warning", "critical", "critical"]

    def test_many_edits_with_nothing_run(self):
        steps = [replace("a.py", f"line {i}", f"line {i}!") for i in range(10)]
        result = run(EditChurnDetector(), steps)
        assert result[5] == "warning" and result[9] == "critical" and result[4] is None

    def test_appending_builds_a_file_it_does_not_churn_it(self):
        """A script written line by line with >> is one file growing, not edits undone."""
        steps = [bash(f"echo 'line {i}' >> fix.py") for i in range(12)]
        assert flags(EditChurnDetector(), steps) == []
        rewritten = [bash(f"echo 'line {i}' > fix.py") for i in range(12)]
        assert flags(EditChurnDetector(), rewritten)

    def test_edits_across_many_files(self):
        """Trap: a refactor touching twenty files, one edit each."""
        steps = [replace(f"pkg/m{i}.py", "old_name", "new_name") for i in range(20)]
        assert flags(EditChurnDetector(), steps) == []

    def test_edit_test_rounds(self):
        """Trap: editing and testing in turn is the normal workflow."""
        steps = []
        for i in range(12):
            steps += [replace("a.py", f"v{i}", f"v{i + 1}"), bash("python -m pytest tests/")]
        assert flags(EditChurnDetector(), steps) == []

    def test_create_restoring_earlier_content(self):
        first, second = ({"command": "create", "path": "a.py", "file_text": t}
                         for t in ("print(1)", "print(2)"))
        steps = [tool("editor", first), tool("editor", second), tool("editor", first)]
        assert run(EditChurnDetector(), steps) == [None, None, "warning"]


class TestRepeatedText:
    def test_chanting_output(self):
        text = "I will now check the configuration file again. " * 30
        assert run(RepeatedTextDetector(), [llm(text)]) == ["critical"]

    def test_list_items_sharing_a_long_prefix(self):
        """Trap: a list of distinct items that all start alike."""
        text = "\n".join(f"The configuration value for the parameter number {i} is {i * 7}"
                         for i in range(40))
        assert flags(RepeatedTextDetector(), [llm(text)]) == []

    def test_repeated_lines_inside_a_code_block(self):
        """Trap: repetitive code is code, not a loop."""
        body = "\n".join("    result.append(compute_value(row, column, default=None))"
                         for _ in range(40))
        assert flags(RepeatedTextDetector(), [llm(f"Here:\n```python\n{body}\n```\nDone.")]) == []

    def test_divider_lines(self):
        """Trap: rulers made of repeated characters are formatting."""
        text = "\n".join(["=" * 80, "Results", "─" * 80, "-" * 80] * 15)
        assert flags(RepeatedTextDetector(), [llm(text)]) == []

    def test_table_rows_reset_tracking(self):
        rows = "\n".join("| the same long cell text repeated in every row of it | x |"
                         for _ in range(30))
        assert flags(RepeatedTextDetector(), [llm(rows)]) == []

    def test_monologue_restating_the_same_plan(self):
        plan = "I should look at the parser module and then rerun the failing test case."
        steps = [llm(plan), llm(plan + " "), llm(plan), llm(plan.lower()), llm(plan)]
        assert run(RepeatedTextDetector(), steps) == [
            None, None, "warning", "warning", "critical"]

    def test_varied_outputs_in_a_row_are_not_a_monologue(self):
        steps = [llm(f"Step {i}: a different thought about {topic}")
                 for i, topic in enumerate(["parsing", "io", "tests", "docs", "release"])]
        assert flags(RepeatedTextDetector(), steps) == []

    def test_a_tool_call_ends_the_monologue(self):
        plan = "Let me think about this once more before acting on it."
        steps = [llm(plan), llm(plan), tool("x", {}), llm(plan), llm(plan)]
        assert flags(RepeatedTextDetector(), steps) == []

    def test_openhands_counts_outputs_without_reading_them(self):
        openhands = RepeatedTextDetector(chunk_repeats=0, monologue_warning=3,
                                         monologue_critical=3, monologue_similarity=0.0)
        assert run(openhands, [llm(), llm("a"), llm("b")]) == [None, None, "critical"]


class TestStepLimit:
    def test_a_run_stopped_by_its_step_limit(self):
        detector = StepLimitDetector()
        stopped = Step(StepKind.AGENT, "agent", 9, 1, (1, 9), error="GraphRecursionError")
        detection = detector.finish(stopped, detector.new_state())
        assert detection.severity is Severity.CRITICAL and detection.span_id == 9
        assert detection.mast_codes == ("FM-1.5", "FM-1.3")

    def test_other_endings_are_not(self):
        detector = StepLimitDetector()
        failed = Step(StepKind.AGENT, "agent", 9, 1, (1, 9), error="ValueError")
        assert detector.finish(failed, None) is None
        assert detector.finish(None, None) is None


class TestProfiles:
    def test_every_profile_builds(self):
        for name in PROFILES:
            assert build_detectors(Config(profile=name)), name

    def test_cline_warns_at_3_and_roo_stops_at_4(self):
        steps = [tool("read_file", {"path": "a"}) for _ in range(5)]
        cline, = build_detectors(Config(profile="cline"))
        roo, = build_detectors(Config(profile="roo"))
        assert run(cline, steps) == [None, None, "warning", "warning", "critical"]
        assert run(roo, steps) == [None, None, None, "critical", "critical"]

    def test_openhands_same_call_same_result_four_times(self):
        detectors = {d.id: d for d in build_detectors(Config(profile="openhands"))}
        steps = [tool("read", {"p": 1}, "same")] * 4
        assert run(detectors["loop.repeated_outcome"], steps) == [None, None, None, "critical"]
        cycle = [tool("a", {}, "r"), tool("b", {}, "s")] * 3
        assert run(detectors["loop.cycle"], cycle)[-1] == "critical"

    def test_profile_thresholds_are_fixed(self):
        """The threshold variables tune default only; a peer profile is the peer's rules."""
        cline, = build_detectors(Config(profile="cline",
                                        settings={"AGENTWATCH_LOOP_REPEAT_THRESHOLD": 4}))
        assert (cline.warning_at, cline.critical_at) == (3, 5)

    def test_detector_selection_applies_within_a_profile(self):
        config = Config(profile="openhands", detectors=("-loop.cycle",))
        assert "loop.cycle" not in [d.id for d in build_detectors(config)]


@pytest.mark.parametrize("severity", list(Severity))
def test_severity_rank_orders_the_stages(severity):
    assert (severity.rank == 2) is (severity is Severity.CRITICAL)
