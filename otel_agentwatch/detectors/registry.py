"""Which detectors exist: the built-in ones, those other packages install, and selecting
among them by id.

A built-in detector is registered by one line in :data:`BUILTIN`. A package ships
detectors through the entry point group ``otel_agentwatch.detectors`` (each entry point
names a :class:`~.base.Detector` subclass); they are selected by id like the built-in
ones, and their settings are read like theirs.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable, Mapping
from importlib.metadata import entry_points
from typing import Any

from ..config import DETECTORS, NUDGE_TEMPLATE_PREFIX, PREFIX
from ..settings import ConfigError, Setting
from .base import Detector
from .budget import BUDGETS
from .coordination import HandoffCycleDetector, RepeatedFailureDetector, RoleViolationDetector
from .cycle import CycleDetector
from .drift import ObjectiveDriftDetector
from .loop import (
    ErrorStreakDetector,
    RepeatedCallDetector,
    RepeatedOutcomeDetector,
    StepLimitDetector,
)
from .progress import StallDetector
from .reasoning import OverthinkingDetector
from .resources import EditChurnDetector, RedundantReadDetector
from .termination import (
    EndedAfterErrorsDetector,
    UngroundedAnswerDetector,
    UnverifiedEndingDetector,
)
from .text import RepeatedTextDetector

__all__ = ["BUILTIN", "DETECTOR_IDS", "ENTRY_POINT_GROUP", "check_detector", "check_unique",
           "installed", "select", "settings_of", "warn_unknown"]

logger = logging.getLogger("otel_agentwatch")

ENTRY_POINT_GROUP = "otel_agentwatch.detectors"

# Every built-in detector, in the order their detections are reported on a span.
BUILTIN: tuple[type[Detector[Any]], ...] = (
    RepeatedCallDetector,
    RepeatedOutcomeDetector,
    ErrorStreakDetector,
    CycleDetector,
    RedundantReadDetector,
    EditChurnDetector,
    RepeatedTextDetector,
    StepLimitDetector,
    StallDetector,
    OverthinkingDetector,
    ObjectiveDriftDetector,
    UnverifiedEndingDetector,
    EndedAfterErrorsDetector,
    UngroundedAnswerDetector,
    HandoffCycleDetector,
    RoleViolationDetector,
    RepeatedFailureDetector,
    *BUDGETS,
)

DETECTOR_IDS: tuple[str, ...] = tuple(detector.id for detector in BUILTIN)
"""The ids of the built-in detectors."""


def installed() -> tuple[type[Detector[Any]], ...]:
    """The detector classes other packages install (entry point group
    ``otel_agentwatch.detectors``). One that fails to load, or is not a detector, is
    left out with a log line: a broken plugin does not stop the application."""
    found: list[type[Detector[Any]]] = []
    for entry_point in entry_points(group=ENTRY_POINT_GROUP):
        try:
            loaded = entry_point.load()
            check_detector(loaded)
        except Exception as error:  # anything a third-party import may raise
            logger.warning("otel-agentwatch: detector entry point %r (%s) is left out: %s",
                           entry_point.name, entry_point.value, error)
            continue
        if not isinstance(loaded, type):
            logger.warning("otel-agentwatch: detector entry point %r names an instance; it "
                           "must name a Detector subclass", entry_point.name)
            continue
        found.append(loaded)
    return tuple(found)


def check_detector(item: object) -> None:
    """Raise ``TypeError`` unless ``item`` is a :class:`~.base.Detector` (a subclass or
    an instance) with what the engine relies on."""
    cls = item if isinstance(item, type) else type(item)
    if not issubclass(cls, Detector):
        raise TypeError(f"{item!r} is not an otel_agentwatch Detector (subclass "
                        "otel_agentwatch.Detector)")
    detector_id = getattr(cls, "id", None)
    if not isinstance(detector_id, str) or "." not in detector_id.strip(".") \
            or detector_id != detector_id.strip() or "," in detector_id:
        raise TypeError(f"{cls.__name__}.id must be a 'family.name' string, not "
                        f"{detector_id!r}")
    if not isinstance(getattr(cls, "failure_mode", None), str):
        raise TypeError(f"{cls.__name__}.failure_mode must be a string")
    kinds = getattr(item, "kinds", None)
    if not isinstance(kinds, frozenset):
        raise TypeError(f"{cls.__name__}.kinds must be a frozenset of StepKind")
    settings = getattr(cls, "settings", None)
    if not isinstance(settings, Mapping) or not all(
            isinstance(setting, Setting) for setting in settings.values()):
        raise TypeError(f"{cls.__name__}.settings must map __init__ parameters to Settings")


def check_unique(classes: Iterable[type[Detector[Any]]],
                 instances: Iterable[Detector[Any]]) -> None:
    """Raise ``ValueError`` when two different detectors share an id."""
    seen: dict[str, type[Detector[Any]]] = {}
    for cls in (*classes, *(type(instance) for instance in instances)):
        other = seen.setdefault(cls.id, cls)
        if other is not cls:
            raise ValueError(f"two detectors have the id {cls.id!r}: "
                             f"{other.__module__}.{other.__qualname__} and "
                             f"{cls.__module__}.{cls.__qualname__}")


def settings_of(classes: Iterable[type[Detector[Any]]]) -> tuple[Setting[Any], ...]:
    """Every setting the detector classes declare, once each, in their order. Raises
    ``ValueError`` when two declarations claim one variable."""
    found: dict[str, Setting[Any]] = {}
    for cls in classes:
        for setting in cls.settings.values():
            other = found.setdefault(setting.env, setting)
            if other is not setting:
                raise ValueError(f"{setting.env} is declared twice (by {cls.__qualname__} "
                                 "and another detector)")
    return tuple(found.values())


def warn_unknown(given: Mapping[str, Any], declared: Iterable[Setting[Any]]) -> None:
    """Log the ``AGENTWATCH_*`` settings none of ``declared`` is (a typo, most likely)."""
    known = {setting.env for setting in declared}
    unknown = sorted(name for name in given if name.startswith(PREFIX) and name not in known
                     and not name.startswith(NUDGE_TEMPLATE_PREFIX))
    if unknown:
        logger.warning("otel-agentwatch: no detector has the setting(s) %s; ignored",
                       ", ".join(unknown))


def select(tokens: tuple[str, ...], classes: Iterable[type[Detector[Any]]]) -> frozenset[str]:
    """The ids ``AGENTWATCH_DETECTORS`` selects among ``classes``: ``all``, ids or families
    (``loop``), ``-`` to drop one. Raises :class:`ConfigError` naming an unknown one."""
    ids = tuple(cls.id for cls in classes)
    shown = ",".join(tokens)

    def expand(name: str) -> set[str]:
        matched = {i for i in ids if i == name or i.split(".", 1)[0] == name}
        if not matched:
            raise ConfigError(DETECTORS.env, shown,
                              f"{DETECTORS.accepted}; known detectors: {', '.join(ids)}")
        return matched

    positive = [token for token in tokens if not token.startswith("-")]
    selected: set[str] = set() if positive else set(ids)
    for token in tokens:
        if token.lower() == "all":
            selected |= set(ids)
        elif token.startswith("-"):
            selected -= expand(token[1:])
        else:
            selected |= expand(token)
    return frozenset(selected)
