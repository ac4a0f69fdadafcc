"""`OTEL_PYTHON_CONFIGURATOR=agentwatch` beside opentelemetry-distro, run as users run it:
`opentelemetry-instrument python app.py`, in a fresh process."""

from __future__ import annotations

import importlib.metadata
import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

from otel_agentwatch import Config
from otel_agentwatch.configurator import ExportFront
from tests.otlp_receiver import HttpReceiver
from tests.test_setup import LOOPING_APP, parse_console_spans, run_looping_agent

pytestmark = pytest.mark.frameworks  # opentelemetry-instrument, from the test extras


@pytest.fixture(scope="module")
def distro(tmp_path_factory) -> Path:
    """opentelemetry-distro, matching the installed opentelemetry-instrumentation, in a
    directory of its own (put on PYTHONPATH only where a test wants it)."""
    target = tmp_path_factory.mktemp("distro")
    version = importlib.metadata.version("opentelemetry-instrumentation")
    subprocess.run([sys.executable, "-m", "pip", "install", "-q", "--no-deps", "--target",
                    str(target), f"opentelemetry-distro=={version}"], check=True, timeout=300)
    return target


def instrumented_run(tmp_path: Path, **env: str | None) -> subprocess.CompletedProcess[str]:
    """The looping app under opentelemetry-instrument; ``NAME=None`` leaves NAME unset."""
    command = shutil.which("opentelemetry-instrument", path=str(Path(sys.executable).parent))
    assert command, "opentelemetry-instrument is installed with the test extras"
    app = tmp_path / "app.py"
    app.write_text(LOOPING_APP)
    full_env = {k: v for k, v in os.environ.items() if not k.startswith(("AGENTWATCH_", "OTEL_"))}
    full_env.update({"OTEL_TRACES_EXPORTER": "console", "OTEL_METRICS_EXPORTER": "none",
                     "OTEL_LOGS_EXPORTER": "none", **env})
    full_env = {name: value for name, value in full_env.items() if value is not None}
    result = subprocess.run([command, sys.executable, str(app)], env=full_env,
                            capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr
    return result


def tool_severities(spans: list[dict]) -> list[str | None]:
    return [s["attributes"].get("agentwatch.severity") for s in spans
            if s["name"] == "execute_tool lookup_order"]


def test_chosen_beside_the_distro_it_exports_per_span_flags(distro, tmp_path):
    result = instrumented_run(tmp_path, PYTHONPATH=str(distro),
                              OTEL_PYTHON_CONFIGURATOR="agentwatch")
    spans = parse_console_spans(result.stdout)
    # Each span once: one set of detectors in front of the distro's exporter.
    assert tool_severities(spans) == [None, None, "warning", "warning", "critical"]
    (agent,) = [s for s in spans if s["name"] == "invoke_agent support"]
    assert agent["attributes"]["agentwatch.run.tool_calls"] == 5


def test_chosen_without_the_distro_it_exports_over_otlp_by_default(tmp_path):
    """No OTEL_TRACES_EXPORTER: OTLP, as opentelemetry-distro and init() default to."""
    receiver = HttpReceiver()
    try:
        instrumented_run(tmp_path, OTEL_PYTHON_CONFIGURATOR="agentwatch",
                         OTEL_TRACES_EXPORTER=None, OTEL_EXPORTER_OTLP_PROTOCOL="http/protobuf",
                         OTEL_EXPORTER_OTLP_ENDPOINT=receiver.endpoint)
        assert receiver.received.arrived.wait(30)
    finally:
        receiver.close()
    assert tool_severities(receiver.received.spans) == [
        None, None, "warning", "warning", "critical"]


def test_not_chosen_the_distro_configures_and_flags_only_the_run(distro, tmp_path):
    """Without the variable the distro's configurator runs, as if we were not installed:
    the processor comes after its exporter, so only the open agent span carries flags."""
    spans = parse_console_spans(instrumented_run(tmp_path, PYTHONPATH=str(distro)).stdout)
    assert tool_severities(spans) == [None] * 5
    (agent,) = [s for s in spans if s["name"] == "invoke_agent support"]
    assert agent["attributes"]["agentwatch.run.severity"] == "critical"


def test_a_bad_setting_leaves_the_rest_of_opentelemetry_working(distro, tmp_path):
    """The error is reported by opentelemetry-instrument and otel-agentwatch stays off;
    the distro's exporter and the application run on."""
    result = instrumented_run(tmp_path, PYTHONPATH=str(distro),
                              OTEL_PYTHON_CONFIGURATOR="agentwatch",
                              AGENTWATCH_LOOP_WINDOW="many")
    assert "AGENTWATCH_LOOP_WINDOW='many' is not valid" in result.stderr
    spans = parse_console_spans(result.stdout)
    assert tool_severities(spans) == [None] * 5


@pytest.mark.parametrize("with_distro", [True, False])
def test_first_in_line_it_runs_the_other_configurator_or_none(distro, with_distro):
    code = """
import json
from opentelemetry import trace
from otel_agentwatch.configurator import AgentWatchConfigurator
AgentWatchConfigurator().configure(auto_instrumentation_version="0")
print(json.dumps(type(trace.get_tracer_provider()).__name__))
"""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("AGENTWATCH_", "OTEL_"))}
    if with_distro:
        env["PYTHONPATH"] = str(distro)
    env.update(OTEL_TRACES_EXPORTER="none", OTEL_METRICS_EXPORTER="none",
               OTEL_LOGS_EXPORTER="none")
    result = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True,
                            text=True, timeout=60)
    assert result.returncode == 0, result.stderr
    expected = "TracerProvider" if with_distro else "ProxyTracerProvider"
    assert json.loads(result.stdout) == expected


def test_one_processor_in_front_of_several_exporters():
    """The hook is called once per exporter; detections are made once and reach all."""
    front = ExportFront(Config())
    first, second = InMemorySpanExporter(), InMemorySpanExporter()
    provider = TracerProvider()
    provider.add_span_processor(front.processor_for(first))
    provider.add_span_processor(front.processor_for(second))
    run_looping_agent(provider.get_tracer("test"))
    provider.shutdown()
    for exporter in (first, second):
        tools = [s for s in exporter.get_finished_spans() if s.name.startswith("execute_tool")]
        assert [s.attributes.get("agentwatch.severity") for s in tools] == [
            None, None, "warning", "warning", "critical"]
        events = [e for e in tools[-1].events if e.name == "agentwatch.detection"]
        assert len(events) == len(tools[-1].attributes["agentwatch.detections"])
