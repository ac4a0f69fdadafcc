"""The wrapt wrappers of smolagents' agent runs, tool calls and code executor."""

from __future__ import annotations

import contextvars
import functools
import inspect
from collections.abc import Callable
from typing import Any

from ... import semconv
from ..._bridge import BRIDGE
from ..._guard import internal_error
from ...normalize import is_agent_span
from .._agent_span import AgentSpan
from .._base import Wrappers as BaseWrappers
from .._theirs import names, their_current_span
from .._tool_span import run_tool

__all__ = ["Wrappers"]

_AGENT_KEYS = (semconv.GEN_AI_AGENT_NAME, semconv.OI_AGENT_NAME)


class Wrappers(BaseWrappers):
    """One instance per instrumentation: the tracer and the halting level they share."""

    def run(self, wrapped: Callable[..., Any], instance: Any, args: Any,
            kwargs: dict[str, Any]) -> Any:
        """``MultiStepAgent.run(task, stream=False, ...)``."""
        try:
            task = args[0] if args else kwargs.get("task")
            objective = task if isinstance(task, str) else None
            name = str(getattr(instance, "name", None) or type(instance).__name__)
            theirs = their_current_span()
            if theirs is not None and is_agent_span(theirs) and names(theirs, name, _AGENT_KEYS):
                # Another instrumentation's span for this run (OpenInference's, wrapping
                # run around ours): the run is judged on it.
                if objective:
                    BRIDGE.give_objective(theirs.get_span_context().span_id, objective)
                return wrapped(*args, **kwargs)
            run = AgentSpan(self._tracer, name, objective)
        except Exception as error:
            internal_error("smolagents run", error, "this agent run is not traced")
            return wrapped(*args, **kwargs)
        result = run.call(wrapped, *args, **kwargs)
        if inspect.isgenerator(result):
            # stream=True: the steps run as the caller iterates; the span goes on with them.
            return run.stream(result)
        run.end()
        return result

    def tool_call(self, wrapped: Callable[..., Any], instance: Any, args: Any,
                  kwargs: dict[str, Any]) -> Any:
        """``Tool.__call__(*args, sanitize_inputs_outputs=False, **kwargs)``."""
        self._halt_if_stuck()  # before the tool runs
        try:
            arguments = _arguments(instance, args, kwargs)
        except Exception as error:
            internal_error("smolagents tool call", error, "this tool call is not traced")
            return wrapped(*args, **kwargs)
        # OpenInference's span, when it wraps __call__ around ours, covers the call.
        return run_tool(self._tracer, str(getattr(instance, "name", None) or "tool"),
                        arguments, wrapped, *args, **kwargs)

    def timeout(self, wrapped: Callable[..., Any], instance: Any, args: Any,
                kwargs: dict[str, Any]) -> Any:
        """``timeout(seconds)``: the decorator the CodeAgent's interpreter applies to the
        code it runs, just before running it in a worker thread."""
        decorate = wrapped(*args, **kwargs)

        def in_callers_context(function: Callable[..., Any]) -> Any:
            # Decorated right before the call: the context copied is the caller's.
            context = contextvars.copy_context()
            return decorate(functools.wraps(function)(functools.partial(context.run,
                                                                        function)))

        return in_callers_context


def _arguments(tool: Any, args: tuple[Any, ...], kwargs: dict[str, Any]) -> dict[str, Any]:
    """The call's arguments by the tool's input names, as ``Tool.__call__`` reads them."""
    arguments = {key: value for key, value in kwargs.items()
                 if key != "sanitize_inputs_outputs"}
    inputs = list(getattr(tool, "inputs", None) or ())
    if len(args) == 1 and not arguments and isinstance(args[0], dict) \
            and all(key in inputs for key in args[0]):
        return dict(args[0])  # one dict of all the inputs, which __call__ unpacks
    for index, value in enumerate(args):
        arguments[inputs[index] if index < len(inputs) else f"arg{index}"] = value
    return arguments
