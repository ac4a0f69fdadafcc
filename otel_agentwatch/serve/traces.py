"""The spans received, held per trace until the trace can be judged whole.

Spans reach the service in batches, from several processes, out of order: a run's agent
span usually comes last, after its tools' spans, and a remote worker's spans may come
before or after its caller's. A trace is judged once it is *due*:

* its root span (the one without a parent) arrived and no span of it came for ``grace``
  seconds: what other processes still had in their export queues has had time to come;
* or ``ttl`` seconds passed since its first span: a trace whose root never reaches this
  replica (it is exported elsewhere, or still running) does not wait for ever;
* or room is needed: close to ``max_spans`` held, the oldest traces are judged early.

Spans of a trace judged already (late arrivals) wait for ``grace`` only, as a trace of
their own. The buffer never holds more than ``max_spans``: a batch that does not fit is refused
(:class:`Overloaded`, which the receivers turn into OTLP's "retry later"), which happens
only when judging has fallen behind what arrives.
"""

from __future__ import annotations

import threading
import time
from collections import OrderedDict
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field

from opentelemetry.sdk.trace import ReadableSpan

from ..normalize import is_agent_span

__all__ = ["Overloaded", "TraceBuffer"]

# Trace ids judged recently, so that their late spans do not wait for a root: bounded.
_JUDGED_KEPT = 100_000


class Overloaded(Exception):
    """The buffer is full of spans waiting to be judged: the sender should retry later."""


@dataclass
class _Trace:
    first_seen: float
    last_seen: float
    rooted: bool = False
    due: bool = False
    runs: int = 0  # agent spans among its spans
    spans: list[ReadableSpan] = field(default_factory=list)


class TraceBuffer:
    """Spans per trace, bounded by ``max_spans``; thread-safe.

    Args:
        grace: seconds without a new span after which a rooted trace is due.
        ttl: seconds after its first span after which any trace is due.
        max_spans: most spans held; beyond it the oldest traces are due at once.
        clock: monotonic seconds (a test's own clock).
    """

    def __init__(self, *, grace: float, ttl: float, max_spans: int,
                 clock: Callable[[], float] = time.monotonic) -> None:
        self._grace = grace
        self._ttl = ttl
        self._max_spans = max_spans
        # Beyond this, the oldest traces are judged early, so that a batch finds room
        # while they are being judged.
        self._high_water = max_spans - max_spans // 10
        self._clock = clock
        self._lock = threading.Lock()
        self._traces: OrderedDict[int, _Trace] = OrderedDict()  # first seen first
        self._judged: OrderedDict[int, None] = OrderedDict()
        self._held = 0
        self._runs = 0
        self._waiting = 0  # spans of due traces: held until taken
        self.arrived = threading.Event()  # set when a trace may have become due

    @property
    def spans(self) -> int:
        """Spans held."""
        return self._held

    @property
    def traces(self) -> int:
        """Traces with spans held (live: not yet judged)."""
        return len(self._traces)

    @property
    def runs(self) -> int:
        """Agent runs among the spans held (their agent spans, in any dialect)."""
        return self._runs

    def add(self, spans: Iterable[ReadableSpan]) -> int:
        """Holds ``spans``; returns how many. Raises :class:`Overloaded`, holding none,
        when they do not fit beside the spans already due."""
        batch = list(spans)
        agents = [is_agent_span(span) for span in batch]  # outside the lock
        now = self._clock()
        with self._lock:
            if self._held + len(batch) > self._high_water:
                self._make_room(self._held + len(batch) - self._high_water)
            if self._held + len(batch) > self._max_spans:
                self.arrived.set()
                raise Overloaded(f"{self._held} spans held, {self._waiting} of them "
                                 "waiting to be judged")
            for span, agent in zip(batch, agents, strict=True):
                context = span.get_span_context()
                trace_id = context.trace_id if context is not None else 0
                held = self._traces.get(trace_id)
                if held is None:
                    held = self._traces[trace_id] = _Trace(now, now)
                    held.rooted = trace_id in self._judged  # late spans: no root to wait for
                held.spans.append(span)
                held.runs += agent
                held.last_seen = now
                held.rooted = held.rooted or span.parent is None
                if held.due:
                    self._waiting += 1
            self._held += len(batch)
            self._runs += sum(agents)
        if self._waiting:
            self.arrived.set()
        return len(batch)

    def take_due(self) -> list[list[ReadableSpan]]:
        """The spans of every trace now due, one list per trace, oldest trace first; they
        are no longer held."""
        now = self._clock()
        taken: list[list[ReadableSpan]] = []
        with self._lock:
            for trace_id in [trace_id for trace_id, held in self._traces.items()
                             if self._is_due(held, now)]:
                taken.append(self._pop(trace_id))
        return taken

    def take_all(self) -> list[list[ReadableSpan]]:
        """Every trace held, due or not (at shutdown)."""
        with self._lock:
            return [self._pop(trace_id) for trace_id in list(self._traces)]

    def next_due_in(self) -> float:
        """Seconds until the next trace falls due at the latest (0: some are due)."""
        now = self._clock()
        with self._lock:
            soonest = self._ttl
            for held in self._traces.values():
                if held.due:
                    return 0.0
                at = held.first_seen + self._ttl
                if held.rooted:
                    at = min(at, held.last_seen + self._grace)
                soonest = min(soonest, at - now)
        return max(soonest, 0.0)

    def _is_due(self, held: _Trace, now: float) -> bool:
        return held.due or now - held.first_seen >= self._ttl or (
            held.rooted and now - held.last_seen >= self._grace)

    def _make_room(self, excess: int) -> None:
        """Marks the oldest traces due until, once they are taken, ``excess`` fewer spans
        are held."""
        freed = self._waiting
        for held in self._traces.values():
            if freed >= excess:
                break
            if not held.due:
                held.due = True
                self._waiting += len(held.spans)
                freed += len(held.spans)

    def _pop(self, trace_id: int) -> list[ReadableSpan]:
        held = self._traces.pop(trace_id)
        self._held -= len(held.spans)
        self._runs -= held.runs
        if held.due:
            self._waiting -= len(held.spans)
        self._judged[trace_id] = None
        self._judged.move_to_end(trace_id)
        if len(self._judged) > _JUDGED_KEPT:
            self._judged.popitem(last=False)
        return held.spans
