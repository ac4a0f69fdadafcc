"""`init()` and `import otel_agentwatch.auto`, run as a user runs them: in a fresh process."""

from __future__ import annotations

import inspect
import json
import os
import subprocess
import sys
import textwrap

import pytest

from tests.otlp_receiver import GrpcReceiver, HttpReceiver


def run_looping_agent(tracer) -> None:
    """An agent span around five identical tool calls, as GenAI spans."""
    for_each_call = {"gen_ai.operation.name": "execute_tool", "gen_ai.tool.name": "lookup_order",
                     "gen_ai.tool.call.arguments": '{"order_id": 42}'}
    with tracer.start_as_current_span("invoke_agent support",
                                      attributes={"gen_ai.operation.name": "invoke_agent"}):
        for i in range(5):
            with tracer.start_as_current_span("execute_tool lookup_order", attributes={
                    **for_each_call, "gen_ai.tool.call.id": f"call_{i}"}):
                pass


# The same agent as a program of its own, on the global tracer provider.
LOOPING_APP = "\n".join([
    "from opentelemetry import trace",
    inspect.getsource(run_looping_agent),
    'run_looping_agent(trace.get_tracer("app"))',
])


def run_python(code: str, **env: str) -> subprocess.CompletedProcess[str]:
    full_env = {k: v for k, v in os.environ.items()
                if not k.startswith(("AGENTWATCH_", "OTEL_"))}
    full_env.update(env)
    return subprocess.run([sys.executable, "-c", textwrap.dedent(code)], env=full_env,
                          capture_output=True, text=True, timeout=120)


def parse_console_spans(text: str) -> list[dict]:
    """The span objects the ConsoleSpanExporter printed, one JSON document after another."""
    decoder, spans, position = json.JSONDecoder(), [], 0
    while (position := text.find("{", position)) != -1:
        span, position = decoder.raw_decode(text, position)
        spans.append(span)
    return spans


def test_import_leaves_frameworks_and_numpy_unimported():
    result = run_python("""
        import sys
        import otel_agentwatch, otel_agentwatch.auto
        heavy = ("numpy", "langchain_core", "langchain", "langgraph", "openai", "anthropic",
                 "agents", "pydantic_ai", "mcp", "google.adk",
                 "smolagents", "llama_index", "autogen_agentchat", "crewai")
        print(sorted(m for m in heavy if m in sys.modules))
    """, OTEL_TRACES_EXPORTER="none")
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "[]"


def test_auto_creates_a_provider_and_exports_flags_to_the_console():
    result = run_python("import otel_agentwatch.auto\n" + LOOPING_APP,
                        OTEL_TRACES_EXPORTER="console", OTEL_SERVICE_NAME="support-bot")
    assert result.returncode == 0, result.stderr
    spans = parse_console_spans(result.stdout)
    tools = [s for s in spans if s["name"] == "execute_tool lookup_order"]
    assert [s["attributes"].get("agentwatch.severity") for s in tools] == [
        None, None, "warning", "warning", "critical"]
    assert all(s["resource"]["attributes"]["service.name"] == "support-bot" for s in spans)


def test_auto_attaches_to_an_existing_provider():
    setup = textwrap.dedent("""
        from opentelemetry import trace
        from opentelemetry.sdk.trace import TracerProvider
        from opentelemetry.sdk.trace.export import SimpleSpanProcessor
        from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
        exporter = InMemorySpanExporter()
        provider = TracerProvider()
        provider.add_span_processor(SimpleSpanProcessor(exporter))
        trace.set_tracer_provider(provider)
        import otel_agentwatch.auto as auto
        assert auto.handle.tracer_provider is provider and not auto.handle.owns_provider
    """)
    check = textwrap.dedent("""
        (agent,) = [s for s in exporter.get_finished_spans() if s.parent is None]
        print(agent.attributes["agentwatch.run.severity"])
    """)
    result = run_python(setup + LOOPING_APP + check)
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "critical"


def test_init_twice_returns_the_same_handle_and_shutdown_is_idempotent():
    result = run_python("""
        import otel_agentwatch
        first = otel_agentwatch.init()
        assert otel_agentwatch.init() is first
        first.shutdown(); first.shutdown()
        print(type(first.processor).__name__, first.owns_provider)
    """, OTEL_TRACES_EXPORTER="none")
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "AgentWatchSpanProcessor True"


def test_disabled_by_environment_sets_nothing_up():
    result = run_python("""
        from opentelemetry import trace
        import otel_agentwatch.auto as auto
        print(auto.handle.processor, type(trace.get_tracer_provider()).__name__)
    """, AGENTWATCH_ENABLED="false")
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "None ProxyTracerProvider"


@pytest.mark.parametrize(("protocol", "receiver_type"), [
    ("http/protobuf", HttpReceiver),
    ("grpc", GrpcReceiver),
])
def test_otlp_export_from_the_standard_variables(protocol, receiver_type):
    """What Jaeger or Honeycomb would receive: the flags and events in the OTLP payload."""
    receiver = receiver_type()
    try:
        result = run_python("import otel_agentwatch.auto\n" + LOOPING_APP,
                            OTEL_EXPORTER_OTLP_PROTOCOL=protocol,
                            OTEL_EXPORTER_OTLP_ENDPOINT=receiver.endpoint,
                            OTEL_SERVICE_NAME="support-bot")
        assert result.returncode == 0, result.stderr
        assert receiver.received.arrived.wait(30)
    finally:
        receiver.close()
    spans = receiver.received.spans
    assert {"service.name": "support-bot"}.items() <= receiver.received.resources[0].items()
    tools = [s for s in spans if s["name"] == "execute_tool lookup_order"]
    assert [s["attributes"].get("agentwatch.severity") for s in tools] == [
        None, None, "warning", "warning", "critical"]
    fifth = tools[4]
    assert fifth["attributes"]["agentwatch.flagged"] is True
    assert "loop.repeated_call" in fifth["attributes"]["agentwatch.detections"]
    assert fifth["attributes"]["agentwatch.mast_codes"] == ("FM-1.3",)
    event = next(e for e in fifth["events"] if e["name"] == "agentwatch.detection")
    assert event["attributes"]["agentwatch.severity"] == "critical"
    assert event["attributes"]["agentwatch.failure_mode"] == "step_repetition"
    (agent,) = [s for s in spans if s["name"] == "invoke_agent support"]
    assert agent["attributes"]["agentwatch.run.flagged"] is True
    assert agent["attributes"]["agentwatch.run.tool_calls"] == 5


@pytest.mark.frameworks
def test_opentelemetry_instrument_flags_the_support_agent_untouched():
    """The example application has no tracing code; `opentelemetry-instrument` loads the
    installed instrumentors (OpenInference's LangChain one, here) and ours attaches the
    processor, which flags the loop in their spans."""
    import shutil
    from pathlib import Path

    command = shutil.which("opentelemetry-instrument", path=str(Path(sys.executable).parent))
    assert command, "opentelemetry-instrument is installed with the test extras"
    env = {k: v for k, v in os.environ.items() if not k.startswith(("AGENTWATCH_", "OTEL_"))}
    env.update(OTEL_TRACES_EXPORTER="console", OTEL_METRICS_EXPORTER="none",
               OTEL_LOGS_EXPORTER="none")
    app = Path(__file__).resolve().parent.parent / "examples" / "support_agent.py"
    result = subprocess.run([command, sys.executable, str(app)], env=env,
                            capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stderr
    assert "agent answered: Your order A-1042 has shipped." in result.stdout
    flagged = [span for span in parse_console_spans(result.stdout)
               if span["attributes"].get("agentwatch.severity") == "critical"]
    assert flagged
    assert any("loop.repeated_call" in span["attributes"]["agentwatch.detections"]
               for span in flagged)


@pytest.mark.parametrize("protocol", ["grpc", "http/protobuf"])
def test_force_flush_honours_its_timeout_with_the_collector_down(protocol):
    """A collector that accepts connections and never answers: the exporter waits for
    its own timeout (10 s), whatever the flush's timeout says; the handle's flush returns
    False when its timeout passes (the SDK's returned True, late)."""
    import socket

    black_hole = socket.create_server(("127.0.0.1", 0), backlog=64)  # never accepts
    try:
        result = _flush_against(protocol, black_hole.getsockname()[1])
    finally:
        black_hole.close()
    assert result.stdout.split() == ["False", "False"], result.stderr


def _flush_against(protocol: str, port: int) -> subprocess.CompletedProcess[str]:
    return run_python("""
        import os
        from opentelemetry import trace
        import otel_agentwatch

        handle = otel_agentwatch.init()
        with trace.get_tracer("app").start_as_current_span("work"):
            pass
        print(handle.force_flush(500), handle.processor.force_flush(500), flush=True)
        os._exit(0)  # shutting down would wait for the exporter
    """, OTEL_TRACES_EXPORTER="otlp", OTEL_EXPORTER_OTLP_PROTOCOL=protocol,
        OTEL_EXPORTER_OTLP_ENDPOINT=f"http://127.0.0.1:{port}")


def test_the_import_line_takes_the_capture_values_of_other_genai_instrumentations():
    """ADK sets SPAN_ONLY; the import line used to stop the program with ConfigError."""
    result = run_python("""
        import otel_agentwatch.auto
        from otel_agentwatch import _setup
        print(_setup._current.processor.config.capture_content)
    """, OTEL_TRACES_EXPORTER="none",
        OTEL_INSTRUMENTATION_GENAI_CAPTURE_MESSAGE_CONTENT="SPAN_ONLY")
    assert result.stdout.strip() == "True", result.stderr


def test_otlp_and_console_side_by_side_and_http_json():
    """OTEL_TRACES_EXPORTER=otlp,console exports to both; http/json falls back to
    http/protobuf with a warning (the Python SDK has no JSON exporter)."""
    receiver = HttpReceiver()
    try:
        result = run_python(LOOPING_APP.replace(
            "from opentelemetry import trace",
            "import otel_agentwatch.auto\nfrom opentelemetry import trace") +
            "\ntrace.get_tracer_provider().shutdown()",
            OTEL_TRACES_EXPORTER="otlp,console", OTEL_EXPORTER_OTLP_PROTOCOL="http/json",
            OTEL_EXPORTER_OTLP_ENDPOINT=receiver.endpoint)
    finally:
        receiver.close()
    printed = parse_console_spans(result.stdout)
    assert len(printed) == 6 and len(receiver.received.spans) == 6, result.stderr
    assert "http/json" in result.stderr


def test_each_instrumentor_has_an_extra_that_installs_what_it_requires():
    """``pip install otel-agentwatch[<framework>]`` brings exactly what the instrumentor
    checks for before it patches anything."""
    tomllib = pytest.importorskip("tomllib")
    from pathlib import Path

    from otel_agentwatch.instrumentation import INSTRUMENTORS, load

    pyproject = Path(__file__).resolve().parent.parent / "pyproject.toml"
    extras = tomllib.loads(pyproject.read_text())["project"]["optional-dependencies"]
    for name in INSTRUMENTORS:
        required = [requirement.replace(" ", "")
                    for requirement in load(name).instrumentation_dependencies()]
        assert extras.get(name.replace("_", "-")) == required, name
