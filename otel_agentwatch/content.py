"""In-process content for the detectors, when content capture keeps it off the span.

Our instrumentation always knows a tool call's arguments and result and a model's output
text, but with content capture off (the default) it must not put them on the span. It
hands them to the processor here instead, keyed by span id: the processor takes them
when the span ends, and nothing is exported. Entries never taken (a span that never
ends) are forgotten beyond a bound.

A model call made through an SDK is announced before its span exists
(:func:`model_call`): the processor gives the announcement to the first span that starts
inside it, which is ours, or the SDK's own span when the SDK traces itself. That is how
what we read off the request (the conversation, the tool results it answers) reaches a
span we did not create.

The tool calls a model asked for are kept too, by call id (:func:`give_requested_call`):
a tool span another instrumentation makes without the arguments (content capture off in
the Anthropic SDK's tool runner, say) is then compared by the arguments the model gave.
"""

from __future__ import annotations

import contextlib
import contextvars
from collections import OrderedDict
from collections.abc import Callable, Iterator
from typing import Any, NamedTuple

__all__ = [
    "Content",
    "ToolExchange",
    "give",
    "give_objective",
    "give_requested_call",
    "model_call",
    "objective_of",
    "pending_call",
    "requested_call",
    "take",
]

_LIMIT = 4096


class ToolExchange(NamedTuple):
    """A tool call the model asked for in one response, answered in the next request."""

    call_id: str
    name: str
    arguments: Any  # as the model wrote them: usually a JSON string, or a parsed object
    result: Any  # what the application sent back
    is_error: bool = False  # the application marked the result as an error


class Content:
    """What a span's attributes would hold with capture on; None where unknown.

    Mutable: a model call's output arrives after its span has started, and the
    instrumentation fills it in before the span ends.
    """

    __slots__ = ("answered", "args", "conversation", "objective", "on_late_text",
                 "output_text", "result", "span_id")

    def __init__(self, args: Any = None, result: Any = None, output_text: str | None = None,
                 answered: tuple[ToolExchange, ...] = (),
                 conversation: int | None = None, objective: str | None = None) -> None:
        self.args = args  # tool arguments: a parsed value, or text
        self.result = result  # tool result
        self.output_text = output_text  # model output text
        self.answered = answered  # tool results the model call's request carried
        # For a model call outside any span: the conversation it continues, as a key
        # that groups its calls into one run.
        self.conversation = conversation
        # What the user asked (a model call's first user message): the run's objective
        # unless it has one already.
        self.objective = objective
        self.span_id: int | None = None  # the span it was given to
        # Set by the processor when the span ended before the model's reply arrived (an
        # SDK that traces itself ends its span inside the call): the instrumentation
        # hands it the reply's text when it comes.
        self.on_late_text: Callable[[str], None] | None = None


_pending: OrderedDict[int, Content] = OrderedDict()
_requested: OrderedDict[str, Any] = OrderedDict()  # tool call id -> the model's arguments
_objectives: OrderedDict[int, str] = OrderedDict()  # agent span id -> what it was asked
_announced: contextvars.ContextVar[Content | None] = contextvars.ContextVar(
    "otel_agentwatch_model_call", default=None)


def give(span_id: int, content: Content) -> None:
    """Keep ``content`` for the span until it ends (single dict operations: thread-safe)."""
    content.span_id = span_id
    _keep(_pending, span_id, content)


def _keep(table: OrderedDict[Any, Any], key: Any, value: Any) -> None:
    """``table[key] = value``, forgetting the oldest entry beyond the bound. No lock:
    single dict operations, and another thread emptying the table meanwhile is harmless."""
    table[key] = value
    if len(table) > _LIMIT:
        with contextlib.suppress(KeyError):
            table.popitem(last=False)


def take(span_id: int) -> Content | None:
    """The content given for a span, removed; None if none was given."""
    return _pending.pop(span_id, None)


@contextlib.contextmanager
def model_call(announced: Content) -> Iterator[Content]:
    """Announce a model call for the span that starts next in this context."""
    token = _announced.set(announced)
    try:
        yield announced
    finally:
        _announced.reset(token)


def pending_call() -> Content | None:
    """The announced model call no span has claimed yet, in this context."""
    announced = _announced.get()
    return announced if announced is not None and announced.span_id is None else None


def give_objective(span_id: int, text: str) -> None:
    """What an agent span was asked to do, for the run it anchors and the agents nested
    in it (the oldest forgotten beyond a bound; thread-safe)."""
    _keep(_objectives, span_id, text)


def objective_of(span_id: int) -> str | None:
    return _objectives.get(span_id)


def give_requested_call(call_id: str, arguments: Any) -> None:
    """The arguments the model gave a tool call it asked for (the oldest forgotten beyond
    a bound; thread-safe)."""
    _keep(_requested, call_id, arguments)


def requested_call(call_id: str) -> Any:
    """The arguments given for the tool call ``call_id``, or None."""
    return _requested.get(call_id)
