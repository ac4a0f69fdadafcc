"""A LangGraph support agent whose (scripted) model keeps looking up the same order: the
application, with no tracing code of its own.

Run it untouched under OpenTelemetry's launcher and otel-agentwatch flags the loop:

    OTEL_TRACES_EXPORTER=console opentelemetry-instrument python examples/support_agent.py

``examples/langgraph_loop.py`` sets otel-agentwatch up in code around the same agent.
"""

from __future__ import annotations

from langchain.agents import create_agent
from langchain_core.language_models.fake_chat_models import GenericFakeChatModel
from langchain_core.messages import AIMessage
from langchain_core.tools import tool

QUESTION = "Where is my order A-1042?"


class ScriptedModel(GenericFakeChatModel):
    """A chat model that replies from a script; binding tools changes nothing."""

    def bind_tools(self, tools, **kwargs):
        return self


@tool
def lookup_order(order_id: str) -> str:
    """Look up an order's status by its id."""
    return f'{{"order_id": "{order_id}", "status": "shipped", "tracking": null}}'


def _usage(turn: int, output: int) -> dict[str, int]:
    """Tokens as a provider reports them: the prompt grows by a call and its result."""
    prompt = 180 + 64 * turn
    return {"input_tokens": prompt, "output_tokens": output, "total_tokens": prompt + output}


def stuck_model(lookups: int) -> ScriptedModel:
    """A model that asks for the same lookup ``lookups`` times, then answers."""
    script = [
        AIMessage(content="", tool_calls=[{"name": "lookup_order", "id": f"call_{turn}",
                                           "args": {"order_id": "A-1042"}}],
                  usage_metadata=_usage(turn, 22))
        for turn in range(lookups)
    ]
    script.append(AIMessage(content="Your order A-1042 has shipped.",
                            usage_metadata=_usage(lookups, 9)))
    return ScriptedModel(messages=iter(script), disable_streaming=True)


def support_agent(lookups: int = 6):
    return create_agent(stuck_model(lookups), [lookup_order], name="support-agent")


if __name__ == "__main__":
    result = support_agent().invoke({"messages": [("user", QUESTION)]})
    print(f"agent answered: {result['messages'][-1].content}")
