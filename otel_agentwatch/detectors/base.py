"""What every detector shares: the :class:`Detector` contract, :class:`Detection`, stages."""

from __future__ import annotations

import enum
from collections import deque
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, ClassVar, Protocol, runtime_checkable

from opentelemetry.util.types import AttributeValue

from ..steps import RunKey, Step, StepKind

if TYPE_CHECKING:
    from ..config import Config

__all__ = ["EVIDENCE_SPANS", "Detection", "Detector", "Severity", "StageLatch", "Streak",
           "make_detection", "severity_at", "span_hex"]

EVIDENCE_SPANS = 8  # earlier span ids kept as evidence per streak


class Severity(str, enum.Enum):
    """How bad a detection is. Ordered: ``WARNING < CRITICAL``."""

    WARNING = "warning"
    CRITICAL = "critical"

    @property
    def rank(self) -> int:
        return 1 if self is Severity.WARNING else 2


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


@runtime_checkable
class Detector(Protocol):
    """A streaming detector over the steps of one run.

    One detector object serves every run; what it remembers about a run lives in the
    state object that :meth:`new_state` returns and the processor keeps per run.

    Contract for :meth:`observe`: it is called once per step, in the order the spans
    end, on the thread that ended the span, while the processor holds the run table's
    lock (so the state needs no lock of its own). It must take O(1) amortized time,
    keep the state bounded, never block and never do I/O. If it raises, the processor
    logs once and disables this detector for the rest of the process; spans keep
    flowing.
    """

    id: ClassVar[str]
    failure_mode: ClassVar[str]
    mast_codes: ClassVar[tuple[str, ...]]
    kinds: ClassVar[frozenset[StepKind]]
    """The kinds of step :meth:`observe` wants; it is not called for the others.

    A detector may also have ``needs_text = True`` when model steps are of use to it only
    if they carry output text: then it is not called for model steps without text, and
    such spans need not be parsed at all.
    """

    @classmethod
    def from_config(cls, config: Config) -> Detector:
        """The detector with the thresholds of ``config``."""
        ...

    def new_state(self) -> Any:
        """Fresh per-run state."""
        ...

    def observe(self, step: Step, state: Any) -> Detection | None:
        """The detection this step completes, if any."""
        ...

    # A detector may also judge a whole run when it ends, with a method
    #     finish(self, anchor: Step | None, state) -> Detection | None
    # called once, when the run's agent or root span ends, with that span's own step
    # (None when it is not a span we read); its detection goes on that span.


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


class Streak:
    """A run of consecutive equal keys, with its earlier span ids and announced stage."""

    __slots__ = ("count", "key", "latch", "signature", "span_ids")

    def __init__(self) -> None:
        self.key: object = None
        self.signature: frozenset[int] | None = None
        self.count = 0
        self.span_ids: deque[int] = deque(maxlen=EVIDENCE_SPANS + 1)
        self.latch = StageLatch()

    def extend(self, key: object, span_id: int) -> None:
        """Count one more occurrence: of the same streak if ``key`` matches, else a new one."""
        if key != self.key or key is None:
            self.restart(key)
        self.count += 1
        self.span_ids.append(span_id)

    def restart(self, key: object = None) -> None:
        self.key, self.count, self.signature = key, 0, None
        self.span_ids.clear()
        self.latch.reset()

    def earlier(self) -> tuple[int, ...]:
        return tuple(self.span_ids)[:-1]


def make_detection(detector: type[Detector] | Detector, step: Step, severity: Severity,
                   message: str, *, count: int, warning_at: int, critical_at: int,
                   earlier: tuple[int, ...], new: bool,
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


def severity_at(count: int, warning_at: int, critical_at: int) -> Severity | None:
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
