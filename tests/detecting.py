"""Driving one detector over hand-made steps, as the engine would."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from otel_agentwatch._bounded import BoundedDict
from otel_agentwatch.detectors.facts import RunMemory, StepFacts
from otel_agentwatch.settings import SettingValues
from otel_agentwatch.steps import Step


class Facts:
    """Hands out each step's :class:`StepFacts` within one run, as the engine does."""

    def __init__(self) -> None:
        self.memory = RunMemory()
        self.actions: BoundedDict = BoundedDict(64)

    def __call__(self, step: Step) -> StepFacts:
        return StepFacts(step, self.memory, self.actions)


def built(cls: Any, environ: dict[str, str]) -> Any:
    """A detector class built from settings given as environment variables, as at start."""
    return cls.from_settings(SettingValues.resolve(cls.settings.values(), environ))


def observe(detector: Any, step: Step, state: Any, facts: Facts | None = None) -> Any:
    """One step through ``detector`` (a fresh run's facts unless ``facts`` is given)."""
    return detector.observe(step, state, (facts or Facts())(step))


def severities(detector: Any, steps: Iterable[Step], state: Any = None) -> list[str | None]:
    """The severity each step gets (None where nothing is detected, or the detector does
    not watch its kind). ``state``: one prepared beforehand, else a new one."""
    state = detector.new_state() if state is None else state
    facts = Facts()
    out: list[str | None] = []
    for step in steps:
        detection = detector.observe(step, state, facts(step)) \
            if step.kind in detector.kinds else None
        out.append(detection.severity.value if detection else None)
    return out


def flags(detector: Any, steps: Iterable[Step]) -> list[str]:
    """The severities of the steps that got one."""
    return [severity for severity in severities(detector, steps) if severity]
