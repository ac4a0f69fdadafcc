"""Loop detectors over tool calls: the agent repeats itself (MAST FM-1.3, step repetition).

* ``loop.repeated_call``: the same tool with the same arguments, called again and again
  with no other tool call between (model calls between them do not count). Optionally,
  "the same" includes near-duplicates (:mod:`._similarity`).
* ``loop.repeated_outcome``: the same call returning the same result, anywhere within
  the run's most recent tool calls: the agent keeps asking and learns nothing new.
* ``loop.error_streak``: the same tool failing call after call, whatever the error says.

Calls whose arguments the span did not carry (content capture off in a third-party
instrumentation) are never "the same": unknown is not identical.
"""

from __future__ import annotations

import re
from collections import deque
from typing import TYPE_CHECKING, ClassVar

from ..steps import Step, StepKind
from ._similarity import jaccard, signature
from .base import (
    EVIDENCE_SPANS,
    Detection,
    Severity,
    StageLatch,
    Streak,
    make_detection,
    severity_at,
)

if TYPE_CHECKING:
    from ..config import Config

__all__ = ["ErrorStreakDetector", "RepeatedCallDetector", "RepeatedOutcomeDetector",
           "StepLimitDetector"]

# Error types that say only "it failed" (the benchmark's and some instrumentations').
_GENERIC_ERRORS = frozenset({"error", "tool_error", "_OTHER"})
_EXCEPTION_NAME = re.compile(
    r"^\s*((?:[A-Za-z_][\w.]*)?(?:Error|Exception|Exit|Interrupt|Fault))\b")
STEP_REPETITION = "step_repetition"
MAST_STEP_REPETITION = ("FM-1.3",)
TOOL_STEPS = frozenset({StepKind.TOOL})


class RepeatedCallDetector:
    """Consecutive identical tool calls: warning at ``warning_at``, critical at ``critical_at``.

    With ``similarity`` > 0, a call to the same tool whose arguments are at least that
    similar to the previous call's (Jaccard over character 4-grams of normalized text)
    continues the streak too.
    """

    __slots__ = ("critical_at", "similarity", "warning_at")

    id: ClassVar[str] = "loop.repeated_call"
    failure_mode: ClassVar[str] = STEP_REPETITION
    mast_codes: ClassVar[tuple[str, ...]] = MAST_STEP_REPETITION
    kinds: ClassVar[frozenset[StepKind]] = TOOL_STEPS

    def __init__(self, warning_at: int = 3, critical_at: int = 5,
                 similarity: float = 0.0) -> None:
        self.warning_at = warning_at
        self.critical_at = critical_at
        self.similarity = similarity

    @classmethod
    def from_config(cls, config: Config) -> RepeatedCallDetector:
        return cls(config.loop_repeat_threshold, config.loop_repeat_critical,
                   config.loop_similarity)

    def new_state(self) -> Streak:
        return Streak()

    def observe(self, step: Step, state: Streak) -> Detection | None:
        if step.args_key is None:  # arguments unknown: cannot be the same call
            state.restart()
            return None
        key = (step.name, step.args_key)
        near = False
        if self.similarity and key != state.key:
            current = signature(step.args)
            near = (state.key is not None and state.key[0] == step.name
                    and state.signature is not None
                    and jaccard(current, state.signature) >= self.similarity)
            if near:
                state.count += 1
                state.span_ids.append(step.span_id)
                state.key = key
            else:
                state.extend(key, step.span_id)
            state.signature = current
        else:
            state.extend(key, step.span_id)
        severity = severity_at(state.count, self.warning_at, self.critical_at)
        if severity is None:
            return None
        alike = "near-identical" if near else "identical"
        return make_detection(
            self, step, severity,
            f"{step.name} called {state.count} times in a row with {alike} arguments",
            count=state.count, warning_at=self.warning_at, critical_at=self.critical_at,
            earlier=state.earlier(), new=state.latch.announce(severity), tool=step.name,
        )


class _OutcomeState:
    __slots__ = ("counts", "latches", "recent")

    def __init__(self, window: int) -> None:
        # (outcome key or None, span id) of the most recent tool calls, oldest first.
        self.recent: deque[tuple[int | None, int]] = deque(maxlen=window)
        self.counts: dict[int, int] = {}
        self.latches: dict[int, StageLatch] = {}  # only for keys that reached a stage


class RepeatedOutcomeDetector:
    """The same call with the same result ``warning_at`` / ``critical_at`` times in a window.

    With ``window`` equal to ``critical_at`` this is "the last N tool calls were all the
    same call with the same result" (the OpenHands rule).
    """

    __slots__ = ("critical_at", "warning_at", "window")

    id: ClassVar[str] = "loop.repeated_outcome"
    failure_mode: ClassVar[str] = STEP_REPETITION
    mast_codes: ClassVar[tuple[str, ...]] = MAST_STEP_REPETITION
    kinds: ClassVar[frozenset[StepKind]] = TOOL_STEPS

    def __init__(self, warning_at: int = 3, critical_at: int = 5, window: int = 30) -> None:
        self.warning_at = warning_at
        self.critical_at = critical_at
        self.window = window

    @classmethod
    def from_config(cls, config: Config) -> RepeatedOutcomeDetector:
        return cls(config.loop_outcome_threshold, config.loop_outcome_critical,
                   config.loop_window)

    def new_state(self) -> _OutcomeState:
        return _OutcomeState(self.window)

    def observe(self, step: Step, state: _OutcomeState) -> Detection | None:
        recent, counts = state.recent, state.counts
        if len(recent) == recent.maxlen:  # the oldest call leaves the window
            oldest = recent[0][0]
            if oldest is not None:
                left = counts[oldest] - 1
                if left:
                    counts[oldest] = left
                else:
                    del counts[oldest]
                    state.latches.pop(oldest, None)
        known = step.args_key is not None and (step.result is not None or step.error is not None)
        key = hash((step.name, step.args_key, step.error, step.result)) if known else None
        recent.append((key, step.span_id))
        if key is None:
            return None
        count = counts[key] = counts.get(key, 0) + 1
        if count < self.warning_at:
            return None
        severity = Severity.CRITICAL if count >= self.critical_at else Severity.WARNING
        latch = state.latches.get(key)
        if latch is None:
            latch = state.latches[key] = StageLatch()
        # Evidence is gathered only when a stage is reached: a scan of the window.
        earlier = tuple(span_id for k, span_id in recent if k == key)[-EVIDENCE_SPANS - 1:-1]
        return make_detection(
            self, step, severity,
            f"{step.name} returned the same result to the same call {count} times "
            f"in the last {len(recent)} tool calls",
            count=count, warning_at=self.warning_at, critical_at=self.critical_at,
            earlier=earlier, new=latch.announce(severity), tool=step.name,
            window=len(recent),
        )


def failure_kind(step: Step) -> str | None:
    """What kind of failure a step had: its error type, else the exception named at the
    start of its message (``TypeError: ...``), else the whole message."""
    if step.error is not None and step.error not in _GENERIC_ERRORS:
        return step.error
    message = step.error_message
    if not message:
        return None
    named = _EXCEPTION_NAME.match(message)
    return named.group(1) if named else message


class ErrorStreakDetector:
    """The same call failing on consecutive tool calls, whatever the error texts say.

    "The same call" is the same tool failing the same way (the same error type or
    exception, so ``unexpected keyword argument 'a'`` and ``... 'b'`` match), or, when
    the failure says nothing about its kind, the same tool with the same arguments.
    ``same_arguments`` asks for the same tool and arguments always (the OpenHands rule).
    A successful tool call, or a failure of something else, ends the streak.
    """

    __slots__ = ("critical_at", "same_arguments", "warning_at")

    id: ClassVar[str] = "loop.error_streak"
    failure_mode: ClassVar[str] = STEP_REPETITION
    mast_codes: ClassVar[tuple[str, ...]] = MAST_STEP_REPETITION
    kinds: ClassVar[frozenset[StepKind]] = TOOL_STEPS

    def __init__(self, warning_at: int = 3, critical_at: int = 5,
                 same_arguments: bool = False) -> None:
        self.warning_at = warning_at
        self.critical_at = critical_at
        self.same_arguments = same_arguments

    @classmethod
    def from_config(cls, config: Config) -> ErrorStreakDetector:
        return cls(config.loop_error_threshold, config.loop_error_critical)

    def new_state(self) -> Streak:
        return Streak()

    def observe(self, step: Step, state: Streak) -> Detection | None:
        if step.error is None:
            state.restart()
            return None
        kind = None if self.same_arguments else failure_kind(step)
        detail = kind if kind is not None else step.args_key
        if detail is None:  # nothing says what failed: cannot be "the same" failure
            state.restart()
            return None
        state.extend((step.name, kind is not None, detail), step.span_id)
        severity = severity_at(state.count, self.warning_at, self.critical_at)
        if severity is None:
            return None
        return make_detection(
            self, step, severity,
            f"{step.name} failed {state.count} times in a row ({step.error})",
            count=state.count, warning_at=self.warning_at, critical_at=self.critical_at,
            earlier=state.earlier(), new=state.latch.announce(severity), tool=step.name,
            error_type=step.error,
        )


class StepLimitDetector:
    """The run ended because the framework's step limit stopped it: it never finished.

    Judged at run end, from the agent span's own error: LangGraph's
    ``GraphRecursionError``, smolagents' ``AgentMaxStepsError``, the OpenAI Agents SDK's
    ``MaxTurnsExceeded``. Always critical.
    """

    __slots__ = ()

    id: ClassVar[str] = "loop.step_limit"
    failure_mode: ClassVar[str] = "step_limit_reached"
    mast_codes: ClassVar[tuple[str, ...]] = ("FM-1.5", "FM-1.3")
    kinds: ClassVar[frozenset[StepKind]] = frozenset()
    LIMIT_ERRORS: ClassVar[frozenset[str]] = frozenset({
        "GraphRecursionError", "AgentMaxStepsError", "MaxTurnsExceeded",
    })

    @classmethod
    def from_config(cls, config: Config) -> StepLimitDetector:
        return cls()

    def new_state(self) -> None:
        return None

    def observe(self, step: Step, state: None) -> Detection | None:
        return None

    def finish(self, anchor: Step | None, state: None) -> Detection | None:
        if anchor is None or anchor.error not in self.LIMIT_ERRORS:
            return None
        return make_detection(
            self, anchor, Severity.CRITICAL,
            f"the run was stopped by its step limit ({anchor.error}) without finishing",
            count=1, warning_at=1, critical_at=1, earlier=(), new=True,
            error_type=anchor.error,
        )
