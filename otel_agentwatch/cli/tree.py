"""A readable terminal tree of finished spans with their ``agentwatch`` verdicts, and the
model calls whose request carried a nudge.

Used by ``agentwatch demo``; handy in tests and notebooks too::

    print(format_span_tree(exporter.get_finished_spans()))
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Sequence

from opentelemetry.sdk.trace import Event, ReadableSpan

from .. import semconv

__all__ = ["format_span_tree"]

_NUDGED = "nudged"
_MARKS = {"warning": "▲ warning ", "critical": "✖ critical", _NUDGED: "✉ nudged  "}
_COLORS = {"warning": "\033[33m", "critical": "\033[31;1m", _NUDGED: "\033[36m"}
_RESET = "\033[0m"


def format_span_tree(spans: Iterable[ReadableSpan], *, color: bool = False,
                     width: int = 44) -> str:
    """One tree per trace, children in start order, each flagged span with its verdicts."""
    spans = list(spans)
    ids = {s.context.span_id for s in spans if s.context is not None}
    children: dict[int | None, list[ReadableSpan]] = defaultdict(list)
    for span in spans:
        parent = span.parent.span_id if span.parent is not None else None
        children[parent if parent in ids else None].append(span)
    for group in children.values():
        group.sort(key=lambda s: s.start_time or 0)

    lines: list[str] = []

    def walk(span: ReadableSpan, prefix: str, last: bool, root: bool) -> None:
        branch = "" if root else ("└── " if last else "├── ")
        label = f"{prefix}{branch}{span.name}"
        lines.append(_decorate(label, _verdict(span), width, color, span))
        below = [] if span.context is None else children.get(span.context.span_id, [])
        inner = prefix + ("" if root else ("    " if last else "│   "))
        for index, child in enumerate(below):
            walk(child, inner, index == len(below) - 1, False)

    for index, root in enumerate(children.get(None, [])):
        if index:
            lines.append("")
        walk(root, "", True, True)
    return "\n".join(lines)


def _verdict(span: ReadableSpan) -> tuple[str | None, str]:
    attributes = span.attributes or {}
    nudge = _nudge(span.events)
    told = f"; nudged about {nudge}" if nudge is not None else ""
    severity = attributes.get(semconv.SEVERITY)
    if isinstance(severity, str):
        return severity, _listed(attributes.get(semconv.DETECTIONS)) + told
    run_severity = attributes.get(semconv.RUN_SEVERITY)
    if isinstance(run_severity, str):
        nudges = attributes.get(semconv.RUN_NUDGES)
        told = f" ({nudges} nudge{'s' if nudges != 1 else ''})" if nudges else ""
        return run_severity, ("run flagged: " + _listed(attributes.get(semconv.RUN_DETECTIONS))
                              + told)
    if nudge is not None:
        return _NUDGED, f"about {nudge}"
    return None, ""


def _nudge(events: Sequence[Event]) -> str | None:
    """What the note a model call's request carried was about, if it carried one."""
    for event in events or ():
        if event.name == semconv.NUDGE_EVENT:
            attributes = event.attributes or {}
            return _listed(attributes.get(semconv.NUDGE_DETECTIONS)) or "the budget left"
    return None


def _listed(value: object) -> str:
    """A string-array attribute as a comma-separated list."""
    items = value if isinstance(value, (list, tuple)) else ()
    return ", ".join(str(item) for item in items)


def _decorate(label: str, verdict: tuple[str | None, str], width: int, color: bool,
              span: ReadableSpan) -> str:
    severity, text = verdict
    if severity is None:
        return label
    mark = _MARKS.get(severity, severity)
    line = f"{label.ljust(width)} {mark}  {text}"
    message = _worst_message(span.events) or _nudge_text(span.events)
    if message:
        line += f"\n{' ' * (width + 1)}{' ' * len(mark)}  {message}"
    if color and severity in _COLORS:
        line = f"{_COLORS[severity]}{line}{_RESET}"
    return line


def _worst_message(events: Sequence[Event]) -> str | None:
    """The message of the most severe detection event (the first among equals)."""
    best: tuple[int, str] | None = None
    for event in events or ():
        if event.name != semconv.DETECTION_EVENT:
            continue
        attributes = event.attributes or {}
        message = attributes.get(semconv.EVENT_MESSAGE)
        rank = 2 if attributes.get(semconv.EVENT_SEVERITY) == "critical" else 1
        if isinstance(message, str) and (best is None or rank > best[0]):
            best = (rank, message)
    return best[1] if best else None


def _nudge_text(events: Sequence[Event]) -> str | None:
    """The note a model call's request carried, when content capture put it on the span."""
    for event in events or ():
        text = (event.attributes or {}).get(semconv.NUDGE_TEXT)
        if event.name == semconv.NUDGE_EVENT and isinstance(text, str):
            return text
    return None
