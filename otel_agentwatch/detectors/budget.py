"""Budget detectors: a run's consumption against the limits set for it (budget awareness,
Liu et al., arXiv 2511.17006).

One detector per resource (``budget.tool_calls``, ``budget.llm_calls``,
``budget.tokens``, ``budget.cost``, ``budget.duration``), each built only when
its ``AGENTWATCH_BUDGET_*`` limit is set: a warning once the run has spent
``AGENTWATCH_BUDGET_WARNING_FRACTION`` of it, critical at the step that reaches the
limit, and every later step flagged too. Each also puts the run's consumption so far on
every step span it sees (``agentwatch.budget.<resource>``), which is what
:func:`otel_agentwatch.budget_status` reports to an agent that wants to know.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, ClassVar

from opentelemetry.util.types import AttributeValue

from ..steps import Step, StepKind
from .base import Detection, Severity, StageLatch
from .pricing import PriceTable

if TYPE_CHECKING:
    from ..config import Config

__all__ = ["BUDGETS", "CostBudget", "DurationBudget", "LlmCallBudget", "TokenBudget",
           "ToolCallBudget"]

ATTRIBUTE_PREFIX = "agentwatch.budget."


class Tally:
    """What a run has spent of one resource."""

    __slots__ = ("first_start", "latch", "unpriced", "used")

    def __init__(self) -> None:
        self.used: float = 0
        self.first_start: int | None = None  # for the duration budget
        self.unpriced = 0  # model calls the cost budget could not price
        self.latch = StageLatch()


class _Budget:
    """A limit on one resource; subclasses say what a step spends of it."""

    id: ClassVar[str]
    resource: ClassVar[str]  # name in settings, attributes and budget_status()
    setting: ClassVar[str]  # the Config field that holds the limit
    unit: ClassVar[str]
    failure_mode: ClassVar[str] = "budget_exhausted"
    mast_codes: ClassVar[tuple[str, ...]] = ()
    kinds: ClassVar[frozenset[StepKind]]

    def __init__(self, limit: float, warning_fraction: float = 0.8) -> None:
        if limit <= 0:
            raise ValueError(f"{self.id} needs a limit above 0, not {limit}")
        self.limit = limit
        self.warning_at = limit * warning_fraction if warning_fraction > 0 else limit

    @classmethod
    def from_config(cls, config: Config) -> _Budget:
        return cls(getattr(config, cls.setting), config.budget_warning_fraction)

    def new_state(self) -> Tally:
        return Tally()

    def spend(self, step: Step, tally: Tally) -> None:
        raise NotImplementedError

    def observe(self, step: Step, tally: Tally) -> Detection | None:
        self.spend(step, tally)
        used = tally.used
        if used >= self.limit:
            severity = Severity.CRITICAL
        elif used >= self.warning_at:
            severity = Severity.WARNING
        else:
            return None
        shown = _shown(used)
        evidence: dict[str, AttributeValue] = {
            "used": shown, "limit": _shown(self.limit), "unit": self.unit}
        if tally.unpriced:
            evidence["unpriced_calls"] = tally.unpriced
        spent = "has spent its" if severity is Severity.CRITICAL else "is close to its"
        return Detection(
            detector=self.id, failure_mode=self.failure_mode, severity=severity,
            score=round(min(1.0, used / self.limit), 3),
            message=f"the run {spent} {self.resource.replace('_', ' ')} budget: "
                    f"{shown} of {_shown(self.limit)} {self.unit}",
            mast_codes=self.mast_codes, span_id=step.span_id, trace_id=step.trace_id,
            run_key=step.run_key, evidence=evidence, new=tally.latch.announce(severity),
        )

    def attributes(self, tally: Tally) -> dict[str, AttributeValue]:
        """The run's consumption so far, for the step span."""
        return {ATTRIBUTE_PREFIX + self.resource: _shown(tally.used)}


def _shown(value: float) -> float | int:
    return int(value) if float(value).is_integer() else round(value, 6)


class ToolCallBudget(_Budget):
    id: ClassVar[str] = "budget.tool_calls"
    resource: ClassVar[str] = "tool_calls"
    setting: ClassVar[str] = "budget_tool_calls"
    unit: ClassVar[str] = "calls"
    kinds: ClassVar[frozenset[StepKind]] = frozenset({StepKind.TOOL})

    def spend(self, step: Step, tally: Tally) -> None:
        tally.used += 1


class LlmCallBudget(_Budget):
    id: ClassVar[str] = "budget.llm_calls"
    resource: ClassVar[str] = "llm_calls"
    setting: ClassVar[str] = "budget_llm_calls"
    unit: ClassVar[str] = "calls"
    kinds: ClassVar[frozenset[StepKind]] = frozenset({StepKind.LLM})

    def spend(self, step: Step, tally: Tally) -> None:
        tally.used += 1


class TokenBudget(_Budget):
    id: ClassVar[str] = "budget.tokens"
    resource: ClassVar[str] = "tokens"
    setting: ClassVar[str] = "budget_tokens"
    unit: ClassVar[str] = "tokens"
    kinds: ClassVar[frozenset[StepKind]] = frozenset({StepKind.LLM})

    def spend(self, step: Step, tally: Tally) -> None:
        tally.used += (step.input_tokens or 0) + (step.output_tokens or 0)


class CostBudget(_Budget):
    id: ClassVar[str] = "budget.cost"
    resource: ClassVar[str] = "cost_usd"
    setting: ClassVar[str] = "budget_cost_usd"
    unit: ClassVar[str] = "USD"
    kinds: ClassVar[frozenset[StepKind]] = frozenset({StepKind.LLM})

    def __init__(self, limit: float, warning_fraction: float = 0.8,
                 prices: PriceTable | None = None) -> None:
        super().__init__(limit, warning_fraction)
        self.prices = prices if prices is not None else PriceTable()

    @classmethod
    def from_config(cls, config: Config) -> CostBudget:
        return cls(config.budget_cost_usd, config.budget_warning_fraction,
                   PriceTable(config.model_prices))

    def spend(self, step: Step, tally: Tally) -> None:
        cost = self.prices.cost(step.name, step.input_tokens or 0, step.output_tokens or 0)
        if cost is None:
            tally.unpriced += 1
        else:
            tally.used += cost


class DurationBudget(_Budget):
    id: ClassVar[str] = "budget.duration"
    resource: ClassVar[str] = "seconds"
    setting: ClassVar[str] = "budget_seconds"
    unit: ClassVar[str] = "seconds"
    kinds: ClassVar[frozenset[StepKind]] = frozenset(StepKind)

    def spend(self, step: Step, tally: Tally) -> None:
        start, end = step.start_time, step.end_time
        if start is None or end is None:
            return
        if tally.first_start is None or start < tally.first_start:
            tally.first_start = start
        tally.used = max(tally.used, (end - tally.first_start) / 1e9)


BUDGETS: tuple[type[_Budget], ...] = (ToolCallBudget, LlmCallBudget, TokenBudget,
                                      CostBudget, DurationBudget)


def consumption(detector: Any, state: Any) -> tuple[str, float, float] | None:
    """``(resource, used, limit)`` when ``detector`` is a budget, else None."""
    if isinstance(detector, _Budget):
        return detector.resource, state.used, detector.limit
    return None
