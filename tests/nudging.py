"""What the nudge tests share: reading the notes out of the requests a scripted server
received, and the spans that say they carried one."""

from __future__ import annotations

from typing import Any

from otel_agentwatch.nudge import NOTE_PREFIX


def notes(requests: list[dict[str, Any]]) -> list[tuple[int, str]]:
    """``(request index, note)`` for each request that carried a note: a user message (in
    ``messages`` or ``input``) whose text starts with the note's prefix."""
    found = []
    for index, request in enumerate(requests):
        history = request.get("messages") or request.get("input") or []
        for item in history:
            content = item.get("content") if isinstance(item, dict) else None
            if item.get("role") == "user" and isinstance(content, str) and \
                    content.startswith(NOTE_PREFIX):
                found.append((index, content))
    return found


def nudged(spans: list[Any]) -> list[int]:
    """The indexes, among ``spans``, of those with an ``agentwatch.nudge`` event."""
    return [index for index, span in enumerate(spans)
            if any(event.name == "agentwatch.nudge" for event in span.events)]
