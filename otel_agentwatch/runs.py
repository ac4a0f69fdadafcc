"""Which run a span belongs to, and the bounded table of per-run state.

A run is the nearest enclosing agent span (``invoke_agent``, OpenInference ``AGENT``,
OpenLLMetry ``agent``) or, when there is none, the local root of the trace. Its key is
``(trace_id, anchor_span_id)``. The key is decided when a span starts, from its parent's
entry in the live-span registry, so every lookup is O(1) and needs no attributes that
arrive only at the end.

:class:`RunTable` is a plain data structure: it knows nothing about detectors (the
processor gives it a factory for per-run state). Its live-span registry is safe to use
from several threads without a lock, because each of its methods makes single dict
operations, which are atomic; the run methods (``state``, ``pop``) are not, and the
processor holds its lock around them. Everything in it is bounded: live
spans by a cap, runs by a cap and an idle timeout, both evicting the least recently
active first.
"""

from __future__ import annotations

import time
import weakref
from collections import OrderedDict
from collections.abc import Callable
from typing import TYPE_CHECKING, Any, Generic, TypeVar

from ._bounded import BoundedDict
from .steps import RunKey, StepKind

if TYPE_CHECKING:
    from .detectors.base import Detection
    from .normalize.codeact import CodeNames

__all__ = ["RunState", "RunTable", "conversation_run"]

_UNMARKED_LIMIT = 32
_ANSWERED_LIMIT = 1024
_UNTOLD_LIMIT = 8  # findings waiting to be told to the model (a nudge), the latest
_SWEEP_INTERVAL = 1.0  # seconds between sweeps for idle runs

State = TypeVar("State")


# A live span's entry: (run of the spans started under it, run it is itself a step of,
# a weak reference to the span object if it anchors a run, to mark it while open, its
# place in a tool call). A tuple: one is made for every span the application starts.
# The reference is weak so that an agent span the application dropped without ending it
# is not kept alive here.
_LiveSpan = tuple[RunKey, RunKey, "Callable[[], object] | None", int]
# Places in a tool call: none; the tool call's own span; a span under it, in its run.
_NO_TOOL, _TOOL, _IN_TOOL = 0, 1, 2


def _no_span() -> None:
    return None


def _weak(span: object) -> Callable[[], object | None]:
    try:
        return weakref.ref(span)
    except TypeError:  # a span class without weak references: it cannot be marked open
        return _no_span


def conversation_run(conversation: int) -> RunKey:
    """The run of a conversation's model calls made outside any span: no trace has id 0."""
    return (0, conversation)


class RunTable(Generic[State]):
    """Live spans and per-run state, both bounded."""

    def __init__(self, make_state: Callable[[RunKey], State], *, max_runs: int,
                 ttl_seconds: float, max_live_spans: int | None = None,
                 clock: Callable[[], float] = time.monotonic) -> None:
        self._make_state = make_state
        self.max_runs = max_runs
        self.ttl_seconds = ttl_seconds
        self.max_live_spans = max_live_spans or max(4096, 16 * max_runs)
        self._clock = clock
        self._live: BoundedDict[int, _LiveSpan] = BoundedDict(self.max_live_spans)
        # run key -> [last active, state], least recently active first
        self._runs: OrderedDict[RunKey, list[Any]] = OrderedDict()
        self._newest: RunKey | None = None
        self._next_sweep = clock() + _SWEEP_INTERVAL
        self.evicted = 0  # runs dropped by cap or timeout, for diagnostics

    def __len__(self) -> int:
        return len(self._runs)

    @property
    def live_spans(self) -> int:
        return len(self._live)

    # --- spans -------------------------------------------------------------------------------

    def span_started(self, trace_id: int, span_id: int, parent_id: int | None,
                     is_agent: bool, span: object, conversation: RunKey | None = None,
                     is_tool: bool = False,
                     late_agent: Callable[[Any, int], object | None] | None = None,
                     parent_context: Any = None) -> RunKey:
        """Register a started span; returns the run its children will belong to.

        ``conversation``: for a local root that continues a conversation (a model call
        of a hand-written agent loop, outside any span), the run it belongs to; such a
        run has no anchor span and ends only by eviction. ``is_tool``: the span is a tool
        call's; the spans under it, up to the next agent, are part of that call.
        ``late_agent(parent_context, parent_id)``: asked only when the parent is
        registered as neither an anchor nor part of a tool call; returns the parent span
        if it has turned out to be an agent's since it started (its attributes set late),
        which then anchors its run from this child on, as if known at its start.
        """
        live = self._live
        parent = live.get(parent_id) if parent_id is not None else None
        if parent is not None and parent_id is not None and late_agent is not None and \
                parent[3] == _NO_TOOL and parent[0][1] != parent_id:
            parent_span = late_agent(parent_context, parent_id)
            if parent_span is not None:
                parent = live[parent_id] = ((trace_id, parent_id), parent[1],
                                            _weak(parent_span), parent[3])
        tool = _IN_TOOL if parent is not None and parent[3] and not is_agent else \
            _TOOL if is_tool else _NO_TOOL
        entry: _LiveSpan
        if parent is None and conversation is not None and not is_agent:
            entry = (conversation, conversation, None, tool)
        elif parent is None:  # a local root: a new run anchored here
            own = (trace_id, span_id)
            entry = (own, own, _weak(span), tool)
        elif is_agent:  # a new run for its children; the invocation is a step of the parent's
            entry = ((trace_id, span_id), parent[0], _weak(span), tool)
        else:  # not an anchor: no need to keep the span object
            entry = (parent[0], parent[0], None, tool)
        live[span_id] = entry  # the oldest is forgotten beyond the cap
        return entry[0]

    def span_ended(self, trace_id: int, span_id: int,
                   parent_id: int | None) -> tuple[RunKey, bool, bool]:
        """Forget an ended span. Returns ``(run of this step, whether it anchored a run,
        whether it is part of an enclosing tool call)``.

        A span we did not see start (the processor was added late, or spans are replayed
        from a file) is placed under its nearest registered parent, or anchors its own run.
        """
        entry = self._live.pop(span_id, None)
        if entry is not None:
            return entry[1], entry[0][1] == span_id, entry[3] == _IN_TOOL
        if parent_id is None:
            return (trace_id, span_id), True, False
        parent = self._live.get(parent_id)
        if parent is None:
            return (trace_id, parent_id), False, False
        return parent[0], False, parent[3] != _NO_TOOL

    def run_of(self, span_id: int) -> RunKey | None:
        """The run that spans started under a live span belong to."""
        entry = self._live.get(span_id)
        return entry[0] if entry is not None else None

    def peek(self, key: RunKey) -> State | None:
        """A run's state if it has one, without marking it active."""
        entry = self._runs.get(key)
        return entry[1] if entry is not None else None

    def live_span(self, span_id: int) -> object | None:
        """The live span object registered under ``span_id``, if it has not ended."""
        entry = self._live.get(span_id)
        span = entry[2] if entry is not None else None
        return span() if span is not None else None

    # --- runs --------------------------------------------------------------------------------

    def state(self, key: RunKey) -> State:
        """The run's state, created on first use; marks the run as active now."""
        now = self._clock()
        runs = self._runs
        entry = runs.get(key)
        if entry is None:
            entry = runs[key] = [now, self._make_state(key)]
            if len(runs) > self.max_runs:
                self._evict(now)
        else:
            entry[0] = now
            if key != self._newest:  # consecutive steps of one run skip the reordering
                runs.move_to_end(key)
        self._newest = key
        if now >= self._next_sweep:
            self._evict(now)
        state: State = entry[1]
        return state

    def pop(self, key: RunKey) -> State | None:
        """Remove and return a run's state (at run end)."""
        entry = self._runs.pop(key, None)
        if key == self._newest:
            self._newest = None
        return entry[1] if entry is not None else None

    def clear(self) -> None:
        self._live.clear()
        self._runs.clear()
        self._newest = None

    def _evict(self, now: float) -> None:
        runs = self._runs
        while len(runs) > self.max_runs:
            runs.popitem(last=False)
            self.evicted += 1
        deadline = now - self.ttl_seconds
        while runs:
            key, (last_seen, _state) = next(iter(runs.items()))
            if last_seen >= deadline:
                break
            del runs[key]
            self.evicted += 1
        self._next_sweep = now + min(_SWEEP_INTERVAL, self.ttl_seconds)


class RunState:
    """What the processor remembers about one run: the detectors' share of it (opaque
    here), counters, and its verdicts. Small until something is found: the verdict
    tables are made with the first detection."""

    __slots__ = ("answered", "code_names", "detection_count", "detectors", "fired",
                 "has_tool_spans", "key", "llm_calls", "nudges", "objective", "objective_tries",
                 "steps", "tool_calls", "unmarked", "untold", "worst")

    def __init__(self, key: RunKey, detectors: Any) -> None:
        self.key = key
        self.detectors = detectors
        self.steps = 0
        self.tool_calls = 0
        self.llm_calls = 0
        self.has_tool_spans = False  # tool calls have spans: model requests add no tool steps
        self.objective: str | None = None  # what the run was asked to do, once known
        self.objective_tries = 0  # model spans searched for it
        self.detection_count = 0  # new detections (streak openings and escalations)
        self.fired: dict[str, Detection] | None = None  # detector id -> its most severe
        self.worst: Detection | None = None
        # New detections not yet shown on an open anchor span (it was not live); they are
        # added to the anchor span when it ends. At most _UNMARKED_LIMIT, the latest.
        self.unmarked: list[Detection] | None = None
        # Ids of the tool calls whose results a model request carried (most recent
        # _ANSWERED_LIMIT): a request that resends the whole history carries them again.
        self.answered: BoundedDict[str, None] | None = None
        # Names that are not tools when the run's code calls them (made on its first
        # tool or agent step): see normalize.codeact.
        self.code_names: CodeNames | None = None
        # New detections the model has not been told of yet (AGENTWATCH_ACTION=nudge), at
        # most _UNTOLD_LIMIT, the latest; and how many notes its requests carried.
        self.untold: list[Detection] | None = None
        self.nudges = 0

    @property
    def flagged(self) -> bool:
        """Whether a detection at warning or above was made in the run."""
        return self.worst is not None and self.worst.severity.flags

    @property
    def detected(self) -> bool:
        """Whether any detection was made in the run, advisory ones included."""
        return self.worst is not None

    def count(self, kind: StepKind) -> None:
        self.steps += 1
        if kind is StepKind.TOOL:
            self.tool_calls += 1
        elif kind is StepKind.LLM:
            self.llm_calls += 1

    def first_answer(self, call_id: str) -> bool:
        """Whether the result of tool call ``call_id`` is new to the run (remembered)."""
        answered = self.answered
        if answered is None:
            answered = self.answered = BoundedDict(_ANSWERED_LIMIT)
        if call_id in answered:
            return False
        answered[call_id] = None
        return True

    def record(self, detection: Detection) -> None:
        if detection.new:
            self.detection_count += 1
        fired = self.fired
        if fired is None:
            fired = self.fired = {}
        previous = fired.get(detection.detector)
        if previous is None or detection.severity.rank > previous.severity.rank:
            fired[detection.detector] = detection
        if self.worst is None or detection.severity.rank > self.worst.severity.rank:
            self.worst = detection

    def leave_unmarked(self, detection: Detection) -> None:
        """Keep a new detection for the anchor span's end (it could not be marked open)."""
        self.unmarked = _kept_latest(self.unmarked, detection, _UNMARKED_LIMIT)

    def to_tell(self, detection: Detection) -> None:
        """Keep a new detection for the note of the run's next model request."""
        self.untold = _kept_latest(self.untold, detection, _UNTOLD_LIMIT)

    def take_untold(self) -> list[Detection]:
        """The detections not yet told, oldest first; they count as told from now."""
        untold, self.untold = self.untold, None
        return untold or []


def _kept_latest(detections: list[Detection] | None, detection: Detection,
                 limit: int) -> list[Detection]:
    """``detections`` (a new list for None) with ``detection`` added, the oldest
    forgotten beyond ``limit``: the run's lists are made only when something is found."""
    if detections is None:
        return [detection]
    detections.append(detection)
    if len(detections) > limit:
        del detections[0]
    return detections
