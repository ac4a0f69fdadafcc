"""One agent run's ``invoke_agent`` span, made by us: shared by the instrumentations of
frameworks that do not trace their runs themselves (smolagents).

Current while the run executes, whole or streamed (a generator the caller drives: the span
is made current around each step it asks for, and ends when the stream does); the run's
task reaches the detectors as its objective, in the process.
"""

from __future__ import annotations

import contextlib
from collections.abc import Awaitable, Callable, Iterator, Mapping
from typing import Any, TypeVar

from opentelemetry import context as otel_context
from opentelemetry import trace
from opentelemetry.trace import SpanKind, Tracer

from .. import semconv
from .._bridge import BRIDGE
from .._guard import internal_error
from ._errors import record_error

__all__ = ["AgentSpan"]

_Item = TypeVar("_Item")
_Result = TypeVar("_Result")


class AgentSpan:
    """An agent run's span, started: made :meth:`current` around the run (or each step of
    its :meth:`stream`), then ended with the run's error, if any.

    Args:
        tracer: the instrumentation's.
        name: the agent's name (``gen_ai.agent.name``).
        objective: what the run was asked to do, if known: for the detectors only.
        attributes: more attributes to start the span with.
        operation: ``invoke_agent``, or ``invoke_workflow`` for a framework's run of
            several agents (a crew): not an agent's run, the agents' runs nest in it.
    """

    __slots__ = ("span",)

    def __init__(self, tracer: Tracer, name: str, objective: str | None = None,
                 attributes: Mapping[str, Any] | None = None,
                 operation: str = semconv.OP_INVOKE_AGENT) -> None:
        self.span = tracer.start_span(
            f"{operation} {name}", kind=SpanKind.INTERNAL,
            attributes={semconv.GEN_AI_OPERATION_NAME: operation,
                        semconv.GEN_AI_AGENT_NAME: name, **(attributes or {})})
        if objective:
            BRIDGE.give_objective(self.span.get_span_context().span_id, objective)

    @contextlib.contextmanager
    def current(self) -> Iterator[None]:
        """The span current in the block (not ended with it: see :meth:`end`)."""
        token = otel_context.attach(trace.set_span_in_context(self.span))
        try:
            yield
        finally:
            otel_context.detach(token)

    def call(self, function: Callable[..., _Result], *args: Any, **kwargs: Any) -> _Result:
        """``function(*args, **kwargs)`` with the span current. Should it raise, the span
        ends with the error; otherwise it stays open, for the caller to end now or when
        the run it started ends."""
        try:
            with self.current():
                return function(*args, **kwargs)
        except BaseException as error:
            self.end(error)
            raise

    async def acall(self, function: Callable[..., Awaitable[_Result]], *args: Any,
                    **kwargs: Any) -> _Result:
        """:meth:`call` for a coroutine function: awaited with the span current."""
        try:
            with self.current():
                return await function(*args, **kwargs)
        except BaseException as error:
            self.end(error)
            raise

    def end(self, error: BaseException | None = None) -> None:
        """End the span, with ``error`` recorded if the run failed. Never raises."""
        try:
            if error is not None and not isinstance(error, GeneratorExit):
                record_error(self.span, error,
                             BRIDGE.captures(self.span.get_span_context().span_id))
            self.span.end()
        except Exception as failure:
            internal_error("agent span end", failure)

    def stream(self, items: Iterator[_Item]) -> Iterator[_Item]:
        """Drive ``items`` (a run's stream of steps) with the span current around each
        step, ending the span when the stream ends, fails or is closed."""
        error: BaseException | None = None
        try:
            while True:
                token = otel_context.attach(trace.set_span_in_context(self.span))
                try:
                    item = next(items)
                except StopIteration:
                    return
                finally:
                    otel_context.detach(token)
                yield item
        except GeneratorExit:
            close = getattr(items, "close", None)
            if close is not None:
                close()
            raise
        except BaseException as failure:
            error = failure
            raise
        finally:
            self.end(error)
