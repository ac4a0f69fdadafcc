"""What a run has spent against its budgets, for agents that show the model what is left."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

from opentelemetry import trace
from opentelemetry.trace import Span

from . import _registry
from .detectors.budget import consumption

__all__ = ["BudgetStatus", "budget_status"]


@dataclass(frozen=True)
class BudgetStatus:
    """A run's consumption of each budget that has a limit (``AGENTWATCH_BUDGET_*``).

    Keys are ``tool_calls``, ``llm_calls``, ``tokens``, ``cost_usd``, ``seconds``.
    """

    used: Mapping[str, float]
    limits: Mapping[str, float]

    @property
    def remaining(self) -> dict[str, float]:
        """What is left of each budget (0 once spent)."""
        return {name: max(0.0, limit - self.used.get(name, 0.0))
                for name, limit in self.limits.items()}

    @property
    def exhausted(self) -> bool:
        """Whether any budget is spent."""
        return any(self.used.get(name, 0.0) >= limit for name, limit in self.limits.items())


def budget_status(span: Span | None = None) -> BudgetStatus | None:
    """The budgets of the run that the current span (or ``span``) belongs to.

    None when no budget is set, or the run has no step yet that a budget counts. Call it
    from inside the run (a tool, a model call's caller, an ``agent_run`` block).
    """
    current = span if span is not None else trace.get_current_span()
    context = current.get_span_context()
    if not context.is_valid:
        return None
    for processor in _registry.processors():
        found = processor.inspect_run(context.span_id, consumption)
        if found:
            return BudgetStatus(used={name: used for name, used, _ in found},
                                limits={name: limit for name, _, limit in found})
    return None
