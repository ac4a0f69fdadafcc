"""``loop.cycle``: the run's tool calls end in a repeating pattern (A,B,A,B; A,B,C,A,B,C).

Streaming and O(max period) per step: for each period p the detector keeps how many of
the latest calls equal the call p positions before them. A suffix in which every call
equals the one p earlier, ``p * R`` calls long, is the pattern repeated R times.
"""

from __future__ import annotations

from collections.abc import Hashable
from typing import Any, ClassVar

from ..settings import Setting, integer
from ..steps import Step
from .base import EVIDENCE_SPANS, Detection, Detector, StageLatch, make_detection, severity_at
from .facts import StepFacts
from .loop import MAST_STEP_REPETITION, STEP_REPETITION, TOOL_STEPS

__all__ = ["CycleDetector", "SuffixCycles"]

CYCLE_WARNING = Setting(
    "AGENTWATCH_LOOP_CYCLE_THRESHOLD", integer(2), 3,
    "`loop.cycle`: repetitions of a 2-5 call pattern that raise a warning.")
CYCLE_CRITICAL = Setting(
    "AGENTWATCH_LOOP_CYCLE_CRITICAL", integer(2), 4,
    "`loop.cycle`: repetitions that make it critical.", at_least=CYCLE_WARNING)


class SuffixCycles:
    """The cycles a sequence of keys ends in, kept up to date one key at a time.

    For each period p up to ``max_period``: how many of the latest keys equal the key p
    positions before them. A key of None equals nothing (it breaks every cycle). Shared
    with ``coordination.handoff_cycle``.
    """

    __slots__ = ("any", "keys", "matched", "max_period")

    def __init__(self, max_period: int) -> None:
        self.max_period = max_period
        self.keys: list[Hashable | None] = []  # the latest max_period keys, oldest first
        self.matched = [0] * (max_period + 1)
        self.any = False  # whether the latest key continues a cycle of some period

    def push(self, key: Hashable | None) -> None:
        keys, matched = self.keys, self.matched
        depth = len(keys)
        continued = False
        for period in range(1, self.max_period + 1):
            if period <= depth and key is not None and keys[-period] == key:
                matched[period] += 1
                continued = True
            else:
                matched[period] = 0
        self.any = continued
        keys.append(key)
        if depth >= self.max_period:
            del keys[0]

    def shortest(self, repeats_at_least: int) -> tuple[int, int]:
        """``(period, repeats)`` of the shortest cycle the keys end in that repeats at
        least that often; ``(0, 0)`` when there is none."""
        if not self.any:  # the common case: the latest key repeats nothing
            return 0, 0
        for period in range(1, self.max_period + 1):
            times = (self.matched[period] + period) // period
            if times >= repeats_at_least:
                return period, times
        return 0, 0

    def clear(self) -> None:
        self.keys.clear()
        self.matched = [0] * (self.max_period + 1)
        self.any = False


class _CycleState:
    __slots__ = ("cycles", "latch", "period", "span_ids")

    def __init__(self, max_period: int) -> None:
        self.cycles = SuffixCycles(max_period)
        self.span_ids: list[int] = []  # of the latest max_period + 1 calls
        self.period = 0  # the period of the cycle being reported, 0 when none
        self.latch = StageLatch()


class CycleDetector(Detector[_CycleState]):
    """The run's tool calls end in a pattern of 2 to 5 calls (the same calls with the same
    results) repeated again and again: A,B,A,B,A,B.

    A cycle of period ``min_period``..``max_period`` repeated ``warning_at`` /
    ``critical_at`` times at the end of the run's tool calls.

    Call keys are tool and arguments, and the result too when ``with_results``: then a
    cycle whose results change (the agent polling something that moves) is not one.
    The shortest period that repeats enough is reported; period 1 (one call repeated) is
    left to ``loop.repeated_call`` unless ``min_period`` is 1.
    """

    __slots__ = ("critical_at", "max_period", "min_period", "warning_at", "with_results")

    id: ClassVar[str] = "loop.cycle"
    failure_mode: ClassVar[str] = STEP_REPETITION
    mast_codes: ClassVar[tuple[str, ...]] = MAST_STEP_REPETITION
    kinds = TOOL_STEPS
    settings: ClassVar[dict[str, Setting[Any]]] = {
        "warning_at": CYCLE_WARNING, "critical_at": CYCLE_CRITICAL}

    def __init__(self, warning_at: int = CYCLE_WARNING.default,
                 critical_at: int = CYCLE_CRITICAL.default, *, min_period: int = 2,
                 max_period: int = 5, with_results: bool = True) -> None:
        self.warning_at = warning_at
        self.critical_at = critical_at
        self.min_period = min_period
        self.max_period = max_period
        self.with_results = with_results

    def new_state(self) -> _CycleState:
        return _CycleState(self.max_period)

    def observe(self, step: Step, state: _CycleState, facts: StepFacts) -> Detection | None:
        # A call is a digest of what makes it the same call (a collision is as unlikely as
        # two equal 64-bit hashes), compared in O(1); unknown arguments equal nothing.
        if step.args_key is None:
            key = None
        elif self.with_results:
            key = hash((step.name, step.args_key, step.error, step.result))
        else:
            key = hash((step.name, step.args_key))
        state.cycles.push(key)
        span_ids = state.span_ids
        span_ids.append(step.span_id)
        if len(span_ids) > self.max_period + 1:
            del span_ids[0]
        found, repeats = state.cycles.shortest(self.warning_at)
        if found < self.min_period:  # no cycle, or one call repeated: not ours to report
            state.period = 0
            state.latch.reset()
            return None
        if found != state.period:
            state.period = found
            state.latch.reset()
        severity = severity_at(repeats, self.warning_at, self.critical_at)
        if severity is None:  # unreachable: repeats >= warning_at
            return None
        return make_detection(
            self, step, severity,
            f"the last {found * repeats} tool calls repeat a cycle of {found} calls "
            f"{repeats} times",
            count=repeats, warning_at=self.warning_at, critical_at=self.critical_at,
            earlier=tuple(state.span_ids)[-min(EVIDENCE_SPANS, found) - 1:-1],
            new=state.latch.announce(severity), period=found,
        )
