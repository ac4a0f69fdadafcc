"""``loop.repeated_text``: the model repeating itself instead of acting.

Two signals, one detector:

* **Chanting**: a 50-character chunk of the model's output recurring many times close
  together (at least ``chunk_repeats`` times, at a mean distance of at most
  ``max_distance`` characters), where the text between occurrences repeats too, so a
  list of items sharing a long prefix is not a loop. Code blocks are skipped and
  tracking restarts at markdown structure (fences, list items, table rows, headings,
  block quotes, divider lines), where repetition is formatting, not a loop. This
  follows the content-loop rule of Gemini CLI, applied to each output line by line.
* **Monologue**: several model outputs in a row with no tool call between them. With
  ``monologue_similarity`` set, only outputs that restate the previous one (at least
  that similar, by :mod:`._similarity`) continue the streak: agents that act through
  code in their output (CodeAct) or hand work between chat agents answer many times in
  a row by design, and only a model saying the same thing again is stuck.

A tool call ends both: output is compared only within a stretch of model steps.
"""

from __future__ import annotations

import itertools
import re
from typing import Any, ClassVar

from ..settings import Setting, fraction, integer
from ..steps import Step, StepKind
from ._similarity import jaccard, signature
from .base import (
    Detection,
    Detector,
    Severity,
    StageLatch,
    keep_evidence,
    make_detection,
    severity_at,
)
from .facts import StepFacts
from .loop import MAST_STEP_REPETITION, STEP_REPETITION

__all__ = ["RepeatedTextDetector"]

CHUNK = 50
_HISTORY = 5000  # characters of recent output kept for comparison
_FENCE = re.compile(r"```")
_STRUCTURE = re.compile(
    r"^\s*(?:\|.*\||[|+-]{3,}|[*+-]\s|\d+\.\s|#+\s|>\s)"  # table, list item, heading, quote
)
_DIVIDER = re.compile(r"^[-=*_+\u2500-\u257F\s]+$")

TEXT_REPEATS = Setting(
    "AGENTWATCH_LOOP_TEXT_REPEATS", integer(0), 10,
    "`loop.repeated_text`: occurrences of a 50-character passage, close together, that "
    "make output chanting critical; 0 turns it off.")
MONOLOGUE_WARNING = Setting(
    "AGENTWATCH_LOOP_MONOLOGUE_THRESHOLD", integer(0), 3,
    "`loop.repeated_text`: model outputs in a row, with no tool call, each restating the "
    "one before, that raise a warning; 0 turns it off.")
MONOLOGUE_CRITICAL = Setting(
    "AGENTWATCH_LOOP_MONOLOGUE_CRITICAL", integer(0), 5,
    "`loop.repeated_text`: such outputs that make it critical.", at_least=MONOLOGUE_WARNING)
MONOLOGUE_SIMILARITY = Setting(
    "AGENTWATCH_LOOP_MONOLOGUE_SIMILARITY", fraction(), 0.8,
    "`loop.repeated_text`: how similar an output must be to the one before to count as "
    "restating it; 0 counts every output.")


class _TextState:
    __slots__ = ("history", "in_code", "last_output", "latch", "monologue", "next_index",
                 "positions", "span_ids", "text_latch")

    def __init__(self) -> None:
        self.history = ""
        self.next_index = 0  # where the next chunk starts in history
        self.positions: dict[int, list[int]] = {}  # chunk hash -> start indices
        self.in_code = False
        self.monologue = 0
        self.last_output: frozenset[int] | None = None  # signature of the previous output
        self.span_ids: list[int] = []  # the latest EVIDENCE_SPANS + 1 of the monologue
        self.latch = StageLatch()  # for the monologue streak
        self.text_latch = StageLatch()  # for chanting

    def restart_text(self) -> None:
        self.history = ""
        self.next_index = 0
        self.positions.clear()


class RepeatedTextDetector(Detector[_TextState]):
    """The model's output repeats a 50-character passage many times close together
    (critical; code blocks and markdown structure excluded), or the model answers again
    and again with no tool call, each answer restating the one before.

    Chanting output and model monologues (see the module docstring).

    Args:
        chunk_repeats: occurrences of a chunk that make chanting (critical); 0 disables.
        max_distance: largest mean distance, in characters, between those occurrences.
        monologue_warning, monologue_critical: model outputs in a row with no tool call
            between that raise a warning / make it critical; 0 disables.
        monologue_similarity: when above 0, an output continues the monologue only if it
            is at least this similar to the previous one (outputs without text do not).
    """

    __slots__ = ("chunk_repeats", "max_distance", "monologue_critical",
                 "monologue_similarity", "monologue_warning", "needs_text")

    id: ClassVar[str] = "loop.repeated_text"
    failure_mode: ClassVar[str] = STEP_REPETITION
    mast_codes: ClassVar[tuple[str, ...]] = MAST_STEP_REPETITION
    kinds: ClassVar[frozenset[StepKind]] = frozenset({StepKind.LLM, StepKind.TOOL})
    settings: ClassVar[dict[str, Setting[Any]]] = {
        "chunk_repeats": TEXT_REPEATS, "monologue_warning": MONOLOGUE_WARNING,
        "monologue_critical": MONOLOGUE_CRITICAL, "monologue_similarity": MONOLOGUE_SIMILARITY}

    def __init__(self, chunk_repeats: int = TEXT_REPEATS.default,
                 max_distance: int = 5 * CHUNK,
                 monologue_warning: int = MONOLOGUE_WARNING.default,
                 monologue_critical: int = MONOLOGUE_CRITICAL.default,
                 monologue_similarity: float = MONOLOGUE_SIMILARITY.default) -> None:
        self.chunk_repeats = chunk_repeats
        self.max_distance = max_distance
        self.monologue_warning = monologue_warning
        self.monologue_critical = monologue_critical
        self.monologue_similarity = monologue_similarity
        # Without output text there is nothing to compare, unless monologues are
        # counted blind.
        self.needs_text = monologue_similarity > 0 or not monologue_warning

    def new_state(self) -> _TextState:
        return _TextState()

    def observe(self, step: Step, state: _TextState, facts: StepFacts) -> Detection | None:
        if step.kind is StepKind.TOOL:
            if not state.monologue and not state.history:
                return None  # nothing to end
            state.monologue = 0
            state.last_output = None
            state.span_ids.clear()
            state.latch.reset()
            state.text_latch.reset()
            state.restart_text()
            state.in_code = False
            return None
        self._extend_monologue(step, state)
        chanting = (self.chunk_repeats > 0 and step.output_text is not None
                    and self._chants(step.output_text, state))
        if chanting:
            return make_detection(
                self, step, Severity.CRITICAL,
                f"model output repeats a {CHUNK}-character passage {self.chunk_repeats} times",
                count=self.chunk_repeats, warning_at=self.chunk_repeats,
                critical_at=self.chunk_repeats, earlier=(),
                new=state.text_latch.announce(Severity.CRITICAL), signal="chanting",
            )
        if not self.monologue_warning:
            return None
        severity = severity_at(state.monologue, self.monologue_warning,
                               self.monologue_critical or self.monologue_warning)
        if severity is None:
            return None
        return make_detection(
            self, step, severity,
            f"{state.monologue} model outputs in a row with no tool call",
            count=state.monologue, warning_at=self.monologue_warning,
            critical_at=self.monologue_critical or self.monologue_warning,
            earlier=tuple(state.span_ids)[:-1], new=state.latch.announce(severity),
            signal="monologue",
        )

    def _extend_monologue(self, step: Step, state: _TextState) -> None:
        if self.monologue_similarity:
            current = signature(step.output_text) if step.output_text else None
            restated = (current is not None and state.last_output is not None
                        and jaccard(current, state.last_output) >= self.monologue_similarity)
            state.last_output = current
            if not restated:  # a new thought starts a new streak of one
                state.monologue = 0
                state.span_ids.clear()
                state.latch.reset()
        state.monologue += 1
        keep_evidence(state.span_ids, step.span_id)

    def _chants(self, text: str, state: _TextState) -> bool:
        for line in text[-_HISTORY:].splitlines(keepends=True):
            fences = len(_FENCE.findall(line))
            stripped = line.strip()
            divider = bool(stripped) and _DIVIDER.match(stripped) is not None
            if fences or divider or _STRUCTURE.match(line):
                state.restart_text()
            was_in_code = state.in_code
            if fences % 2:
                state.in_code = not state.in_code
            if was_in_code or state.in_code or divider:
                continue
            state.history += line
            if self._scan(state):
                return True
        return False

    def _scan(self, state: _TextState) -> bool:
        if len(state.history) > _HISTORY:
            cut = len(state.history) - _HISTORY
            state.history = state.history[cut:]
            state.next_index = max(0, state.next_index - cut)
            state.positions = {
                key: kept for key, indices in state.positions.items()
                if (kept := [i - cut for i in indices if i >= cut])
            }
        history, positions = state.history, state.positions
        repeats, window = self.chunk_repeats, self.max_distance
        index = state.next_index
        while index + CHUNK <= len(history):
            chunk = history[index:index + CHUNK]
            seen = positions.setdefault(hash(chunk), [])
            if seen and history[seen[0]:seen[0] + CHUNK] != chunk:
                index += 1  # a hash collision: not the same chunk
                continue
            seen.append(index)
            if len(seen) >= repeats:
                recent = seen[-repeats:]
                if (recent[-1] - recent[0]) / (repeats - 1) <= window:
                    periods = {history[a:b] for a, b in itertools.pairwise(recent)}
                    if len(periods) <= repeats // 2:
                        state.next_index = index + 1
                        return True
            index += 1
        state.next_index = index
        return False
