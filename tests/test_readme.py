"""Every statement in the README that code can check: settings table, examples, demo, commands."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

from otel_agentwatch.cli import main as cli_main
from otel_agentwatch.cli.reference import settings_reference
from otel_agentwatch.detectors import DETECTOR_IDS

ROOT = Path(__file__).resolve().parent.parent
README = (ROOT / "README.md").read_text(encoding="utf-8")

pytestmark = pytest.mark.frameworks  # needs the agent frameworks of the test extras


def _block_after(marker: str) -> str:
    after = README.split(marker, 1)[1]
    return re.search(r"```\w*\n(.*?)```", after, re.S).group(1)


def _python_blocks() -> list[str]:
    return re.findall(r"```python\n(.*?)```", README, re.S)


def test_settings_table_is_the_one_the_code_generates():
    table = README.split("<!-- settings-table -->\n", 1)[1].split("\n<!-- /settings-table -->")[0]
    assert table == settings_reference()


def test_every_detector_is_documented():
    for detector_id in DETECTOR_IDS:
        assert f"| `{detector_id}` |" in README


@pytest.mark.parametrize("code", _python_blocks(), ids=lambda c: c.splitlines()[0][:40])
def test_python_examples_run(code):
    env = {k: v for k, v in os.environ.items() if not k.startswith(("AGENTWATCH_", "OTEL_"))}
    env["OTEL_TRACES_EXPORTER"] = "none"
    result = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True,
                            text=True, timeout=120)
    assert result.returncode == 0, result.stderr


def test_demo_output_shown_in_the_readme_is_what_the_demo_prints():
    result = subprocess.run([sys.executable, str(ROOT / "examples" / "langgraph_loop.py")],
                            capture_output=True, text=True, timeout=300,
                            env={k: v for k, v in os.environ.items()
                                 if not k.startswith(("AGENTWATCH_", "OTEL_"))})
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


def test_cli_demo_flags_the_scripted_loop(capsys):
    assert cli_main(["demo", "--no-color"]) == 0
    printed = capsys.readouterr().out
    assert "✖ critical" in printed and "lookup_order called 5 times in a row" in printed


def test_example_halts_with_the_flag():
    result = subprocess.run(
        [sys.executable, str(ROOT / "examples" / "langgraph_loop.py"), "--halt"],
        capture_output=True, text=True, timeout=300,
        env={k: v for k, v in os.environ.items() if not k.startswith(("AGENTWATCH_", "OTEL_"))})
    assert result.returncode == 0, result.stderr
    assert result.stdout.startswith("agent halted: lookup_order called 5 times in a row")


@pytest.mark.parametrize("options, flagged", [([], "4 of 7 spans flagged."),
                                              (["--agent-run"], "4 of 14 spans flagged.")])
def test_openai_example_flags_the_loop(options, flagged):
    """The raw-SDK example: flagged on its chat spans alone, or on its tool spans."""
    result = subprocess.run(
        [sys.executable, str(ROOT / "examples" / "openai_tool_loop.py"), *options],
        capture_output=True, text=True, timeout=300,
        env={k: v for k, v in os.environ.items() if not k.startswith(("AGENTWATCH_", "OTEL_"))})
    assert result.returncode == 0, result.stderr
    assert result.stdout.startswith("agent answered: Your order A-1042 has shipped.")
    assert "lookup_order called 5 times in a row" in result.stdout
    assert result.stdout.rstrip().endswith(flagged)
