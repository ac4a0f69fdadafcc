"""What an application calls by hand: :func:`tool` for its tool functions,
:class:`agent_run` for one run of a hand-written agent, :func:`set_objective` to say what a
run is for, and :func:`budget_status` to ask what a run has left.

``tool`` and ``agent_run`` follow the GenAI conventions (``execute_tool {name}``,
``invoke_agent {name}``), so the detectors treat them as they treat a framework's, and both
honour ``AGENTWATCH_ACTION=halt``: a tool of a stuck run raises
:class:`~otel_agentwatch.AgentHalted` instead of running.
"""

from __future__ import annotations

import contextvars
import functools
import inspect
from collections.abc import Callable, Mapping
from contextvars import Token
from dataclasses import dataclass
from types import TracebackType
from typing import Any, TypeVar, cast, overload

from opentelemetry import context as otel_context
from opentelemetry import trace
from opentelemetry.context import Context
from opentelemetry.trace import Span, SpanKind, TracerProvider

from . import control, semconv
from ._bridge import BRIDGE
from ._guard import internal_error
from .instrumentation._errors import record_error
from .instrumentation._tool_span import ToolSpan
from .version import __version__

__all__ = ["BudgetStatus", "agent_run", "budget_status", "set_objective", "tool"]

_Function = TypeVar("_Function", bound=Callable[..., Any])
_SCOPE = "otel_agentwatch.spans"
# The agent whose run the current code is part of: its tools' spans name it.
_agent: contextvars.ContextVar[str | None] = contextvars.ContextVar(
    "otel_agentwatch_agent", default=None)


def _tracer(provider: TracerProvider | None) -> trace.Tracer:
    # Looked up per call: the global provider may be set after the function is decorated.
    return trace.get_tracer(_SCOPE, __version__, provider)


@overload
def tool(function: _Function, /) -> _Function: ...


@overload
def tool(name: str | None = None, /, *, tracer_provider: TracerProvider | None = None,
         ) -> Callable[[_Function], _Function]: ...


def tool(function_or_name: Any = None, /, *,
         tracer_provider: TracerProvider | None = None) -> Any:
    """Make a function (sync or async, plain or a method) an ``execute_tool`` span.

    Use as ``@tool``, ``@tool("search_orders")`` or ``@tool(tracer_provider=...)``. The
    span is named ``execute_tool {name}`` (the function's name unless given), is current
    while the function runs, and carries its arguments and result in-process for the
    detectors; on the span only with content capture on. An exception is recorded and
    re-raised. With ``AGENTWATCH_ACTION=halt``, a call in a run that is already stuck
    raises :class:`~otel_agentwatch.AgentHalted` and the function does not run.
    """
    if callable(function_or_name):
        return _tool_decorator(None, tracer_provider)(function_or_name)
    if function_or_name is not None and not isinstance(function_or_name, str):
        raise TypeError(f"tool() takes a function or a tool name, not {function_or_name!r}")
    if function_or_name is not None and not function_or_name.strip():
        raise ValueError("tool() needs a non-empty tool name")
    return _tool_decorator(function_or_name, tracer_provider)


def _tool_decorator(name: str | None,
                    provider: TracerProvider | None) -> Callable[[_Function], _Function]:
    def decorate(function: _Function) -> _Function:
        import wrapt  # here, so that importing the package does not load it

        tool_name = name or getattr(function, "__name__", None) or "tool"
        signature = _signature(function)

        def start(instance: Any, args: tuple[Any, ...], kwargs: dict[str, Any],
                  ) -> ToolSpan | None:
            # AgentHalted, when asked for, is the one exception that reaches the caller.
            control.check_current()
            try:
                agent = _agent.get()
                return ToolSpan(_tracer(provider), tool_name,
                                _arguments(signature, instance, args, kwargs),
                                attributes={semconv.GEN_AI_AGENT_NAME: agent} if agent else None)
            except Exception as error:
                internal_error("tool span", error, "this tool call is not traced")
                return None

        if inspect.iscoroutinefunction(function):
            @wrapt.decorator
            async def async_tool(wrapped: Any, instance: Any, args: Any, kwargs: Any) -> Any:
                call = start(instance, args, kwargs)
                if call is None:
                    return await wrapped(*args, **kwargs)
                with call:
                    return call.done(await wrapped(*args, **kwargs))

            return cast(_Function, async_tool(function))  # a proxy that behaves as it

        @wrapt.decorator
        def sync_tool(wrapped: Any, instance: Any, args: Any, kwargs: Any) -> Any:
            call = start(instance, args, kwargs)
            if call is None:
                return wrapped(*args, **kwargs)
            with call:
                return call.done(wrapped(*args, **kwargs))

        return cast(_Function, sync_tool(function))  # a proxy that behaves as it

    return decorate


def _signature(function: Callable[..., Any]) -> inspect.Signature | None:
    try:
        return inspect.signature(function)
    except (TypeError, ValueError):  # builtins and some callables have none
        return None


def _arguments(signature: inspect.Signature | None, instance: Any, args: tuple[Any, ...],
               kwargs: dict[str, Any]) -> Any:
    """The call's arguments by parameter name (``self``/``cls`` left out)."""
    if signature is None:
        return {"args": list(args), **kwargs} if args else dict(kwargs)
    try:
        if instance is None:
            return dict(signature.bind_partial(*args, **kwargs).arguments)
        # A method: the signature includes self (or cls), which wrapt passes apart.
        arguments = dict(signature.bind_partial(instance, *args, **kwargs).arguments)
    except TypeError:  # the call itself will fail and say why
        return {"args": list(args), **kwargs}
    arguments.pop(next(iter(signature.parameters)), None)
    return arguments


class agent_run:  # used like contextlib's lowercase context managers
    """An ``invoke_agent {name}`` span around one run of a hand-written agent loop.

    A context manager (``with agent_run("support"):``, also ``async with``) or a
    decorator (``@agent_run("support")`` on a sync or async function). Model calls and
    tools inside become steps of this run, so the run is one trace, judged as a whole
    and flagged on this span. An instance is entered once; the decorator makes a fresh
    one per call.

    Args:
        name: the agent's name (``gen_ai.agent.name``).
        conversation_id: ``gen_ai.conversation.id``, if the application has one.
        tracer_provider: default the global one.
    """

    def __init__(self, name: str, *, conversation_id: str | None = None,
                 tracer_provider: TracerProvider | None = None) -> None:
        if not isinstance(name, str) or not name.strip():
            raise ValueError(f"agent_run() needs a non-empty agent name, not {name!r}")
        self.name = name
        self.conversation_id = conversation_id
        self.tracer_provider = tracer_provider
        self._span: Span | None = None
        self._token: Token[Context] | None = None
        self._agent_token: contextvars.Token[str | None] | None = None

    def __enter__(self) -> Span:
        if self._span is not None:
            raise RuntimeError("an agent_run is entered once; make a new one for each run")
        attributes: dict[str, Any] = {
            semconv.GEN_AI_OPERATION_NAME: semconv.OP_INVOKE_AGENT,
            semconv.GEN_AI_AGENT_NAME: self.name,
        }
        if self.conversation_id is not None:
            attributes[semconv.GEN_AI_CONVERSATION_ID] = str(self.conversation_id)
        self._span = _tracer(self.tracer_provider).start_span(
            f"{semconv.OP_INVOKE_AGENT} {self.name}", kind=SpanKind.INTERNAL,
            attributes=attributes)
        self._token = otel_context.attach(trace.set_span_in_context(self._span))
        self._agent_token = _agent.set(self.name)
        return self._span

    def __exit__(self, kind: type[BaseException] | None, error: BaseException | None,
                 traceback: TracebackType | None) -> None:
        span = self._span
        if span is None:
            return
        if self._token is not None:
            otel_context.detach(self._token)
        if self._agent_token is not None:
            _agent.reset(self._agent_token)
        if error is not None:
            record_error(span, error, BRIDGE.captures(span.get_span_context().span_id))
        span.end()

    async def __aenter__(self) -> Span:
        return self.__enter__()

    async def __aexit__(self, kind: type[BaseException] | None, error: BaseException | None,
                        traceback: TracebackType | None) -> None:
        self.__exit__(kind, error, traceback)

    def __call__(self, function: _Function) -> _Function:
        options: Mapping[str, Any] = {"conversation_id": self.conversation_id,
                                      "tracer_provider": self.tracer_provider}
        name = self.name
        if inspect.iscoroutinefunction(function):
            @functools.wraps(function)
            async def run_async(*args: Any, **kwargs: Any) -> Any:
                async with agent_run(name, **options):
                    return await function(*args, **kwargs)

            return cast(_Function, run_async)  # functools.wraps keeps its signature

        @functools.wraps(function)
        def run(*args: Any, **kwargs: Any) -> Any:
            with agent_run(name, **options):
                return function(*args, **kwargs)

        return cast(_Function, run)  # functools.wraps keeps its signature

def set_objective(text: str, span: Span | None = None) -> bool:
    """Make ``text`` the objective of the run the current span (or ``span``) belongs to.

    ``drift.objective`` then judges the run's steps against it, instead of against what
    the instrumentation saw the run asked (an agent's input, the first user message).
    Call it inside the run, e.g. first thing in an ``agent_run`` block. Returns False
    when no processor knows the span (no run to set it on). The text stays in the
    process; it is never exported.
    """
    if not isinstance(text, str) or not text.strip():
        raise ValueError("set_objective() needs a non-empty text")
    current = span if span is not None else trace.get_current_span()
    context = current.get_span_context()
    if not context.is_valid:
        return False
    done = False
    for runs in BRIDGE.live():
        done = runs.set_objective(context.span_id, text) or done
    return done


@dataclass(frozen=True)
class BudgetStatus:
    """A run's consumption of each budget that has a limit (``AGENTWATCH_BUDGET_*``).

    Keys are ``tool_calls``, ``llm_calls``, ``tokens``, ``cost_usd``, ``seconds``.
    """

    used: Mapping[str, float]
    limits: Mapping[str, float]

    @property
    def remaining(self) -> dict[str, float]:
        """What is left of each budget (0 once spent)."""
        return {name: max(0.0, limit - self.used.get(name, 0.0))
                for name, limit in self.limits.items()}

    @property
    def exhausted(self) -> bool:
        """Whether any budget is spent."""
        return any(self.used.get(name, 0.0) >= limit for name, limit in self.limits.items())


def budget_status(span: Span | None = None) -> BudgetStatus | None:
    """The budgets of the run that the current span (or ``span``) belongs to.

    None when no budget is set, or the run has no step yet that a budget counts. Call it
    from inside the run (a tool, a model call's caller, an ``agent_run`` block).
    """
    current = span if span is not None else trace.get_current_span()
    context = current.get_span_context()
    if not context.is_valid:
        return None
    for runs in BRIDGE.live():
        found = runs.budgets(context.span_id)
        if found:
            return BudgetStatus(used={name: used for name, used, _ in found},
                                limits={name: limit for name, _, limit in found})
    return None
