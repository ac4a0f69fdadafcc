"""Profiles: the detector engine set up as another runtime's loop guard, or as ours.

A team moving from one of those runtimes gets the verdicts it already knows. Each peer
profile is data: which detectors run and with which fixed parameters (the threshold
variables tune only ``default``). ``AGENTWATCH_DETECTORS`` still selects among them.

* ``openhands`` (its stuck detector): the last 4 tool calls the same call with the same
  result: critical; the same call failing: warning at the 3rd consecutive failure,
  critical at the 4th; 3 model outputs in a row with no tool call: critical (content not
  compared); calls and results alternating with period 2 over 6 calls: critical.
* ``gemini_cli`` (its loop detection service): call key = tool + arguments, results
  ignored; the calls end in a cycle of 1 to 5 calls repeated 5 times: critical (an
  identical call at its 5th occurrence, an A,B alternation at the 10th call), model
  output between calls does not reset it; a 50-character passage of output seen 10
  times at a mean distance of at most 250 characters: critical.
* ``cline``: consecutive identical calls: warning at 3, critical at 5.
* ``roo``: consecutive identical calls: critical at the 4th.
* ``default``: every built-in detector, with its own settings, chosen on the measurements
  in ``docs/evaluation.md`` to keep successful runs unflagged.

Budgets (``AGENTWATCH_BUDGET_*``) apply under every profile.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from ..settings import SettingValues
from . import registry
from .base import Detector
from .budget import BUDGETS
from .cycle import CycleDetector
from .loop import ErrorStreakDetector, RepeatedCallDetector, RepeatedOutcomeDetector
from .text import CHUNK, RepeatedTextDetector

__all__ = ["PROFILES"]

Profile = Callable[[SettingValues], tuple[Detector[Any], ...]]
"""The built-in detectors of a profile, from the settings."""


def _built(classes: tuple[type[Detector[Any]], ...],
           values: SettingValues) -> tuple[Detector[Any], ...]:
    """Each class built from its settings; those with nothing to judge (a budget with no
    limit, roles with none declared) are left out, so they cost nothing."""
    return tuple(built for cls in classes if (built := cls.from_settings(values)) is not None)


def _default(values: SettingValues) -> tuple[Detector[Any], ...]:
    return _built(registry.BUILTIN, values)


def _fixed(*detectors: Detector[Any]) -> Profile:
    """A peer profile: fixed detectors, and the budgets that have a limit (a budget is
    the user's, not a loop guard's)."""
    return lambda values: (*detectors, *_built(BUDGETS, values))


PROFILES: dict[str, Profile] = {
    "default": _default,
    "openhands": _fixed(
        RepeatedOutcomeDetector(warning_at=4, critical_at=4, window=4, since_change=False),
        ErrorStreakDetector(warning_at=3, critical_at=4, same_arguments=True),
        RepeatedTextDetector(chunk_repeats=0, monologue_warning=3, monologue_critical=3,
                             monologue_similarity=0.0),
        CycleDetector(warning_at=3, critical_at=3, min_period=2, max_period=2,
                      with_results=True),
    ),
    "gemini_cli": _fixed(
        CycleDetector(warning_at=5, critical_at=5, min_period=1, max_period=5,
                      with_results=False),
        RepeatedTextDetector(chunk_repeats=10, max_distance=5 * CHUNK, monologue_warning=0,
                             monologue_critical=0),
    ),
    # Their guards compare calls exactly, code too.
    "cline": _fixed(RepeatedCallDetector(warning_at=3, critical_at=5, code_similarity=0.0)),
    "roo": _fixed(RepeatedCallDetector(warning_at=4, critical_at=4, code_similarity=0.0)),
}
