"""``progress.stall``: the run keeps acting and learns nothing (MAST FM-1.5, unaware of
termination conditions).

A tool call makes progress when its result is content the run has not seen before (new
information), or when it is a successful write it has not made before (it changed the
world). Everything else, a search that returns an answer already seen, a different
query that comes back with the same "no results", a test run that fails the same way, a
call that fails as an earlier one did, is a step without progress. A warning after
``warning_at`` such tool calls in a row, critical after ``critical_at``. Model calls
between them neither count nor reset: thinking is not information from the world.
Calls whose results the span did not carry are left out.
"""

from __future__ import annotations

from typing import Any, ClassVar

from ..settings import Setting, integer
from ..steps import Step, StepKind
from .base import Detection, Detector, Streak, make_detection, severity_at
from .facts import StepFacts

__all__ = ["StallDetector"]

STALL_WARNING = Setting(
    "AGENTWATCH_STALL_THRESHOLD", integer(2), 10,
    "`progress.stall`: tool calls in a row with no new result and no new change that raise "
    "a warning.")
STALL_CRITICAL = Setting(
    "AGENTWATCH_STALL_CRITICAL", integer(2), 20,
    "`progress.stall`: such tool calls that make it critical.", at_least=STALL_WARNING)


class StallDetector(Detector[Streak]):
    """Tool calls in a row bring nothing new: no result the run has not seen already (a
    different query coming back with the same "no results" is nothing new) and no write it
    has not made before. Model calls between them do not count.

    The novelty test is :attr:`.facts.StepFacts.news`.
    """

    __slots__ = ("critical_at", "warning_at")

    id: ClassVar[str] = "progress.stall"
    failure_mode: ClassVar[str] = "no_progress"
    mast_codes: ClassVar[tuple[str, ...]] = ("FM-1.5",)
    kinds: ClassVar[frozenset[StepKind]] = frozenset({StepKind.TOOL})
    settings: ClassVar[dict[str, Setting[Any]]] = {
        "warning_at": STALL_WARNING, "critical_at": STALL_CRITICAL}

    def __init__(self, warning_at: int = STALL_WARNING.default,
                 critical_at: int = STALL_CRITICAL.default) -> None:
        self.warning_at = warning_at
        self.critical_at = critical_at

    def new_state(self) -> Streak:
        return Streak()  # tool calls since the last one that made progress

    def observe(self, step: Step, state: Streak, facts: StepFacts) -> Detection | None:
        news = facts.news
        if news is None:
            return None  # the span did not carry the result: nothing to judge
        if news:
            state.restart()
            return None
        state.extend(True, step.span_id)
        severity = severity_at(state.count, self.warning_at, self.critical_at)
        if severity is None:
            return None
        return make_detection(
            self, step, severity,
            f"{state.count} tool calls in a row brought no new result and changed nothing "
            f"new",
            count=state.count, warning_at=self.warning_at, critical_at=self.critical_at,
            earlier=state.earlier(), new=state.announce(severity),
        )
