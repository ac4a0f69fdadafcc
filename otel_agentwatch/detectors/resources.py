"""Detectors over what tool calls do to resources (files, URLs, queries): the looping
signature of expensive coding-agent runs, the same file viewed and edited again and again.

* ``loop.redundant_read``: a file or URL read again although it has not changed since
  it was last read and the part now asked for was already shown. (A search repeated
  word for word is ``loop.repeated_call``'s and ``loop.repeated_outcome``'s to report.)
* ``loop.edit_churn``: a resource edited back and forth (an edit that undoes an earlier
  one), or edited again and again with no verification (tests, build, run) between;
  appending to it (``>> file``: a file built up piece by piece) is not editing it.

Which calls read, write or verify comes from :mod:`.actions`, asked once per step through
:class:`~.facts.StepFacts`.
"""

from __future__ import annotations

from typing import Any, ClassVar

from .._bounded import BoundedDict
from ..settings import Setting, integer
from ..steps import Step
from .actions import ANY_RESOURCE, APPENDED, READ, SEARCH_PREFIX, VERIFY, WRITE, covers
from .base import Detection, Detector, StageLatch, keep_evidence, make_detection, severity_at
from .facts import StepFacts
from .loop import MAST_STEP_REPETITION, TOOL_STEPS

__all__ = ["EditChurnDetector", "RedundantReadDetector"]

_MAX_RESOURCES = 256  # per run; the least recently touched is forgotten beyond it
_MAX_SCOPES = 16  # reads remembered per resource

# 3, not 2: re-reading a file once more before editing it is common in runs that succeed
# (6 of 149 resolved mini-swe-agent runs reach 2 redundant reads, 1 reaches 3).
REREAD_WARNING = Setting(
    "AGENTWATCH_LOOP_REREAD_THRESHOLD", integer(1), 3,
    "`loop.redundant_read`: re-reads of an unchanged resource that raise a warning.")
REREAD_CRITICAL = Setting(
    "AGENTWATCH_LOOP_REREAD_CRITICAL", integer(1), 4,
    "`loop.redundant_read`: re-reads that make it critical.", at_least=REREAD_WARNING)
EDIT_WARNING = Setting(
    "AGENTWATCH_LOOP_EDIT_THRESHOLD", integer(2), 6,
    "`loop.edit_churn`: edits of one resource with no verification between that raise a "
    "warning.")
EDIT_CRITICAL = Setting(
    "AGENTWATCH_LOOP_EDIT_CRITICAL", integer(2), 10,
    "`loop.edit_churn`: such edits that make it critical.", at_least=EDIT_WARNING)


class _Resource:
    __slots__ = ("count", "latch", "reads", "span_ids")

    def __init__(self) -> None:
        self.reads: list[tuple[Any, int | None]] = []  # (scope, result), the latest _MAX_SCOPES
        self.count = 0  # redundant reads, or edits, in the current streak
        self.span_ids: list[int] = []  # the latest EVIDENCE_SPANS + 1
        self.latch = StageLatch()

    def reset(self) -> None:
        self.reads.clear()
        self.count = 0
        self.span_ids.clear()
        self.latch.reset()

    def read(self, scope: Any, result: int | None) -> None:
        self.reads.append((scope, result))
        if len(self.reads) > _MAX_SCOPES:
            del self.reads[0]

    def count_one(self, span_id: int) -> None:
        self.count += 1
        keep_evidence(self.span_ids, span_id)


class _Resources:
    """Bounded per-run table of resources, least recently touched first."""

    __slots__ = ("table",)

    def __init__(self) -> None:
        self.table: BoundedDict[str, _Resource] = BoundedDict(_MAX_RESOURCES)

    def get(self, name: str) -> _Resource:
        return self.table.setdefault_recent(name, _Resource)


class RedundantReadDetector(Detector[_Resources]):
    """A file or URL is read again although it has not changed since it was last read and
    the part asked for was already shown.

    A read is redundant when an earlier read of the same resource, since its last
    write, already covered the part now read (a whole-file read covers every line
    range) and, when both results are known, returned the same result. Writes to the
    resource (or a patch, which may touch any) start it afresh. Redundant reads of one
    resource since its last change: warning at ``warning_at``, critical at ``critical_at``.
    """

    __slots__ = ("critical_at", "warning_at")

    id: ClassVar[str] = "loop.redundant_read"
    failure_mode: ClassVar[str] = "redundant_read"
    mast_codes: ClassVar[tuple[str, ...]] = MAST_STEP_REPETITION
    kinds = TOOL_STEPS
    actions: ClassVar[frozenset[str]] = frozenset({READ, WRITE})
    settings: ClassVar[dict[str, Setting[Any]]] = {
        "warning_at": REREAD_WARNING, "critical_at": REREAD_CRITICAL}

    def __init__(self, warning_at: int = REREAD_WARNING.default,
                 critical_at: int = REREAD_CRITICAL.default) -> None:
        self.warning_at = warning_at
        self.critical_at = critical_at

    def new_state(self) -> _Resources:
        return _Resources()

    def observe(self, step: Step, state: _Resources, facts: StepFacts) -> Detection | None:
        if step.error is not None or step.args is None:
            return None
        action = facts.action
        if action.kind == WRITE:
            if action.resource == ANY_RESOURCE:
                for resource in state.table.values():
                    resource.reset()
            elif action.resource is not None:
                state.get(action.resource).reset()
            return None
        if action.kind != READ or action.resource is None or \
                action.resource.startswith(SEARCH_PREFIX):
            return None
        resource = state.get(action.resource)
        result = hash(step.result) if step.result is not None else None
        seen = any(
            covers(scope, action.scope)
            and (result is None or earlier is None or earlier == result)
            for scope, earlier in resource.reads
        )
        if not seen:
            resource.read(action.scope, result)
            return None
        resource.count_one(step.span_id)
        severity = severity_at(resource.count, self.warning_at, self.critical_at)
        if severity is None:
            return None
        return make_detection(
            self, step, severity,
            f"{step.name} re-read an unchanged resource already shown "
            f"({resource.count} redundant reads since it last changed)",
            count=resource.count, warning_at=self.warning_at, critical_at=self.critical_at,
            earlier=tuple(resource.span_ids)[:-1], new=resource.latch.announce(severity),
            tool=step.name,
        )


class _Edits:
    __slots__ = ("memory", "resources")

    def __init__(self) -> None:
        self.resources = _Resources()  # count = edits since the last verification
        # What earlier edits did, least recent first. Keys:
        # ("pair", resource, hash(old), hash(new)) -> None: a replacement made
        # ("content", resource, hash(text)) -> None: whole content written
        # ("last", resource) -> hash(text): the content written last
        # ("reverts", resource) -> int: reverts so far
        self.memory: BoundedDict[tuple[Any, ...], Any] = BoundedDict(4 * _MAX_RESOURCES)


class EditChurnDetector(Detector[_Edits]):
    """A resource is edited back and forth (an edit undoes an earlier one: a warning; a
    second time: critical), or edited again and again with no test, build or run between.

    An edit reverts when it replaces text B with A after an earlier edit replaced A with
    B, restores content written earlier by a ``create``, or is an ``undo_edit``. Edits
    to one resource with no verification step (tests, build, lint, run) since:
    warning at ``warning_at``, critical at ``critical_at``; the first revert of a
    resource is a warning, the second critical.
    """

    __slots__ = ("critical_at", "warning_at")

    id: ClassVar[str] = "loop.edit_churn"
    failure_mode: ClassVar[str] = "edit_churn"
    mast_codes: ClassVar[tuple[str, ...]] = MAST_STEP_REPETITION
    kinds = TOOL_STEPS
    actions: ClassVar[frozenset[str]] = frozenset({WRITE, VERIFY})
    settings: ClassVar[dict[str, Setting[Any]]] = {
        "warning_at": EDIT_WARNING, "critical_at": EDIT_CRITICAL}

    def __init__(self, warning_at: int = EDIT_WARNING.default,
                 critical_at: int = EDIT_CRITICAL.default) -> None:
        self.warning_at = warning_at
        self.critical_at = critical_at

    def new_state(self) -> _Edits:
        return _Edits()

    def observe(self, step: Step, state: _Edits, facts: StepFacts) -> Detection | None:
        if step.error is not None or step.args is None:
            return None
        action = facts.action
        if action.kind == VERIFY:
            for resource in state.resources.table.values():
                resource.reset()
            return None
        if action.kind != WRITE or action.resource in (None, ANY_RESOURCE) or \
                action.scope == APPENDED:
            # Appending builds a file up (a script written piece by piece): not churn.
            return None
        name = action.resource
        resource = state.resources.get(name)
        resource.count_one(step.span_id)
        reverts = state.memory.get(("reverts", name), 0)
        if self._reverts(name, step.args, state.memory):
            reverts = reverts + 1
            state.memory.refresh(("reverts", name), reverts)
        by_count = severity_at(resource.count, self.warning_at, self.critical_at)
        by_revert = severity_at(reverts, 1, 2) if reverts else None
        severity = max((s for s in (by_count, by_revert) if s is not None),
                       key=lambda s: s.rank, default=None)
        if severity is None:
            return None
        if by_revert is severity:
            message = f"{step.name} undid an earlier edit of the same resource ({reverts} so far)"
        else:
            message = (f"{step.name}: {resource.count} edits of one resource with no test, "
                       "build or run since")
        return make_detection(
            self, step, severity, message,
            count=resource.count, warning_at=self.warning_at, critical_at=self.critical_at,
            earlier=tuple(resource.span_ids)[:-1], new=resource.latch.announce(severity),
            tool=step.name, reverts=reverts,
        )

    @staticmethod
    def _reverts(name: str, args: Any, memory: BoundedDict[tuple[Any, ...], Any]) -> bool:
        if not isinstance(args, dict):
            return False
        if str(args.get("command", "")).lower() == "undo_edit":
            return True
        old, new = args.get("old_str"), args.get("new_str")
        if isinstance(old, str) and isinstance(new, str):
            undone = ("pair", name, hash(new), hash(old)) in memory
            memory.refresh(("pair", name, hash(old), hash(new)), None)
            return undone
        content = args.get("file_text", args.get("content"))
        if isinstance(content, str):
            digest = hash(content)
            restored = (("content", name, digest) in memory
                        and memory.get(("last", name)) != digest)
            memory.refresh(("content", name, digest), None)
            memory.refresh(("last", name), digest)
            return restored
        return False
