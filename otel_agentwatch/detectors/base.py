"""What every detector shares: the :class:`Detector` contract, its optional hooks,
:class:`Detection`, severities and the streak helpers.

To write a detector, subclass :class:`Detector`: give it an ``id``, a ``failure_mode``,
the ``kinds`` of step it watches, and an :meth:`~Detector.observe` method; declare its
thresholds as :class:`~otel_agentwatch.settings.Setting`\\ s in ``settings``. A detector
that also judges a run when it ends, puts attributes on every step span, or wants the
run's objective implements :class:`RunJudge`, :class:`Annotator` or
:class:`ObjectiveAware`. See ``docs/custom-detectors.md``.
"""

from __future__ import annotations

import enum
from abc import ABC, abstractmethod
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import (
    TYPE_CHECKING,
    Any,
    ClassVar,
    Generic,
    Literal,
    Protocol,
    TypeVar,
    runtime_checkable,
)

from opentelemetry.util.types import AttributeValue

from ..settings import Setting, SettingValues
from ..steps import RunKey, Step, StepKind

if TYPE_CHECKING:
    from .facts import StepFacts

__all__ = ["EVIDENCE_SPANS", "Annotator", "Detection", "Detector", "ObjectiveAware", "RunJudge",
           "Severity", "StageLatch", "Streak", "keep_evidence", "make_detection", "severity_at",
           "span_hex"]

EVIDENCE_SPANS = 8  # earlier span ids kept as evidence per streak


def keep_evidence(span_ids: list[int], span_id: int) -> None:
    """Add ``span_id`` to a streak's evidence, which keeps the latest
    ``EVIDENCE_SPANS + 1`` (the step being judged and the earlier ones it cites)."""
    span_ids.append(span_id)
    if len(span_ids) > EVIDENCE_SPANS + 1:
        del span_ids[0]

S = TypeVar("S")


class Severity(str, enum.Enum):
    """How bad a detection is. Ordered: ``INFO < WARNING < CRITICAL``.

    ``INFO`` is advisory: something worth knowing about a run that successful runs do
    too (ending without tests after a change). It is reported as an event and in the
    run's attributes, never as ``agentwatch.flagged``, and never halts a run.
    """

    INFO = "info"
    WARNING = "warning"
    CRITICAL = "critical"

    @property
    def rank(self) -> int:
        return _RANKS[self]

    @property
    def flags(self) -> bool:
        """Whether a detection at this severity flags its span (warning and above)."""
        return self is not Severity.INFO


_RANKS = {Severity.INFO: 0, Severity.WARNING: 1, Severity.CRITICAL: 2}


@dataclass(frozen=True, slots=True)
class Detection:
    """One verdict of one detector about one step.

    Attributes:
        detector: the detector's stable id, e.g. ``"loop.repeated_call"``.
        failure_mode: what went wrong, e.g. ``"step_repetition"``.
        severity: warning or critical.
        score: how far past the threshold, in (0, 1]; 1 means at or past critical.
        message: one sentence for a person; never contains prompt or tool content.
        mast_codes: MAST taxonomy codes (Cemri et al., arXiv 2503.13657), e.g. ``("FM-1.3",)``.
        span_id, trace_id, run_key: the step that triggered it and the run it belongs to.
        evidence: counts and the span ids (hex) of the earlier steps involved.
        new: True for the first detection of a streak at this severity. Only new
            detections become events on the run's span, metric points and callbacks,
            so a long loop does not produce a storm of them.
    """

    detector: str
    failure_mode: str
    severity: Severity
    score: float
    message: str
    mast_codes: tuple[str, ...]
    span_id: int
    trace_id: int
    run_key: RunKey
    evidence: Mapping[str, AttributeValue] = field(default_factory=dict)
    new: bool = True


class Detector(ABC, Generic[S]):
    """A streaming detector over the steps of one run.

    One detector object serves every run; what it remembers about a run lives in the
    state object that :meth:`new_state` returns (of type ``S``), which the engine makes
    on the first step of a run that the detector watches and keeps per run.

    Class attributes:
        id: stable id, ``family.name`` (``AGENTWATCH_DETECTORS`` selects by either).
        failure_mode: what a detection of it means, e.g. ``"step_repetition"``.
        mast_codes: MAST taxonomy codes it maps to.
        kinds: the kinds of step :meth:`observe` is called for.
        needs_text: when True, model steps are of use to it only if they carry output
            text: it is not called for model steps without text.
        actions: when set, tool calls are of use to it only if they do one of these
            (``read``, ``write``, ``verify``, ``other``: :attr:`.facts.StepFacts.action`):
            it is not called for the others.
        settings: its thresholds, by ``__init__`` parameter name; their values come from
            the environment (or ``Config.settings``) and reach the detector through
            :meth:`from_settings`.
        scope: ``"run"`` (the default): one state per run. ``"trace"``: one state shared
            by every run of a trace in this process, for patterns that only show across
            runs (a manager and its sub-agents); each step's ``run_key`` tells the runs
            apart. The engine keeps the states of the most recent traces, and forgets a
            trace's when the trace's root span in this process ends.
    """

    __slots__ = ()

    id: ClassVar[str]
    failure_mode: ClassVar[str]
    mast_codes: ClassVar[tuple[str, ...]] = ()
    kinds: ClassVar[frozenset[StepKind]]
    needs_text: bool = False
    actions: ClassVar[frozenset[str] | None] = None
    settings: ClassVar[Mapping[str, Setting[Any]]] = {}
    scope: ClassVar[Literal["run", "trace"]] = "run"

    @classmethod
    def from_settings(cls, values: SettingValues) -> Detector[Any] | None:
        """The detector with the thresholds in ``values`` (each of :attr:`settings`
        passed to ``__init__`` under its name), or None when the settings give it
        nothing to judge (a budget with no limit)."""
        return cls(**{name: values[setting] for name, setting in cls.settings.items()})

    def new_state(self) -> S:
        """Fresh per-run state (per-trace with ``scope = "trace"``); by default None (a
        detector that keeps nothing)."""
        return None  # type: ignore[return-value]  # S is None for such detectors

    @abstractmethod
    def observe(self, step: Step, state: S, facts: StepFacts) -> Detection | None:
        """The detection this step completes, if any.

        Called once per step of a kind in :attr:`kinds`, in the order the spans end, on
        the thread that ended the span, with the engine's lock held (the state needs no
        lock of its own). ``facts`` answers what several detectors ask about a step
        (what the call did to which resource; whether it brought anything new), each
        worked out once. It must take O(1) amortized time, keep the state bounded, never
        block and never do I/O. If it raises, the step is lost to this detector (the
        state must stay usable: update it after the checks that can fail); after three
        failures in a run it sits out the rest of that run, and no other run is affected.
        """


@runtime_checkable
class RunJudge(Protocol):
    """A detector that also judges a whole run, once, when its agent or root span ends."""

    def finish(self, anchor: Step | None, state: Any) -> Detection | None:
        """The detection of the ended run, if any. ``anchor`` is the run's own span as a
        step (None when it is not a span any dialect describes); the detection goes on
        that span. Same contract as ``observe``."""


@runtime_checkable
class Annotator(Protocol):
    """A detector that puts attributes on every step span it watches (budgets: the run's
    consumption so far)."""

    def attributes(self, state: Any) -> Mapping[str, AttributeValue]:
        """The attributes for the step span just observed. Same contract as ``observe``."""


@runtime_checkable
class ObjectiveAware(Protocol):
    """A detector that judges steps against what the run was asked to do."""

    def objective(self, state: Any, text: str) -> None:
        """The run's objective became known, or was set anew. Same contract as
        ``observe``; the text stays in the process."""


class StageLatch:
    """Remembers the highest stage already announced in the current streak.

    ``announce(severity)`` is True the first time a streak reaches a stage; a streak
    that stays at that stage, or drops back to a lower one, is not announced again.
    """

    __slots__ = ("_rank",)

    def __init__(self) -> None:
        self._rank = 0

    def announce(self, severity: Severity) -> bool:
        if severity.rank > self._rank:
            self._rank = severity.rank
            return True
        return False

    def reset(self) -> None:
        self._rank = 0


class Streak(StageLatch):
    """A run of consecutive equal keys, with its latest span ids and announced stage
    (its own :class:`StageLatch`: :meth:`announce` once per stage of the streak).

    Kept small, because one lives in many runs at once: the span ids are a plain list
    trimmed to the evidence kept, and the latch is the streak itself.
    """

    __slots__ = ("count", "key", "signature", "span_ids")

    def __init__(self) -> None:
        super().__init__()
        self.key: object = None
        self.signature: frozenset[int] | None = None
        self.count = 0
        self.span_ids: list[int] = []

    def extend(self, key: object, span_id: int) -> None:
        """Count one more occurrence: of the same streak if ``key`` matches, else a new one."""
        if key != self.key or key is None:  # a new streak (restart and add, in one go)
            self.key, self.count, self.signature, self._rank = key, 1, None, 0
            self.span_ids = [span_id]
            return
        self.add(span_id)

    def add(self, span_id: int) -> None:
        """Count one more occurrence of the current streak."""
        self.count += 1
        keep_evidence(self.span_ids, span_id)

    def restart(self, key: object = None) -> None:
        self.key, self.count, self.signature, self._rank = key, 0, None, 0
        if self.span_ids:
            self.span_ids = []

    def earlier(self) -> tuple[int, ...]:
        return tuple(self.span_ids[:-1])


def make_detection(detector: type[Detector[Any]] | Detector[Any], step: Step,
                   severity: Severity, message: str, *, count: int, warning_at: int,
                   critical_at: int, earlier: tuple[int, ...], new: bool,
                   **evidence: AttributeValue) -> Detection:
    """A detection of ``detector`` on ``step``: the evidence every streak detector gives.

    ``earlier`` are the span ids of the streak's earlier steps (exported as hex).
    """
    return Detection(
        detector=detector.id,
        failure_mode=detector.failure_mode,
        severity=severity,
        score=score(count, warning_at, critical_at),
        message=message,
        mast_codes=detector.mast_codes,
        span_id=step.span_id,
        trace_id=step.trace_id,
        run_key=step.run_key,
        evidence={"count": count, "earlier_span_ids": span_hex(earlier), **evidence},
        new=new,
    )


def severity_at(count: float, warning_at: float, critical_at: float) -> Severity | None:
    """The stage a count has reached, or None below the warning threshold."""
    if count >= critical_at:
        return Severity.CRITICAL
    if count >= warning_at:
        return Severity.WARNING
    return None


def score(count: int, warning_at: int, critical_at: int) -> float:
    """0.5 at the warning threshold rising linearly to 1.0 at the critical one."""
    if count >= critical_at:
        return 1.0
    if critical_at <= warning_at:
        return 1.0
    return round(0.5 + 0.5 * (count - warning_at) / (critical_at - warning_at), 3)


def span_hex(span_ids: Iterable[int]) -> tuple[str, ...]:
    """Span ids as the 16-digit hex that trace UIs show."""
    return tuple(format(span_id, "016x") for span_id in span_ids)
