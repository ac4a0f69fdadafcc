"""``agentwatch analyze --html``: a page, readable offline, with each run's timeline, its
flags and its tokens; checked in a real browser (headless Chromium) when one is here."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
from html.parser import HTMLParser
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from otel_agentwatch.cli import main as cli_main
from otel_agentwatch.cli.analyze import Finding, TraceReport
from otel_agentwatch.cli.replay import RecordedSpan, replay
from otel_agentwatch.cli.report import TraceView, render_html
from otel_agentwatch.cli.timeline import Flag, Run, StepRow, runs_of

ROOT = Path(__file__).resolve().parent.parent
CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")


@pytest.fixture(scope="module")
def page(tmp_path_factory) -> Path:
    """The LangGraph example exported with content capture off (digests only), analyzed
    into a page with a token budget set."""
    folder = tmp_path_factory.mktemp("report")
    export = folder / "loop.json"
    env = {k: v for k, v in os.environ.items() if not k.startswith(("AGENTWATCH_", "OTEL_"))}
    subprocess.run([sys.executable, str(ROOT / "examples" / "langgraph_loop.py"),
                    "--export", str(export)], env=env, check=True, capture_output=True,
                   timeout=300)
    assert "gen_ai.tool.call.arguments" not in export.read_text()
    target = folder / "report.html"
    subprocess.run([sys.executable, "-m", "otel_agentwatch.cli", "analyze", str(export),
                    "--html", str(target)], env={**env, "AGENTWATCH_BUDGET_TOKENS": "2500"},
                   check=True, capture_output=True, timeout=300)
    return target


class Tags(HTMLParser):
    """The start tags of a page and the attributes that could load something."""

    def __init__(self) -> None:
        super().__init__()
        self.tags: list[tuple[str, dict[str, str | None]]] = []
        self.text: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.tags.append((tag, dict(attrs)))

    def handle_data(self, data: str) -> None:
        self.text.append(data)


def parsed(text: str) -> Tags:
    tags = Tags()
    tags.feed(text)
    return tags


@pytest.mark.frameworks
def test_the_page_shows_the_loop_step_by_step_and_loads_nothing(page: Path) -> None:
    text = page.read_text()
    tags = parsed(text)
    # Readable offline: no script, nothing fetched.
    assert not [tag for tag, _ in tags.tags if tag in ("script", "img", "link", "iframe")]
    assert not [attrs for _, attrs in tags.tags if "src" in attrs or "href" in attrs]
    assert "url(" not in text and "@import" not in text
    rows = [attrs.get("class") for tag, attrs in tags.tags if tag == "tr"]
    assert rows.count("critical") == 3  # the 5th and 6th lookups, the last model call
    assert rows.count("warning") == 3  # the 3rd and 4th lookups, the budget's warning
    words = " ".join(tags.text)
    assert "lookup_order called 5 times in a row with identical arguments" in words
    assert "run support-agent" in words and "13 steps" in words
    assert "tokens used: 2,745 of a budget of 2,500" in words
    assert [tag for tag, _ in tags.tags].count("polyline") == 1


def test_a_file_that_cannot_be_written_fails_clearly(tmp_path: Path,
                                                     capsys: pytest.CaptureFixture[str]) -> None:
    export = tmp_path / "empty.json"
    export.write_text('{"resourceSpans": []}')
    assert cli_main(["analyze", str(export), "--html",
                     str(tmp_path / "missing" / "report.html")]) == 2
    assert "cannot write" in capsys.readouterr().err


@pytest.mark.frameworks
@pytest.mark.skipif(CHROMIUM is None, reason="Debian's chromium is not installed")
def test_chromium_renders_the_page_offline(page: Path, tmp_path: Path) -> None:
    from PIL import Image

    offline = ["--headless", "--no-sandbox", "--disable-gpu", "--hide-scrollbars",
               "--proxy-server=127.0.0.1:9", "--proxy-bypass-list=<-loopback>",
               f"--user-data-dir={tmp_path / 'profile'}"]
    dom = subprocess.run([CHROMIUM, *offline, "--dump-dom", page.as_uri()],
                         capture_output=True, text=True, timeout=120, check=True).stdout
    # What the browser built from the page: every row, flag and the chart.
    assert len(re.findall(r'<tr class="critical">', dom)) == 3
    assert "lookup_order called 6 times in a row" in dom and "<polyline" in dom
    shot = tmp_path / "page.png"
    subprocess.run([CHROMIUM, *offline, "--window-size=1100,1300", f"--screenshot={shot}",
                    page.as_uri()], capture_output=True, timeout=120, check=True)
    image = Image.open(shot).convert("RGB")
    colours = {colour for _, colour in image.getcolors(maxcolors=1 << 20) or ()}
    assert (0xC6, 0x28, 0x28) in colours  # the critical badges are drawn
    assert (0xFD, 0xEC, 0xEA) in colours  # the critical rows' background
    assert (0xEF, 0x8F, 0x00) in colours  # the warning badges


# --- the runs and the page, from spans made here --------------------------------------------


def span(span_id: int, parent: int | None, name: str, start: int, attributes: dict,
         end: int | None = None) -> RecordedSpan:
    return RecordedSpan(1, span_id, parent, name, start * 1000, (end or start + 1) * 1000,
                        attributes)


def agent(name: str) -> dict:
    return {"gen_ai.operation.name": "invoke_agent", "gen_ai.agent.name": name}


def search(query: str) -> dict:
    return {"gen_ai.operation.name": "execute_tool", "gen_ai.tool.name": "search",
            "gen_ai.tool.call.arguments": f'{{"q": "{query}"}}'}


def test_a_nested_agent_is_a_step_and_a_run_and_a_tools_inner_spans_are_not_steps() -> None:
    spans = replay([
        span(1, None, "invoke_agent lead", 0, agent("lead"), end=100),
        span(2, 1, "chat m", 1, {"gen_ai.operation.name": "chat", "gen_ai.request.model": "m",
                                 "gen_ai.usage.input_tokens": 100,
                                 "gen_ai.usage.output_tokens": 20}),
        span(3, 1, "invoke_agent helper", 10, agent("helper"), end=60),
        *(span(10 + i, 3, "execute_tool search", 11 + i * 5, search("same"))
          for i in range(6)),
        span(30, 10, "GET /search", 11, {"http.request.method": "GET"}),
        span(4, 1, "execute_tool search", 70, search("other")),
    ])
    lead, helper = runs_of(spans)
    assert lead.name == "lead" and helper.name == "helper"
    assert [(s.kind, s.name) for s in lead.steps] == [
        ("llm", "m"), ("agent", "helper"), ("tool", "search")]
    assert lead.tokens == (120, 120, 120)
    assert [s.name for s in helper.steps] == ["search"] * 6  # not the GET inside the first
    assert helper.worst == "critical" and lead.worst is None
    assert [s.severity for s in helper.steps][-1] == "critical"
    # The helper's verdicts are shown on its run, not again on the lead's step.
    assert lead.flags == ()


names = st.text(min_size=1, max_size=30)


@given(name=names, message=names, detector=names)
@settings(max_examples=200, deadline=None)
def test_whatever_spans_say_the_page_shows_it_as_text(name: str, message: str,
                                                      detector: str) -> None:
    run = Run(name, 1, 0, 10, (StepRow(1, "tool", name, 0, 5, "critical", name, 0),),
              (Flag(detector, "critical", message, 1), Flag(detector, "warning", message)))
    report = TraceReport("ab" * 16, name, 2, (Finding("0" * 16, name, detector, "critical",
                                                      message),))
    page = render_html([TraceView(report, (run,))], sources=[name])
    tags = parsed(page)
    allowed = {"html", "head", "meta", "title", "style", "body", "h1", "h2", "h3", "div",
               "details", "summary", "span", "section", "table", "tr", "th", "td", "ul",
               "li", "br"}
    assert {tag for tag, _ in tags.tags} <= allowed
    text = "".join(tags.text)
    assert name in text and message in text and detector in text
