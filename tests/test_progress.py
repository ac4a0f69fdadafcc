"""progress.stall: tool calls that bring nothing new, and the work that is progress."""

from __future__ import annotations

import itertools
import json

from otel_agentwatch import StepKind
from otel_agentwatch.detectors.progress import StallDetector
from otel_agentwatch.normalize._args import canonical_result, tool_arguments
from otel_agentwatch.steps import Step
from tests.detecting import built, severities

_ids = itertools.count(1)


def call(name: str, result: str | None = "ok", error: str | None = None, **args) -> Step:
    parsed, key = tool_arguments(json.dumps(args))
    return Step(StepKind.TOOL, name, next(_ids), 1, (1, 1), args=parsed, args_key=key,
                result=canonical_result(result) if error is None else None, error=error,
                error_message="boom" if error else None)



def test_varied_searches_that_keep_finding_the_same_nothing_stall():
    steps = [call("search", "No results found.", query=f"query {i}") for i in range(6)]
    # The first result was news; the next five were not.
    assert severities(StallDetector(3, 5), steps) == [
        None, None, None, "warning", "warning", "critical"]


def test_new_results_are_progress():
    steps = [call("search", f"page {i}", query=f"query {i}") for i in range(30)]
    assert set(severities(StallDetector(3, 5), steps)) == {None}


def test_new_writes_are_progress_even_with_the_same_terse_result():
    edits = [call("str_replace_editor", "The file was edited.", command="str_replace",
                  path=f"f{i}.py", old_str="a", new_str="b") for i in range(30)]
    assert set(severities(StallDetector(3, 5), edits)) == {None}


def test_the_same_write_again_is_not():
    edit = dict(command="str_replace", path="f.py", old_str="a", new_str="b")
    steps = [call("str_replace_editor", "The file was edited.", **edit) for _ in range(4)]
    assert severities(StallDetector(3, 5), steps) == [None, None, None, "warning"]


def test_a_new_result_resets_the_streak():
    stale = [call("search", "nothing", query=f"q{i}") for i in range(4)]
    steps = [*stale, call("search", "found it", query="q9"), *stale[:3]]
    assert severities(StallDetector(3, 5), steps) == [
        None, None, None, "warning", None, None, None, "warning"]


def test_failures_count_once_and_unknown_results_are_skipped():
    failing = [call("fetch", error="Timeout", url="u") for _ in range(4)]
    assert severities(StallDetector(3, 5), failing) == [None, None, None, "warning"]
    unknown = [call("fetch", None, url=f"u{i}") for i in range(10)]
    assert set(severities(StallDetector(3, 5), unknown)) == {None}


def test_thresholds_come_from_the_settings():
    detector = built(StallDetector,
                     {"AGENTWATCH_STALL_THRESHOLD": "4", "AGENTWATCH_STALL_CRITICAL": "6"})
    assert (detector.warning_at, detector.critical_at) == (4, 6)
