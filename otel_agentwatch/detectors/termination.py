"""How a run ended: judged once, when its agent or root span ends (MAST FM-3.1 premature
termination, FM-3.2 no or incomplete verification).

* ``termination.unverified``: the run changed something (a write: an edit, a patch, a
  file written) and ended with no verification (tests, a build, a linter, running the
  program, a tool named for checking) after its last change. Deleting a file the run
  wrote undoes that write (agents clean up their scratch scripts before they finish);
  tests that ran and failed count as verification (the agent looked). Advisory
  (``info``) unless ``AGENTWATCH_TERMINATION_UNVERIFIED_SEVERITY=warning``.
* ``termination.after_errors``: the run's last tool calls failed and nothing succeeded
  after them: it stopped on errors it did not resolve. Warning from ``warning_at``
  failures in a row (one failed lookup before the final answer is common and harmless),
  critical from ``critical_at``.
* ``termination.ungrounded``: the run gave its answer through an answer tool
  (smolagents' ``final_answer``, Cline's ``attempt_completion``, OpenHands' ``finish``)
  without calling any other tool or agent first: it answered from the model's memory. On
  TRAIL's GAIA traces this is what most runs labelled ``Goal Deviation`` or
  ``Instruction Non-compliance`` did (a manager answering without asking its search
  agent); an agent that has no tools but its answer tool is flagged on every run, so
  turn the detector off for it.

All need the run's own span to end, so runs without one (SDK calls grouped by
conversation) are not judged.
"""

from __future__ import annotations

from typing import Any, ClassVar

from ..settings import Setting, choice, integer, name_list
from ..steps import Step, StepKind
from .actions import ANY_RESOURCE, VERIFY, WRITE, removed
from .base import Detection, Detector, Severity, make_detection, severity_at
from .facts import StepFacts

__all__ = ["EndedAfterErrorsDetector", "UngroundedAnswerDetector", "UnverifiedEndingDetector"]

_TOOLS = frozenset({StepKind.TOOL})
_TOOLS_AND_AGENTS = frozenset({StepKind.TOOL, StepKind.AGENT})

ERRORS_WARNING = Setting(
    "AGENTWATCH_TERMINATION_ERRORS_THRESHOLD", integer(1), 2,
    "`termination.after_errors`: failed tool calls in a row at the end of a run that raise "
    "a warning.")
ERRORS_CRITICAL = Setting(
    "AGENTWATCH_TERMINATION_ERRORS_CRITICAL", integer(1), 3,
    "`termination.after_errors`: such failures that make it critical.",
    at_least=ERRORS_WARNING)


class _Changes:
    """Changes since the last verification: resource -> span id of its latest write."""

    __slots__ = ("pending", "verified_ever")

    def __init__(self) -> None:
        self.pending: dict[str, int] = {}
        self.verified_ever = False


UNVERIFIED_SEVERITY = Setting(
    "AGENTWATCH_TERMINATION_UNVERIFIED_SEVERITY", choice("info", "warning"), "info",
    "`termination.unverified`: the severity of an ending without verification: `info` "
    "(an event and run attributes, not a flag) or `warning`.")


class UnverifiedEndingDetector(Detector[_Changes]):
    """The run ended (its agent or root span ended, without an error) after changes (edits,
    patches, files written) with no verification after the last one (tests, a build, a
    linter, running the program or a script; tests that ran and failed count), on the
    agent span. Deleting a file the run wrote undoes that write.

    Advisory (``info``) by default: successful runs end this way too (11 of 149 resolved
    mini-swe-agent runs), so it says what a reviewer should check, not that the run
    failed; ``severity="warning"`` flags it.
    """

    __slots__ = ("severity",)

    id: ClassVar[str] = "termination.unverified"
    failure_mode: ClassVar[str] = "unverified_termination"
    mast_codes: ClassVar[tuple[str, ...]] = ("FM-3.2", "FM-3.1")
    kinds: ClassVar[frozenset[StepKind]] = _TOOLS
    actions: ClassVar[frozenset[str]] = frozenset({WRITE, VERIFY})
    MAX_PENDING: ClassVar[int] = 64
    settings: ClassVar[dict[str, Setting[Any]]] = {"severity": UNVERIFIED_SEVERITY}

    def __init__(self, severity: str = UNVERIFIED_SEVERITY.default) -> None:
        self.severity = Severity(severity)

    def new_state(self) -> _Changes:
        return _Changes()

    def observe(self, step: Step, state: _Changes, facts: StepFacts) -> Detection | None:
        action = facts.action
        if action.kind == VERIFY or action.verified:
            # Tests that ran and failed were still run: the agent looked.
            state.pending.clear()
            state.verified_ever = True
        elif action.kind == WRITE and step.error is None:  # a failed write changed nothing
            deleted = removed(action)
            if deleted:  # deleting what the run wrote itself undoes it (scratch files)
                for path in deleted:
                    state.pending.pop(path, None)
            elif len(state.pending) < self.MAX_PENDING or action.resource in state.pending:
                state.pending[action.resource or ANY_RESOURCE] = step.span_id
        return None

    def finish(self, anchor: Step | None, state: _Changes) -> Detection | None:
        # A run that raised did not stop: it crashed, which its span says already.
        if anchor is None or anchor.error is not None or not state.pending:
            return None
        since = "since its last verification" if state.verified_ever else "at all"
        changed = len(state.pending)
        return make_detection(
            self, anchor, self.severity,
            f"the run ended with {changed} changed resource(s) it did not verify {since}",
            count=changed, warning_at=1, critical_at=1,
            earlier=tuple(state.pending.values())[-8:], new=True, unverified_changes=changed,
        )


class _Failures:
    __slots__ = ("count", "span_ids", "tool")

    def __init__(self) -> None:
        self.count = 0  # failed tool calls at the end of the run so far
        self.span_ids: list[int] = []
        self.tool = ""


class EndedAfterErrorsDetector(Detector[_Failures]):
    """The run ended right after failed tool calls, with nothing succeeding after them: on
    the agent span.

    Warning from ``warning_at`` failures in a row, critical from ``critical_at``.
    """

    __slots__ = ("critical_at", "warning_at")

    id: ClassVar[str] = "termination.after_errors"
    failure_mode: ClassVar[str] = "ended_after_errors"
    mast_codes: ClassVar[tuple[str, ...]] = ("FM-3.1",)
    kinds: ClassVar[frozenset[StepKind]] = _TOOLS
    EVIDENCE_SPANS: ClassVar[int] = 8
    settings: ClassVar[dict[str, Setting[Any]]] = {
        "warning_at": ERRORS_WARNING, "critical_at": ERRORS_CRITICAL}

    def __init__(self, warning_at: int = ERRORS_WARNING.default,
                 critical_at: int = ERRORS_CRITICAL.default) -> None:
        self.warning_at = warning_at
        self.critical_at = critical_at

    def new_state(self) -> _Failures:
        return _Failures()

    def observe(self, step: Step, state: _Failures, facts: StepFacts) -> Detection | None:
        if step.error is None:
            if state.count:
                state.count = 0
                state.span_ids.clear()
            return None
        state.count += 1
        state.tool = step.name
        state.span_ids.append(step.span_id)
        del state.span_ids[:-self.EVIDENCE_SPANS]
        return None

    def finish(self, anchor: Step | None, state: _Failures) -> Detection | None:
        severity = severity_at(state.count, self.warning_at, self.critical_at)
        if anchor is None or severity is None:
            return None
        return make_detection(
            self, anchor, severity,
            f"the run ended right after {state.count} failed tool call(s), the last of "
            f"{state.tool}, with nothing succeeding after them",
            count=state.count, warning_at=self.warning_at, critical_at=self.critical_at,
            earlier=tuple(state.span_ids), new=True, tool=state.tool,
        )


ANSWER_TOOLS = Setting(
    "AGENTWATCH_TERMINATION_ANSWER_TOOLS", name_list("a comma-separated list of tool names"),
    ("final_answer", "attempt_completion", "finish"),
    "`termination.ungrounded`: the tools through which an agent gives its answer "
    "(smolagents, Cline and Roo, OpenHands).")
UNGROUNDED_SEVERITY = Setting(
    "AGENTWATCH_TERMINATION_UNGROUNDED_SEVERITY", choice("info", "warning"), "warning",
    "`termination.ungrounded`: the severity of an answer given without looking anything "
    "up: `warning`, or `info` (an event and run attributes, not a flag).")


class _Grounds:
    __slots__ = ("answer", "looked")

    def __init__(self) -> None:
        self.answer: int | None = None  # span id of the run's latest answer tool call
        self.looked = False  # a tool other than an answer tool ran, or an agent was asked


class UngroundedAnswerDetector(Detector[_Grounds]):
    """The run gave its answer through an answer tool (``final_answer``,
    ``attempt_completion``, ``finish``) without calling any other tool or agent before
    it: it answered from memory, on the agent span.

    Judged when the run ends without an error. A tool that failed was still an attempt to
    look, and code a CodeAct agent ran counts as looking when it is a tool span of its
    own (an ``execute_code`` tool) or calls tools that are. Warning by default
    (``severity="info"`` makes it advisory).
    """

    __slots__ = ("answer_tools", "severity")

    id: ClassVar[str] = "termination.ungrounded"
    failure_mode: ClassVar[str] = "ungrounded_answer"
    mast_codes: ClassVar[tuple[str, ...]] = ("FM-1.1", "FM-3.1")
    kinds: ClassVar[frozenset[StepKind]] = _TOOLS_AND_AGENTS
    settings: ClassVar[dict[str, Setting[Any]]] = {
        "answer_tools": ANSWER_TOOLS, "severity": UNGROUNDED_SEVERITY}

    def __init__(self, answer_tools: tuple[str, ...] = ANSWER_TOOLS.default,
                 severity: str = UNGROUNDED_SEVERITY.default) -> None:
        self.answer_tools = frozenset(answer_tools)
        self.severity = Severity(severity)

    def new_state(self) -> _Grounds:
        return _Grounds()

    def observe(self, step: Step, state: _Grounds, facts: StepFacts) -> Detection | None:
        if step.kind is StepKind.TOOL and step.name in self.answer_tools:
            if not state.looked:
                state.answer = step.span_id
        else:
            state.looked = True
        return None

    def finish(self, anchor: Step | None, state: _Grounds) -> Detection | None:
        if anchor is None or anchor.error is not None or state.looked \
                or state.answer is None:
            return None
        return make_detection(
            self, anchor, self.severity,
            "the run answered without calling any tool or agent first: the answer rests on "
            "the model's memory alone",
            count=1, warning_at=1, critical_at=1, earlier=(state.answer,), new=True,
        )
