"""Detectors: streaming observers of a run's steps, and the engine that runs them.

* :mod:`.base`: the :class:`Detector` contract, its optional hooks, :class:`Detection`.
* :mod:`.engine`: builds the selected detectors and runs them for the processor.
* :mod:`.facts`: the per-step analysis detectors share (:mod:`.actions` classifies calls).
* :mod:`.registry`: the built-in detectors, installed ones, selection by id.
* :mod:`.profiles`: other runtimes' loop guards as presets.
* One module per family: :mod:`.loop`, :mod:`.cycle`, :mod:`.resources`, :mod:`.text`,
  :mod:`.drift`, :mod:`.progress`, :mod:`.reasoning`, :mod:`.termination`,
  :mod:`.coordination`, :mod:`.budget`.
"""

from __future__ import annotations

from .base import (
    Annotator,
    Detection,
    Detector,
    ObjectiveAware,
    RunJudge,
    Severity,
    StageLatch,
    Streak,
    make_detection,
    severity_at,
)
from .engine import DetectorEngine, build_detectors
from .facts import StepFacts
from .profiles import PROFILES
from .registry import BUILTIN, DETECTOR_IDS

__all__ = [
    "BUILTIN",
    "DETECTOR_IDS",
    "PROFILES",
    "Annotator",
    "Detection",
    "Detector",
    "DetectorEngine",
    "ObjectiveAware",
    "RunJudge",
    "Severity",
    "StageLatch",
    "StepFacts",
    "Streak",
    "build_detectors",
    "make_detection",
    "severity_at",
]
