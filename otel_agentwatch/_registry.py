"""The live :class:`~otel_agentwatch.AgentWatchSpanProcessor` instances, for code that
has no handle on them: halting checks their verdicts, hand-made spans their settings."""

from __future__ import annotations

import threading
import weakref
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from .processor import AgentWatchSpanProcessor

__all__ = ["processors", "register"]

_processors: weakref.WeakSet[AgentWatchSpanProcessor] = weakref.WeakSet()
_lock = threading.Lock()


def register(processor: AgentWatchSpanProcessor) -> None:
    """Every processor registers itself; it is forgotten when collected."""
    with _lock:
        _processors.add(processor)


def processors() -> tuple[AgentWatchSpanProcessor, ...]:
    with _lock:
        return tuple(_processors)


def capture_content() -> bool:
    """Whether any live processor has content capture on."""
    return any(processor.config.capture_content for processor in processors())
