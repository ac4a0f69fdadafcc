"""Agents working together, badly (MAST FM-2.x, inter-agent misalignment).

* ``coordination.handoff_cycle``: work passes between the same agents in a cycle (A, B,
  A, B; A, B, C, A, B, C) while the tools bring nothing new. A handoff is a sub-agent's
  invocation ending (an agent step of this run) or a step of another agent than the one
  before (multi-agent group chats that share one run). An orchestrator handing tasks to
  a worker alternates with it by design; the cycle counts only while no tool result is
  news (the novelty test of ``progress.stall``), so an alternation that keeps learning
  is not one.
* ``coordination.role_violation``: an agent calls a tool outside the set declared for it
  (``AGENTWATCH_AGENT_TOOLS``). Only agents with a declared set are judged.
* ``coordination.repeated_failure``: the same call fails the same way in several runs of
  one trace: a manager hands sub-agents (or does itself, then hands on) work that has
  already failed, each run trying once, so no run on its own has an error streak.
"""

from __future__ import annotations

from collections.abc import Hashable, Mapping
from typing import Any, ClassVar, Literal

from .._bounded import BoundedDict
from ..settings import Kind, Setting, SettingValues, integer
from ..steps import RunKey, Step, StepKind
from .base import (
    Detection,
    Detector,
    Severity,
    StageLatch,
    keep_evidence,
    make_detection,
    severity_at,
)
from .cycle import SuffixCycles
from .facts import StepFacts
from .loop import failure_kind

__all__ = ["HandoffCycleDetector", "RepeatedFailureDetector", "RoleViolationDetector"]

INTER_AGENT = ("FM-1.3", "FM-2.5")  # repetition across agents; others' input ignored

HANDOFF_WARNING = Setting(
    "AGENTWATCH_HANDOFF_CYCLE_THRESHOLD", integer(2), 3,
    "`coordination.handoff_cycle`: repetitions of a cycle of handoffs between 2-4 agents, "
    "with no tool bringing anything new, that raise a warning.")
HANDOFF_CRITICAL = Setting(
    "AGENTWATCH_HANDOFF_CYCLE_CRITICAL", integer(2), 5,
    "`coordination.handoff_cycle`: such repetitions that make it critical.",
    at_least=HANDOFF_WARNING)
FAILURE_RUNS_WARNING = Setting(
    "AGENTWATCH_REPEATED_FAILURE_THRESHOLD", integer(2), 3,
    "`coordination.repeated_failure`: runs of one trace in which the same call failed the "
    "same way that raise a warning.")
FAILURE_RUNS_CRITICAL = Setting(
    "AGENTWATCH_REPEATED_FAILURE_CRITICAL", integer(2), 5,
    "`coordination.repeated_failure`: such runs that make it critical.",
    at_least=FAILURE_RUNS_WARNING)


def _parse_agent_tools(text: str) -> tuple[tuple[str, tuple[str, ...]], ...]:
    entries = []
    for part in text.split(","):
        if not part.strip():
            continue
        agent, separator, tools = part.partition("=")
        names = tuple(name.strip() for name in tools.split("|") if name.strip())
        if not separator or not agent.strip() or not names:
            raise ValueError(part)
        entries.append((agent.strip(), names))
    if not entries:
        raise ValueError(text)
    return tuple(entries)


AGENT_TOOLS = Setting(
    "AGENTWATCH_AGENT_TOOLS",
    Kind("comma-separated agent=tool|tool entries, e.g. 'researcher=search|read_page,"
         "coder=bash'", _parse_agent_tools, lambda value: isinstance(value, tuple)),
    (),
    "`coordination.role_violation`: the tools each named agent may call; agents not listed "
    "are not judged.")


class _Handoffs:
    __slots__ = ("current", "cycles", "handoffs", "latch", "period", "span_ids")

    def __init__(self, max_period: int) -> None:
        self.current: str | None = None  # the agent that has the work now
        self.handoffs = 0
        self.cycles = SuffixCycles(max_period)
        self.span_ids: list[int] = []  # the latest EVIDENCE_SPANS + 1 handoffs
        self.period = 0
        self.latch = StageLatch()


class HandoffCycleDetector(Detector[_Handoffs]):
    """Work passes between the same 2-4 agents in a cycle (sub-agent invocations in a run,
    or the speaker changing in a group chat) again and again while no tool result brings
    anything new; an orchestrator and a worker that keep learning alternate by design and
    are not flagged.
    """

    __slots__ = ("critical_at", "max_period", "warning_at")

    id: ClassVar[str] = "coordination.handoff_cycle"
    failure_mode: ClassVar[str] = "handoff_cycle"
    mast_codes: ClassVar[tuple[str, ...]] = INTER_AGENT
    kinds: ClassVar[frozenset[StepKind]] = frozenset({StepKind.TOOL, StepKind.LLM,
                                                      StepKind.AGENT})

    settings: ClassVar[dict[str, Setting[Any]]] = {
        "warning_at": HANDOFF_WARNING, "critical_at": HANDOFF_CRITICAL}

    def __init__(self, warning_at: int = HANDOFF_WARNING.default,
                 critical_at: int = HANDOFF_CRITICAL.default, max_period: int = 4) -> None:
        self.warning_at = warning_at
        self.critical_at = critical_at
        self.max_period = max_period

    def new_state(self) -> _Handoffs:
        return _Handoffs(self.max_period)

    def observe(self, step: Step, state: _Handoffs, facts: StepFacts) -> Detection | None:
        # Until a second agent appears there is no cycle for news to break.
        if step.kind is StepKind.TOOL and state.handoffs and facts.news:
            state.cycles.clear()  # the team learnt something: the alternation is working
            state.span_ids.clear()
            state.period = 0
            state.latch.reset()
        agent = step.name if step.kind is StepKind.AGENT else step.agent_name
        if not agent or (agent == state.current and step.kind is not StepKind.AGENT):
            return None
        if state.current is not None:
            state.handoffs += 1
        state.current = agent
        state.cycles.push(agent)
        keep_evidence(state.span_ids, step.span_id)
        period, repeats = state.cycles.shortest(self.warning_at)
        if period < 2:  # one agent working on its own is not a handoff
            state.period = 0
            state.latch.reset()
            return None
        if period != state.period:
            state.period = period
            state.latch.reset()
        severity = severity_at(repeats, self.warning_at, self.critical_at)
        if severity is None:
            return None
        return make_detection(
            self, step, severity,
            f"work went around the same {period} agents {repeats} times with nothing new "
            f"learnt",
            count=repeats, warning_at=self.warning_at, critical_at=self.critical_at,
            earlier=tuple(state.span_ids)[:-1], new=state.latch.announce(severity),
            period=period,
        )


class _Violations:
    __slots__ = ("count", "span_ids")

    def __init__(self) -> None:
        self.count = 0
        self.span_ids: list[int] = []  # the latest EVIDENCE_SPANS + 1


class RoleViolationDetector(Detector[_Violations]):
    """An agent calls a tool outside the set ``AGENTWATCH_AGENT_TOOLS`` declares for it: a
    warning, critical from the 3rd in a run; agents not listed are not judged. The agent is
    the span's ``gen_ai.agent.name``.
    """

    __slots__ = ("allowed", "critical_at")

    id: ClassVar[str] = "coordination.role_violation"
    failure_mode: ClassVar[str] = "role_violation"
    mast_codes: ClassVar[tuple[str, ...]] = ("FM-1.2",)
    kinds: ClassVar[frozenset[StepKind]] = frozenset({StepKind.TOOL})

    settings: ClassVar[dict[str, Setting[Any]]] = {"allowed": AGENT_TOOLS}

    def __init__(self, allowed: Mapping[str, frozenset[str]], critical_at: int = 3) -> None:
        self.allowed = allowed
        self.critical_at = critical_at

    @classmethod
    def from_settings(cls, values: SettingValues) -> RoleViolationDetector | None:
        """Built only when ``AGENTWATCH_AGENT_TOOLS`` declares some agent's tools."""
        declared = values[AGENT_TOOLS]
        if not declared:
            return None
        return cls({agent: frozenset(tools) for agent, tools in declared})

    def new_state(self) -> _Violations:
        return _Violations()

    def observe(self, step: Step, state: _Violations, facts: StepFacts) -> Detection | None:
        allowed = self.allowed.get(step.agent_name or "")
        if allowed is None or step.name in allowed:
            return None
        state.count += 1
        keep_evidence(state.span_ids, step.span_id)
        severity = Severity.CRITICAL if state.count >= self.critical_at else Severity.WARNING
        return make_detection(
            self, step, severity,
            f"{step.agent_name} called {step.name}, which is not one of its declared tools",
            count=state.count, warning_at=1, critical_at=self.critical_at,
            earlier=tuple(state.span_ids)[:-1], new=True, agent=step.agent_name or "",
            tool=step.name,
        )


_TOOLS_KEPT = 64  # failing tools remembered per trace, the most recent
_FAILURES_KEPT = 16  # ways one tool failed, remembered per tool and trace


class _Failure:
    """One way a call failed in a trace: the runs it failed in (only as many as decide the
    stage), its latest failed spans, and the stage announced."""

    __slots__ = ("latch", "runs", "span_ids")

    def __init__(self) -> None:
        self.runs: list[RunKey] = []
        self.span_ids: list[int] = []  # its latest failed spans: EVIDENCE_SPANS + 1
        self.latch = StageLatch()


# tool name -> (what failed: its kind or arguments) -> the runs it failed in
_TraceFailures = BoundedDict[str, BoundedDict[Hashable, _Failure]]


class RepeatedFailureDetector(Detector[_TraceFailures]):
    """The same call fails the same way in several runs of one trace, with no success of
    that tool between: work that has already failed is handed on to be tried again (a
    manager delegating to one sub-agent after another, or trying itself and then
    delegating; a conversation whose every turn is a run, trying again turn after turn).
    Each run may try only once, so this is seen only across runs.

    "The same call" is what ``loop.error_streak`` counts as one: the same tool failing
    with the same error type or exception, or, when the failure says nothing about its
    kind, with the same arguments. Runs are counted, not failures (a run's own streak is
    ``loop.error_streak``'s): warning when the ``warning_at``-th run meets the failure,
    critical at the ``critical_at``-th. Its state is the trace's, shared by its runs in
    this process (``scope = "trace"``).
    """

    __slots__ = ("critical_at", "warning_at")

    id: ClassVar[str] = "coordination.repeated_failure"
    failure_mode: ClassVar[str] = "repeated_failure"
    mast_codes: ClassVar[tuple[str, ...]] = INTER_AGENT
    kinds: ClassVar[frozenset[StepKind]] = frozenset({StepKind.TOOL})
    scope: ClassVar[Literal["run", "trace"]] = "trace"

    settings: ClassVar[dict[str, Setting[Any]]] = {
        "warning_at": FAILURE_RUNS_WARNING, "critical_at": FAILURE_RUNS_CRITICAL}

    def __init__(self, warning_at: int = FAILURE_RUNS_WARNING.default,
                 critical_at: int = FAILURE_RUNS_CRITICAL.default) -> None:
        self.warning_at = warning_at
        self.critical_at = critical_at

    def new_state(self) -> _TraceFailures:
        return BoundedDict(_TOOLS_KEPT)

    def observe(self, step: Step, state: _TraceFailures,
                facts: StepFacts) -> Detection | None:
        if step.error is None:
            # The tool works (again): its earlier failures are not a standing condition.
            if state:
                state.pop(step.name, None)
            return None
        kind = failure_kind(step)
        what = kind if kind is not None else step.args_key
        if what is None:  # nothing says what failed: cannot be "the same" failure
            return None
        failures = state.get(step.name)
        if failures is None:
            failures = state[step.name] = BoundedDict(_FAILURES_KEPT)
        failure = failures.get((kind is not None, what))
        if failure is None:
            failure = failures[kind is not None, what] = _Failure()
        runs = failure.runs
        if step.run_key in runs:
            return None  # this run failed so before: its own streak, not a handoff
        if len(runs) < self.critical_at:  # beyond, the count no longer changes the stage
            runs.append(step.run_key)
        span_ids = failure.span_ids
        keep_evidence(span_ids, step.span_id)
        count = len(runs)
        severity = severity_at(count, self.warning_at, self.critical_at)
        if severity is None:
            return None
        return make_detection(
            self, step, severity,
            f"{step.name} failed the same way ({step.error}) in {count} runs of this "
            f"trace, each after the last had met it",
            count=count, warning_at=self.warning_at, critical_at=self.critical_at,
            earlier=tuple(span_ids[:-1]), new=failure.latch.announce(severity),
            tool=step.name, error_type=step.error,
        )
