"""Acting on a LangChain run whoever traces it: the span a run's next call belongs to.

Halting and nudging need the run a call is part of, and the processor knows runs by their
spans. The span a LangChain run got may be ours (our callback handler), OpenInference's
(its tracer, which never makes its spans current, says which span a run id has through
its public ``get_span``) or OpenLLMetry's (whose handler makes each run's span current).
:func:`span_of_run` asks them in that order, then takes the current span, so that the
verdicts the processor reached on any of them can stop or steer the run.
"""

from __future__ import annotations

import sys
from typing import Any
from uuid import UUID

from opentelemetry.trace import Span

from ... import control
from ..._guard import internal_error
from ._frames import async_frame, sync_frame

__all__ = ["async_tool", "parent_run_id", "span_of_run", "sync_tool"]

_OPENINFERENCE = "openinference.instrumentation.langchain"
_SITE = "LangChain halt check"


def span_of_run(run_id: UUID | None, ours: Any) -> Span | None:
    """The span under which the children of LangChain run ``run_id`` hang, as made by our
    handler (``ours``, or None) or OpenInference's; else the current span."""
    if isinstance(run_id, UUID):
        span = ours.span_for(run_id) if ours is not None else None
        if span is None:
            span = _openinference_span(run_id)
        if span is not None:
            return span
    return control.current_span()


def parent_run_id(args: tuple[Any, ...], kwargs: dict[str, Any]) -> UUID | None:
    """The run a tool is called under, from ``BaseTool.run``'s ``callbacks`` (a child
    callback manager knows its parent run), else the runnable config in context."""
    callbacks = kwargs.get("callbacks", args[4] if len(args) > 4 else None)
    run_id = getattr(callbacks, "parent_run_id", None)
    if run_id is None:
        from langchain_core.runnables.config import var_child_runnable_config

        config = var_child_runnable_config.get()
        if isinstance(config, dict):
            run_id = getattr(config.get("callbacks"), "parent_run_id", None)
    return run_id if isinstance(run_id, UUID) else None


def sync_tool(wrapped: Any, instance: Any, args: Any, kwargs: Any) -> Any:
    """``BaseTool.run``: halted before it starts, else run in its frame."""
    _check_tool_call(args, kwargs)
    return sync_frame(wrapped, instance, args, kwargs)


async def async_tool(wrapped: Any, instance: Any, args: Any, kwargs: Any) -> Any:
    """``BaseTool.arun``: halted before it starts, else run in its frame."""
    _check_tool_call(args, kwargs)
    return await async_frame(wrapped, instance, args, kwargs)


def _check_tool_call(args: tuple[Any, ...], kwargs: dict[str, Any]) -> None:
    """Raise :class:`~otel_agentwatch.AgentHalted` before a tool runs in a run that a
    processor halts: before any callback handler starts the tool's span, so that a halted
    call leaves no span behind, whoever traces. Nothing else raises from here."""
    try:
        if not control.halting():
            return
        from . import current_handler

        span = span_of_run(parent_run_id(args, kwargs), current_handler())
    except Exception as error:
        internal_error(_SITE, error, "this tool call is not checked")
        return
    control.check(span)  # raises AgentHalted: not an error of ours


def _openinference_span(run_id: UUID) -> Span | None:
    module = sys.modules.get(_OPENINFERENCE)  # never imported by us: only if in use
    if module is None:
        return None
    instrumentor = module.LangChainInstrumentor()  # a singleton, as every instrumentor
    if not instrumentor.is_instrumented_by_opentelemetry:
        return None
    span = instrumentor.get_span(run_id)
    return span if isinstance(span, Span) else None
