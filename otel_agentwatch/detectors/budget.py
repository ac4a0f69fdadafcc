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

from typing import Any, ClassVar

from opentelemetry.util.types import AttributeValue

from ..settings import Kind, Setting, SettingValues, fraction, integer, number
from ..steps import Step, StepKind
from .base import Detection, Detector, Severity, StageLatch
from .facts import StepFacts
from .pricing import ModelPrice, PriceTable, is_price, parse_prices

__all__ = ["BUDGETS", "CostBudget", "DurationBudget", "LlmCallBudget", "TokenBudget",
           "ToolCallBudget", "consumption"]

ATTRIBUTE_PREFIX = "agentwatch.budget."

TOOL_CALLS = Setting(
    "AGENTWATCH_BUDGET_TOOL_CALLS", integer(0), 0,
    "`budget.tool_calls`: tool calls a run may make; 0 sets no limit.")
LLM_CALLS = Setting(
    "AGENTWATCH_BUDGET_LLM_CALLS", integer(0), 0,
    "`budget.llm_calls`: model calls a run may make; 0 sets no limit.")
TOKENS = Setting(
    "AGENTWATCH_BUDGET_TOKENS", integer(0), 0,
    "`budget.tokens`: input plus output tokens a run may use; 0 sets no limit.")
COST_USD = Setting(
    "AGENTWATCH_BUDGET_COST_USD", number(0), 0.0,
    "`budget.cost`: US dollars a run may spend on model calls (see "
    "`AGENTWATCH_MODEL_PRICES`); 0 sets no limit.")
SECONDS = Setting(
    "AGENTWATCH_BUDGET_SECONDS", number(0), 0.0,
    "`budget.duration`: seconds from a run's first step to its latest; 0 sets no limit.")
WARNING_FRACTION = Setting(
    "AGENTWATCH_BUDGET_WARNING_FRACTION", fraction(), 0.8,
    "The share of a budget spent that raises a warning (critical at the limit).")


def _format_prices(prices: Any) -> str:
    return ",".join(f"{model}={price.input_per_mtok:g}/{price.output_per_mtok:g}"
                    for model, price in prices)


def _are_prices(value: Any) -> bool:
    return isinstance(value, tuple) and all(
        isinstance(entry, tuple) and len(entry) == 2 and isinstance(entry[1], ModelPrice)
        and all(is_price(price) for price in entry[1])
        for entry in value)


MODEL_PRICES = Setting(
    "AGENTWATCH_MODEL_PRICES",
    Kind("comma-separated model=input/output prices in USD per million tokens, e.g. "
         "'my-model=0.5/1.5'", parse_prices, _are_prices, _format_prices),
    (),
    "Prices that add to or override the built-in table, by model-name prefix.")


def _limited(limit: Setting[Any], **more: Setting[Any]) -> dict[str, Setting[Any]]:
    """A budget's settings: its limit and the warning fraction, and any ``more``."""
    return {"limit": limit, "warning_fraction": WARNING_FRACTION, **more}


class Tally:
    """What a run has spent of one resource."""

    __slots__ = ("first_start", "latch", "unpriced", "used")

    def __init__(self) -> None:
        self.used: float = 0
        self.first_start: int | None = None  # for the duration budget
        self.unpriced = 0  # model calls the cost budget could not price
        self.latch = StageLatch()


class _Budget(Detector[Tally]):
    """A limit on one resource; subclasses say what a step spends of it."""

    __slots__ = ("limit", "warning_at")

    id: ClassVar[str]
    resource: ClassVar[str]  # name in attributes and budget_status()
    unit: ClassVar[str]
    failure_mode: ClassVar[str] = "budget_exhausted"
    mast_codes: ClassVar[tuple[str, ...]] = ()
    kinds: ClassVar[frozenset[StepKind]]

    def __init__(self, limit: float, warning_fraction: float = WARNING_FRACTION.default) -> None:
        if limit <= 0:
            raise ValueError(f"{self.id} needs a limit above 0, not {limit}")
        self.limit = limit
        self.warning_at = limit * warning_fraction if warning_fraction > 0 else limit

    @classmethod
    def from_settings(cls, values: SettingValues) -> _Budget | None:
        """The budget with its limit, or None when no limit is set."""
        if values[cls.settings["limit"]] <= 0:
            return None
        return cls(**{name: values[setting] for name, setting in cls.settings.items()})

    def new_state(self) -> Tally:
        return Tally()

    def spend(self, step: Step, tally: Tally) -> None:
        raise NotImplementedError

    def observe(self, step: Step, tally: Tally, facts: StepFacts) -> Detection | None:
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
    """The run's tool calls reach ``AGENTWATCH_BUDGET_TOOL_CALLS``: a warning at
    ``AGENTWATCH_BUDGET_WARNING_FRACTION`` of it, critical at the limit. Off unless set."""

    id: ClassVar[str] = "budget.tool_calls"
    resource: ClassVar[str] = "tool_calls"
    settings: ClassVar[dict[str, Setting[Any]]] = _limited(TOOL_CALLS)
    unit: ClassVar[str] = "calls"
    kinds: ClassVar[frozenset[StepKind]] = frozenset({StepKind.TOOL})

    def spend(self, step: Step, tally: Tally) -> None:
        tally.used += 1


class LlmCallBudget(_Budget):
    """The same for model calls (``AGENTWATCH_BUDGET_LLM_CALLS``)."""

    id: ClassVar[str] = "budget.llm_calls"
    resource: ClassVar[str] = "llm_calls"
    settings: ClassVar[dict[str, Setting[Any]]] = _limited(LLM_CALLS)
    unit: ClassVar[str] = "calls"
    kinds: ClassVar[frozenset[StepKind]] = frozenset({StepKind.LLM})

    def spend(self, step: Step, tally: Tally) -> None:
        tally.used += 1


class TokenBudget(_Budget):
    """The same for input plus output tokens (``AGENTWATCH_BUDGET_TOKENS``)."""

    id: ClassVar[str] = "budget.tokens"
    resource: ClassVar[str] = "tokens"
    settings: ClassVar[dict[str, Setting[Any]]] = _limited(TOKENS)
    unit: ClassVar[str] = "tokens"
    kinds: ClassVar[frozenset[StepKind]] = frozenset({StepKind.LLM})

    def spend(self, step: Step, tally: Tally) -> None:
        tally.used += (step.input_tokens or 0) + (step.output_tokens or 0)


class CostBudget(_Budget):
    """The same for the US dollars the model calls cost (``AGENTWATCH_BUDGET_COST_USD``),
    from the price table (``AGENTWATCH_MODEL_PRICES`` adds to it)."""

    id: ClassVar[str] = "budget.cost"
    resource: ClassVar[str] = "cost_usd"
    settings: ClassVar[dict[str, Setting[Any]]] = _limited(COST_USD, prices=MODEL_PRICES)
    unit: ClassVar[str] = "USD"
    kinds: ClassVar[frozenset[StepKind]] = frozenset({StepKind.LLM})

    __slots__ = ("prices",)

    def __init__(self, limit: float, warning_fraction: float = WARNING_FRACTION.default,
                 prices: PriceTable | tuple[tuple[str, ModelPrice], ...] = ()) -> None:
        super().__init__(limit, warning_fraction)
        self.prices = prices if isinstance(prices, PriceTable) else PriceTable(prices)

    def spend(self, step: Step, tally: Tally) -> None:
        cost = self.prices.cost(step.name, step.input_tokens or 0, step.output_tokens or 0)
        if cost is None:
            tally.unpriced += 1
        else:
            tally.used += cost


class DurationBudget(_Budget):
    """The same for the seconds from the run's first step to its latest
    (``AGENTWATCH_BUDGET_SECONDS``)."""

    id: ClassVar[str] = "budget.duration"
    resource: ClassVar[str] = "seconds"
    settings: ClassVar[dict[str, Setting[Any]]] = _limited(SECONDS)
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
