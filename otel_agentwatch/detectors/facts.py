"""The per-step analysis that several detectors share, worked out once per step.

Re-reads, edit churn, unverified endings and the novelty test all need to know what a
tool call does to the world (:mod:`.actions`); the stall, overthinking and handoff
detectors all need to know whether a tool result is news to the run. Each
:class:`StepFacts` answers those questions for one step, on first ask, and remembers the
answer for the other detectors of that step. What the run has learnt so far
(:class:`RunMemory`) is kept once per run instead of once per detector.
"""

from __future__ import annotations

from .._bounded import BoundedDict
from ..steps import Step, StepKind
from .actions import WRITE, Action, CommandCache, classify_action

__all__ = ["RunMemory", "StepFacts"]

SEEN_LIMIT = 1024  # digests of what a run has learnt, kept per run


class RunMemory:
    """What a run has learnt so far: digests of its results, failures and writes (the
    most recent :data:`SEEN_LIMIT`), made on first use."""

    __slots__ = ("seen",)

    def __init__(self) -> None:
        self.seen: BoundedDict[int, None] | None = None

    def learn(self, digest: int) -> bool:
        """Whether ``digest`` is new to the run; remembered (as most recent) either way."""
        seen = self.seen
        if seen is None:
            seen = self.seen = BoundedDict(SEEN_LIMIT)
        if digest in seen:
            seen.touch(digest)
            return False
        seen[digest] = None
        return True


_UNKNOWN: object = object()
_NOT_A_CALL = Action("other")


class StepFacts:
    """What detectors ask about one step, each answer worked out once, on first ask.

    Attributes:
        step: the step.
    """

    __slots__ = ("_action", "_commands", "_memory", "_news", "step")

    def __init__(self, step: Step, memory: RunMemory, commands: CommandCache) -> None:
        self.step = step
        self._memory = memory
        self._commands = commands
        self._action: Action | None = None
        self._news: object = _UNKNOWN

    @property
    def action(self) -> Action:
        """What the call does: reads, writes or verifies which resource (see
        :class:`~.actions.Action`); ``other`` for a step that is not a tool call."""
        action = self._action
        if action is None:
            action = self._action = self._classify()
        return action

    def _classify(self) -> Action:
        step = self.step
        if step.kind is not StepKind.TOOL:
            return _NOT_A_CALL
        return classify_action(step.name, step.args, self._commands)

    @property
    def news(self) -> bool | None:
        """Whether a tool step brought the run something new: a result (or a failure)
        it has not seen before, or a write it has not made before; remembered for later
        steps. None when the span did not carry the result, or for other steps."""
        news = self._news
        if news is _UNKNOWN:
            news = self._news = self._learn()
        return news  # type: ignore[return-value]  # a bool or None once learnt

    def _learn(self) -> bool | None:
        step = self.step
        if step.kind is not StepKind.TOOL:
            return None
        if step.error is not None:
            # A failure is news only the first time it happens this way.
            return self._memory.learn(hash(("error", step.name, step.error,
                                            step.error_message)))
        if step.result is None:
            return None
        if step.args_key is not None and self.action.kind == WRITE:
            return self._memory.learn(hash(("write", step.name, step.args_key)))
        return self._memory.learn(hash(("result", step.result)))
