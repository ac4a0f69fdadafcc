"""Driving one detector over hand-made steps, as the processor would."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from otel_agentwatch.steps import Step


def severities(detector: Any, steps: Iterable[Step], state: Any = None) -> list[str | None]:
    """The severity each step gets (None where nothing is detected, or the detector does
    not watch its kind). ``state``: one prepared beforehand, else a new one."""
    state = detector.new_state() if state is None else state
    out: list[str | None] = []
    for step in steps:
        detection = detector.observe(step, state) if step.kind in detector.kinds else None
        out.append(detection.severity.value if detection else None)
    return out


def flags(detector: Any, steps: Iterable[Step]) -> list[str]:
    """The severities of the steps that got one."""
    return [severity for severity in severities(detector, steps) if severity]
