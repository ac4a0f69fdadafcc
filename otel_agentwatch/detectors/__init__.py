"""Detectors: streaming observers of a run's steps, and the registry that selects them.

Each detector family has its own module; :data:`DETECTORS` lists every detector class,
and :func:`build_detectors` makes the ones a :class:`~otel_agentwatch.config.Config`
selects, with its thresholds.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from .base import Detection, Detector, Severity
from .loop import RepeatedCallDetector, RepeatedOutcomeDetector

if TYPE_CHECKING:
    from ..config import Config

__all__ = [
    "DETECTORS",
    "DETECTOR_IDS",
    "Detection",
    "Detector",
    "Severity",
    "build_detectors",
]

DETECTORS: tuple[type[Detector], ...] = (
    RepeatedCallDetector,
    RepeatedOutcomeDetector,
)
DETECTOR_IDS: tuple[str, ...] = tuple(detector.id for detector in DETECTORS)


def build_detectors(config: Config) -> tuple[Detector, ...]:
    """The detectors ``config`` enables, configured with its thresholds, in registry order."""
    return tuple(
        detector.from_config(config)
        for detector in DETECTORS
        if detector.id in config.enabled_detectors
    )
