"""Loop detectors over tool calls: the agent repeats itself (MAST FM-1.3, step repetition).

* ``loop.repeated_call``: the same tool with the same arguments, called again and again
  with no other tool call between (model calls between them do not count). Failed calls
  are left out: sending a refused or timed-out call again is a retry. Optionally, "the
  same" includes near-duplicates (:mod:`._similarity`).
* ``loop.repeated_outcome``: the same call returning the same result, anywhere within
  the run's most recent tool calls: the agent keeps asking and learns nothing new.
* ``loop.error_streak``: the same tool failing call after call, whatever the error says.

Calls whose arguments the span did not carry (content capture off in a third-party
instrumentation) are never "the same": unknown is not identical.
"""

from __future__ import annotations

import re
from typing import Any, ClassVar

from ..normalize.codeact import runs_code
from ..settings import Setting, fraction, integer
from ..steps import Step, StepKind
from ._similarity import jaccard, signature
from .actions import WRITE
from .base import (
    EVIDENCE_SPANS,
    Detection,
    Detector,
    Severity,
    StageLatch,
    Streak,
    make_detection,
    severity_at,
)
from .facts import StepFacts

__all__ = ["ErrorStreakDetector", "RepeatedCallDetector", "RepeatedOutcomeDetector",
           "StepLimitDetector"]

# Error types that say only "it failed" (the benchmark's and some instrumentations').
_GENERIC_ERRORS = frozenset({"error", "tool_error", "_OTHER"})
_EXCEPTION_NAME = re.compile(
    r"^\s*((?:[A-Za-z_][\w.]*)?(?:Error|Exception|Exit|Interrupt|Fault))\b")
STEP_REPETITION = "step_repetition"
MAST_STEP_REPETITION = ("FM-1.3",)
TOOL_STEPS = frozenset({StepKind.TOOL})

REPEAT_WARNING = Setting(
    "AGENTWATCH_LOOP_REPEAT_THRESHOLD", integer(2), 3,
    "`loop.repeated_call`: identical consecutive tool calls that raise a warning.")
REPEAT_CRITICAL = Setting(
    "AGENTWATCH_LOOP_REPEAT_CRITICAL", integer(2), 5,
    "`loop.repeated_call`: identical consecutive tool calls that make it critical.",
    at_least=REPEAT_WARNING)
SIMILARITY = Setting(
    "AGENTWATCH_LOOP_SIMILARITY", fraction(), 0.0,
    "`loop.repeated_call`: also count near-identical arguments at this similarity (Jaccard "
    "over character 4-grams); 0 compares exactly.")
CODE_SIMILARITY = Setting(
    "AGENTWATCH_LOOP_CODE_SIMILARITY", fraction(), 0.5,
    "`loop.repeated_call`: for tools that run code (CodeAct), count code at least this "
    "similar to the previous block as the same call; 0 compares exactly.")
OUTCOME_WARNING = Setting(
    "AGENTWATCH_LOOP_OUTCOME_THRESHOLD", integer(2), 3,
    "`loop.repeated_outcome`: same call with the same result, within the window, that "
    "raises a warning.")
OUTCOME_CRITICAL = Setting(
    "AGENTWATCH_LOOP_OUTCOME_CRITICAL", integer(2), 5,
    "`loop.repeated_outcome`: same call with the same result that makes it critical.",
    at_least=OUTCOME_WARNING)
WINDOW = Setting(
    "AGENTWATCH_LOOP_WINDOW", integer(2), 30,
    "How many of a run's most recent tool calls `loop.repeated_outcome` looks back over.")
ERROR_WARNING = Setting(
    "AGENTWATCH_LOOP_ERROR_THRESHOLD", integer(2), 3,
    "`loop.error_streak`: consecutive failures of one tool that raise a warning.")
ERROR_CRITICAL = Setting(
    "AGENTWATCH_LOOP_ERROR_CRITICAL", integer(2), 5,
    "`loop.error_streak`: consecutive failures that make it critical.",
    at_least=ERROR_WARNING)


class RepeatedCallDetector(Detector[Streak]):
    """The same tool is called with the same arguments again and again, with no other tool
    call between (model calls between do not count); a failed call sent again is a retry,
    not a repetition. With ``AGENTWATCH_LOOP_SIMILARITY`` above 0, near-identical
    arguments count too.

    Warning at ``warning_at`` such calls in a row, critical at ``critical_at``. With
    ``similarity`` > 0, a call to the same tool whose arguments are at least that
    similar to the previous call's (Jaccard over character 4-grams of normalized text)
    continues the streak too. Tools that run code (see
    :func:`~otel_agentwatch.normalize.codeact.runs_code`) are compared at
    ``code_similarity`` instead: a CodeAct agent stuck on one thing rewrites the same
    block with a changed literal or line, rarely word for word.
    """

    __slots__ = ("code_similarity", "critical_at", "similarity", "warning_at")

    id: ClassVar[str] = "loop.repeated_call"
    failure_mode: ClassVar[str] = STEP_REPETITION
    mast_codes: ClassVar[tuple[str, ...]] = MAST_STEP_REPETITION
    kinds: ClassVar[frozenset[StepKind]] = TOOL_STEPS
    settings: ClassVar[dict[str, Setting[Any]]] = {
        "warning_at": REPEAT_WARNING, "critical_at": REPEAT_CRITICAL, "similarity": SIMILARITY,
        "code_similarity": CODE_SIMILARITY}

    def __init__(self, warning_at: int = REPEAT_WARNING.default,
                 critical_at: int = REPEAT_CRITICAL.default,
                 similarity: float = SIMILARITY.default,
                 code_similarity: float = CODE_SIMILARITY.default) -> None:
        self.warning_at = warning_at
        self.critical_at = critical_at
        self.similarity = similarity
        self.code_similarity = code_similarity

    def new_state(self) -> Streak:
        return Streak()

    def observe(self, step: Step, state: Streak, facts: StepFacts) -> Detection | None:
        if step.error is not None:
            # A failed call tried again is a retry (a harness that refused a malformed
            # reply, a timeout): it neither counts nor breaks the streak. The same call
            # failing again and again is loop.error_streak's.
            return None
        if step.args_key is None:  # arguments unknown: cannot be the same call
            state.restart()
            return None
        key = (step.name, step.args_key)
        near = False
        similarity = self.code_similarity if self.code_similarity and runs_code(step.name) \
            else self.similarity
        # Arguments known by their digest only (an export with capture off) compare equal
        # or not at all: there is no text to find a near-duplicate in.
        if similarity and key != state.key and step.args is not None:
            current = signature(step.args)
            previous = state.key
            near = (isinstance(previous, tuple) and previous[0] == step.name
                    and state.signature is not None
                    and jaccard(current, state.signature) >= similarity)
            if near:
                state.add(step.span_id)
                state.key = key
            else:
                state.extend(key, step.span_id)
            state.signature = current
        else:
            state.extend(key, step.span_id)
        severity = severity_at(state.count, self.warning_at, self.critical_at)
        if severity is None:
            return None
        alike = "near-identical" if near else "identical"
        return make_detection(
            self, step, severity,
            f"{step.name} called {state.count} times in a row with {alike} arguments",
            count=state.count, warning_at=self.warning_at, critical_at=self.critical_at,
            earlier=state.earlier(), new=state.announce(severity), tool=step.name,
        )


class _OutcomeState:
    """The outcome keys (None: not comparable) and span ids of the run's most recent tool
    calls, as a ring of two lists: no object per call, and small while the run is."""

    __slots__ = ("counts", "keys", "latches", "oldest", "span_ids")

    def __init__(self) -> None:
        self.keys: list[int | None] = []
        self.span_ids: list[int] = []
        self.oldest = 0  # once the window is full: the index of its oldest call
        self.counts: dict[int, int] = {}
        self.latches: dict[int, StageLatch] = {}  # only for keys that reached a stage

    def clear(self) -> None:
        self.keys.clear()
        self.span_ids.clear()
        self.oldest = 0
        self.counts.clear()
        self.latches.clear()


class RepeatedOutcomeDetector(Detector[_OutcomeState]):
    """The same call returns the same result again and again within the run's most recent
    tool calls: the agent asks and learns nothing new.

    ``warning_at`` / ``critical_at`` times within the last ``window`` tool calls, since
    the run last changed something (``since_change``: a successful write, an edit, a
    patch). Running the tests again after an edit is checking the edit, and the same
    output after a change says the change did not help: news, not a repeat. Without
    ``since_change`` and with ``window`` equal to ``critical_at`` this is "the last N
    tool calls were all the same call with the same result" (the OpenHands rule).
    """

    __slots__ = ("critical_at", "since_change", "warning_at", "window")

    id: ClassVar[str] = "loop.repeated_outcome"
    failure_mode: ClassVar[str] = STEP_REPETITION
    mast_codes: ClassVar[tuple[str, ...]] = MAST_STEP_REPETITION
    kinds: ClassVar[frozenset[StepKind]] = TOOL_STEPS
    settings: ClassVar[dict[str, Setting[Any]]] = {
        "warning_at": OUTCOME_WARNING, "critical_at": OUTCOME_CRITICAL, "window": WINDOW}

    def __init__(self, warning_at: int = OUTCOME_WARNING.default,
                 critical_at: int = OUTCOME_CRITICAL.default,
                 window: int = WINDOW.default, since_change: bool = True) -> None:
        self.warning_at = warning_at
        self.critical_at = critical_at
        self.window = window
        self.since_change = since_change

    def new_state(self) -> _OutcomeState:
        return _OutcomeState()

    def observe(self, step: Step, state: _OutcomeState, facts: StepFacts) -> Detection | None:
        if self.since_change and state.keys and step.error is None and \
                facts.action.kind == WRITE:
            state.clear()  # the world changed: what calls return is news again
        keys, counts = state.keys, state.counts
        known = step.args_key is not None and (step.result is not None or step.error is not None)
        key = hash((step.name, step.args_key, step.error, step.result)) if known else None
        if len(keys) < self.window:
            keys.append(key)
            state.span_ids.append(step.span_id)
        else:  # the oldest call leaves the window, the new one takes its place
            at = state.oldest
            left_key = keys[at]
            if left_key is not None:
                left = counts[left_key] - 1
                if left:
                    counts[left_key] = left
                else:
                    del counts[left_key]
                    state.latches.pop(left_key, None)
            keys[at] = key
            state.span_ids[at] = step.span_id
            state.oldest = (at + 1) % self.window
        if key is None:
            return None
        count = counts[key] = counts.get(key, 0) + 1
        if count < self.warning_at:
            return None
        severity = Severity.CRITICAL if count >= self.critical_at else Severity.WARNING
        latch = state.latches.get(key)
        if latch is None:
            latch = state.latches[key] = StageLatch()
        # Evidence is gathered only when a stage is reached: a scan of the window, oldest
        # call first.
        at = state.oldest
        span_ids = state.span_ids
        order = (*zip(keys[at:], span_ids[at:], strict=True),
                 *zip(keys[:at], span_ids[:at], strict=True))
        earlier = tuple(span_id for k, span_id in order if k == key)[-EVIDENCE_SPANS - 1:-1]
        return make_detection(
            self, step, severity,
            f"{step.name} returned the same result to the same call {count} times "
            f"in the last {len(keys)} tool calls",
            count=count, warning_at=self.warning_at, critical_at=self.critical_at,
            earlier=earlier, new=latch.announce(severity), tool=step.name,
            window=len(keys),
        )


def failure_kind(step: Step) -> str | None:
    """What kind of failure a step had: its error type, else the exception named at the
    start of its message (``TypeError: ...``), else the whole message."""
    if step.error is not None and step.error not in _GENERIC_ERRORS:
        return step.error
    message = step.error_message
    if not message:
        return None
    named = _EXCEPTION_NAME.match(message)
    return named.group(1) if named else message


class ErrorStreakDetector(Detector[Streak]):
    """The same call fails on consecutive tool calls: the same tool failing the same way
    (the same error type or exception, whatever the messages say), or with the same
    arguments.

    "The same call" is the same tool failing the same way (the same error type or
    exception, so ``unexpected keyword argument 'a'`` and ``... 'b'`` match), or, when
    the failure says nothing about its kind, the same tool with the same arguments.
    ``same_arguments`` asks for the same tool and arguments always (the OpenHands rule).
    A successful tool call, or a failure of something else, ends the streak.
    """

    __slots__ = ("critical_at", "same_arguments", "warning_at")

    id: ClassVar[str] = "loop.error_streak"
    failure_mode: ClassVar[str] = STEP_REPETITION
    mast_codes: ClassVar[tuple[str, ...]] = MAST_STEP_REPETITION
    kinds: ClassVar[frozenset[StepKind]] = TOOL_STEPS

    settings: ClassVar[dict[str, Setting[Any]]] = {
        "warning_at": ERROR_WARNING, "critical_at": ERROR_CRITICAL}

    def __init__(self, warning_at: int = ERROR_WARNING.default,
                 critical_at: int = ERROR_CRITICAL.default,
                 same_arguments: bool = False) -> None:
        self.warning_at = warning_at
        self.critical_at = critical_at
        self.same_arguments = same_arguments

    def new_state(self) -> Streak:
        return Streak()

    def observe(self, step: Step, state: Streak, facts: StepFacts) -> Detection | None:
        if step.error is None:
            if state.count:
                state.restart()
            return None
        kind = None if self.same_arguments else failure_kind(step)
        detail = kind if kind is not None else step.args_key
        if detail is None:  # nothing says what failed: cannot be "the same" failure
            state.restart()
            return None
        state.extend((step.name, kind is not None, detail), step.span_id)
        severity = severity_at(state.count, self.warning_at, self.critical_at)
        if severity is None:
            return None
        return make_detection(
            self, step, severity,
            f"{step.name} failed {state.count} times in a row ({step.error})",
            count=state.count, warning_at=self.warning_at, critical_at=self.critical_at,
            earlier=state.earlier(), new=state.announce(severity), tool=step.name,
            error_type=step.error,
        )


class StepLimitDetector(Detector[None]):
    """The run ended because the framework's step limit stopped it (LangGraph's
    ``GraphRecursionError``, smolagents' ``AgentMaxStepsError``, the OpenAI Agents SDK's
    ``MaxTurnsExceeded``): critical, on the agent span.

    Judged at run end, from the agent span's own error: LangGraph's
    ``GraphRecursionError``, smolagents' ``AgentMaxStepsError``, the OpenAI Agents SDK's
    ``MaxTurnsExceeded``. Always critical.
    """

    __slots__ = ()

    id: ClassVar[str] = "loop.step_limit"
    failure_mode: ClassVar[str] = "step_limit_reached"
    mast_codes: ClassVar[tuple[str, ...]] = ("FM-1.5", "FM-1.3")
    kinds: ClassVar[frozenset[StepKind]] = frozenset()
    LIMIT_ERRORS: ClassVar[frozenset[str]] = frozenset({
        "GraphRecursionError", "AgentMaxStepsError", "MaxTurnsExceeded",
    })

    def observe(self, step: Step, state: None, facts: StepFacts) -> Detection | None:
        return None  # watches no kind of step: it judges the run at its end

    def finish(self, anchor: Step | None, state: None) -> Detection | None:
        if anchor is None or anchor.error not in self.LIMIT_ERRORS:
            return None
        return make_detection(
            self, anchor, Severity.CRITICAL,
            f"the run was stopped by its step limit ({anchor.error}) without finishing",
            count=1, warning_at=1, critical_at=1, earlier=(), new=True,
            error_type=anchor.error,
        )
