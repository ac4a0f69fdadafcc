"""The one channel between instrumentation and the processors: announcements in, queries out.

**Announcements** (instrumentation -> processor). Our instrumentation knows a tool call's
arguments and result and a model's output text, but with content capture off (the
default) it must not put them on the span; it :meth:`~Bridge.keep`\\ s them here by span id
and the processor :meth:`~Bridge.take`\\ s them when the span ends. A model call made
through an SDK is :meth:`~Bridge.announce`\\ d before its span exists: the first span that
starts inside it (ours, or the SDK's own) claims it, which is how what we read off the
request (the conversation, the tool results it answers, what the user asked) reaches a
span we did not create. Also kept: what an agent was asked (its objective, by agent span
id) and the arguments a model gave each tool call (by call id), for tool spans that
another instrumentation makes without them. Nothing here is exported.

**Queries** (code acting on a live run -> processors). Halting, nudging, budgets and
objectives ask every live processor through the narrow :class:`LiveRuns` interface; a processor
joins with :meth:`~Bridge.attach` and is forgotten when collected.

Every table is bounded; no lock is taken on a hot path, and the one lock (attaching a
processor) is made anew in a forked child.
"""

from __future__ import annotations

import contextlib
import contextvars
import threading
import weakref
from collections.abc import Callable, Iterator
from typing import TYPE_CHECKING, Any, NamedTuple, Protocol

from ._bounded import BoundedDict
from ._fork import renew_in_child

if TYPE_CHECKING:
    from .detectors.base import Detection, Severity
    from .nudge import Nudge
    from .steps import RunKey

__all__ = ["BRIDGE", "Bridge", "Content", "LiveRuns", "ToolExchange"]

_LIMIT = 4096  # entries per table


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

    __slots__ = ("answered", "args", "conversation", "objective", "on_claimed",
                 "on_late_text", "output_text", "result", "span_id")

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
        # Set by the instrumentation of a call it makes no span for (another
        # instrumentation's wrapper, inside ours, makes it): called by the processor with
        # that span as it starts and claims this call.
        self.on_claimed: Callable[[Any], None] | None = None


class LiveRuns(Protocol):
    """What a processor answers about the runs it is watching (see :class:`Bridge`)."""

    def halt_level(self) -> Severity | None:
        """The severity at which this processor's configuration halts a run, or None."""

    def verdict(self, span_id: int | None, run: RunKey | None = None) -> Detection | None:
        """The most severe detection so far in the run that work under the live span
        ``span_id`` belongs to, or else in the run ``run``; None if none or unknown."""

    def budgets(self, span_id: int) -> list[tuple[str, float, float]]:
        """``(resource, used, limit)`` of each budget of that run; empty if none."""

    def take_nudge(self, span_id: int | None, run: RunKey | None = None) -> Nudge | None:
        """The note for that run's next model request (its findings not yet told, and
        its budget), which counts as told from now; None when there is none, or this
        processor does not nudge."""

    def set_objective(self, span_id: int, text: str) -> bool:
        """Make ``text`` the objective of that run; False when the span is unknown."""


class Bridge:
    """Announcements from instrumentation, and the live processors to query."""

    def __init__(self, limit: int = _LIMIT) -> None:
        self._kept: BoundedDict[int, Content] = BoundedDict(limit)
        self._objectives: BoundedDict[int, str] = BoundedDict(limit)
        self._requested: BoundedDict[str, Any] = BoundedDict(limit)
        self._capturing: BoundedDict[int, None] = BoundedDict(limit)
        # The model call announced in this context (see announce); claimed once a span
        # starts inside it (its span_id set).
        self.announced: contextvars.ContextVar[Content | None] = contextvars.ContextVar(
            "otel_agentwatch_model_call", default=None)
        # Copy-on-write: queries read the tuple without a lock; attaching replaces it.
        self._live: tuple[weakref.ref[LiveRuns], ...] = ()
        self._lock = threading.Lock()
        renew_in_child(self, Bridge._at_fork_reinit)

    # --- announcements ------------------------------------------------------------------

    def keep(self, span_id: int, content: Content) -> None:
        """Keep ``content`` for the span until it ends."""
        content.span_id = span_id
        self._kept.put(span_id, content)

    def kept(self, span_id: int) -> Content | None:
        """The content kept for a live span, left in place; None if none was kept."""
        return self._kept.get(span_id)

    def take(self, span_id: int) -> Content | None:
        """The content kept for a span, removed; None if none was kept."""
        return self._kept.pop(span_id, None)

    @contextlib.contextmanager
    def announce(self, call: Content) -> Iterator[Content]:
        """Announce a model call for the span that starts next in this context."""
        token = self.announced.set(call)
        try:
            yield call
        finally:
            self.announced.reset(token)

    def give_objective(self, span_id: int, text: str) -> None:
        """What an agent span was asked to do, for the run it anchors and the agents
        nested in it."""
        self._objectives.put(span_id, text)

    def objective_of(self, span_id: int) -> str | None:
        return self._objectives.get(span_id)

    def give_requested_call(self, call_id: str, arguments: Any) -> None:
        """The arguments the model gave a tool call it asked for."""
        self._requested.put(call_id, arguments)

    def requested_call(self, call_id: str) -> Any:
        """The arguments given for the tool call ``call_id``, or None."""
        return self._requested.get(call_id)

    # --- queries ------------------------------------------------------------------------

    def attach(self, runs: LiveRuns) -> None:
        """Answer queries from ``runs`` too, until it is collected."""
        with self._lock:
            self._live = (*(ref for ref in self._live if ref() is not None), weakref.ref(runs))

    def live(self) -> tuple[LiveRuns, ...]:
        """The processors that answer queries."""
        return tuple(runs for ref in self._live if (runs := ref()) is not None)

    # --- content capture, per span ------------------------------------------------------

    def capturing(self, span_id: int) -> None:
        """A processor with content capture on saw this span start."""
        self._capturing.put(span_id, None)

    def captured(self, span_id: int) -> None:
        """The span has ended."""
        self._capturing.pop(span_id, None)

    def captures(self, span_id: int) -> bool:
        """Whether content may go on this live span: a processor of its pipeline has
        capture on. Decided per span, so a pipeline without capture never gets content
        because another pipeline in the process has it."""
        return span_id in self._capturing

    def _at_fork_reinit(self) -> None:
        # The lock may have been held by another thread of the parent at fork time, and
        # what was kept for the parent's open spans will never be taken in the child.
        self._lock = threading.Lock()
        self._kept.clear()
        self._capturing.clear()


BRIDGE = Bridge()
"""The process's bridge: instrumentation, manual spans and processors all use this one."""
