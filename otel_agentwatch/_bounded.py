"""The one bounded mapping of the package: a dict that forgets its oldest entries.

Every table that could grow with what the application does (announcements by span id,
tool calls by id, a run's digests, resources and memories, caches) is one of these, so
that none grows without bound whatever the application does.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable
from typing import TypeVar

__all__ = ["BoundedDict"]

_K = TypeVar("_K")
_V = TypeVar("_V")


class BoundedDict(dict[_K, _V]):
    """A ``dict`` that keeps at most ``limit`` entries, forgetting the oldest first.

    Reads (``get``, ``in``, ``pop``, ``[]``) are the plain dict's, at C speed. Writes go
    through ``self[key] = value`` (or :meth:`put`, the same: newest last) or
    :meth:`refresh` (least-recently-used order); ``update`` and ``setdefault``, which
    would bypass the bound, are not to be used. Each method is a few dict operations:
    used from several threads it may forget one entry too many or too few in a race, and
    never raises; callers that need more hold a lock of their own.
    """

    __slots__ = ("limit",)

    def __init__(self, limit: int) -> None:
        super().__init__()
        if limit < 1:
            raise ValueError(f"a BoundedDict needs a limit of at least 1, not {limit}")
        self.limit = limit

    def __setitem__(self, key: _K, value: _V) -> None:
        """Set ``key``, forgetting the oldest entry beyond the limit."""
        dict.__setitem__(self, key, value)
        if len(self) > self.limit:
            self._forget_oldest()

    put = __setitem__

    def refresh(self, key: _K, value: _V) -> None:
        """Set ``key`` as the most recent entry (for least-recently-used order)."""
        self.pop(key, None)
        self.put(key, value)

    def touch(self, key: _K) -> bool:
        """Make ``key`` the most recent entry if it is here; whether it was."""
        try:
            value = self.pop(key)
        except KeyError:
            return False
        dict.__setitem__(self, key, value)  # no growth: it was here
        return True

    def setdefault_recent(self, key: _K, make: Callable[[], _V]) -> _V:
        """The value of ``key``, now the most recent entry, made by ``make`` if absent."""
        try:
            value = self.pop(key)
        except KeyError:
            value = make()
            self[key] = value
            return value
        dict.__setitem__(self, key, value)  # no growth: it was here
        return value

    def _forget_oldest(self) -> None:
        # Another thread may empty or change the dict between the two steps.
        with contextlib.suppress(StopIteration, RuntimeError, KeyError):
            del self[next(iter(self))]
