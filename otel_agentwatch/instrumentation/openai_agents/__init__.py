"""OpenAI Agents SDK instrumentation: the SDK's own tracing, mirrored as GenAI spans.

The Agents SDK traces every run with a tracing system of its own (``agents.tracing``),
not OpenTelemetry. We add a trace processor to it (``agents.add_trace_processor``; the
SDK's other processors, such as its exporter to the OpenAI dashboard, stay as they are)
that mirrors its spans as OpenTelemetry spans: an agent span as ``invoke_agent {name}``,
a function tool span as ``execute_tool {name}``, a model call (response or generation
span) as ``chat {model}``. The run's task and turn spans, handoffs and guardrails have no
span of their own: what they contain is parented to the nearest mirrored span.

A model call's span is current while the SDK calls the model, so our OpenAI
instrumentation makes no second span for it (one span per call). A tool's arguments and
result reach the detectors in the process and go on the span only with content capture
on. With ``AGENTWATCH_ACTION=halt``, a tool call in a run that is already stuck raises
:class:`~otel_agentwatch.AgentHalted` as its span starts, before the tool runs; the SDK
lets it through (it derives from ``BaseException``) and ``Runner.run`` raises it.
``OPENAI_AGENTS_DISABLE_TRACING=1`` turns the SDK's tracing off, and this with it.
"""

from __future__ import annotations

from collections.abc import Collection
from typing import TYPE_CHECKING, Any, ClassVar

from opentelemetry import trace

from ...config import Config
from ...version import __version__
from .._base import Instrumentor

if TYPE_CHECKING:  # the module imports the SDK: only once the application has
    from ._mirror import SpanMirror

__all__ = ["OpenAIAgentsInstrumentor"]


class OpenAIAgentsInstrumentor(Instrumentor):
    """Instruments the ``openai-agents`` package (module ``agents``)."""

    name: ClassVar[str] = "openai_agents"
    target_module: ClassVar[str] = "agents"

    def __init__(self) -> None:
        super().__init__()
        self._mirror: SpanMirror | None = None

    def instrumentation_dependencies(self) -> Collection[str]:
        return ("openai-agents >= 0.24",)

    def _instrument(self, *, tracer_provider: trace.TracerProvider | None = None,
                    config: Config | None = None, **_options: Any) -> None:
        from agents import add_trace_processor

        from ._mirror import SpanMirror

        tracer = trace.get_tracer(f"otel_agentwatch.instrumentation.{self.name}", __version__,
                                  tracer_provider=tracer_provider)
        config = config if config is not None else Config.from_env()
        if self._mirror is None:
            # The SDK has no way to remove a processor: one is added once per
            # instrumentor, and switched off and on with it.
            self._mirror = SpanMirror(tracer, config)
            add_trace_processor(self._mirror)
        else:
            self._mirror.reconfigure(tracer, config)
        self._mirror.active = True

    def _uninstrument(self) -> None:
        if self._mirror is not None:
            self._mirror.active = False
