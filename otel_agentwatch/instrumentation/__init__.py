"""Instrumentation of agent frameworks, one subpackage or module per framework.

:data:`INSTRUMENTORS` maps a framework's name (as ``AGENTWATCH_INSTRUMENT`` spells it)
to its instrumentor, by dotted path, so that naming them imports nothing.
:func:`instrument_when_imported` patches each framework when the application imports
it, never before: importing this package loads no framework.
"""

from __future__ import annotations

import importlib
import sys
from collections.abc import Callable, Iterable
from typing import Any

from ..config import INSTRUMENT
from ..settings import ConfigError
from ._base import Instrumentor

__all__ = ["INSTRUMENTORS", "Instrumentor", "frameworks_named", "instrument_when_imported",
           "load"]


INSTRUMENTORS: dict[str, str] = {
    "anthropic": "otel_agentwatch.instrumentation.anthropic:AnthropicInstrumentor",
    "autogen": "otel_agentwatch.instrumentation.autogen:AutoGenInstrumentor",
    "crewai": "otel_agentwatch.instrumentation.crewai:CrewAIInstrumentor",
    "google_adk": "otel_agentwatch.instrumentation.google_adk:GoogleADKInstrumentor",
    "langchain": "otel_agentwatch.instrumentation.langchain:LangChainInstrumentor",
    "llama_index": "otel_agentwatch.instrumentation.llama_index:LlamaIndexInstrumentor",
    "mcp": "otel_agentwatch.instrumentation.mcp:MCPInstrumentor",
    "openai": "otel_agentwatch.instrumentation.openai:OpenAIInstrumentor",
    "openai_agents":
        "otel_agentwatch.instrumentation.openai_agents:OpenAIAgentsInstrumentor",
    "pydantic_ai": "otel_agentwatch.instrumentation.pydantic_ai:PydanticAIInstrumentor",
    "smolagents": "otel_agentwatch.instrumentation.smolagents:SmolagentsInstrumentor",
}


def frameworks_named(tokens: tuple[str, ...]) -> frozenset[str]:
    """The frameworks ``AGENTWATCH_INSTRUMENT`` names: ``all``, ``none``, or a list.
    Raises :class:`~otel_agentwatch.settings.ConfigError` naming an unknown one."""
    known = frozenset(INSTRUMENTORS)
    names = {token.lower() for token in tokens}
    if names == {"all"}:
        return known
    if names == {"none"}:
        return frozenset()
    unknown = names - known
    if unknown:
        raise ConfigError(INSTRUMENT.env, ",".join(tokens),
                          f"{INSTRUMENT.accepted}; known: {', '.join(sorted(known))}")
    return frozenset(names)


def load(name: str) -> Instrumentor:
    """A new instrumentor for the framework ``name``."""
    module_name, _, class_name = INSTRUMENTORS[name].partition(":")
    instrumentor: type[Instrumentor] = getattr(importlib.import_module(module_name), class_name)
    return instrumentor()


def instrument_when_imported(names: Iterable[str], **options: Any) -> Callable[[], None]:
    """Instrument each named framework as soon as its module is imported (now, if it is).

    Returns a function that uninstruments them all and cancels what has not happened.
    """
    import wrapt

    instrumentors: list[Instrumentor] = []
    cancelled = False

    def activate(instrumentor: Instrumentor) -> Callable[[Any], None]:
        def on_import(_module: Any) -> None:
            if not cancelled:
                instrumentor.instrument(**options)
        return on_import

    for name in sorted(names):
        instrumentor = load(name)
        instrumentors.append(instrumentor)
        if instrumentor.target_module in sys.modules:
            instrumentor.instrument(**options)
        else:
            wrapt.register_post_import_hook(activate(instrumentor), instrumentor.target_module)

    def undo() -> None:
        nonlocal cancelled
        cancelled = True
        for instrumentor in instrumentors:
            instrumentor.uninstrument()

    return undo
