"""Custom detectors: the example in docs/custom-detectors.md, passed in code, installed by a
package through the entry point group, and registered as a built-in one."""

from __future__ import annotations

import logging
import os
import re
import subprocess
import sys
import textwrap
import types
from pathlib import Path
from typing import ClassVar

import pytest

from otel_agentwatch import (
    AgentWatchSpanProcessor,
    Config,
    ConfigError,
    Detection,
    Detector,
    Severity,
    StepKind,
)
from otel_agentwatch.cli.reference import detectors_markdown, effective_settings, settings_reference
from otel_agentwatch.detectors import build_detectors, registry
from tests.conftest import Pipeline
from tests.detecting import flags
from tests.dialects import DIALECTS, GenAI
from tests.test_loop_detectors import tool

ROOT = Path(__file__).resolve().parent.parent
PAGE = (ROOT / "docs" / "custom-detectors.md").read_text(encoding="utf-8")
EXAMPLE = re.search(r"<!-- custom-detector-example -->\n```python\n(.*?)```", PAGE, re.S).group(1)
# The detector alone: the example up to where its application starts.
MODULE = EXAMPLE.split("# An application:")[0]


def example_module(name: str = "refund_checks") -> types.ModuleType:
    module = types.ModuleType(name)
    exec(compile(MODULE, f"<{name}>", "exec"), module.__dict__)  # our own docs
    return module


refund_checks = example_module()
DuplicateRefund = refund_checks.DuplicateRefund


def refund(order: str, error: str | None = None):
    return tool("issue_refund", {"order_id": order, "amount": 20}, "refunded", error)


def test_the_example_in_the_docs_runs_and_flags_the_second_and_third_refund():
    result = subprocess.run([sys.executable, "-c", EXAMPLE], capture_output=True, text=True,
                            timeout=120, cwd=ROOT,
                            env={**os.environ, "OTEL_TRACES_EXPORTER": "none"})
    assert result.returncode == 0, result.stderr


def test_one_order_refunded_again_warns_then_goes_critical():
    steps = [refund("A"), refund("B"), refund("A"), refund("A", error="Timeout"), refund("A")]
    assert flags(DuplicateRefund(), steps) == ["warning", "critical"]


def test_its_two_thresholds_are_settings_read_and_checked_at_start():
    config = Config(settings={"AGENTWATCH_REFUND_THRESHOLD": "3",
                              "AGENTWATCH_REFUND_CRITICAL": 5})
    [built] = [d for d in build_detectors(config, [DuplicateRefund])
               if d.id == "refund.duplicate"]
    assert (built.warning_at, built.critical_at) == (3, 5)
    with pytest.raises(ConfigError, match="AGENTWATCH_REFUND_CRITICAL=2"):
        build_detectors(Config(settings={"AGENTWATCH_REFUND_THRESHOLD": 3,
                                         "AGENTWATCH_REFUND_CRITICAL": 2}), [DuplicateRefund])


def test_passed_in_code_it_runs_whatever_the_selection():
    config = Config(detectors=("loop.repeated_call",))
    ids = [d.id for d in AgentWatchSpanProcessor(config=config,
                                                 extra_detectors=[DuplicateRefund()]).detectors]
    assert ids == ["loop.repeated_call", "refund.duplicate"]


def test_what_is_not_a_detector_is_refused_with_a_clear_error():
    with pytest.raises(TypeError, match="not an otel_agentwatch Detector"):
        AgentWatchSpanProcessor(config=Config(), extra_detectors=[object()])

    class Nameless(Detector[None]):
        id = "nameless"  # no family
        failure_mode = "x"
        kinds = frozenset({StepKind.TOOL})

        def observe(self, step, state, facts):
            return None

    with pytest.raises(TypeError, match=r"family\.name"):
        AgentWatchSpanProcessor(config=Config(), extra_detectors=[Nameless()])


def test_two_detectors_with_one_id_fail_at_start():
    other = example_module("other_refunds").DuplicateRefund
    with pytest.raises(ValueError, match=r"two detectors have the id 'refund\.duplicate'"):
        build_detectors(Config(), [DuplicateRefund, other])


class TestShippedByAPackage:
    """An installed distribution that names the example under the entry point group."""

    @pytest.fixture
    def installed(self, tmp_path, monkeypatch):
        (tmp_path / "refund_checks.py").write_text(MODULE, encoding="utf-8")
        info = tmp_path / "refund_checks-1.0.dist-info"
        info.mkdir()
        (info / "METADATA").write_text("Metadata-Version: 2.1\nName: refund-checks\n"
                                       "Version: 1.0\n", encoding="utf-8")
        (info / "entry_points.txt").write_text(
            "[otel_agentwatch.detectors]\nrefund = refund_checks:DuplicateRefund\n",
            encoding="utf-8")
        monkeypatch.syspath_prepend(str(tmp_path))
        return tmp_path

    def test_selected_by_id_or_family_like_the_built_in_ones(self, installed):
        assert "refund.duplicate" in [d.id for d in build_detectors(Config())]
        chosen = build_detectors(Config(detectors=("loop.repeated_call", "refund")))
        assert [d.id for d in chosen] == ["loop.repeated_call", "refund.duplicate"]
        assert "refund.duplicate" not in [
            d.id for d in build_detectors(Config(detectors=("all", "-refund")))]

    def test_its_settings_are_read_and_listed(self, installed):
        config = Config(settings={"AGENTWATCH_REFUND_THRESHOLD": "4",
                                  "AGENTWATCH_REFUND_CRITICAL": "6"})
        [built] = [d for d in build_detectors(config) if d.id == "refund.duplicate"]
        assert (built.warning_at, built.critical_at) == (4, 6)
        listed = {setting.env: value for setting, value in effective_settings(config)}
        assert listed["AGENTWATCH_REFUND_CRITICAL"] == 6

    def test_the_import_line_alone_flags_with_it(self, installed):
        app = textwrap.dedent("""
            import otel_agentwatch.auto
            import otel_agentwatch

            @otel_agentwatch.tool
            def issue_refund(order_id: str, amount: int) -> str:
                return "refunded"

            flagged = []
            otel_agentwatch.on_detection(lambda d: flagged.append((d.detector, d.severity.value)))
            with otel_agentwatch.agent_run("support"):
                for amount in (10, 20, 30):
                    issue_refund(order_id="A-1042", amount=amount)
            print(flagged)
        """)
        env = {**os.environ, "OTEL_TRACES_EXPORTER": "none",
               "PYTHONPATH": os.pathsep.join([str(installed), str(ROOT)])}
        result = subprocess.run([sys.executable, "-c", app], capture_output=True, text=True,
                                timeout=120, env=env)
        assert result.returncode == 0, result.stderr
        assert result.stdout.strip() == \
            "[('refund.duplicate', 'warning'), ('refund.duplicate', 'critical')]"

    def test_a_broken_entry_point_is_left_out_and_the_rest_runs(self, installed, caplog):
        info = installed / "refund_checks-1.0.dist-info" / "entry_points.txt"
        info.write_text("[otel_agentwatch.detectors]\nrefund = refund_checks:DuplicateRefund\n"
                        "broken = no_such_module:Nothing\n", encoding="utf-8")
        with caplog.at_level(logging.WARNING, logger="otel_agentwatch"):
            ids = [d.id for d in build_detectors(Config())]
        assert "refund.duplicate" in ids and "loop.repeated_call" in ids
        assert "'broken'" in caplog.text


def test_registered_as_a_built_in_one_it_joins_the_profile_and_the_references(monkeypatch):
    """One module and one line in registry.BUILTIN: what a new built-in detector takes."""
    monkeypatch.setattr(registry, "BUILTIN", (*registry.BUILTIN, DuplicateRefund))
    assert "refund.duplicate" in [d.id for d in build_detectors(Config())]
    assert "`AGENTWATCH_REFUND_CRITICAL` | `3`" in settings_reference()
    assert "| `refund.duplicate` | A refund is issued more than once for the same order." in \
        detectors_markdown()


class LongAnswers(Detector[None]):
    """Flags model calls that write more than a limit: a detector a user might add."""

    id: ClassVar[str] = "custom.long_answer"
    failure_mode: ClassVar[str] = "verbose_output"
    kinds: ClassVar[frozenset[StepKind]] = frozenset({StepKind.LLM})

    def __init__(self, limit: int) -> None:
        self.limit = limit
        self.seen: list = []

    def observe(self, step, state, facts):
        self.seen.append(step)
        if (step.output_tokens or 0) <= self.limit:
            return None
        return Detection(self.id, self.failure_mode, Severity.WARNING, 1.0,
                         f"{step.name} wrote {step.output_tokens} tokens", self.mast_codes,
                         step.span_id, step.trace_id, step.run_key,
                         {"output_tokens": step.output_tokens})


@pytest.mark.parametrize("dialect", DIALECTS, ids=lambda d: d.name)
def test_a_custom_detector_sees_full_model_steps_in_every_dialect_and_flags(dialect):
    """A detector watching model calls gets their usage, in every dialect, and can flag."""
    detector = LongAnswers(limit=1000)
    pipeline = Pipeline(Config(), extra_detectors=[detector])
    with dialect.agent(pipeline.tracer):
        dialect.chat(pipeline.tracer, model="gpt-4o", output_tokens=20)
        dialect.chat(pipeline.tracer, model="gpt-4o", output_tokens=4000)
    assert [(s.kind, s.name, s.output_tokens) for s in detector.seen] == [
        (StepKind.LLM, "gpt-4o", 20), (StepKind.LLM, "gpt-4o", 4000)]
    flagged = [s for s in pipeline.spans() if s.attributes.get("agentwatch.flagged")]
    assert len(flagged) == 1
    assert flagged[0].attributes["agentwatch.detections"] == ("custom.long_answer",)
    assert flagged[0].attributes["agentwatch.failure_mode"] == "verbose_output"


def test_detectors_are_not_called_for_kinds_they_do_not_watch():
    detector = LongAnswers(limit=1000)
    pipeline = Pipeline(Config(), extra_detectors=[detector])
    with GenAI.agent(pipeline.tracer):
        GenAI.tool(pipeline.tracer, "search", {"q": 1})
    assert detector.seen == []
