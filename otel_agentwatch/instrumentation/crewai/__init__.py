"""CrewAI instrumentation: a crew's run, each agent's execution of a task and every tool
call as GenAI spans in the application's own tracer provider.

CrewAI's own telemetry goes to a tracer provider of its own (and to CrewAI's servers),
never the application's; its event bus calls listeners on a thread pool, after the fact,
and swallows what they raise, so nothing can be traced or stopped from there. We wrap:

- ``Crew.kickoff`` (``kickoff_async`` runs it in a thread) and ``Crew.akickoff``: an
  ``invoke_workflow {crew name}`` span around the crew's run. It is not an agent's run:
  the agents' runs nest in it, and each gets its own verdict.
- ``Agent.execute_task`` and ``aexecute_task`` (an agent working on a task of the crew),
  ``Agent.kickoff`` and ``kickoff_async`` (an agent on its own): an ``invoke_agent {role}``
  span, current while the agent works; the task's description (or the messages) is the
  run's objective. CrewAI retries a task that raised inside ``execute_task`` itself: the
  retry is part of the same span.
- ``BaseTool.run``/``arun`` and ``Tool.run``/``arun`` (the calls CrewAI makes from the
  model's function calls) and ``CrewStructuredTool.invoke``/``ainvoke`` (the calls it
  makes from text, ReAct style): an ``execute_tool {tool}`` span per call, whichever of
  them runs first; the arguments and the result reach the detectors in the process and go
  on the span only with content capture on. With ``AGENTWATCH_ACTION=halt``, a call in a
  run that is already stuck raises :class:`~otel_agentwatch.AgentHalted` before the tool
  runs; CrewAI catches ``Exception`` only, so ``kickoff`` raises it.

Model calls go through the ``openai`` SDK (CrewAI's native OpenAI provider), which our
OpenAI instrumentation traces as ``chat`` spans.
"""

from __future__ import annotations

from collections.abc import Collection
from typing import Any, ClassVar

from .._base import Patch, WrappingInstrumentor

__all__ = ["CrewAIInstrumentor"]


class CrewAIInstrumentor(WrappingInstrumentor):
    """Instruments the ``crewai`` package."""

    name: ClassVar[str] = "crewai"
    target_module: ClassVar[str] = "crewai"
    patches: ClassVar[tuple[Patch, ...]] = (
        Patch("crewai.crew", "Crew", "kickoff", "crew_kickoff"),
        Patch("crewai.crew", "Crew", "akickoff", "crew_akickoff"),
        Patch("crewai.agent.core", "Agent", "execute_task", "execute_task"),
        Patch("crewai.agent.core", "Agent", "aexecute_task", "aexecute_task"),
        Patch("crewai.agent.core", "Agent", "kickoff", "agent_kickoff"),
        Patch("crewai.agent.core", "Agent", "kickoff_async", "agent_kickoff_async"),
        Patch("crewai.tools.base_tool", "BaseTool", "run", "tool_run"),
        Patch("crewai.tools.base_tool", "BaseTool", "arun", "tool_arun"),
        Patch("crewai.tools.base_tool", "Tool", "run", "tool_run"),
        Patch("crewai.tools.base_tool", "Tool", "arun", "tool_arun"),
        Patch("crewai.tools.structured_tool", "CrewStructuredTool", "invoke", "tool_invoke"),
        Patch("crewai.tools.structured_tool", "CrewStructuredTool", "ainvoke", "tool_ainvoke"),
    )

    def instrumentation_dependencies(self) -> Collection[str]:
        return ("crewai >= 1.15",)

    def wrappers(self, tracer: Any, config: Any) -> Any:
        from ._wrappers import Wrappers

        return Wrappers(tracer, config)
