"""``drift.objective``: the run's steps move away from what it was asked to do (MAST FM-2.3
task derailment; the distractor susceptibility of long reasoning, Gema et al., arXiv
2507.14417).

Each step's text (a tool call's name, arguments and result; a model call's output) is
embedded and compared with the run's objective (:mod:`.embedding`). The
first ``warmup`` steps set the run's own baseline similarity: tool output rarely shares
much vocabulary with a task statement, and how much it does depends on the task. After
that, a one-sided CUSUM test accumulates how far each step falls below the baseline
(as a share of it, less a ``slack``): one off-topic step adds at most ``1 - slack`` and
fades again with on-topic steps, a sustained decline builds up. A warning when the sum
reaches ``warning_at``, critical at ``critical_at``. Evidence is numbers only: the
baseline, the latest similarities, the sum.

A run has an objective when ``otel_agentwatch.set_objective`` or the span attribute
``agentwatch.objective`` gives one, or our instrumentation saw what the run was asked
(a LangChain agent's input, an SDK call's first user message). Without one, nothing is
judged.
"""

from __future__ import annotations

import dataclasses
import json
from collections import deque
from typing import Any, ClassVar

from ..settings import ConfigError, Kind, Setting, SettingValues, integer, number
from ..steps import Step, StepKind
from .base import EVIDENCE_SPANS, Detection, Detector, Severity, StageLatch, make_detection
from .embedding import Embedder, load_embedder
from .facts import StepFacts

__all__ = ["ObjectiveDriftDetector"]

_RECENT = 5  # similarities kept for the evidence
_FLOOR = 0.02  # a baseline below this is noise: compare against this instead


def _is_embedder_spec(value: Any) -> bool:
    if not isinstance(value, str):
        return False
    if value == "hashing":
        return True
    module, colon, attribute = value.partition(":")
    return bool(colon and module and attribute)


DRIFT_WARNING = Setting(
    "AGENTWATCH_DRIFT_THRESHOLD", number(0.1), 6.0,
    "`drift.objective`: accumulated decline of the steps' similarity to the objective (in "
    "baseline units) that raises a warning.")
DRIFT_CRITICAL = Setting(
    "AGENTWATCH_DRIFT_CRITICAL", number(0.1), 12.0,
    "`drift.objective`: the accumulated decline that makes it critical.",
    at_least=DRIFT_WARNING)
WARMUP = Setting(
    "AGENTWATCH_DRIFT_WARMUP", integer(1), 3,
    "`drift.objective`: steps that set a run's baseline similarity before it is judged.")
EMBEDDER = Setting(
    "AGENTWATCH_EMBEDDER",
    Kind("'hashing', or module:callable (text -> vector of floats)", str.strip,
         _is_embedder_spec),
    "hashing",
    "How `drift.objective` embeds text: the built-in hashed n-gram vectors, or your own "
    "callable.")
EMBED_MAX_CHARS = Setting(
    "AGENTWATCH_EMBED_MAX_CHARS", integer(100), 2000,
    "Characters of a text that are embedded (the rest is ignored).")


class _Course:
    __slots__ = ("baseline", "latch", "recent", "span_ids", "sum", "target", "warm")

    def __init__(self) -> None:
        self.target: Any = None  # the objective's unit vector
        self.baseline = 0.0  # mean similarity over the warm-up steps
        self.warm = 0  # warm-up steps seen
        self.sum = 0.0  # the CUSUM statistic
        self.recent: deque[float] = deque(maxlen=_RECENT)
        self.span_ids: deque[int] = deque(maxlen=EVIDENCE_SPANS + 1)
        self.latch = StageLatch()


class ObjectiveDriftDetector(Detector[_Course]):
    """The run's steps (tool calls with their results, model outputs) keep moving away from
    its objective: a sum of each step's shortfall in similarity to the objective, against
    the run's own first steps, that one off-topic step never fills. Off by default.

    See the module docstring for the CUSUM test.
    """

    __slots__ = ("critical_at", "embed", "max_chars", "slack", "warmup", "warning_at")

    id: ClassVar[str] = "drift.objective"
    failure_mode: ClassVar[str] = "objective_drift"
    mast_codes: ClassVar[tuple[str, ...]] = ("FM-2.3",)
    kinds: ClassVar[frozenset[StepKind]] = frozenset({StepKind.TOOL, StepKind.LLM})
    needs_text = True
    settings: ClassVar[dict[str, Setting[Any]]] = {
        "warning_at": DRIFT_WARNING, "critical_at": DRIFT_CRITICAL, "warmup": WARMUP,
        "embed": EMBEDDER, "max_chars": EMBED_MAX_CHARS}

    def __init__(self, embed: Embedder | None = None,
                 warning_at: float = DRIFT_WARNING.default,
                 critical_at: float = DRIFT_CRITICAL.default, warmup: int = WARMUP.default,
                 slack: float = 0.2, max_chars: int = EMBED_MAX_CHARS.default) -> None:
        self.embed = embed if embed is not None else load_embedder("hashing", max_chars)
        self.warning_at = warning_at
        self.critical_at = critical_at
        self.warmup = warmup
        self.slack = slack
        self.max_chars = max_chars

    @classmethod
    def from_settings(cls, values: SettingValues) -> ObjectiveDriftDetector:
        spec, max_chars = values[EMBEDDER], values[EMBED_MAX_CHARS]
        try:
            embed = load_embedder(spec, max_chars)
        except ValueError as error:
            raise ConfigError(EMBEDDER.env, spec,
                              f"'hashing', or an importable module:callable from text to a "
                              f"vector of floats ({error})") from None
        return cls(embed, values[DRIFT_WARNING], values[DRIFT_CRITICAL], values[WARMUP],
                   max_chars=max_chars)

    def new_state(self) -> _Course:
        return _Course()

    def objective(self, state: _Course, text: str) -> None:
        """The run's objective became known (or was set anew): judge against it."""
        state.target = self._vector(text)
        state.baseline, state.warm, state.sum = 0.0, 0, 0.0
        state.recent.clear()
        state.span_ids.clear()
        state.latch.reset()

    def observe(self, step: Step, state: _Course, facts: StepFacts) -> Detection | None:
        if state.target is None:
            return None
        text = self._text(step)
        if not text:
            return None
        similarity = float(self._vector(text) @ state.target)
        state.recent.append(round(similarity, 3))
        if state.warm < self.warmup:
            state.warm += 1
            state.baseline += (similarity - state.baseline) / state.warm
            return None
        baseline = max(state.baseline, _FLOOR)
        state.sum = max(0.0, state.sum + 1.0 - similarity / baseline - self.slack)
        if state.sum == 0.0:
            state.span_ids.clear()
            state.latch.reset()
            return None
        state.span_ids.append(step.span_id)
        if state.sum >= self.critical_at:
            severity = Severity.CRITICAL
        elif state.sum >= self.warning_at:
            severity = Severity.WARNING
        else:
            return None
        return dataclasses.replace(make_detection(
            self, step, severity,
            f"the run's steps have moved away from its objective (similarity "
            f"{similarity:.2f} against a baseline of {state.baseline:.2f})",
            count=len(state.span_ids), warning_at=1, critical_at=1,
            earlier=tuple(state.span_ids)[:-1], new=state.latch.announce(severity),
            baseline_similarity=round(state.baseline, 3),
            recent_similarities=tuple(state.recent), drift_sum=round(state.sum, 3),
        ), score=round(min(1.0, state.sum / self.critical_at), 3))

    def _vector(self, text: str) -> Any:
        import numpy

        vector = numpy.asarray(self.embed(text[:self.max_chars]), dtype=numpy.float64)
        norm = float(numpy.sqrt(vector @ vector))
        return vector / norm if norm else vector

    def _text(self, step: Step) -> str:
        if step.kind is StepKind.LLM:
            return step.output_text or ""
        args = step.args
        shown = args if isinstance(args, str) or args is None else json.dumps(
            args, ensure_ascii=False, default=str)
        return " ".join(part for part in (step.name, shown, step.result) if part)[
            :self.max_chars]
