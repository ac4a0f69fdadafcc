"""How a run ended: judged once, when its agent or root span ends (MAST FM-3.1 premature
termination, FM-3.2 no or incomplete verification).

* ``termination.unverified``: the run changed something (a write: an edit, a patch, a
  file written) and ended with no verification (tests, a build, a linter, running the
  program, a tool named for checking) after its last change.
* ``termination.after_errors``: the run's last tool calls failed and nothing succeeded
  after them: it stopped on an error it did not resolve. Warning for one, critical from
  ``critical_at`` failures in a row.

Both need the run's own span to end, so runs without one (SDK calls grouped by
conversation) are not judged.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, ClassVar

from ..actions import VERIFY, WRITE, action_of
from ..steps import Step, StepKind
from .base import Detection, Severity, make_detection

if TYPE_CHECKING:
    from ..config import Config

__all__ = ["EndedAfterErrorsDetector", "UnverifiedEndingDetector"]

_TOOLS = frozenset({StepKind.TOOL})


class _Changes:
    """Writes since the last verification, and the spans that made them."""

    __slots__ = ("last_write", "verified_ever", "writes")

    def __init__(self) -> None:
        self.writes = 0  # writes after the last verification
        self.last_write = 0  # span id of the latest write
        self.verified_ever = False


class UnverifiedEndingDetector:
    """Ends after writes with no verification since the last one: a warning."""

    __slots__ = ()

    id: ClassVar[str] = "termination.unverified"
    failure_mode: ClassVar[str] = "unverified_termination"
    mast_codes: ClassVar[tuple[str, ...]] = ("FM-3.2", "FM-3.1")
    kinds: ClassVar[frozenset[StepKind]] = _TOOLS

    @classmethod
    def from_config(cls, config: Config) -> UnverifiedEndingDetector:
        return cls()

    def new_state(self) -> _Changes:
        return _Changes()

    def observe(self, step: Step, state: _Changes) -> Detection | None:
        if step.error is not None:
            return None  # a failed call changed nothing we can count on, verified nothing
        kind = action_of(step.name, step.args, step.args_key).kind
        if kind == WRITE:
            state.writes += 1
            state.last_write = step.span_id
        elif kind == VERIFY:
            state.writes = 0
            state.verified_ever = True
        return None

    def finish(self, anchor: Step | None, state: _Changes) -> Detection | None:
        # A run that raised did not stop: it crashed, which its span says already.
        if anchor is None or anchor.error is not None or state.writes == 0:
            return None
        since = "since its last verification" if state.verified_ever else "at all"
        return make_detection(
            self, anchor, Severity.WARNING,
            f"the run ended after {state.writes} change(s) without verifying them {since}",
            count=state.writes, warning_at=1, critical_at=1, earlier=(state.last_write,),
            new=True, unverified_writes=state.writes,
        )


class _Failures:
    __slots__ = ("count", "span_ids", "tool")

    def __init__(self) -> None:
        self.count = 0  # failed tool calls at the end of the run so far
        self.span_ids: list[int] = []
        self.tool = ""


class EndedAfterErrorsDetector:
    """Ends with its last tool calls failed: warning, critical from ``critical_at``."""

    __slots__ = ("critical_at",)

    id: ClassVar[str] = "termination.after_errors"
    failure_mode: ClassVar[str] = "ended_after_errors"
    mast_codes: ClassVar[tuple[str, ...]] = ("FM-3.1",)
    kinds: ClassVar[frozenset[StepKind]] = _TOOLS
    EVIDENCE_SPANS: ClassVar[int] = 8

    def __init__(self, critical_at: int = 3) -> None:
        self.critical_at = critical_at

    @classmethod
    def from_config(cls, config: Config) -> EndedAfterErrorsDetector:
        return cls(config.termination_errors_critical)

    def new_state(self) -> _Failures:
        return _Failures()

    def observe(self, step: Step, state: _Failures) -> Detection | None:
        if step.error is None:
            state.count = 0
            state.span_ids.clear()
            return None
        state.count += 1
        state.tool = step.name
        state.span_ids.append(step.span_id)
        del state.span_ids[:-self.EVIDENCE_SPANS]
        return None

    def finish(self, anchor: Step | None, state: _Failures) -> Detection | None:
        if anchor is None or state.count == 0:
            return None
        severity = Severity.CRITICAL if state.count >= self.critical_at else Severity.WARNING
        return make_detection(
            self, anchor, severity,
            f"the run ended right after {state.count} failed tool call(s), the last of "
            f"{state.tool}, with nothing succeeding after them",
            count=state.count, warning_at=1, critical_at=self.critical_at,
            earlier=tuple(state.span_ids), new=True, tool=state.tool,
        )
