"""The wrapt wrappers of CrewAI's crew runs, agent executions and tool calls."""

from __future__ import annotations

import inspect
from collections.abc import Awaitable, Callable, Coroutine
from typing import Any

from opentelemetry import trace

from ... import semconv
from ..._bridge import BRIDGE
from ..._guard import internal_error
from ...normalize import is_agent_span
from .._agent_span import AgentSpan
from .._base import Wrappers as BaseWrappers
from .._theirs import names
from .._tool_span import arun_tool, run_tool

__all__ = ["Wrappers"]

_AGENT_KEYS = (semconv.GEN_AI_AGENT_NAME, semconv.OI_AGENT_NAME, "graph.node.id")


class Wrappers(BaseWrappers):
    """One instance per instrumentation: the tracer and the halting level they share."""

    # --- crews ---------------------------------------------------------------------------

    def crew_kickoff(self, wrapped: Callable[..., Any], instance: Any, args: Any,
                     kwargs: dict[str, Any]) -> Any:
        """``Crew.kickoff(inputs=None, ...)`` (``kickoff_async`` runs it in a thread)."""
        return _whole(self._crew(instance), wrapped, args, kwargs)

    async def crew_akickoff(self, wrapped: Callable[..., Awaitable[Any]], instance: Any,
                            args: Any, kwargs: dict[str, Any]) -> Any:
        """``Crew.akickoff(inputs=None, ...)``: the crew's native async run."""
        return await _awhole(self._crew(instance), wrapped, args, kwargs)

    def _crew(self, crew: Any) -> AgentSpan | None:
        """The crew run's span; None when the current span is already this crew's
        (``kickoff`` calling itself to stream) or it could not be made."""
        try:
            name = str(getattr(crew, "name", None) or "crew")
            current = trace.get_current_span()
            attributes = getattr(current, "attributes", None) or {}
            if current.is_recording() and \
                    attributes.get(semconv.GEN_AI_OPERATION_NAME) == semconv.OP_INVOKE_WORKFLOW \
                    and attributes.get(semconv.GEN_AI_AGENT_NAME) == name:
                return None
            return AgentSpan(self._tracer, name, operation=semconv.OP_INVOKE_WORKFLOW)
        except Exception as error:
            internal_error("crewai crew run", error, "this crew run is not traced")
            return None

    # --- agents --------------------------------------------------------------------------

    def execute_task(self, wrapped: Callable[..., Any], instance: Any, args: Any,
                     kwargs: dict[str, Any]) -> Any:
        """``Agent.execute_task(task, context=None, tools=None)``."""
        return _whole(self._agent(instance, _task_text(args, kwargs)), wrapped, args, kwargs)

    async def aexecute_task(self, wrapped: Callable[..., Awaitable[Any]], instance: Any,
                            args: Any, kwargs: dict[str, Any]) -> Any:
        """``Agent.aexecute_task(task, context=None, tools=None)``."""
        return await _awhole(self._agent(instance, _task_text(args, kwargs)), wrapped, args,
                             kwargs)

    def agent_kickoff(self, wrapped: Callable[..., Any], instance: Any, args: Any,
                      kwargs: dict[str, Any]) -> Any:
        """``Agent.kickoff(messages, ...)``: an agent on its own. Inside a Flow it returns
        a coroutine for the Flow to await: the span then lasts until that is done."""
        run = self._agent(instance, _messages_text(args, kwargs))
        if run is None:
            return wrapped(*args, **kwargs)
        result = run.call(wrapped, *args, **kwargs)
        if inspect.iscoroutine(result):
            return _awaited(run, result)
        run.end()
        return result

    async def agent_kickoff_async(self, wrapped: Callable[..., Awaitable[Any]],
                                  instance: Any, args: Any, kwargs: dict[str, Any]) -> Any:
        """``Agent.kickoff_async(messages, ...)`` (``akickoff`` calls it)."""
        return await _awhole(self._agent(instance, _messages_text(args, kwargs)), wrapped,
                             args, kwargs)

    def _agent(self, agent: Any, objective: str | None) -> AgentSpan | None:
        """The agent's run span; None when an agent span for this agent is current already
        (CrewAI retrying the task inside ``execute_task``, or another instrumentation's
        span for the same execution: the run is judged on that one)."""
        try:
            role = str(getattr(agent, "role", None) or type(agent).__name__)
            current = trace.get_current_span()
            if current.is_recording() and is_agent_span(current) and \
                    names(current, role, _AGENT_KEYS):
                if objective:
                    BRIDGE.give_objective(current.get_span_context().span_id, objective)
                return None
            return AgentSpan(self._tracer, role, objective)
        except Exception as error:
            internal_error("crewai agent run", error, "this agent run is not traced")
            return None

    # --- tools ---------------------------------------------------------------------------

    def tool_run(self, wrapped: Callable[..., Any], instance: Any, args: Any,
                 kwargs: dict[str, Any]) -> Any:
        """``BaseTool.run(*args, **kwargs)`` and ``Tool.run``: a call from the model's
        function call, with its arguments as keywords."""
        self._halt_if_stuck()
        return run_tool(self._tracer, _tool_name(instance), _call_arguments(args, kwargs),
                        wrapped, *args, **kwargs)

    async def tool_arun(self, wrapped: Callable[..., Awaitable[Any]], instance: Any,
                        args: Any, kwargs: dict[str, Any]) -> Any:
        """``BaseTool.arun(*args, **kwargs)`` and ``Tool.arun``."""
        self._halt_if_stuck()
        return await arun_tool(self._tracer, _tool_name(instance),
                               _call_arguments(args, kwargs), wrapped, *args, **kwargs)

    def tool_invoke(self, wrapped: Callable[..., Any], instance: Any, args: Any,
                    kwargs: dict[str, Any]) -> Any:
        """``CrewStructuredTool.invoke(input, config=None, **kwargs)``: a call from the
        model's text (ReAct), its input a mapping or JSON text."""
        self._halt_if_stuck()
        return run_tool(self._tracer, _tool_name(instance), _invoke_input(args, kwargs),
                        wrapped, *args, **kwargs)

    async def tool_ainvoke(self, wrapped: Callable[..., Awaitable[Any]], instance: Any,
                           args: Any, kwargs: dict[str, Any]) -> Any:
        """``CrewStructuredTool.ainvoke(input, config=None, **kwargs)``."""
        self._halt_if_stuck()
        return await arun_tool(self._tracer, _tool_name(instance),
                               _invoke_input(args, kwargs), wrapped, *args, **kwargs)


def _whole(run: AgentSpan | None, wrapped: Callable[..., Any], args: Any,
           kwargs: dict[str, Any]) -> Any:
    """The wrapped call, inside ``run``'s span from start to end (untraced when None)."""
    if run is None:
        return wrapped(*args, **kwargs)
    result = run.call(wrapped, *args, **kwargs)
    run.end()
    return result


async def _awhole(run: AgentSpan | None, wrapped: Callable[..., Awaitable[Any]], args: Any,
                  kwargs: dict[str, Any]) -> Any:
    """:func:`_whole` for a coroutine function."""
    if run is None:
        return await wrapped(*args, **kwargs)
    result = await run.acall(wrapped, *args, **kwargs)
    run.end()
    return result


async def _awaited(run: AgentSpan, coroutine: Coroutine[Any, Any, Any]) -> Any:
    async def wait() -> Any:
        return await coroutine

    return await _awhole(run, wait, (), {})


def _tool_name(tool: Any) -> str:
    return str(getattr(tool, "name", None) or type(tool).__name__)


def _call_arguments(args: tuple[Any, ...], kwargs: dict[str, Any]) -> Any:
    if not args:
        return dict(kwargs)
    return {**kwargs, "args": list(args)} if kwargs else list(args)


def _invoke_input(args: tuple[Any, ...], kwargs: dict[str, Any]) -> Any:
    return args[0] if args else kwargs.get("input")


def _task_text(args: tuple[Any, ...], kwargs: dict[str, Any]) -> str | None:
    task = args[0] if args else kwargs.get("task")
    description = getattr(task, "description", None)
    return description if isinstance(description, str) and description else None


def _messages_text(args: tuple[Any, ...], kwargs: dict[str, Any]) -> str | None:
    """The request of a standalone agent: the text, or the last user message's."""
    messages = args[0] if args else kwargs.get("messages")
    if isinstance(messages, str):
        return messages or None
    if isinstance(messages, list):
        for message in reversed(messages):
            if isinstance(message, dict) and message.get("role") == "user" and \
                    isinstance(message.get("content"), str):
                return str(message["content"]) or None
    return None
