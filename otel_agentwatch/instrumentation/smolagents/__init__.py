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

from collections.abc import Collection
from typing import Any, ClassVar

from .._base import Patch, WrappingInstrumentor

__all__ = ["SmolagentsInstrumentor"]


class SmolagentsInstrumentor(WrappingInstrumentor):
    """Instruments the ``smolagents`` package."""

    name: ClassVar[str] = "smolagents"
    target_module: ClassVar[str] = "smolagents"
    patches: ClassVar[tuple[Patch, ...]] = (
        Patch("smolagents.agents", "MultiStepAgent", "run", "run"),
        Patch("smolagents.tools", "Tool", "__call__", "tool_call"),
        Patch("smolagents.local_python_executor", None, "timeout", "timeout"),
    )

    def instrumentation_dependencies(self) -> Collection[str]:
        return ("smolagents >= 1.26",)

    def wrappers(self, tracer: Any, config: Any) -> Any:
        from ._wrappers import Wrappers

        return Wrappers(tracer, config)
