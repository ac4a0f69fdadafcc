"""smolagents instrumentation: agent runs and tool calls as GenAI spans, for tool-calling
agents and CodeAct agents alike.

smolagents does not trace itself. We wrap three of its functions:

- ``MultiStepAgent.run``: an ``invoke_agent {name}`` span per run (the agent's ``name``, or
  its class name), current while the run executes; with ``stream=True``, around each step
  the caller asks for, until the stream ends. The task is the run's objective. A managed
  agent (an agent another one calls) runs through ``run`` too: its span nests under the
  caller's tool call.
- ``Tool.__call__``: an ``execute_tool {tool}`` span per call, however the agent makes it:
  a ``ToolCallingAgent`` from the model's tool calls, a ``CodeAgent`` from inside the code
  the model wrote (its interpreter calls the tool objects), so a loop written inside one
  code block is one step per call. The arguments (positional ones named after the tool's
  inputs) and the result reach the detectors in the process, and go on the span only with
  content capture on. With ``AGENTWATCH_ACTION=halt``, a call in a run that is already
  stuck raises :class:`~otel_agentwatch.AgentHalted` before the tool runs; smolagents
  catches ``Exception`` only, so ``agent.run`` raises it.
- ``local_python_executor.timeout``: the CodeAgent runs the model's code in a worker
  thread, which would start with an empty context; ours carries the caller's, so the tool
  spans are children of the agent's.

Model calls are traced by the instrumentation of the client the model class uses (our
OpenAI one for ``OpenAIServerModel``).
"""

from __future__ import annotations

import importlib
from collections.abc import Collection
from typing import Any, ClassVar

from opentelemetry import trace

from ...config import Config
from ...version import __version__
from .._base import Instrumentor, unwrap

__all__ = ["SmolagentsInstrumentor"]

# (module, owner or None for a module function, attribute, wrapper's name in _Wrappers)
_WRAPPED = (
    ("smolagents.agents", "MultiStepAgent", "run", "run"),
    ("smolagents.tools", "Tool", "__call__", "tool_call"),
    ("smolagents.local_python_executor", None, "timeout", "timeout"),
)


class SmolagentsInstrumentor(Instrumentor):
    """Instruments the ``smolagents`` package."""

    name: ClassVar[str] = "smolagents"
    target_module: ClassVar[str] = "smolagents"

    def instrumentation_dependencies(self) -> Collection[str]:
        return ("smolagents >= 1.26",)

    def _instrument(self, *, tracer_provider: trace.TracerProvider | None = None,
                    config: Config | None = None, **_options: Any) -> None:
        import wrapt

        from ._wrappers import Wrappers

        tracer = trace.get_tracer(f"otel_agentwatch.instrumentation.{self.name}", __version__,
                                  tracer_provider)
        wrappers = Wrappers(tracer, config if config is not None else Config.from_env())
        for module_name, owner, attribute, wrapper in _WRAPPED:
            module = importlib.import_module(module_name)
            wrapt.wrap_function_wrapper(getattr(module, owner) if owner else module, attribute,
                                        getattr(wrappers, wrapper))

    def _uninstrument(self) -> None:
        for module_name, owner, attribute, _wrapper in _WRAPPED:
            module = importlib.import_module(module_name)
            unwrap(getattr(module, owner) if owner else module, attribute)
