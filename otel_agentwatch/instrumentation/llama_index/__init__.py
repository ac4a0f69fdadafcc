"""LlamaIndex instrumentation: workflow agents' runs and tool calls as GenAI spans.

LlamaIndex's own instrumentation (its dispatcher) names spans after methods and carries no
GenAI attributes, and a handler of it cannot stop a run (the dispatcher swallows what its
handlers raise). We wrap the agent classes of ``llama_index.core.agent.workflow``
(``FunctionAgent``, ``ReActAgent``, ``CodeActAgent`` through their base
``BaseWorkflowAgent``, and ``AgentWorkflow``):

- ``run``: an ``invoke_agent {name}`` span per run (the agent's ``name``; for an
  ``AgentWorkflow``, its root agent's), current as the run's task is created, so all of
  the run's steps inherit it; it ends when the run does. The user message is the run's
  objective.
- ``_call_tool``: an ``execute_tool {tool}`` span per tool call, whatever the tool type
  and whether the model asked for it as a function call or as ReAct text. The arguments and
  the result reach the detectors in the process, and go on the span only with content
  capture on; a tool error LlamaIndex hands back to the model sets ``error.type``. With
  ``AGENTWATCH_ACTION=halt``, a call in a run that is already stuck raises
  :class:`~otel_agentwatch.AgentHalted` before the tool runs: ``await handler`` raises it.
- ``WorkflowHandler.stream_events``: a run that ends with ``AgentHalted`` publishes no
  stop event, so the stream would wait for one forever; ours ends the stream with the halt.

``_call_tool`` is the one method every tool call passes through; it is not public API, so
an agent class without it is left untraced (with one log line at instrumentation).

OpenInference's and OpenLLMetry's LlamaIndex instrumentors trace through the dispatcher:
with one of them active, its tool span is the call's (we make none: theirs is parented
through the dispatcher, beside ours, and would be a second step), and ours still halts.
"""

from __future__ import annotations

from collections.abc import Collection
from typing import Any, ClassVar

from .._base import Patch, WrappingInstrumentor

__all__ = ["LlamaIndexInstrumentor"]

_BASE = "llama_index.core.agent.workflow.base_agent"
_MULTI = "llama_index.core.agent.workflow.multi_agent_workflow"


class LlamaIndexInstrumentor(WrappingInstrumentor):
    """Instruments LlamaIndex's workflow agents (``llama-index-core``)."""

    name: ClassVar[str] = "llama_index"
    # Not llama_index.core: an application that only indexes and queries never imports
    # the agents, and they are slow to import.
    target_module: ClassVar[str] = "llama_index.core.agent.workflow"
    patches: ClassVar[tuple[Patch, ...]] = (
        Patch(_BASE, "BaseWorkflowAgent", "run", "run"),
        Patch(_BASE, "BaseWorkflowAgent", "_call_tool", "call_tool"),
        Patch(_MULTI, "AgentWorkflow", "run", "run"),
        Patch(_MULTI, "AgentWorkflow", "_call_tool", "call_tool"),
        Patch("workflows.handler", "WorkflowHandler", "stream_events", "stream_events"),
    )

    def instrumentation_dependencies(self) -> Collection[str]:
        return ("llama-index-core >= 0.14",)

    def wrappers(self, tracer: Any, config: Any) -> Any:
        from ._wrappers import Wrappers

        return Wrappers(tracer, config)
