"""Detectors over what tool calls do to resources (files, URLs, queries): the looping
signature of expensive coding-agent runs, the same file viewed and edited again and again.

* ``loop.redundant_read``: a file or URL read again although it has not changed since
  it was last read and the part now asked for was already shown. (A search repeated
  word for word is ``loop.repeated_call``'s and ``loop.repeated_outcome``'s to report.)
* ``loop.edit_churn``: a resource edited back and forth (an edit that undoes an earlier
  one), or edited again and again with no verification (tests, build, run) between.

Which calls read, write or verify comes from :mod:`.actions`.
"""

from __future__ import annotations

from collections import OrderedDict, deque
from typing import TYPE_CHECKING, Any, ClassVar

from ..steps import Step
from .actions import (
    ANY_RESOURCE,
    READ,
    SEARCH_PREFIX,
    VERIFY,
    WRITE,
    action_of,
    covers,
)
from .base import Detection, StageLatch, make_detection, severity_at
from .loop import EVIDENCE_SPANS, MAST_STEP_REPETITION, TOOL_STEPS

if TYPE_CHECKING:
    from ..config import Config

__all__ = ["EditChurnDetector", "RedundantReadDetector"]

_MAX_RESOURCES = 256  # per run; the least recently touched is forgotten beyond it
_MAX_SCOPES = 16  # reads remembered per resource


class _Resource:
    __slots__ = ("count", "latch", "reads", "span_ids")

    def __init__(self) -> None:
        self.reads: deque[tuple[Any, int | None]] = deque(maxlen=_MAX_SCOPES)  # (scope, result)
        self.count = 0  # redundant reads, or edits, in the current streak
        self.span_ids: deque[int] = deque(maxlen=EVIDENCE_SPANS + 1)
        self.latch = StageLatch()

    def reset(self) -> None:
        self.reads.clear()
        self.count = 0
        self.span_ids.clear()
        self.latch.reset()


class _Resources:
    """Bounded per-run table of resources, least recently touched first."""

    __slots__ = ("table",)

    def __init__(self) -> None:
        self.table: OrderedDict[str, _Resource] = OrderedDict()

    def get(self, name: str) -> _Resource:
        table = self.table
        resource = table.get(name)
        if resource is None:
            resource = table[name] = _Resource()
            if len(table) > _MAX_RESOURCES:
                table.popitem(last=False)
        else:
            table.move_to_end(name)
        return resource


class RedundantReadDetector:
    """Reads of a resource that show nothing new: same part, no change since.

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

    def __init__(self, warning_at: int = 2, critical_at: int = 4) -> None:
        self.warning_at = warning_at
        self.critical_at = critical_at

    @classmethod
    def from_config(cls, config: Config) -> RedundantReadDetector:
        return cls(config.loop_reread_threshold, config.loop_reread_critical)

    def new_state(self) -> _Resources:
        return _Resources()

    def observe(self, step: Step, state: _Resources) -> Detection | None:
        if step.error is not None or step.args is None:
            return None
        action = action_of(step.name, step.args, step.args_key)
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
            resource.reads.append((action.scope, result))
            return None
        resource.count += 1
        resource.span_ids.append(step.span_id)
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
        # What earlier edits did, bounded, least recent first. Keys:
        # ("pair", resource, hash(old), hash(new)) -> None: a replacement made
        # ("content", resource, hash(text)) -> None: whole content written
        # ("last", resource) -> hash(text): the content written last
        # ("reverts", resource) -> int: reverts so far
        self.memory: OrderedDict[tuple[Any, ...], Any] = OrderedDict()


class EditChurnDetector:
    """Edits that undo earlier edits, or many edits to one resource with nothing verified.

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

    def __init__(self, warning_at: int = 6, critical_at: int = 10) -> None:
        self.warning_at = warning_at
        self.critical_at = critical_at

    @classmethod
    def from_config(cls, config: Config) -> EditChurnDetector:
        return cls(config.loop_edit_threshold, config.loop_edit_critical)

    def new_state(self) -> _Edits:
        return _Edits()

    def observe(self, step: Step, state: _Edits) -> Detection | None:
        if step.error is not None or step.args is None:
            return None
        action = action_of(step.name, step.args, step.args_key)
        if action.kind == VERIFY:
            for resource in state.resources.table.values():
                resource.reset()
            return None
        if action.kind != WRITE or action.resource in (None, ANY_RESOURCE):
            return None
        name = action.resource
        resource = state.resources.get(name)
        resource.count += 1
        resource.span_ids.append(step.span_id)
        reverts = state.memory.get(("reverts", name), 0)
        if self._reverts(name, step.args, state.memory):
            reverts = reverts + 1
            _remember(state.memory, ("reverts", name), reverts)
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
    def _reverts(name: str, args: Any, memory: OrderedDict[tuple[Any, ...], Any]) -> bool:
        if not isinstance(args, dict):
            return False
        if str(args.get("command", "")).lower() == "undo_edit":
            return True
        old, new = args.get("old_str"), args.get("new_str")
        if isinstance(old, str) and isinstance(new, str):
            undone = ("pair", name, hash(new), hash(old)) in memory
            _remember(memory, ("pair", name, hash(old), hash(new)))
            return undone
        content = args.get("file_text", args.get("content"))
        if isinstance(content, str):
            digest = hash(content)
            restored = (("content", name, digest) in memory
                        and memory.get(("last", name)) != digest)
            _remember(memory, ("content", name, digest))
            _remember(memory, ("last", name), digest)
            return restored
        return False


def _remember(table: OrderedDict[Any, Any], key: Any, value: Any = None) -> None:
    """Set ``table[key]`` as the most recent entry, forgetting the oldest beyond the bound."""
    table[key] = value
    table.move_to_end(key)
    if len(table) > 4 * _MAX_RESOURCES:
        table.popitem(last=False)
