"""``agentwatch analyze``: the detectors over traces exported before, offline.

Reads OTLP JSON and Jaeger JSON files (:mod:`.exports`), replays their spans through the
detectors (:mod:`.replay`), and reports per trace the flagged spans, or as JSON; with
``fail_on`` set, the exit status says whether any detection reached that severity, so a
CI job can gate on agent regressions.
"""

from __future__ import annotations

import sys
from collections import defaultdict
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import TextIO

from opentelemetry.sdk.trace import ReadableSpan

from .. import semconv
from ..config import Config
from ..detectors.base import Severity
from ..enrich import flags_on
from .exports import read_spans
from .replay import RecordedSpan, Replayer

__all__ = ["Finding", "TraceReport", "analyze", "format_reports", "judged_traces", "report_of"]


@dataclass(frozen=True)
class Finding:
    """One detection on one span of an analyzed trace."""

    span_id: str
    span_name: str
    detector: str
    severity: str
    message: str


@dataclass(frozen=True)
class TraceReport:
    """What the detectors found in one trace."""

    trace_id: str
    root: str
    spans: int
    findings: tuple[Finding, ...] = field(default=())

    @property
    def worst(self) -> str | None:
        severities = {finding.severity for finding in self.findings}
        if Severity.CRITICAL.value in severities:
            return Severity.CRITICAL.value
        return Severity.WARNING.value if severities else None


def analyze(paths: Sequence[Path], config: Config,
            progress: TextIO | None = None) -> list[TraceReport]:
    """Reports for every trace in the files, in the order they first appear.

    Raises :class:`~otel_agentwatch.exports.UnknownFormat` or ``OSError`` for a file it
    cannot read. ``progress``: a stream for a one-line progress count (a terminal).
    """
    return [report_of(trace_id, spans)
            for trace_id, spans in judged_traces(paths, config, progress)]


def judged_traces(paths: Sequence[Path], config: Config, progress: TextIO | None = None,
                  ) -> Iterator[tuple[int, list[ReadableSpan]]]:
    """Each trace in the files (by id, in the order they first appear) with its spans as
    the detectors left them; raises as :func:`analyze` does."""
    recorded: dict[int, list[RecordedSpan]] = defaultdict(list)
    for index, path in enumerate(paths, 1):
        for span in read_spans(path):
            recorded[span.trace_id].append(span)
        if progress is not None:
            progress.write(f"\ragentwatch: read {index}/{len(paths)} files, "
                           f"{sum(map(len, recorded.values()))} spans")
    replayer = Replayer(config)
    try:
        for count, (trace_id, spans) in enumerate(recorded.items(), 1):
            # One trace at a time, so a huge file never holds more than a trace in flight.
            yield trace_id, replayer.replay(spans)
            if progress is not None and (count % 100 == 0 or count == len(recorded)):
                progress.write(f"\ragentwatch: analyzed {count}/{len(recorded)} traces   ")
    finally:
        replayer.shutdown()
    if progress is not None:
        progress.write("\n")


def report_of(trace_id: int, spans: Sequence[ReadableSpan]) -> TraceReport:
    """What the detectors found in one judged trace."""
    root = next((span.name for span in spans if span.parent is None), "")
    findings: list[Finding] = []
    for span in sorted(spans, key=lambda s: s.start_time or 0):
        if not (span.attributes or {}).get(semconv.FLAGGED):
            continue
        findings.extend(Finding(format(span.context.span_id, "016x"), span.name, *flag)
                        for flag in flags_on(span))
    return TraceReport(format(trace_id, "032x"), root, len(spans), tuple(findings))


def format_reports(reports: Iterable[TraceReport]) -> str:
    """A readable table per flagged trace, and a summary line."""
    reports = list(reports)
    lines: list[str] = []
    for report in reports:
        if not report.findings:
            continue
        lines.append(f"trace {report.trace_id}  {report.root or '(no root)'}  "
                     f"{report.worst}  ({report.spans} spans)")
        width = max(len(finding.span_name) for finding in report.findings)
        detector_width = max(len(finding.detector) for finding in report.findings)
        for finding in report.findings:
            lines.append(f"  {finding.span_name.ljust(width)}  "
                         f"{finding.detector.ljust(detector_width)}  "
                         f"{finding.severity.ljust(8)}  {finding.message}")
        lines.append("")
    flagged = [report for report in reports if report.findings]
    critical = [report for report in flagged if report.worst == Severity.CRITICAL.value]
    plural = "" if len(reports) == 1 else "s"
    lines.append(f"{len(reports)} trace{plural}, {len(flagged)} flagged ({len(critical)} critical)")
    return "\n".join(lines)


def reports_json(reports: Iterable[TraceReport]) -> list[dict[str, object]]:
    """The reports as plain data, for ``--json``."""
    return [{**asdict(report), "worst": report.worst} for report in reports]


def failed(reports: Iterable[TraceReport], fail_on: str) -> bool:
    """Whether any finding reached ``fail_on`` (``warning`` or ``critical``)."""
    level = Severity(fail_on).rank
    return any(Severity(finding.severity).rank >= level
               for report in reports for finding in report.findings)


def progress_stream() -> TextIO | None:
    """Standard error when it is a terminal (a progress count), else None."""
    return sys.stderr if sys.stderr.isatty() else None
