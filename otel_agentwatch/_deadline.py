"""A flush that honours its timeout.

The SDK's span processors pass ``force_flush(timeout_millis)`` on, but the batch
processor waits for its exporter, and an exporter retrying a dead collector can take
half a minute whatever the timeout says. :class:`BoundedFlush` runs the flush on a
worker thread and waits for it at most the timeout; a flush still running then goes on
in the background (bounded by the exporter's own timeouts) and the caller gets False.
At most one worker runs per flushed object: a caller flushing in a loop against a dead
collector waits on that one instead of starting more.
"""

from __future__ import annotations

import threading
from collections.abc import Callable

from ._fork import renew_in_child
from ._guard import internal_error

__all__ = ["BoundedFlush"]


class BoundedFlush:
    """``flush(timeout_millis) -> bool``, made to return within the timeout."""

    def __init__(self, flush: Callable[[int], bool], name: str) -> None:
        self._flush = flush
        self._name = name
        self._lock = threading.Lock()
        self._running: _Attempt | None = None
        renew_in_child(self, BoundedFlush._forget_worker)

    def __call__(self, timeout_millis: int = 30000) -> bool:
        """Whether everything was flushed within ``timeout_millis`` (False on timeout,
        or when the flush itself reported failure)."""
        timeout_millis = max(0, timeout_millis)
        with self._lock:
            attempt = self._running
            if attempt is None or attempt.done.is_set():
                attempt = self._running = _Attempt()
                threading.Thread(target=self._run, args=(attempt, timeout_millis),
                                 name=f"otel-agentwatch {self._name}", daemon=True).start()
        return attempt.done.wait(timeout_millis / 1000) and attempt.flushed

    def _run(self, attempt: _Attempt, timeout_millis: int) -> None:
        try:
            attempt.flushed = bool(self._flush(timeout_millis))
        except Exception as error:
            internal_error(self._name, error, "the flush reports failure")
        finally:
            attempt.done.set()

    def _forget_worker(self) -> None:
        # The worker thread does not exist in a forked child.
        self._lock = threading.Lock()
        self._running = None


class _Attempt:
    __slots__ = ("done", "flushed")

    def __init__(self) -> None:
        self.done = threading.Event()
        self.flushed = False
