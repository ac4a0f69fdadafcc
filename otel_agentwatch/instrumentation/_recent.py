"""A small bounded, thread-safe memory of recent items, for conversations the server
keeps: what an earlier response asked for, found again when a later request refers to it
by id (OpenAI's ``previous_response_id``, Anthropic's thread ``previous_message_id``)."""

from __future__ import annotations

import threading
from collections import OrderedDict
from typing import Any

__all__ = ["Recent"]


class Recent:
    """A mapping that forgets its oldest entries beyond ``limit``; thread-safe."""

    def __init__(self, limit: int) -> None:
        self._items: OrderedDict[Any, Any] = OrderedDict()
        self._limit = limit
        self._lock = threading.Lock()

    def put(self, key: Any, value: Any) -> None:
        with self._lock:
            self._items[key] = value
            if len(self._items) > self._limit:
                self._items.popitem(last=False)

    def get(self, key: Any) -> Any:
        with self._lock:
            return self._items.get(key)
