"""otel-agentwatch: flags looping, drifting and stalled agent runs in the span stream.

Quick start: ``import otel_agentwatch.auto``, or ``otel_agentwatch.init()``, or add
:class:`AgentWatchSpanProcessor` to your own ``TracerProvider``.

Importing this package loads OpenTelemetry only: no agent framework, SDK or numpy.
"""

from __future__ import annotations

from ._setup import AgentWatchHandle, init
from .callbacks import on_detection, remove_on_detection
from .config import Config, ConfigError
from .control import AgentHalted
from .detectors import Detection, Severity
from .manual import BudgetStatus, agent_run, budget_status, set_objective, tool
from .processor import AgentWatchSpanProcessor
from .steps import Step, StepKind
from .version import __version__

__all__ = [
    "AgentHalted",
    "AgentWatchHandle",
    "AgentWatchSpanProcessor",
    "BudgetStatus",
    "Config",
    "ConfigError",
    "Detection",
    "Severity",
    "Step",
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
