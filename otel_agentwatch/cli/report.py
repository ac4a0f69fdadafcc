"""``agentwatch analyze --html``: one page, readable offline, that shows each analyzed
trace's runs as timelines.

Per run: the steps in order (kind, name, when and how long, drawn to the run's time
scale), the flagged ones marked with their severity and message, the detections listed,
and the tokens used step by step against the token budget when one is set. Everything
is in the page (styles, SVG charts); it loads nothing and runs no script.
"""

from __future__ import annotations

import html
from collections.abc import Sequence
from dataclasses import dataclass

from ..detectors.base import Severity
from ..version import __version__
from .analyze import TraceReport
from .timeline import Run

__all__ = ["TraceView", "render_html"]


@dataclass(frozen=True)
class TraceView:
    """What the page shows of one trace: the report and its runs."""

    report: TraceReport
    runs: tuple[Run, ...]


_CSS = """
body { font: 14px/1.45 system-ui, sans-serif; margin: 24px; color: #1d1d1f; }
h1 { font-size: 20px; margin: 0 0 4px; } h2 { font-size: 16px; margin: 0; }
h3 { font-size: 14px; margin: 16px 0 6px; }
.summary { color: #555; margin-bottom: 16px; }
details.trace { border: 1px solid #ddd; border-radius: 6px; margin: 10px 0; padding: 8px 12px; }
details.trace > summary { cursor: pointer; }
.badge { display: inline-block; padding: 0 6px; border-radius: 4px; font-size: 12px;
         font-weight: 600; color: #fff; }
.badge.critical { background: #c62828; } .badge.warning { background: #ef8f00; }
.badge.none { background: #6b8e23; }
table.steps { border-collapse: collapse; width: 100%; margin: 4px 0 8px; }
table.steps th { text-align: left; font-weight: 600; color: #555; border-bottom: 1px solid #ddd; }
table.steps td { padding: 2px 6px; vertical-align: top; border-bottom: 1px solid #f0f0f0; }
tr.critical td { background: #fdecea; } tr.warning td { background: #fff4e0; }
td.kind { color: #555; width: 3.5em; } td.num { color: #888; width: 2em; text-align: right; }
td.time { width: 40%; } td.dur { color: #555; width: 6em; text-align: right; }
.lane { position: relative; height: 12px; background: #f4f4f6; border-radius: 3px; }
.bar { position: absolute; top: 1px; height: 10px; border-radius: 2px; min-width: 2px; }
.bar.llm { background: #5c6bc0; } .bar.tool { background: #26a69a; }
.bar.agent { background: #8d6e63; } .bar.error { outline: 2px solid #c62828; }
ul.flags { margin: 4px 0; padding-left: 20px; }
.msg { color: #333; } .detector { font-family: ui-monospace, monospace; font-size: 12px; }
svg.tokens { border: 1px solid #eee; background: #fafafa; }
"""


def render_html(views: Sequence[TraceView], *, sources: Sequence[str],
                token_budget: int = 0) -> str:
    """The page for ``views`` (flagged traces open, the others folded); ``sources``
    names the files analyzed; ``token_budget`` (``AGENTWATCH_BUDGET_TOKENS``), when set,
    is drawn on the token charts."""
    flagged = [view for view in views if view.report.findings]
    critical = [view for view in flagged if view.report.worst == Severity.CRITICAL.value]
    parts = [
        "<!DOCTYPE html>",
        '<html lang="en"><head><meta charset="utf-8">',
        '<meta name="viewport" content="width=device-width, initial-scale=1">',
        f"<title>agentwatch: {len(flagged)} of {len(views)} traces flagged</title>",
        f"<style>{_CSS}</style></head><body>",
        "<h1>agentwatch analyze</h1>",
        f'<div class="summary">{_e(", ".join(sources))}: {len(views)} '
        f"trace{'' if len(views) == 1 else 's'}, {len(flagged)} flagged "
        f"({len(critical)} critical). otel-agentwatch {_e(__version__)}.</div>",
    ]
    for view in sorted(views, key=lambda v: -_rank(v.report.worst)):
        parts.append(_trace(view, token_budget))
    parts.append("</body></html>")
    return "\n".join(parts)


def _trace(view: TraceView, token_budget: int) -> str:
    report = view.report
    worst = report.worst or "none"
    opened = " open" if report.findings else ""
    parts = [f'<details class="trace"{opened} id="trace-{_e(report.trace_id)}">',
             f'<summary><h2 style="display:inline">{_badge(worst)} '
             f"{_e(report.root or '(no root)')}</h2> "
             f'<span class="detector">trace {_e(report.trace_id)}</span>, '
             f"{report.spans} spans, {len(view.runs)} run"
             f"{'' if len(view.runs) == 1 else 's'}</summary>"]
    if not view.runs:
        parts.append("<p>No agent, model or tool spans in this trace.</p>")
    for run in view.runs:
        parts.append(_run(run, token_budget))
    parts.append("</details>")
    return "\n".join(parts)


def _run(run: Run, token_budget: int) -> str:
    span = max(run.end_ns - run.start_ns, 1)
    parts = [f'<section class="run {run.worst or "none"}">',
             f"<h3>{_badge(run.worst or 'none')} run {_e(run.name)} "
             f"<span class=\"detector\">({len(run.steps)} steps, "
             f"{_duration(run.end_ns - run.start_ns)})</span></h3>"]
    if run.steps:
        parts.append('<table class="steps"><tr><th>#</th><th>kind</th><th>step</th>'
                     "<th>when</th><th>took</th><th>flag</th></tr>")
        messages: dict[int, list[str]] = {}
        for flag in run.flags:
            if flag.step is not None:
                messages.setdefault(flag.step, []).append(
                    f"{_badge(flag.severity)} {_e(flag.message)}")
        for step in run.steps:
            left = 100 * (step.start_ns - run.start_ns) / span
            width = 100 * (step.end_ns - step.start_ns) / span
            bar_class = f"bar {step.kind}" + (" error" if step.error else "")
            row_class = f' class="{step.severity}"' if step.severity else ""
            title = _e(f"{step.kind} {step.name}" + (f", failed: {step.error}"
                                                     if step.error else ""))
            parts.append(
                f"<tr{row_class}><td class=\"num\">{step.number}</td>"
                f'<td class="kind">{_e(step.kind)}</td><td>{_e(step.name)}</td>'
                f'<td class="time"><div class="lane"><div class="{bar_class}" '
                f'style="left:{left:.2f}%;width:{width:.2f}%" title="{title}"></div>'
                f'</div></td><td class="dur">{_duration(step.end_ns - step.start_ns)}</td>'
                f"<td>{'<br>'.join(messages.get(step.number, []))}</td></tr>")
        parts.append("</table>")
    if run.flags:
        parts.append('<ul class="flags">')
        for flag in run.flags:
            where = f"step {flag.step}" if flag.step is not None else "the run"
            parts.append(f"<li>{_badge(flag.severity)} <span class=\"detector\">"
                         f"{_e(flag.detector)}</span> on {where}: "
                         f'<span class="msg">{_e(flag.message)}</span></li>')
        parts.append("</ul>")
    if any(run.tokens):
        parts.append(_token_chart(run, token_budget))
    parts.append("</section>")
    return "\n".join(parts)


def _token_chart(run: Run, budget: int) -> str:
    """Tokens used up to each step, as a line, with the budget as a dashed line."""
    width, height, pad = 560, 140, 34
    totals = run.tokens
    top = max(max(totals), budget) * 1.1 or 1
    count = len(totals)

    def x(index: int) -> float:
        return pad + (width - 2 * pad) * (index / max(count - 1, 1))

    def y(value: float) -> float:
        return height - pad + (2 * pad - height) * value / top

    points = " ".join(f"{x(i):.1f},{y(v):.1f}" for i, v in enumerate(totals))
    parts = [f'<svg class="tokens" width="{width}" height="{height}" role="img" '
             f'aria-label="tokens used over the steps of run {_e(run.name)}">',
             f'<polyline fill="none" stroke="#5c6bc0" stroke-width="2" points="{points}"/>',
             f'<text x="{pad}" y="16" font-size="12">tokens used: {totals[-1]:,}'
             + (f" of a budget of {budget:,}" if budget else "") + "</text>",
             f'<text x="{pad}" y="{height - 8}" font-size="11" fill="#555">step 1</text>',
             f'<text x="{width - pad}" y="{height - 8}" font-size="11" fill="#555" '
             f'text-anchor="end">step {count}</text>']
    if budget:
        parts.append(f'<line x1="{pad}" x2="{width - pad}" y1="{y(budget):.1f}" '
                     f'y2="{y(budget):.1f}" stroke="#c62828" stroke-dasharray="5,4"/>')
    parts.append("</svg>")
    return "".join(parts)


def _badge(severity: str) -> str:
    return f'<span class="badge {_e(severity)}">{_e(severity)}</span>'


def _rank(severity: str | None) -> int:
    return Severity(severity).rank if severity else -1


def _duration(nanoseconds: int) -> str:
    seconds = max(nanoseconds, 0) / 1e9
    if seconds < 0.01:
        return f"{seconds * 1000:.1f} ms"
    if seconds < 1:
        return f"{seconds * 1000:.0f} ms"
    if seconds < 120:
        return f"{seconds:.1f} s"
    return f"{seconds / 60:.1f} min"


def _e(text: object) -> str:
    return html.escape(str(text), quote=True)
