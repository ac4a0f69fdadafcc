"""What the harness tells a model about its run (``AGENTWATCH_ACTION=nudge``).

A run's new detections at ``AGENTWATCH_NUDGE_ON`` or above wait in the run's state (the
processor's) until the run's next model request through an instrumented path, which
carries them as one note: a sentence or two per finding, then what is left of the run's
budgets. Each finding is told once: a detection is new once per streak and severity, so
a streak that goes on is told again only when it turns critical.

:class:`NudgeWriter` words the note. Its wording for a detection is, first found: a
template given in code for its detector id or failure mode, one given by
``AGENTWATCH_NUDGE_TEMPLATE_<FAILURE_MODE>``, the built-in one for its detector
(:data:`BUILTIN_TEMPLATES`), or its message alone. A template is text with ``$message``,
``$detector``, ``$severity``, ``$failure_mode`` and the detection's evidence (``$tool``,
``$count``, ...) filled in, or a callable that returns the text, or None to leave the
detection out of the note.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping, Sequence
from string import Template
from typing import TYPE_CHECKING, NamedTuple

from ._guard import internal_error
from .detectors.base import Detection

if TYPE_CHECKING:
    from .config import Config

__all__ = ["BUDGET_TEMPLATE", "BUILTIN_TEMPLATES", "NOTE_PREFIX", "PLAIN_TEMPLATE", "Nudge",
           "NudgeTemplate", "NudgeWriter", "budget_left"]

NOTE_PREFIX = "[agentwatch]"
"""How a note begins, so that the model (and a person reading the conversation) can tell
it came from the harness, not from the user."""

NudgeTemplate = str | Callable[[Detection], str | None]
"""A note's wording for a detection: text with ``$`` fields, or a callable."""

_SENTENCE_LIMIT = 600  # characters of one finding's wording
_NOTE_LIMIT = 2000  # characters of the whole note
_PENDING_LIMIT = 8  # findings told in one note at most, the most recent

BUILTIN_TEMPLATES: Mapping[str, str] = {
    "loop.repeated_call":
        "$message. Calling it again will return the same: use what it returned, or "
        "try something different.",
    "loop.repeated_outcome":
        "$message. The result will not change: use it, or try something different.",
    "loop.error_streak":
        "$message. Sent again, it will fail the same way: read the error, then change "
        "the call or use another tool.",
    "loop.cycle":
        "$message. Going round again will not get you further: step back and try a "
        "different approach.",
    "loop.redundant_read":
        "$message. Nothing in it has changed since you last read it: use what you read.",
    "loop.edit_churn":
        "$message. Run or test the change before you edit it again.",
    "loop.repeated_text":
        "$message. Stop repeating yourself: take an action, or give your answer.",
    "progress.stall":
        "$message. Your recent calls brought nothing new: change your approach, or "
        "answer with what you have.",
    "reasoning.overthinking":
        "$message. More thinking is not bringing anything new: act on what you know, or "
        "give your answer.",
    "drift.objective":
        "$message. Check that what you are doing still serves the task you were given.",
    "termination.unverified":
        "$message. Run the tests or the code before you finish.",
    "coordination.handoff_cycle":
        "$message. Handing the work back and forth is not getting further: let one agent "
        "take it forward another way.",
    "coordination.role_violation":
        "$message. Use only the tools of your own role.",
    "coordination.repeated_failure":
        "$message. It has failed the same way every time: do not hand it on again; work "
        "around it, or report that it cannot be done.",
}
BUDGET_TEMPLATE = "$message. Finish with what you have, or spend what is left with care."
"""The wording for a budget's detection (``budget.*``)."""
PLAIN_TEMPLATE = "$message."
"""The wording for a detector without one of its own: its detection's message."""

# How each budget's remainder is told: (unit after the number, or a currency sign before).
_BUDGET_UNITS: Mapping[str, tuple[str, str]] = {
    "tool_calls": ("", " tool calls"),
    "llm_calls": ("", " model calls"),
    "tokens": ("", " tokens"),
    "cost_usd": ("$", ""),
    "seconds": ("", " seconds"),
}


class Nudge(NamedTuple):
    """One note for a model request.

    Attributes:
        text: the note, starting with :data:`NOTE_PREFIX`.
        detections: the findings it tells of (empty for a note of budget alone).
        budget: whether it states what is left of the run's budgets.
    """

    text: str
    detections: tuple[Detection, ...]
    budget: bool


class NudgeWriter:
    """Words a run's new findings, and its remaining budget, as a note for the model.

    Args:
        templates: wordings by detector id or failure mode (see the module docstring);
            they take precedence over the built-in ones.
        budget_always: state the remaining budget in every note, and make a note of it
            alone when there is no finding (``AGENTWATCH_NUDGE_BUDGET=always``).
    """

    __slots__ = ("_templates", "budget_always")

    def __init__(self, templates: Mapping[str, NudgeTemplate] | None = None, *,
                 budget_always: bool = False) -> None:
        self._templates = dict(templates or {})
        for key, template in self._templates.items():
            if not isinstance(template, str) and not callable(template):
                raise TypeError(f"the nudge template for {key!r} is neither text nor a "
                                f"callable: {template!r}")
        self.budget_always = budget_always

    @classmethod
    def from_config(cls, config: Config,
                    templates: Mapping[str, NudgeTemplate] | None = None) -> NudgeWriter:
        """The writer ``config`` asks for: its ``AGENTWATCH_NUDGE_TEMPLATE_*`` wordings,
        overridden by ``templates`` given in code."""
        return cls({**config.nudge_templates(), **(templates or {})},
                   budget_always=config.nudge_budget == "always")

    def write(self, findings: Sequence[Detection],
              budgets: Iterable[tuple[str, float, float]] = ()) -> Nudge | None:
        """The note for ``findings`` (oldest first) and ``budgets`` (``(resource, used,
        limit)`` each); None when there is nothing to tell. Never raises."""
        told: list[Detection] = []
        sentences: list[str] = []
        said: set[tuple[str, str]] = set()
        for detection in findings[-_PENDING_LIMIT:]:
            # One sentence per failure of one tool: the same calls repeated and returning
            # the same result are one thing to the model, however many detectors saw it.
            tool = detection.evidence.get("tool")
            about = (detection.failure_mode, tool if isinstance(tool, str) else detection.detector)
            if about in said:
                told.append(detection)  # told by the sentence already written
                continue
            sentence = self._sentence(detection)
            if sentence:
                said.add(about)
                told.append(detection)
                sentences.append(sentence[:_SENTENCE_LIMIT])
        left = budget_left(budgets) if sentences or self.budget_always else None
        if left is not None:
            sentences.append(left)
        if not sentences:
            return None
        text = f"{NOTE_PREFIX} {' '.join(sentences)}"[:_NOTE_LIMIT]
        return Nudge(text, tuple(told), left is not None)

    def _sentence(self, detection: Detection) -> str | None:
        """The wording of one finding; None or empty to leave it out. Never raises."""
        try:
            return self._word(detection)
        except Exception as error:
            internal_error("nudge wording", error, "that finding is left out of the note")
            return None

    def _word(self, detection: Detection) -> str | None:
        template = self._templates.get(detection.detector)
        if template is None:
            template = self._templates.get(detection.failure_mode)
        if template is not None and not isinstance(template, str):
            try:
                written = template(detection)
            except Exception as error:
                internal_error("nudge template", error, "the built-in wording is used")
            else:
                return written if isinstance(written, str) else None
            template = None
        if template is None:
            template = BUILTIN_TEMPLATES.get(detection.detector) or (
                BUDGET_TEMPLATE if detection.detector.startswith("budget.")
                else PLAIN_TEMPLATE)
        fields = {key.rsplit(".", 1)[-1]: _text(value)
                  for key, value in detection.evidence.items()}
        fields.update(message=detection.message.rstrip(". "), detector=detection.detector,
                      severity=detection.severity.value, failure_mode=detection.failure_mode)
        return Template(template).safe_substitute(fields)


def budget_left(budgets: Iterable[tuple[str, float, float]]) -> str | None:
    """``Budget left: 12 of 40 tool calls, $1.20 of $5.00.``; None without budgets."""
    parts = []
    for resource, used, limit in budgets:
        before, after = _BUDGET_UNITS.get(resource, ("", " " + resource.replace("_", " ")))
        left = max(limit - used, 0)
        if before:
            parts.append(f"{before}{left:,.2f} of {before}{limit:,.2f}{after}")
        else:
            parts.append(f"{left:,.0f} of {limit:,.0f}{after}")
    return f"Budget left: {', '.join(parts)}." if parts else None


def _text(value: object) -> str:
    if isinstance(value, (tuple, list)):
        return ", ".join(str(item) for item in value)
    return str(value)
