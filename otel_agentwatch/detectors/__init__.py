"""Detectors: streaming observers of a run's steps, and the registry that selects them.

Each detector family has its own module (:mod:`.loop`, :mod:`.cycle`,
:mod:`.resources`, :mod:`.text`, :mod:`.termination`, :mod:`.budget`);
:mod:`.profiles` lists every detector class and the profiles that configure them;
:func:`build_detectors` makes the ones a :class:`~otel_agentwatch.config.Config` selects.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from .base import Detection, Detector, Severity
from .profiles import DETECTORS, PROFILES

if TYPE_CHECKING:
    from ..config import Config

__all__ = [
    "DETECTORS",
    "DETECTOR_IDS",
    "PROFILES",
    "Detection",
    "Detector",
    "Severity",
    "build_detectors",
]

DETECTOR_IDS: tuple[str, ...] = tuple(detector.id for detector in DETECTORS)


def build_detectors(config: Config) -> tuple[Detector, ...]:
    """The detectors of ``config.profile`` that ``AGENTWATCH_DETECTORS`` selects."""
    return tuple(
        detector for detector in PROFILES[config.profile](config)
        if detector.id in config.enabled_detectors
    )
