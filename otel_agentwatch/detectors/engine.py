"""The detector engine: builds the selected detectors, runs them over each step, judges runs
at their end, collects their annotations, and disables one that raises.

The processor calls the engine and nothing else of the detectors. The engine knows the
optional hooks only as the protocols of :mod:`.base` (:class:`~.base.RunJudge`,
:class:`~.base.Annotator`, :class:`~.base.ObjectiveAware`), checked once when it is
built, and keeps, per kind of step, the detectors that want it, so a step is handed only
to those. Per run it keeps one :class:`RunDetectors`: each detector's state, made on the
first step that detector is given, and the run's :class:`~.facts.RunMemory`.

Not thread-safe by itself: the processor holds its lock around every call that touches
a run (``observe``, ``finish``, ``annotate``, ``set_objective``, ``read``).
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable, Sequence
from typing import Any, TypeVar

from opentelemetry.util.types import AttributeValue

from .._bounded import BoundedDict
from .._guard import internal_error
from ..config import Config
from ..settings import SettingValues
from ..steps import Step, StepKind
from . import registry
from .base import Annotator, Detection, Detector, ObjectiveAware, RunJudge
from .facts import ACTION_CACHE_LIMIT, ActionCache, RunMemory, StepFacts
from .profiles import PROFILES

__all__ = ["DetectorEngine", "RunDetectors", "build_detectors"]

logger = logging.getLogger("otel_agentwatch")

_Read = TypeVar("_Read")
_UNBUILT: Any = object()  # a detector's state in a run before its first step there
_Indexed = tuple[tuple[int, Detector[Any]], ...]


class RunDetectors:
    """One run's share of the engine: each detector's state, and what the run has learnt."""

    __slots__ = ("memory", "states")

    def __init__(self, size: int) -> None:
        self.states: list[Any] = [_UNBUILT] * size
        self.memory = RunMemory()


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
    values = SettingValues.resolve(registry.settings_of(classes), config.settings)
    registry.warn_unknown(config.settings, classes)
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
    """

    def __init__(self, detectors: Sequence[Detector[Any]]) -> None:
        self._detectors = tuple(detectors)
        self._disabled: frozenset[int] = frozenset()
        self._actions: ActionCache = BoundedDict(ACTION_CACHE_LIMIT)
        self._index()

    @classmethod
    def from_config(cls, config: Config,
                    extra: Iterable[Detector[Any] | type[Detector[Any]]] = ()
                    ) -> DetectorEngine:
        """The engine for :func:`build_detectors` ``(config, extra)``. Raises
        :class:`~otel_agentwatch.settings.ConfigError`."""
        return cls(build_detectors(config, extra))

    # --- what the processor asks before it does the work ---------------------------------

    @property
    def detectors(self) -> tuple[Detector[Any], ...]:
        """The detectors still running (one that raised is no longer listed)."""
        return tuple(detector for _, detector in self._running)

    def watchers(self, kind: StepKind, has_text: bool) -> _Indexed:
        """The running detectors that want a step of ``kind`` (with or without output
        text); empty when no one does, and the step need not be built at all."""
        return self._by_kind[kind, has_text]

    @property
    def judges_runs(self) -> bool:
        """Whether a running detector judges runs as they end."""
        return bool(self._judges)

    @property
    def wants_objective(self) -> bool:
        """Whether a running detector judges steps against the run's objective."""
        return bool(self._objective_aware)

    @property
    def reads_late_text(self) -> bool:
        """Whether a running detector reads model text and nothing else of a model step,
        so text that arrives after its span ended is still of use."""
        return bool(self._text_readers)

    @property
    def annotates(self) -> bool:
        """Whether a running detector puts attributes on the step spans it watches."""
        return bool(self._annotators)

    # --- the work, with the processor's lock held ------------------------------------------

    def new_run(self) -> RunDetectors:
        """A new run's share: nothing is built until a detector is given a step."""
        return RunDetectors(len(self._detectors))

    def observe(self, step: Step, run: RunDetectors,
                watchers: _Indexed | None = None) -> list[Detection]:
        """Hand ``step`` to ``watchers`` (default: those that want its kind) and return
        what they detect."""
        if watchers is None:
            watchers = self._by_kind[step.kind, step.output_text is not None]
        found: list[Detection] = []
        states = run.states
        facts = StepFacts(step, run.memory, self._actions)
        for index, detector in watchers:
            try:
                state = states[index]
                if state is _UNBUILT:
                    state = states[index] = detector.new_state()
                detection = detector.observe(step, state, facts)
            except Exception as error:
                self._disable(index, detector, error)
                continue
            if detection is not None:
                found.append(detection)
        return found

    def observe_late_text(self, step: Step, run: RunDetectors) -> list[Detection]:
        """Hand a model step whose text arrived after its span ended to the detectors that
        read nothing but its text."""
        return self.observe(step, run, self._text_readers)

    def finish(self, anchor: Step | None, run: RunDetectors) -> list[Detection]:
        """What the run judges find as the run ends; ``anchor``: the run's own span as a
        step, if a dialect describes it."""
        found: list[Detection] = []
        for index, judge in self._judges:
            try:
                detection = judge.finish(anchor, self._state(run, index))
            except Exception as error:
                self._disable(index, judge, error)
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
                annotations.update(annotator.attributes(self._state(run, index)))
            except Exception as error:
                self._disable(index, annotator, error)
        return annotations

    def set_objective(self, run: RunDetectors, text: str) -> None:
        """Tell the detectors that judge against it the run's objective."""
        for index, detector in self._objective_aware:
            try:
                detector.objective(self._state(run, index), text)
            except Exception as error:
                self._disable(index, detector, error)

    def read(self, run: RunDetectors,
             reader: Callable[[Detector[Any], Any], _Read | None]) -> list[_Read]:
        """What ``reader`` makes of each running detector and its state in ``run`` (None
        results left out): how callers ask a live run about one kind of detector."""
        read = (reader(detector, self._state(run, index)) for index, detector in self._running)
        return [value for value in read if value is not None]

    # --- bookkeeping -----------------------------------------------------------------------

    def _state(self, run: RunDetectors, index: int) -> Any:
        state = run.states[index]
        if state is _UNBUILT:
            state = run.states[index] = self._detectors[index].new_state()
        return state

    def _disable(self, index: int, detector: Detector[Any], error: Exception) -> None:
        # Copy-on-write: another thread may be iterating the tuples it already holds.
        self._disabled = self._disabled | {index}
        self._index()
        internal_error(f"detector {detector.id}", error,
                       f"detector {detector.id} is disabled; spans keep flowing")

    def _index(self) -> None:
        running: _Indexed = tuple((index, detector)
                                  for index, detector in enumerate(self._detectors)
                                  if index not in self._disabled)
        self._running = running
        self._by_kind = {
            (kind, has_text): tuple(
                (index, detector) for index, detector in running
                if kind in detector.kinds
                and (has_text or kind is not StepKind.LLM or not detector.needs_text))
            for kind in StepKind for has_text in (False, True)
        }
        self._judges = tuple((index, detector) for index, detector in running
                             if isinstance(detector, RunJudge))
        self._annotators = tuple((index, detector) for index, detector in running
                                 if isinstance(detector, Annotator))
        self._objective_aware = tuple((index, detector) for index, detector in running
                                      if isinstance(detector, ObjectiveAware))
        # The detectors a model step's text is for, and no other part of it.
        without_text = set(self._by_kind[StepKind.LLM, False])
        self._text_readers = tuple(watcher for watcher in self._by_kind[StepKind.LLM, True]
                                   if watcher not in without_text)

