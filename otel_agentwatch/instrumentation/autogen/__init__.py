"""AutoGen (AgentChat) instrumentation: AutoGen's own GenAI spans, with each tool call's
arguments and result kept in the process, and halting before a batch of tool calls.

AutoGen traces itself through the global tracer provider: ``invoke_agent {name}`` per
agent run and ``execute_tool {tool}`` per tool call (with ``gen_ai.tool.call.id``), but
never with the arguments or the result. We add no span. We wrap:

- ``autogen_core.tools.FunctionTool.run``, which runs inside AutoGen's ``execute_tool``
  span: the call's arguments and result go to the detectors for that span (and onto it
  with content capture on);
- ``AssistantAgent.on_messages_stream`` (``run``, ``run_stream``, ``on_messages`` and
  teams all go through it): the model's tool calls arrive there as a
  ``ToolCallRequestEvent`` before any of them runs. Their arguments are kept by call id
  (for tools other than ``FunctionTool``, whose spans then get them by
  ``gen_ai.tool.call.id``), and with ``AGENTWATCH_ACTION=halt`` a run that is already
  stuck raises :class:`~otel_agentwatch.AgentHalted` there, so that none of the batch
  runs. It reaches the caller of ``run``/``run_stream`` unchanged.

Halting acts in ``AssistantAgent`` and its subclasses run on their own; other agent
classes are traced but not halted, and so are agents run as members of a team: the
team's runtime stores a ``BaseException`` of a member and the team's run then waits
forever for a result, so there the run is flagged but not stopped.
"""

from __future__ import annotations

from collections.abc import Collection
from typing import Any, ClassVar

from .._base import Patch, WrappingInstrumentor

__all__ = ["AutoGenInstrumentor"]


class AutoGenInstrumentor(WrappingInstrumentor):
    """Instruments AutoGen AgentChat (``autogen-agentchat``)."""

    name: ClassVar[str] = "autogen"
    target_module: ClassVar[str] = "autogen_agentchat"
    patches: ClassVar[tuple[Patch, ...]] = (
        Patch("autogen_core.tools", "FunctionTool", "run", "tool_run"),
        Patch("autogen_agentchat.agents", "AssistantAgent", "on_messages_stream",
              "messages_stream"),
    )

    def instrumentation_dependencies(self) -> Collection[str]:
        return ("autogen-agentchat >= 0.7",)

    def wrappers(self, tracer: Any, config: Any) -> Any:
        from ._wrappers import Wrappers

        return Wrappers(config)
