"""Nudge, then halt: a LangGraph agent told that it is looping, offline.

The agent's (scripted) model keeps asking for the same order lookup. With
``AGENTWATCH_ACTION=nudge,halt``, the warning at the third identical lookup is told to
the model in its next request, as a note from the harness; the critical verdict at the
fifth halts the run. An obedient model reads the note and answers with what it has; a
stubborn one goes on until it is halted.

    python examples/nudged_agent.py              # obedient: nudged once, completes
    python examples/nudged_agent.py --stubborn   # stubborn: nudged, then halted
"""

from __future__ import annotations

import argparse
import sys
from typing import Any

from langchain.agents import create_agent
from langchain_core.language_models import BaseChatModel
from langchain_core.messages import AIMessage, BaseMessage, HumanMessage, ToolMessage
from langchain_core.outputs import ChatGeneration, ChatResult
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from support_agent import QUESTION, lookup_order

import otel_agentwatch
from otel_agentwatch.cli.tree import format_span_tree
from otel_agentwatch.nudge import NOTE_PREFIX


class LookupModel(BaseChatModel):
    """Asks for the same lookup every turn. An obedient one, told by the harness that it
    is looping, answers instead; a stubborn one pays no attention."""

    obedient: bool = True

    @property
    def _llm_type(self) -> str:
        return "scripted-lookup"

    def bind_tools(self, tools: Any, **kwargs: Any) -> LookupModel:
        return self  # the script decides which tool to call

    def _generate(self, messages: list[BaseMessage], stop: Any = None,
                  run_manager: Any = None, **kwargs: Any) -> ChatResult:
        last = messages[-1]
        told = isinstance(last, HumanMessage) and str(last.content).startswith(NOTE_PREFIX)
        if told and self.obedient:
            reply = AIMessage(content="Order A-1042 has shipped; its tracking number is "
                                      "not available yet.")
        else:
            turn = sum(isinstance(message, ToolMessage) for message in messages)
            reply = AIMessage(content="", tool_calls=[{
                "name": "lookup_order", "id": f"call_{turn}", "args": {"order_id": "A-1042"}}])
        return ChatResult(generations=[ChatGeneration(message=reply)])


def run(obedient: bool) -> str:
    """Run the agent once; what became of it, in one line."""
    agent = create_agent(LookupModel(obedient=obedient), [lookup_order], name="support-agent")
    try:
        result = agent.invoke({"messages": [("user", QUESTION)]})
    except otel_agentwatch.AgentHalted as halted:
        return f"agent halted: {halted.detection.message}"
    return f"agent answered: {result['messages'][-1].content}"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--stubborn", action="store_true",
                        help="a model that pays no attention to the note")
    args = parser.parse_args(argv)

    exporter = InMemorySpanExporter()
    provider = TracerProvider()
    config = otel_agentwatch.Config.from_env().replace(action="nudge,halt",
                                                       capture_content=True)
    handle = otel_agentwatch.init(config=config, tracer_provider=provider,
                                  span_exporter=exporter)
    print(run(obedient=not args.stubborn) + "\n")
    handle.force_flush()
    print(format_span_tree(exporter.get_finished_spans()))
    handle.shutdown()
    return 0


if __name__ == "__main__":
    sys.exit(main())
