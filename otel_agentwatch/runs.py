"""Which run a span belongs to, and the bounded table of per-run state.

A run is the nearest enclosing agent span (``invoke_agent``, OpenInference ``AGENT``,
OpenLLMetry ``agent``) or, when there is none, the local root of the trace. Its key is
``(trace_id, anchor_span_id)``. The key is decided when a span starts, from its parent's
entry in the live-span registry, so every lookup is O(1) and needs no attributes that
arrive only at the end.

:class:`RunTable` is a plain data structure: it knows nothing about detectors (the
processor gives it a factory for per-run state) and is not thread-safe (the processor
holds one lock around it). Everything in it is bounded: live spans by a cap, runs by a
cap and an idle timeout, both evicting the least recently active first.
"""

from __future__ import annotations

import time
from collections import OrderedDict, deque
from collections.abc import Callable
from typing import TYPE_CHECKING, Any, Generic, TypeVar

from .steps import RunKey, Step, StepKind

if TYPE_CHECKING:
    from .detectors.base import Detection

__all__ = ["RunState", "RunTable"]

_UNMARKED_LIMIT = 32

State = TypeVar("State")


class _LiveSpan:
    __slots__ = ("children_run", "span", "step_run")

    def __init__(self, children_run: RunKey, step_run: RunKey, span: object) -> None:
        self.children_run = children_run  # the run of the spans started under this one
        self.step_run = step_run  # the run this span itself is a step of
        self.span = span  # the live span object, for marking an open run anchor


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
        self._live: OrderedDict[int, _LiveSpan] = OrderedDict()
        self._runs: OrderedDict[RunKey, tuple[float, State]] = OrderedDict()
        self.evicted = 0  # runs dropped by cap or timeout, for diagnostics

    def __len__(self) -> int:
        return len(self._runs)

    @property
    def live_spans(self) -> int:
        return len(self._live)

    # --- spans -------------------------------------------------------------------------------

    def span_started(self, trace_id: int, span_id: int, parent_id: int | None,
                     is_agent: bool, span: object) -> RunKey:
        """Register a started span; returns the run its children will belong to."""
        parent = self._live.get(parent_id) if parent_id is not None else None
        own = (trace_id, span_id)
        if parent is None:  # a local root: a new run anchored here
            entry = _LiveSpan(own, own, span)
        elif is_agent:  # a new run for its children; the invocation is a step of the parent's
            entry = _LiveSpan(own, parent.children_run, span)
        else:
            entry = _LiveSpan(parent.children_run, parent.children_run, span)
        live = self._live
        live[span_id] = entry
        if len(live) > self.max_live_spans:
            live.popitem(last=False)
        return entry.children_run

    def span_ended(self, trace_id: int, span_id: int, parent_id: int | None) -> tuple[RunKey, bool]:
        """Forget an ended span. Returns ``(run of this step, whether it anchored a run)``.

        A span we did not see start (the processor was added late, or spans are replayed
        from a file) is placed under its nearest registered parent, or anchors its own run.
        """
        own = (trace_id, span_id)
        entry = self._live.pop(span_id, None)
        if entry is not None:
            return entry.step_run, entry.children_run == own
        if parent_id is None:
            return own, True
        parent = self._live.get(parent_id)
        return (parent.children_run if parent is not None else (trace_id, parent_id)), False

    def live_span(self, span_id: int) -> object | None:
        """The live span object registered under ``span_id``, if it has not ended."""
        entry = self._live.get(span_id)
        return entry.span if entry is not None else None

    # --- runs --------------------------------------------------------------------------------

    def state(self, key: RunKey) -> State:
        """The run's state, created on first use; marks the run as active now."""
        now = self._clock()
        runs = self._runs
        found = runs.get(key)
        if found is None:
            state = self._make_state(key)
            runs[key] = (now, state)
            self._evict(now)
            return state
        runs[key] = (now, found[1])
        runs.move_to_end(key)
        self._evict(now)
        return found[1]

    def pop(self, key: RunKey) -> State | None:
        """Remove and return a run's state (at run end)."""
        found = self._runs.pop(key, None)
        return found[1] if found is not None else None

    def clear(self) -> None:
        self._live.clear()
        self._runs.clear()

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


class RunState:
    """What the processor remembers about one run: detector states, counters, verdicts."""

    __slots__ = ("detection_count", "detector_states", "fired", "key", "llm_calls", "steps",
                 "tool_calls", "unmarked", "worst")

    def __init__(self, key: RunKey, detector_states: list[Any]) -> None:
        self.key = key
        self.detector_states = detector_states
        self.steps = 0
        self.tool_calls = 0
        self.llm_calls = 0
        self.detection_count = 0  # new detections (streak openings and escalations)
        self.fired: dict[str, Detection] = {}  # detector id -> its most severe detection
        self.worst: Detection | None = None
        # New detections not yet shown on an open anchor span (it was not live); they are
        # added to the anchor span when it ends.
        self.unmarked: deque[Detection] = deque(maxlen=_UNMARKED_LIMIT)

    @property
    def flagged(self) -> bool:
        return self.worst is not None

    def count(self, step: Step) -> None:
        self.steps += 1
        if step.kind is StepKind.TOOL:
            self.tool_calls += 1
        elif step.kind is StepKind.LLM:
            self.llm_calls += 1

    def record(self, detection: Detection) -> None:
        if detection.new:
            self.detection_count += 1
        previous = self.fired.get(detection.detector)
        if previous is None or detection.severity.rank > previous.severity.rank:
            self.fired[detection.detector] = detection
        if self.worst is None or detection.severity.rank > self.worst.severity.rank:
            self.worst = detection
