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

from collections import OrderedDict
from typing import TYPE_CHECKING, ClassVar

from ..steps import Step, StepKind
from .actions import WRITE, action_of
from .base import Detection, Streak, make_detection, severity_at

if TYPE_CHECKING:
    from ..config import Config

__all__ = ["Novelty", "StallDetector"]

_SEEN_LIMIT = 1024  # result digests remembered per run


class Novelty:
    """What a run has learnt so far: digests of its results, failures and writes (the
    most recent ``_SEEN_LIMIT``). Shared with ``reasoning.overthinking``."""

    __slots__ = ("seen",)

    def __init__(self) -> None:
        self.seen: OrderedDict[int, None] = OrderedDict()

    def brings_news(self, step: Step) -> bool | None:
        """Whether a tool step brought something new (and remember it); None when its
        span did not carry the result."""
        if step.error is not None:
            # A failure is news only the first time it happens this way.
            return self._new(hash(("error", step.name, step.error, step.error_message)))
        if step.result is None:
            return None
        if step.args_key is not None and \
                action_of(step.name, step.args, step.args_key).kind == WRITE:
            return self._new(hash(("write", step.name, step.args_key)))
        return self._new(hash(("result", step.result)))

    def _new(self, digest: int) -> bool:
        seen = self.seen
        if digest in seen:
            seen.move_to_end(digest)
            return False
        seen[digest] = None
        if len(seen) > _SEEN_LIMIT:
            seen.popitem(last=False)
        return True


class _Progress:
    __slots__ = ("novelty", "since")

    def __init__(self) -> None:
        self.novelty = Novelty()
        self.since = Streak()  # tool calls since the last one that made progress


class StallDetector:
    """Tool calls in a row that bring no new result and change nothing new."""

    __slots__ = ("critical_at", "warning_at")

    id: ClassVar[str] = "progress.stall"
    failure_mode: ClassVar[str] = "no_progress"
    mast_codes: ClassVar[tuple[str, ...]] = ("FM-1.5",)
    kinds: ClassVar[frozenset[StepKind]] = frozenset({StepKind.TOOL})

    def __init__(self, warning_at: int = 10, critical_at: int = 20) -> None:
        self.warning_at = warning_at
        self.critical_at = critical_at

    @classmethod
    def from_config(cls, config: Config) -> StallDetector:
        return cls(config.stall_threshold, config.stall_critical)

    def new_state(self) -> _Progress:
        return _Progress()

    def observe(self, step: Step, state: _Progress) -> Detection | None:
        news = state.novelty.brings_news(step)
        if news is None:
            return None  # the span did not carry the result: nothing to judge
        since = state.since
        if news:
            since.restart()
            return None
        since.extend(True, step.span_id)
        severity = severity_at(since.count, self.warning_at, self.critical_at)
        if severity is None:
            return None
        return make_detection(
            self, step, severity,
            f"{since.count} tool calls in a row brought no new result and changed nothing "
            f"new",
            count=since.count, warning_at=self.warning_at, critical_at=self.critical_at,
            earlier=since.earlier(), new=since.latch.announce(severity),
        )
