"""Budgets: each budget detector on hand-made steps, prices, and the budget variables end to end."""

from __future__ import annotations

import itertools

import pytest

from otel_agentwatch import (
    AgentHalted,
    Config,
    ConfigError,
    StepKind,
    agent_run,
    budget_status,
    tool,
)
from otel_agentwatch.detectors import build_detectors
from otel_agentwatch.detectors.budget import (
    CostBudget,
    DurationBudget,
    LlmCallBudget,
    TokenBudget,
    ToolCallBudget,
)
from otel_agentwatch.detectors.pricing import PriceTable, parse_prices
from otel_agentwatch.steps import Step
from tests.conftest import Pipeline
from tests.detecting import observe

_ids = itertools.count(1)
SECOND = 1_000_000_000


def step(kind: StepKind = StepKind.TOOL, name: str = "search", *, tokens: tuple[int, int] = (0, 0),
         start: float = 0.0, end: float = 0.0) -> Step:
    return Step(kind, name, next(_ids), 1, (1, 1), input_tokens=tokens[0],
                output_tokens=tokens[1], start_time=int(start * SECOND),
                end_time=int(end * SECOND))


def verdicts(detector, steps):
    state = detector.new_state()
    out = []
    for one in steps:
        detection = observe(detector, one, state)
        out.append(None if detection is None else
                   (detection.severity.value, detection.new))
    return out, state


class TestBudgetDetectors:
    def test_tool_calls_warn_at_the_fraction_and_go_critical_at_the_limit(self):
        out, state = verdicts(ToolCallBudget(5, 0.8), [step() for _ in range(6)])
        assert out == [None, None, None, ("warning", True), ("critical", True),
                       ("critical", False)]
        assert state.used == 6

    def test_llm_calls_and_tokens(self):
        calls = [step(StepKind.LLM, "gpt-4o", tokens=(600, 150)) for _ in range(3)]
        out, _ = verdicts(LlmCallBudget(3, 0.5), calls)
        assert out == [None, ("warning", True), ("critical", True)]
        out, state = verdicts(TokenBudget(2000, 0.8), calls)
        assert out == [None, None, ("critical", True)]  # 750, 1500, 2250
        assert state.used == 2250

    def test_cost_uses_the_price_table_and_counts_what_it_cannot_price(self):
        budget = CostBudget(6.0, 0.8)
        million = (1_000_000, 0)
        out, state = verdicts(budget, [step(StepKind.LLM, "gpt-4o-2024-08-06", tokens=million),
                                       step(StepKind.LLM, "in-house-model", tokens=million),
                                       step(StepKind.LLM, "openai/gpt-4o", tokens=million)])
        assert out == [None, None, ("warning", True)]  # 2.5, 2.5 (unpriced), 5.0 >= 4.8
        assert state.used == 5.0 and state.unpriced == 1
        detection = observe(budget, step(StepKind.LLM, "gpt-4o", tokens=million), state)
        assert detection.severity.value == "critical"
        assert detection.evidence["unpriced_calls"] == 1
        assert detection.evidence["unit"] == "USD"

    def test_duration_spans_first_start_to_latest_end(self):
        steps = [step(start=0, end=10), step(start=10, end=50), step(start=50, end=61)]
        out, state = verdicts(DurationBudget(60, 0.8), steps)
        assert out == [None, ("warning", True), ("critical", True)]
        assert state.used == 61

    def test_messages_and_attributes_carry_numbers_not_content(self):
        budget = ToolCallBudget(2, 0.5)
        state = budget.new_state()
        observe(budget, step(), state)
        detection = observe(budget, step(), state)
        assert detection.message == "the run has spent its tool calls budget: 2 of 2 calls"
        assert budget.attributes(state) == {"agentwatch.budget.tool_calls": 2}

    def test_no_limit_builds_no_budget(self):
        assert not [d for d in build_detectors(Config()) if d.id.startswith("budget.")]
        built = {d.id for d in build_detectors(Config(
            settings={"AGENTWATCH_BUDGET_TOKENS": 100}, profile="cline"))}
        assert built == {"loop.repeated_call", "budget.tokens"}  # under any profile


class TestPrices:
    def test_longest_prefix_wins(self):
        table = PriceTable()
        assert table.price("gpt-4o-mini-2024-07-18").input_per_mtok == 0.15
        assert table.price("gpt-4o-2024-08-06").input_per_mtok == 2.5
        assert table.price("claude-sonnet-4-5-20250929").output_per_mtok == 15.0
        assert table.price("unknown-model") is None

    def test_overrides_add_and_replace(self):
        table = PriceTable(parse_prices("gpt-4o=1/2, local-llm=0.1/0.1"))
        assert table.cost("gpt-4o", 1_000_000, 1_000_000) == 3.0
        assert table.cost("local-llm-7b", 1_000_000, 0) == 0.1

    @pytest.mark.parametrize("text", ["gpt-4o", "gpt-4o=1", "=1/2", "x=a/b", "x=-1/2",
                                      "gpt-4o=nan/1", "gpt-4o=1/inf", "gpt-4o=-inf/1"])
    def test_bad_price_lists_fail_loudly(self, text):
        with pytest.raises(ConfigError, match="AGENTWATCH_MODEL_PRICES"):
            build_detectors(Config.from_env({"AGENTWATCH_MODEL_PRICES": text}))


class TestEndToEnd:
    def test_the_call_that_crosses_the_tool_budget_is_flagged_critical(self):
        pipeline = Pipeline(Config.from_env({"AGENTWATCH_BUDGET_TOOL_CALLS": "5"}))
        search = tool(tracer_provider=pipeline.provider)(lambda query: f"results for {query}")
        with agent_run("researcher", tracer_provider=pipeline.provider):
            for index in range(6):
                search(query=f"topic {index}")  # all different: no loop, only the budget
        spans = pipeline.spans("execute_tool")
        # Warning at 80% (the 4th call), critical at the 5th, which reaches the limit.
        assert [s.attributes.get("agentwatch.severity") for s in spans] == [
            None, None, None, "warning", "critical", "critical"]
        assert spans[4].attributes["agentwatch.detections"] == ("budget.tool_calls",)
        assert spans[4].attributes["agentwatch.failure_mode"] == "budget_exhausted"
        # Every step span carries the consumption so far, flagged or not.
        assert [s.attributes["agentwatch.budget.tool_calls"] for s in spans] == [
            1, 2, 3, 4, 5, 6]
        [agent] = pipeline.spans("invoke_agent")
        assert agent.attributes["agentwatch.run.detections"] == ("budget.tool_calls",)
        pipeline.provider.shutdown()

    def test_budget_status_tells_the_agent_what_is_left(self):
        pipeline = Pipeline(Config(settings={"AGENTWATCH_BUDGET_TOOL_CALLS": 10}))
        search = tool(tracer_provider=pipeline.provider)(lambda query: "results")
        with agent_run("researcher", tracer_provider=pipeline.provider):
            assert budget_status() is None  # nothing spent yet
            for index in range(3):
                search(query=str(index))
            status = budget_status()
        assert status.used == {"tool_calls": 3}
        assert status.remaining == {"tool_calls": 7.0}
        assert not status.exhausted
        pipeline.provider.shutdown()

    def test_halting_on_a_budget_stops_the_next_tool(self):
        pipeline = Pipeline(Config(settings={"AGENTWATCH_BUDGET_TOOL_CALLS": 3},
                                   action="halt"))
        ran = []
        search = tool(tracer_provider=pipeline.provider)(lambda query: ran.append(query))
        with pytest.raises(AgentHalted), agent_run("researcher",
                                                   tracer_provider=pipeline.provider):
            for index in range(10):
                search(query=str(index))
        assert len(ran) == 3
        pipeline.provider.shutdown()

    def test_without_budgets_spans_carry_no_budget(self, pipeline):
        search = tool(tracer_provider=pipeline.provider)(lambda query: "results")
        with agent_run("researcher", tracer_provider=pipeline.provider):
            search(query="x")
        # Nothing but the digests that stand for the tool call's content (capture off).
        assert [k for s in pipeline.spans() for k in s.attributes
                if k.startswith("agentwatch.")] == [
            "agentwatch.tool.arguments_digest", "agentwatch.tool.result_digest"]

    def test_negative_budgets_are_rejected_at_start(self):
        with pytest.raises(ConfigError, match="AGENTWATCH_BUDGET_COST_USD"):
            Pipeline(Config.from_env({"AGENTWATCH_BUDGET_COST_USD": "-1"}))
