"""otel-agentwatch: flags looping, drifting and stalled agent runs in the span stream.

Quick start: ``import otel_agentwatch.auto``, or ``otel_agentwatch.init()``, or add
:class:`AgentWatchSpanProcessor` to your own ``TracerProvider``.

Importing this package loads OpenTelemetry only: no agent framework, SDK or numpy.
"""

from __future__ import annotations

from ._setup import AgentWatchHandle, init
from .callbacks import on_detection, remove_on_detection
from .config import Config
from .control import AgentHalted
from .detectors import (
    Annotator,
    Detection,
    Detector,
    ObjectiveAware,
    RunJudge,
    Severity,
    StepFacts,
)
from .manual import BudgetStatus, agent_run, budget_status, set_objective, tool
from .processor import AgentWatchSpanProcessor
from .settings import ConfigError, Setting
from .steps import Step, StepKind
from .version import __version__

__all__ = [
    "AgentHalted",
    "AgentWatchHandle",
    "AgentWatchSpanProcessor",
    "Annotator",
    "BudgetStatus",
    "Config",
    "ConfigError",
    "Detection",
    "Detector",
    "ObjectiveAware",
    "RunJudge",
    "Setting",
    "Severity",
    "Step",
    "StepFacts",
    "StepKind",
    "__version__",
    "agent_run",
    "budget_status",
    "init",
    "on_detection",
    "remove_on_detection",
    "set_objective",
    "tool",
]
