"""pydantic-ai instrumentation: its own GenAI spans, turned on, with the run's content kept
in the process and halting before a tool runs.

pydantic-ai traces itself through a capability, ``pydantic_ai.capabilities.Instrumentation``,
which every agent gets once ``Agent.instrument_all()`` (or ``instrument=`` on the agent) is
set: an ``invoke_agent {name}`` span per run, ``chat {model}`` per model request (whatever
the model: OpenAI, Anthropic, its test and function models) and ``execute_tool {tool}`` per
tool call. Its default is off, so instrumenting turns it on for every agent, into our
tracer provider, with pydantic-ai's content flag set from ``OTEL_INSTRUMENTATION_GENAI_
CAPTURE_MESSAGE_CONTENT``; an application that set ``instrument_all`` itself keeps its own
settings. An agent built with ``instrument=False`` stays untraced.

With content off, pydantic-ai's spans carry neither the tool arguments nor the prompt, so we
wrap the three hooks of that capability (``wrap_run``, ``wrap_model_request``,
``wrap_tool_execute``) and hand the detectors what they need through the bridge, inside the
span pydantic-ai made: the run's prompt (its objective), each model reply's text, each tool
call's arguments and result. With ``AGENTWATCH_ACTION=halt``, a tool call of a run already
stuck raises :class:`~otel_agentwatch.AgentHalted` inside its ``execute_tool`` span, before
the tool runs; pydantic-ai records it on the span and lets it through (it derives from
``BaseException``), so ``agent.run``, ``run_sync`` and ``run_stream`` raise it.

A model call made through the OpenAI or Anthropic SDK runs inside pydantic-ai's ``chat``
span, so our SDK instrumentation makes no second span for it.
"""

from __future__ import annotations

from collections.abc import Collection
from typing import Any, ClassVar

from opentelemetry import trace

from ...config import Config
from .._base import Instrumentor, unwrap

__all__ = ["PydanticAIInstrumentor"]

_HOOKS = ("wrap_run", "wrap_model_request", "wrap_tool_execute")


class PydanticAIInstrumentor(Instrumentor):
    """Instruments the ``pydantic-ai`` package (module ``pydantic_ai``), 2.2 and later."""

    name: ClassVar[str] = "pydantic_ai"
    target_module: ClassVar[str] = "pydantic_ai"

    def __init__(self) -> None:
        super().__init__()
        self._settings: Any = None  # the InstrumentationSettings we made the default, if any

    def instrumentation_dependencies(self) -> Collection[str]:
        return ("pydantic-ai-slim >= 2.2",)

    def _instrument(self, *, tracer_provider: trace.TracerProvider | None = None,
                    config: Config | None = None, **_options: Any) -> None:
        import wrapt
        from pydantic_ai import Agent
        from pydantic_ai.capabilities import Instrumentation
        from pydantic_ai.models.instrumented import InstrumentationSettings

        from ._hooks import CapabilityHooks

        config = config if config is not None else Config.from_env()
        hooks = CapabilityHooks(config)
        for hook in _HOOKS:
            wrapt.wrap_function_wrapper(Instrumentation, hook, getattr(hooks, hook))
        # pydantic-ai has no public reader of its default: an application that turned
        # instrumentation on before us (True, or settings of its own) keeps its choice.
        if getattr(Agent, "_instrument_default", False) is False:
            self._settings = InstrumentationSettings(
                tracer_provider=tracer_provider, include_content=config.capture_content)
            Agent.instrument_all(self._settings)

    def _uninstrument(self) -> None:
        from pydantic_ai import Agent
        from pydantic_ai.capabilities import Instrumentation

        for hook in _HOOKS:
            unwrap(Instrumentation, hook)
        if self._settings is not None:
            # Only our own default is undone: one the application set since is left alone.
            if getattr(Agent, "_instrument_default", None) is self._settings:
                Agent.instrument_all(False)
            self._settings = None
