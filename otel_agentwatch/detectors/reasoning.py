"""``reasoning.overthinking``: the model thinks longer and longer while the world tells it
nothing new (the inverse-scaling regime of long reasoning, Gema et al., arXiv 2507.14417).

Each model call's length is its reasoning tokens when the provider reports them, else its
output tokens, else its output text's length in characters / 4. The run's own first
``warmup`` model calls set its baseline (the median). A model call is *overthought* when
it is at least ``ratio`` times the baseline and no tool result since the previous model
call brought anything new (the same novelty test as ``progress.stall``: a result or
failure the run has not seen, or a write it has not made). A warning after ``warning_at``
such calls in a row, critical after ``critical_at``; a call of ordinary length, or news
from a tool, ends the streak.
"""

from __future__ import annotations

import statistics
from typing import Any, ClassVar

from ..settings import Setting, integer, number
from ..steps import Step, StepKind
from .base import Detection, Detector, Streak, make_detection, severity_at
from .facts import StepFacts

__all__ = ["OverthinkingDetector"]

RATIO = Setting(
    "AGENTWATCH_OVERTHINKING_RATIO", number(1), 3.0,
    "`reasoning.overthinking`: how many times the run's usual length (the median of its "
    "first 3 model calls) a model call must reach to count.")
OVERTHINKING_WARNING = Setting(
    "AGENTWATCH_OVERTHINKING_THRESHOLD", integer(1), 2,
    "`reasoning.overthinking`: such model calls in a row, with no tool bringing anything "
    "new, that raise a warning.")
OVERTHINKING_CRITICAL = Setting(
    "AGENTWATCH_OVERTHINKING_CRITICAL", integer(1), 4,
    "`reasoning.overthinking`: such calls that make it critical.",
    at_least=OVERTHINKING_WARNING)


class _Thinking:
    __slots__ = ("baseline", "first", "news", "streak")

    def __init__(self) -> None:
        self.first: list[int] = []  # lengths of the warm-up calls
        self.baseline: float | None = None
        self.news = True  # a tool brought something new since the last model call
        self.streak = Streak()  # long model calls in a row with nothing new between


def thinking_length(step: Step) -> int | None:
    """Reasoning tokens, else output tokens, else output characters / 4; None if unknown."""
    if step.reasoning_tokens:
        return step.reasoning_tokens
    if step.output_tokens is not None:
        return step.output_tokens
    if step.output_text:
        return len(step.output_text) // 4
    return None


class OverthinkingDetector(Detector[_Thinking]):
    """Model calls in a row far longer than the run's usual length (reasoning tokens, else
    output tokens, else text; the median of its first 3 calls) while no tool result since
    the previous call brought anything new.

    ``ratio`` times the baseline counts as far longer.
    """

    __slots__ = ("critical_at", "ratio", "warmup", "warning_at")

    id: ClassVar[str] = "reasoning.overthinking"
    failure_mode: ClassVar[str] = "overthinking"
    mast_codes: ClassVar[tuple[str, ...]] = ("FM-1.5",)
    kinds: ClassVar[frozenset[StepKind]] = frozenset({StepKind.TOOL, StepKind.LLM})
    settings: ClassVar[dict[str, Setting[Any]]] = {
        "ratio": RATIO, "warning_at": OVERTHINKING_WARNING,
        "critical_at": OVERTHINKING_CRITICAL}

    def __init__(self, ratio: float = RATIO.default,
                 warning_at: int = OVERTHINKING_WARNING.default,
                 critical_at: int = OVERTHINKING_CRITICAL.default, warmup: int = 3) -> None:
        self.ratio = ratio
        self.warning_at = warning_at
        self.critical_at = critical_at
        self.warmup = warmup

    def new_state(self) -> _Thinking:
        return _Thinking()

    def observe(self, step: Step, state: _Thinking, facts: StepFacts) -> Detection | None:
        if step.kind is StepKind.TOOL:
            if facts.news:
                state.news = True
            return None
        length = thinking_length(step)
        if length is None:
            return None
        news, state.news = state.news, False
        if state.baseline is None:
            state.first.append(length)
            if len(state.first) >= self.warmup:
                state.baseline = max(1.0, float(statistics.median(state.first)))
            return None
        if news or length < self.ratio * state.baseline:
            if state.streak.count:
                state.streak.restart()
            return None
        streak = state.streak
        streak.extend(True, step.span_id)
        severity = severity_at(streak.count, self.warning_at, self.critical_at)
        if severity is None:
            return None
        return make_detection(
            self, step, severity,
            f"{streak.count} model calls in a row at {length / state.baseline:.1f}x the "
            f"run's usual length while tools brought nothing new",
            count=streak.count, warning_at=self.warning_at, critical_at=self.critical_at,
            earlier=streak.earlier(), new=streak.announce(severity),
            length=length, baseline=round(state.baseline, 1),
        )
