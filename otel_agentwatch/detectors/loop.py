"""Loop detectors: the agent repeats itself (MAST FM-1.3, step repetition).

* ``loop.repeated_call``: the same tool with the same canonical arguments, called again
  and again with no other tool call between (model calls between them do not count).
* ``loop.repeated_outcome``: the same call returning the same result, anywhere within
  the run's most recent tool calls: the agent keeps asking and learns nothing new.

Calls whose arguments the span did not carry (content capture off in a third-party
instrumentation) are never "the same": unknown is not identical.
"""

from __future__ import annotations

from collections import deque
from typing import TYPE_CHECKING, ClassVar

from ..steps import Step, StepKind
from .base import Detection, Severity, StageLatch, score, span_hex

if TYPE_CHECKING:
    from ..config import Config

__all__ = ["RepeatedCallDetector", "RepeatedOutcomeDetector"]

_EVIDENCE_SPANS = 8  # earlier span ids kept as evidence per streak
_STEP_REPETITION = "step_repetition"
_MAST_STEP_REPETITION = ("FM-1.3",)
_TOOL_STEPS = frozenset({StepKind.TOOL})


def _detection(detector: type, step: Step, severity: Severity, count: int, warning_at: int,
               critical_at: int, message: str, earlier: tuple[int, ...], new: bool,
               **evidence: int | str) -> Detection:
    return Detection(
        detector=detector.id,
        failure_mode=detector.failure_mode,
        severity=severity,
        score=score(count, warning_at, critical_at),
        message=message,
        mast_codes=detector.mast_codes,
        span_id=step.span_id,
        trace_id=step.trace_id,
        run_key=step.run_key,
        evidence={"count": count, "tool": step.name,
                  "earlier_span_ids": span_hex(earlier), **evidence},
        new=new,
    )


class _StreakState:
    __slots__ = ("count", "key", "latch", "span_ids")

    def __init__(self) -> None:
        self.key: int | None = None
        self.count = 0
        self.span_ids: deque[int] = deque(maxlen=_EVIDENCE_SPANS)
        self.latch = StageLatch()


class RepeatedCallDetector:
    """Consecutive identical tool calls: warning at ``warning_at``, critical at ``critical_at``."""

    __slots__ = ("critical_at", "warning_at")

    id: ClassVar[str] = "loop.repeated_call"
    failure_mode: ClassVar[str] = _STEP_REPETITION
    mast_codes: ClassVar[tuple[str, ...]] = _MAST_STEP_REPETITION
    kinds: ClassVar[frozenset[StepKind]] = _TOOL_STEPS

    def __init__(self, warning_at: int = 3, critical_at: int = 5) -> None:
        self.warning_at = warning_at
        self.critical_at = critical_at

    @classmethod
    def from_config(cls, config: Config) -> RepeatedCallDetector:
        return cls(config.loop_repeat_threshold, config.loop_repeat_critical)

    def new_state(self) -> _StreakState:
        return _StreakState()

    def observe(self, step: Step, state: _StreakState) -> Detection | None:
        if step.args_key is None:  # arguments unknown: cannot be the same call
            state.key, state.count = None, 0
            return None
        key = hash((step.name, step.args_key))
        if key != state.key:
            state.key, state.count = key, 0
            state.span_ids.clear()
            state.latch.reset()
        state.count += 1
        state.span_ids.append(step.span_id)
        if state.count < self.warning_at:
            return None
        severity = Severity.CRITICAL if state.count >= self.critical_at else Severity.WARNING
        earlier = tuple(state.span_ids)[:-1]
        return _detection(
            type(self), step, severity, state.count, self.warning_at, self.critical_at,
            f"{step.name} called {state.count} times in a row with identical arguments",
            earlier, state.latch.announce(severity),
        )


class _OutcomeState:
    __slots__ = ("counts", "latches", "recent")

    def __init__(self, window: int) -> None:
        # (outcome key or None, span id) of the most recent tool calls, oldest first.
        self.recent: deque[tuple[int | None, int]] = deque(maxlen=window)
        self.counts: dict[int, int] = {}
        self.latches: dict[int, StageLatch] = {}  # only for keys that reached a stage


class RepeatedOutcomeDetector:
    """The same call with the same result ``warning_at`` / ``critical_at`` times in a window."""

    __slots__ = ("critical_at", "warning_at", "window")

    id: ClassVar[str] = "loop.repeated_outcome"
    failure_mode: ClassVar[str] = _STEP_REPETITION
    mast_codes: ClassVar[tuple[str, ...]] = _MAST_STEP_REPETITION
    kinds: ClassVar[frozenset[StepKind]] = _TOOL_STEPS

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
        earlier = tuple(span_id for k, span_id in recent if k == key)[-_EVIDENCE_SPANS - 1:-1]
        return _detection(
            type(self), step, severity, count, self.warning_at, self.critical_at,
            f"{step.name} returned the same result to the same call {count} times "
            f"in the last {len(recent)} tool calls",
            earlier, latch.announce(severity), window=len(recent),
        )
