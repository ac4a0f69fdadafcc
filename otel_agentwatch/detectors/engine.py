"""The detector engine: builds the selected detectors, runs them over each step, judges runs
at their end, and collects their annotations.

A detector that raises loses that step, and after :data:`FAILURES_PER_RUN` failures in one
run it sits out the rest of that run; every other run keeps it. Whatever a span carries
can then cost at most that detector in that run, never detection for the process.

The processor calls the engine and nothing else of the detectors. The engine knows the
optional hooks only as the protocols of :mod:`.base` (:class:`~.base.RunJudge`,
:class:`~.base.Annotator`, :class:`~.base.ObjectiveAware`), checked once when it is
built, and keeps, per kind of step, the detectors that want it, so a step is handed only
to those. Per run it keeps one :class:`RunDetectors`: each detector's state, made on the
first step that detector is given, and the run's :class:`~.facts.RunMemory`. A detector
whose ``scope`` is ``"trace"`` has one state per trace instead, which every run of that
trace is given: the engine keeps those of the :data:`TRACES_KEPT` (or ``max_traces``)
most recent traces, and the processor tells it when a trace ends here.

Not thread-safe by itself: the processor holds its lock around every call that touches
a run (``observe``, ``finish``, ``annotate``, ``set_objective``, ``read``).
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Hashable, Iterable, Sequence
from typing import Any, NamedTuple, TypeVar

from opentelemetry.util.types import AttributeValue

from .._bounded import BoundedDict
from .._guard import internal_error
from ..config import Config
from ..settings import SettingValues
from ..steps import Step, StepKind
from . import registry
from .actions import OTHER, READ, VERIFY, WRITE, Action
from .base import Annotator, Detection, Detector, ObjectiveAware, RunJudge
from .facts import RunMemory, StepFacts
from .profiles import PROFILES

__all__ = ["DetectorEngine", "RunDetectors", "Watcher", "build_detectors"]

logger = logging.getLogger("otel_agentwatch")

_Read = TypeVar("_Read")
_COMMANDS_KEPT = 1024
_UNBUILT: Any = object()  # a detector's state in a run before its first step there
_OFF: Any = object()  # a detector's state in a run where it failed too often
FAILURES_PER_RUN = 3
TRACES_KEPT = 1024
"""Traces whose shared detector states are kept by default, the most recent first."""
"""Failures of one detector in one run after which it sits out the rest of that run."""


class Watcher(NamedTuple):
    """A running detector as the engine hands it steps: its place, and its methods bound
    once (a step goes to a dozen detectors; looking the methods up each time adds up)."""

    slot: int  # the detector's place in the engine, and its state's in each run
    detector: Detector[Any]
    observe: Callable[[Step, Any, StepFacts], Detection | None]
    new_state: Callable[[], Any]


Watchers = tuple[Watcher, ...]


class RunDetectors:
    """One run's share of the engine: each detector's state, and what the run has learnt."""

    __slots__ = ("failures", "memory", "states")

    def __init__(self, size: int, shared: Iterable[tuple[int, Any]] = ()) -> None:
        self.states: list[Any] = [_UNBUILT] * size
        for slot, state in shared:  # the trace's states, for detectors that share one
            self.states[slot] = state
        self.memory = RunMemory()
        self.failures: dict[int, int] | None = None  # slot -> failures in this run


def build_detectors(config: Config,
                    extra: Iterable[Detector[Any] | type[Detector[Any]]] = (),
                    ) -> tuple[Detector[Any], ...]:
    """The detectors ``config`` asks for: its profile's built-in ones and the installed
    ones (entry point group ``otel_agentwatch.detectors``) that ``AGENTWATCH_DETECTORS``
    selects, then ``extra`` (always: code that passes a detector wants it run). A class in
    ``extra`` is built from its settings. Raises
    :class:`~otel_agentwatch.settings.ConfigError`."""
    extra = tuple(extra)
    for item in extra:
        registry.check_detector(item)
    installed = registry.installed()
    extra_classes = tuple(item for item in extra if isinstance(item, type))
    classes = (*registry.BUILTIN, *installed, *extra_classes)
    registry.check_unique(classes, tuple(item for item in extra if not isinstance(item, type)))
    declared = registry.settings_of(classes)
    values = SettingValues.resolve(declared, config.settings)
    registry.warn_unknown(config.settings, declared)
    enabled = registry.select(config.detectors, (*registry.BUILTIN, *installed))
    chosen = [detector for detector in PROFILES[config.profile](values)
              if detector.id in enabled]
    chosen += [built for cls in installed
               if cls.id in enabled and (built := cls.from_settings(values)) is not None]
    for item in extra:
        built = item.from_settings(values) if isinstance(item, type) else item
        if built is not None:
            chosen.append(built)
    return tuple(chosen)


class DetectorEngine:
    """Runs a fixed set of detectors over the steps of many runs (see the module docstring).

    Args:
        detectors: the detectors, in the order their detections are reported.
        max_traces: how many traces' shared states (of detectors with ``scope`` "trace")
            are kept at most; the least recently used are forgotten first.

    Attributes (read them, never set them):
        by_kind: ``(kind, has_text) ->`` the watchers of such a step; empty when no one
            wants it, and the step need not be built at all.
        judges_runs: whether a running detector judges runs as they end.
        wants_objective: whether one judges steps against the run's objective.
        reads_late_text: whether one reads a model step's text and nothing else of it, so
            text that arrives after its span ended is still of use.
        annotates: whether one puts attributes on the step spans it watches.
    """

    def __init__(self, detectors: Sequence[Detector[Any]], *,
                 max_traces: int = TRACES_KEPT) -> None:
        self._detectors = tuple(detectors)
        self._max_traces = max_traces
        # Shell command lines parsed for any run: looping agents repeat theirs.
        self._commands: BoundedDict[Hashable, Action] = BoundedDict(_COMMANDS_KEPT)
        self._index()

    @classmethod
    def from_config(cls, config: Config,
                    extra: Iterable[Detector[Any] | type[Detector[Any]]] = ()
                    ) -> DetectorEngine:
        """The engine for :func:`build_detectors` ``(config, extra)``. Raises
        :class:`~otel_agentwatch.settings.ConfigError`."""
        return cls(build_detectors(config, extra), max_traces=config.max_runs)

    # --- what the processor asks before it does the work ---------------------------------

    @property
    def detectors(self) -> tuple[Detector[Any], ...]:
        """The detectors, in the order their detections are reported."""
        return tuple(watcher.detector for watcher in self._running)

    # --- the work, with the processor's lock held ------------------------------------------

    def new_run(self, trace_id: int = 0) -> RunDetectors:
        """A new run's share: nothing is built until a detector is given a step, except
        the states it shares with the other runs of trace ``trace_id`` (0: a run of no
        trace, which shares nothing)."""
        traces = self._traces
        if traces is None or not trace_id:
            return RunDetectors(len(self._detectors))
        shared = traces.get(trace_id)
        if shared is None:
            shared = traces[trace_id] = tuple(
                (slot, self._detectors[slot].new_state()) for slot in self._trace_slots)
        else:
            traces.touch(trace_id)
        return RunDetectors(len(self._detectors), shared)

    def end_trace(self, trace_id: int) -> None:
        """Forget the states the runs of trace ``trace_id`` share: it ended here (its
        root span in this process ended). Runs still open keep theirs."""
        if self._traces is not None:
            self._traces.pop(trace_id, None)

    def clear_traces(self) -> None:
        """Forget every trace's shared states (a forked child starts clean)."""
        if self._traces is not None:
            self._traces.clear()

    def observe(self, step: Step, run: RunDetectors, has_text: bool | None = None,
                watchers: Watchers | None = None) -> list[Detection]:
        """Hand ``step`` to the detectors that want it (or to ``watchers``) and return
        what they detect. ``has_text``: whether its span carried output text (default:
        whether the step has some)."""
        kind = step.kind
        facts = StepFacts(step, run.memory, self._commands)
        if watchers is None:
            if kind is StepKind.TOOL and self._by_action is not None:
                watchers = self._by_action[facts.action.kind]
            else:
                watchers = self.by_kind[kind, step.output_text is not None
                                        if has_text is None else has_text]
        found: list[Detection] = []
        states = run.states
        unbuilt = _UNBUILT
        off = _OFF
        for slot, detector, observe, new_state in watchers:
            try:
                state = states[slot]
                if state is unbuilt:
                    state = states[slot] = new_state()
                elif state is off:
                    continue
                detection = observe(step, state, facts)
            except Exception as error:
                self._failed(run, slot, detector, error)
                continue
            if detection is not None:
                found.append(detection)
        return found

    def observe_late_text(self, step: Step, run: RunDetectors) -> list[Detection]:
        """Hand a model step whose text arrived after its span ended to the detectors that
        read nothing but its text."""
        return self.observe(step, run, watchers=self._text_readers)

    def finish(self, anchor: Step | None, run: RunDetectors) -> list[Detection]:
        """What the run judges find as the run ends; ``anchor``: the run's own span as a
        step, if a dialect describes it."""
        found: list[Detection] = []
        for index, judge in self._judges:
            try:
                state = self._state(run, index)
                if state is _OFF:
                    continue
                detection = judge.finish(anchor, state)
            except Exception as error:
                self._failed(run, index, judge, error)
                continue
            if detection is not None:
                found.append(detection)
        return found

    def annotate(self, run: RunDetectors,
                 kinds: frozenset[StepKind]) -> dict[str, AttributeValue]:
        """What the annotators that watch any of ``kinds`` put on the step's span."""
        annotations: dict[str, AttributeValue] = {}
        for index, annotator in self._annotators:
            if annotator.kinds.isdisjoint(kinds):
                continue
            try:
                state = self._state(run, index)
                if state is not _OFF:
                    annotations.update(annotator.attributes(state))
            except Exception as error:
                self._failed(run, index, annotator, error)
        return annotations

    def set_objective(self, run: RunDetectors, text: str) -> None:
        """Tell the detectors that judge against it the run's objective."""
        for index, detector in self._objective_aware:
            try:
                state = self._state(run, index)
                if state is not _OFF:
                    detector.objective(state, text)
            except Exception as error:
                self._failed(run, index, detector, error)

    def read(self, run: RunDetectors,
             reader: Callable[[Detector[Any], Any], _Read | None]) -> list[_Read]:
        """What ``reader`` makes of each running detector and its state in ``run`` (None
        results left out): how callers ask a live run about one kind of detector."""
        read = (reader(watcher.detector, state) for watcher in self._running
                if (state := self._state(run, watcher.slot)) is not _OFF)
        return [value for value in read if value is not None]

    # --- bookkeeping -----------------------------------------------------------------------

    def _state(self, run: RunDetectors, index: int) -> Any:
        state = run.states[index]
        if state is _UNBUILT:
            state = run.states[index] = self._detectors[index].new_state()
        return state

    def _failed(self, run: RunDetectors, index: int, detector: Detector[Any],
                error: Exception) -> None:
        """``detector`` raised on a step of ``run``: that step is lost to it, and after
        :data:`FAILURES_PER_RUN` failures the rest of the run too. Its state may be half
        updated; a detector must tolerate that (see :meth:`.Detector.observe`)."""
        failures = run.failures
        if failures is None:
            failures = run.failures = {}
        count = failures[index] = failures.get(index, 0) + 1
        if count >= FAILURES_PER_RUN:
            run.states[index] = _OFF
        internal_error(f"detector {detector.id}", error,
                       f"detector {detector.id} skips that step (after {FAILURES_PER_RUN} "
                       f"failures, the rest of that run); other runs and spans are unaffected")

    def _index(self) -> None:
        running: Watchers = tuple(
            Watcher(index, detector, detector.observe, detector.new_state)
            for index, detector in enumerate(self._detectors))
        self._running = running
        self.by_kind: dict[tuple[StepKind, bool], Watchers] = {
            (kind, has_text): tuple(
                watcher for watcher in running
                if kind in watcher.detector.kinds
                and (has_text or kind is not StepKind.LLM or not watcher.detector.needs_text))
            for kind in StepKind for has_text in (False, True)
        }
        self._judges = tuple((watcher.slot, watcher.detector) for watcher in running
                             if isinstance(watcher.detector, RunJudge))
        self._annotators = tuple((watcher.slot, watcher.detector) for watcher in running
                                 if isinstance(watcher.detector, Annotator))
        self._objective_aware = tuple((watcher.slot, watcher.detector) for watcher in running
                                      if isinstance(watcher.detector, ObjectiveAware))
        self._trace_slots = tuple(watcher.slot for watcher in running
                                  if watcher.detector.scope == "trace")
        # trace id -> (slot, state) of each detector that shares one, most recent last
        self._traces: BoundedDict[int, tuple[tuple[int, Any], ...]] | None = \
            BoundedDict(self._max_traces) if self._trace_slots else None
        # The detectors a model step's text is for, and no other part of it.
        without_text = set(self.by_kind[StepKind.LLM, False])
        self._text_readers = tuple(watcher for watcher in self.by_kind[StepKind.LLM, True]
                                   if watcher not in without_text)
        # Tool calls go only to the detectors that want what they do, when some say.
        tools = self.by_kind[StepKind.TOOL, False]
        self._by_action: dict[str, Watchers] | None = {
            action: tuple(watcher for watcher in tools
                          if watcher.detector.actions is None
                          or action in watcher.detector.actions)
            for action in (READ, WRITE, VERIFY, OTHER)
        } if any(watcher.detector.actions is not None for watcher in tools) else None
        self.judges_runs = bool(self._judges)
        self.wants_objective = bool(self._objective_aware)
        self.reads_late_text = bool(self._text_readers)
        self.annotates = bool(self._annotators)
