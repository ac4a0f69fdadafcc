"""Every statement in the README and docs/ that code can check: the generated references,
the examples, the demo's output, the commands, the links."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

from otel_agentwatch.cli import main as cli_main
from otel_agentwatch.cli.reference import (
    detectors_markdown,
    nudges_markdown,
    settings_reference,
)
from otel_agentwatch.detectors import DETECTOR_IDS

ROOT = Path(__file__).resolve().parent.parent
README = (ROOT / "README.md").read_text(encoding="utf-8")
PAGES = {path.relative_to(ROOT).as_posix(): path.read_text(encoding="utf-8")
         for path in sorted((ROOT / "docs").rglob("*.md"))}
DOCUMENTS = {"README.md": README, **PAGES}

pytestmark = pytest.mark.frameworks  # the examples need the agent frameworks of the test extras


def _block_after(marker: str, text: str = README) -> str:
    after = text.split(marker, 1)[1]
    return re.search(r"```\w*\n(.*?)```", after, re.S).group(1)


def _section(text: str, marker: str) -> str:
    return text.split(f"<!-- {marker} -->\n", 1)[1].split(f"\n<!-- /{marker} -->")[0]


def _python_blocks() -> list[tuple[str, str]]:
    return [(name, code) for name, text in DOCUMENTS.items()
            for code in re.findall(r"```python\n(.*?)```", text, re.S)]


def _clean_env() -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("AGENTWATCH_", "OTEL_"))}
    env["OTEL_TRACES_EXPORTER"] = "none"
    return env


def test_readme_is_short():
    assert len(README.splitlines()) <= 200


def test_settings_reference_is_the_one_the_code_generates():
    """docs/settings.md is generated: `python docs/regenerate.py` writes it again."""
    assert _section(PAGES["docs/settings.md"], "settings-reference") == settings_reference()


def test_detectors_reference_is_the_one_the_code_generates():
    """docs/detectors.md's table is generated: `python docs/regenerate.py` writes it again."""
    assert _section(PAGES["docs/detectors.md"], "detectors-reference") == detectors_markdown()


def test_nudge_wording_is_the_one_the_code_generates():
    """docs/acting.md's table of notes is generated: `python docs/regenerate.py` writes it."""
    assert _section(PAGES["docs/acting.md"], "nudge-wording") == nudges_markdown()


def test_every_detector_is_in_the_readme_and_the_reference():
    for detector_id in DETECTOR_IDS:
        assert f"`{detector_id}`" in README or detector_id.startswith("budget."), detector_id
        assert f"| `{detector_id}` |" in PAGES["docs/detectors.md"], detector_id


@pytest.mark.parametrize(("document", "code"), _python_blocks(),
                         ids=lambda value: value if value.endswith(".md") else
                         value.splitlines()[0][:40])
def test_python_examples_run(document, code):
    result = subprocess.run([sys.executable, "-c", code], env=_clean_env(), cwd=ROOT,
                            capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, f"{document}: {result.stderr}"


@pytest.mark.parametrize("document", sorted(DOCUMENTS))
def test_relative_links_lead_somewhere(document):
    base = (ROOT / document).parent
    for target in re.findall(r"\]\(([^)#\s]+)(?:#[^)]*)?\)", DOCUMENTS[document]):
        if "://" not in target:
            assert (base / target).exists(), f"{document} links to {target}"


def test_demo_output_shown_in_the_readme_is_what_the_demo_prints():
    result = subprocess.run([sys.executable, str(ROOT / "examples" / "langgraph_loop.py")],
                            capture_output=True, text=True, timeout=300, env=_clean_env())
    assert result.returncode == 0, result.stderr
    printed = result.stdout
    shown = _block_after("The demo prints (abridged):")
    for line in shown.splitlines():
        if line.strip() and line.strip() != "...":
            assert line in printed, line


def test_ci_runs_the_readme_test_command():
    ci = (ROOT / ".ci" / "run").read_text(encoding="utf-8")
    assert "<!-- test-command -->" in ci
    command = _block_after("<!-- test-command -->").strip()
    assert "pytest" in command


def test_readme_has_exactly_two_setup_commands():
    demo = _block_after("<!-- demo-command -->").strip()
    test = _block_after("<!-- test-command -->").strip()
    assert demo.startswith("python3 -m venv .venv") and demo.endswith("langgraph_loop.py")
    assert test.startswith("python3 -m venv .venv")


def test_cost_summary_in_the_readme_matches_docs_performance():
    """The README quotes the benchmark run docs/performance.md reports, and that page's
    summary repeats rows of its full table."""
    summary = _section(README, "cost-summary")
    performance = PAGES["docs/performance.md"]
    assert summary == _section(performance, "cost-summary")
    full_table = performance.split("<!-- cost-summary -->")[0]
    for row in summary.splitlines()[2:]:
        assert row in full_table, row


def test_cli_demo_flags_the_scripted_loop(capsys):
    assert cli_main(["demo", "--no-color"]) == 0
    printed = capsys.readouterr().out
    assert "✖ critical" in printed and "lookup_order called 5 times in a row" in printed


def test_cli_config_markdown_prints_the_settings_reference(capsys):
    assert cli_main(["config", "--markdown"]) == 0
    assert capsys.readouterr().out.rstrip("\n") == settings_reference()


def test_cli_config_prints_every_setting_and_fails_on_a_bad_one(capsys, monkeypatch):
    assert cli_main(["config"]) == 0
    printed = capsys.readouterr().out
    assert "AGENTWATCH_LOOP_REPEAT_THRESHOLD" in printed and "AGENTWATCH_ACTION" in printed
    monkeypatch.setenv("AGENTWATCH_LOOP_WINDOW", "0")
    assert cli_main(["config"]) == 2
    assert "AGENTWATCH_LOOP_WINDOW" in capsys.readouterr().err


def test_example_halts_with_the_flag():
    result = subprocess.run(
        [sys.executable, str(ROOT / "examples" / "langgraph_loop.py"), "--halt"],
        capture_output=True, text=True, timeout=300, env=_clean_env())
    assert result.returncode == 0, result.stderr
    assert result.stdout.startswith("agent halted: lookup_order called 5 times in a row")


@pytest.mark.parametrize(("options", "first_line", "nudges"), [
    ([], "agent answered: Order A-1042 has shipped", 1),
    (["--stubborn"], "agent halted: lookup_order called 5 times in a row", 2),
])
def test_nudge_example_obedient_and_stubborn(options, first_line, nudges):
    """The obedient model answers once told; the stubborn one is told twice and halted."""
    result = subprocess.run(
        [sys.executable, str(ROOT / "examples" / "nudged_agent.py"), *options],
        capture_output=True, text=True, timeout=300, env=_clean_env())
    assert result.returncode == 0, result.stderr
    assert result.stdout.startswith(first_line)
    assert result.stdout.count("✉ nudged") == nudges
    assert result.stdout.count("[agentwatch] lookup_order called") == nudges
    assert ("✖ critical" in result.stdout) == bool(options)


@pytest.mark.parametrize("options, flagged", [([], "4 of 7 spans flagged."),
                                              (["--agent-run"], "4 of 14 spans flagged.")])
def test_openai_example_flags_the_loop(options, flagged):
    """The raw-SDK example: flagged on its chat spans alone, or on its tool spans."""
    result = subprocess.run(
        [sys.executable, str(ROOT / "examples" / "openai_tool_loop.py"), *options],
        capture_output=True, text=True, timeout=300, env=_clean_env())
    assert result.returncode == 0, result.stderr
    assert result.stdout.startswith("agent answered: Your order A-1042 has shipped.")
    assert "lookup_order called 5 times in a row" in result.stdout
    assert result.stdout.rstrip().endswith(flagged)


@pytest.mark.parametrize("options, first_line, flagged", [
    ([], "agent answered: Your order A-1042 has shipped.", "4 of 14 spans flagged."),
    (["--halt"], "agent halted: lookup_order called 5 times in a row", "3 of 12 spans flagged."),
])
def test_openai_agents_example_flags_and_halts_the_loop(options, first_line, flagged):
    pytest.importorskip("agents")
    result = subprocess.run(
        [sys.executable, str(ROOT / "examples" / "openai_agents_loop.py"), *options],
        capture_output=True, text=True, timeout=300, env=_clean_env())
    assert result.returncode == 0, result.stderr
    assert result.stdout.startswith(first_line)
    assert result.stdout.rstrip().endswith(flagged)
