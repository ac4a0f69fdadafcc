"""reasoning.overthinking: model calls that grow far past the run's usual length while tools
bring nothing new."""

from __future__ import annotations

import itertools

from otel_agentwatch import StepKind
from otel_agentwatch.detectors.reasoning import OverthinkingDetector, thinking_length
from otel_agentwatch.normalize._args import tool_arguments
from otel_agentwatch.steps import Step
from tests.detecting import built, severities

_ids = itertools.count(1)


def think(reasoning: int | None = None, output: int | None = None, text: str | None = None):
    return Step(StepKind.LLM, "o3", next(_ids), 1, (1, 1), reasoning_tokens=reasoning,
                output_tokens=output, output_text=text)


def tool(result: str) -> Step:
    parsed, key = tool_arguments('{"q": "x"}')
    return Step(StepKind.TOOL, "search", next(_ids), 1, (1, 1), args=parsed, args_key=key,
                result=result)


def model_severities(steps, detector=None):
    """The severity of each model call (tool steps are only news or not)."""
    out = severities(detector or OverthinkingDetector(), steps)
    return [s for s, step in zip(out, steps, strict=True) if step.kind is StepKind.LLM]


WARMUP = [think(200), tool("a"), think(250), tool("b"), think(300), tool("c")]


def test_growing_thinking_with_nothing_new_from_the_tools():
    stale = tool("c")  # the same result again
    steps = [*WARMUP, think(900), stale, think(1500), stale, think(2000), stale, think(3000),
             stale, think(4000)]
    # The call after news from a tool is not counted; the next ones are.
    assert model_severities(steps) == [None] * 3 + [None, None, "warning", "warning", "critical"]


def test_long_thinking_after_news_is_fine():
    steps = [*WARMUP, *(x for i in range(6) for x in (think(2000), tool(f"new {i}")))]
    assert set(model_severities(steps)) == {None}


def test_ordinary_lengths_end_the_streak():
    stale = tool("c")
    steps = [*WARMUP, think(900), stale, think(1000), stale, think(1100), stale, think(300),
             stale, think(900)]
    assert model_severities(steps) == [None] * 3 + [None, None, "warning", None, None]


def test_length_falls_back_to_output_tokens_then_text():
    assert thinking_length(think(reasoning=120, output=400)) == 120
    assert thinking_length(think(output=400)) == 400
    assert thinking_length(think(text="x" * 400)) == 100
    assert thinking_length(think()) is None


def test_settings():
    detector = built(OverthinkingDetector, {
        "AGENTWATCH_OVERTHINKING_RATIO": "5", "AGENTWATCH_OVERTHINKING_THRESHOLD": "1",
        "AGENTWATCH_OVERTHINKING_CRITICAL": "3"})
    assert (detector.ratio, detector.warning_at, detector.critical_at) == (5.0, 1, 3)
