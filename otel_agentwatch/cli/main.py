"""The ``agentwatch`` command: ``demo``, ``config``, ``analyze``, ``serve``."""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING

from ..config import Config
from ..settings import ConfigError
from ..version import __version__

if TYPE_CHECKING:
    from .analyze import TraceReport

__all__ = ["main"]


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the ``agentwatch`` console script; returns the exit status."""
    parser = argparse.ArgumentParser(
        prog="agentwatch",
        description="Flag looping, drifting and stalled agent runs in OpenTelemetry spans.",
    )
    parser.add_argument("--version", action="version", version=f"%(prog)s {__version__}")
    commands = parser.add_subparsers(dest="command", required=True)
    demo = commands.add_parser(
        "demo", help="run a scripted looping agent offline and print its flagged span tree")
    demo.add_argument("--no-color", action="store_true", help="plain text output")
    config_command = commands.add_parser(
        "config", help="validate the AGENTWATCH_* environment and print the settings in effect")
    config_command.add_argument("--markdown", action="store_true",
                                help="print the settings reference (docs/settings.md) instead")
    analyze = commands.add_parser(
        "analyze", help="run the detectors over exported traces (OTLP JSON, Jaeger JSON)")
    analyze.add_argument("paths", nargs="+", type=Path, metavar="PATH",
                         help="OTLP JSON (one request, or one per line) or Jaeger JSON files")
    analyze.add_argument("--json", action="store_true", help="print the findings as JSON")
    analyze.add_argument("--html", type=Path, metavar="FILE",
                         help="also write a page (readable offline) with each run's "
                              "timeline, its flags and its token use")
    analyze.add_argument("--profile", help="detector profile (default: AGENTWATCH_PROFILE)")
    analyze.add_argument("--fail-on", choices=("warning", "critical"),
                         help="exit with status 1 when a detection reaches this severity")
    serve = commands.add_parser(
        "serve", help="receive OTLP traces, run the detectors per trace across processes, "
                      "forward the spans with the verdicts (needs the serve extra)")
    from .serve import add_arguments

    add_arguments(serve)
    args = parser.parse_args(argv)

    try:
        config = Config.from_env()
    except ConfigError as error:
        print(f"agentwatch: configuration error: {error}", file=sys.stderr)
        return 2
    if args.command == "demo":
        return _demo(config, color=not args.no_color and sys.stdout.isatty())
    if args.command == "analyze":
        return _analyze(config, args)
    if args.command == "serve":
        from .serve import run_serve

        return run_serve(config, args)
    return _config(config, markdown=args.markdown)


def _demo(config: Config, *, color: bool) -> int:
    from .demo import run_demo
    from .tree import format_span_tree

    spans = run_demo(config)
    flagged = [s for s in spans if (s.attributes or {}).get("agentwatch.flagged")]
    print("A scripted support agent keeps looking up the same order. Its spans, as exported:\n")
    print(format_span_tree(spans, color=color))
    print(f"\n{len(flagged)} of {len(spans)} spans flagged. In Jaeger, search the tag "
          "agentwatch.flagged=true; in Honeycomb, WHERE agentwatch.flagged = true.")
    return 0


def _analyze(config: Config, args: argparse.Namespace) -> int:
    from .analyze import analyze, failed, format_reports, progress_stream, reports_json
    from .exports import UnknownFormat

    try:
        if args.profile:
            config = config.replace(profile=args.profile)
        if args.html is not None:
            reports, page = _analyze_to_page(config, args.paths)
        else:
            reports = analyze(args.paths, config, progress_stream())
    except ConfigError as error:
        print(f"agentwatch: configuration error: {error}", file=sys.stderr)
        return 2
    except (OSError, UnknownFormat) as error:
        print(f"agentwatch: cannot read {error}", file=sys.stderr)
        return 2
    if args.html is not None:
        try:
            args.html.write_text(page, encoding="utf-8")
        except OSError as error:
            print(f"agentwatch: cannot write {error}", file=sys.stderr)
            return 2
        print(f"agentwatch: wrote {args.html}", file=sys.stderr)
    if args.json:
        print(json.dumps(reports_json(reports), indent=2))
    else:
        print(format_reports(reports))
    return 1 if args.fail_on and failed(reports, args.fail_on) else 0


def _analyze_to_page(config: Config, paths: list[Path]) -> tuple[list[TraceReport], str]:
    """The reports, and the page that shows them."""
    from ..detectors.budget import TOKENS
    from ..settings import SettingValues
    from .analyze import judged_traces, progress_stream, report_of
    from .report import TraceView, render_html
    from .timeline import runs_of

    views = [TraceView(report_of(trace_id, spans), tuple(runs_of(spans)))
             for trace_id, spans in judged_traces(paths, config, progress_stream())]
    budget = SettingValues.resolve([TOKENS], config.settings)[TOKENS]
    page = render_html(views, sources=[str(path) for path in paths], token_budget=budget)
    return [view.report for view in views], page


def _config(config: Config, *, markdown: bool) -> int:
    from .reference import effective_settings, settings_reference

    if markdown:
        print(settings_reference())
        return 0
    try:
        rows = [(setting.env, setting.format(value), setting.default_text())
                for setting, value in effective_settings(config)]
    except ConfigError as error:
        print(f"agentwatch: configuration error: {error}", file=sys.stderr)
        return 2
    widths = [max(len(row[i]) for row in rows) for i in range(2)]
    print(f"{'variable'.ljust(widths[0])}  {'value'.ljust(widths[1])}  default")
    for env, value, default in rows:
        print(f"{env.ljust(widths[0])}  {value.ljust(widths[1])}  {default}")
    return 0
