"""In-process content for the detectors, when content capture keeps it off the span.

Our instrumentation always knows a tool call's arguments and result and a model's output
text, but with content capture off (the default) it must not put them on the span. It
hands them to the processor here instead, keyed by span id: the processor takes them
when the span ends, and nothing is exported. Entries never taken (a span that never
ends) are forgotten beyond a bound.
"""

from __future__ import annotations

import contextlib
from collections import OrderedDict
from typing import Any, NamedTuple

__all__ = ["Content", "give", "take"]

_LIMIT = 4096


class Content(NamedTuple):
    """What a span's attributes would hold with capture on; None where unknown."""

    args: Any = None  # tool arguments: a parsed value, or text
    result: Any = None  # tool result
    output_text: str | None = None  # model output text


_pending: OrderedDict[int, Content] = OrderedDict()


def give(span_id: int, content: Content) -> None:
    """Keep ``content`` for the span until it ends (single dict operations: thread-safe)."""
    _pending[span_id] = content
    if len(_pending) > _LIMIT:
        with contextlib.suppress(KeyError):
            _pending.popitem(last=False)


def take(span_id: int) -> Content | None:
    """The content given for a span, removed; None if none was given."""
    return _pending.pop(span_id, None)


def has(span_id: int) -> bool:
    return span_id in _pending
