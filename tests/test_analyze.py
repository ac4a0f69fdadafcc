"""``agentwatch analyze``: the detectors over exported traces, offline."""

from __future__ import annotations

import base64
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from otel_agentwatch.cli import main as cli_main
from otel_agentwatch.cli.exports import read_spans

ROOT = Path(__file__).resolve().parent.parent

pytestmark = pytest.mark.frameworks  # needs the agent frameworks of the test extras


@pytest.fixture(scope="module")
def exported(tmp_path_factory) -> Path:
    """The LangGraph example's spans as OTLP JSON (protobuf's JSON mapping, base64 ids),
    with content capture on so the arguments are in the export."""
    path = tmp_path_factory.mktemp("exports") / "loop.json"
    env = {k: v for k, v in os.environ.items() if not k.startswith(("AGENTWATCH_", "OTEL_"))}
    env["OTEL_INSTRUMENTATION_GENAI_CAPTURE_MESSAGE_CONTENT"] = "true"
    subprocess.run([sys.executable, str(ROOT / "examples" / "langgraph_loop.py"),
                    "--export", str(path)], env=env, check=True, capture_output=True,
                   timeout=300)
    return path


def as_collector_lines(source: Path, target: Path) -> Path:
    """The same spans as a collector's file exporter writes them: hex ids, one request per
    line (split in two here)."""
    request = json.loads(source.read_text())

    def hexed(value: str) -> str:
        return base64.b64decode(value).hex()

    for resource in request["resourceSpans"]:
        for scope in resource["scopeSpans"]:
            for span in scope["spans"]:
                for key in ("traceId", "spanId", "parentSpanId"):
                    if span.get(key):
                        span[key] = hexed(span[key])
    spans = request["resourceSpans"][0]["scopeSpans"][0]["spans"]
    first, second = json.loads(json.dumps(request)), json.loads(json.dumps(request))
    first["resourceSpans"][0]["scopeSpans"][0]["spans"] = spans[: len(spans) // 2]
    second["resourceSpans"][0]["scopeSpans"][0]["spans"] = spans[len(spans) // 2:]
    target.write_text(json.dumps(first) + "\n" + json.dumps(second) + "\n")
    return target


def as_jaeger(source: Path, target: Path) -> Path:
    """The same spans as Jaeger's UI downloads a trace."""
    spans = list(read_spans(source))
    jaeger = [{
        "traceID": format(span.trace_id, "032x"), "spanID": format(span.span_id, "016x"),
        "operationName": span.name,
        "references": [{"refType": "CHILD_OF", "traceID": format(span.trace_id, "032x"),
                        "spanID": format(span.parent_id, "016x")}] if span.parent_id else [],
        "startTime": span.start_ns // 1000, "duration": (span.end_ns - span.start_ns) // 1000,
        "tags": [{"key": key, "type": "string", "value": value}
                 for key, value in span.attributes.items() if isinstance(value, str)],
        "logs": [],
    } for span in spans]
    target.write_text(json.dumps({"data": [{"traceID": jaeger[0]["traceID"], "spans": jaeger,
                                            "processes": {}}]}))
    return target


def analyze(capsys, *args: str) -> tuple[int, str]:
    status = cli_main(["analyze", *args])
    return status, capsys.readouterr().out


def test_flags_the_loop_in_the_examples_otlp_json(exported, capsys):
    status, out = analyze(capsys, str(exported))
    assert status == 0
    assert "invoke_agent support-agent  critical" in out
    assert "loop.repeated_call" in out and "called 5 times in a row" in out
    assert out.rstrip().endswith("1 trace, 1 flagged (1 critical)")


def test_fail_on_gates_a_ci_job(exported, capsys):
    assert analyze(capsys, str(exported), "--fail-on", "critical")[0] == 1
    assert analyze(capsys, str(exported), "--fail-on", "warning")[0] == 1


def test_verdicts_in_the_export_are_redone_not_doubled(exported, capsys):
    _, out = analyze(capsys, str(exported), "--json")
    [report] = json.loads(out)
    pairs = [(f["span_id"], f["detector"]) for f in report["findings"]]
    assert len(pairs) == len(set(pairs))
    assert report["worst"] == "critical" and report["root"] == "invoke_agent support-agent"


def test_collector_json_lines_with_hex_ids(exported, tmp_path, capsys):
    lines = as_collector_lines(exported, tmp_path / "collector.jsonl")
    _, expected = analyze(capsys, str(exported))
    status, out = analyze(capsys, str(lines), "--fail-on", "critical")
    assert status == 1 and out == expected


def test_jaeger_json(exported, tmp_path, capsys):
    jaeger = as_jaeger(exported, tmp_path / "jaeger.json")
    status, out = analyze(capsys, str(jaeger), "--fail-on", "critical")
    assert status == 1
    assert "loop.repeated_call" in out and "critical" in out


def test_a_profile_can_be_chosen(exported, capsys):
    status, out = analyze(capsys, str(exported), "--profile", "roo", "--fail-on", "critical")
    assert status == 1 and "loop.repeated_outcome" not in out


def test_unreadable_input_fails_clearly(tmp_path, capsys):
    odd = tmp_path / "odd.json"
    odd.write_text('{"something": "else"}')
    assert cli_main(["analyze", str(odd)]) == 2
    assert "neither OTLP JSON" in capsys.readouterr().err
    assert cli_main(["analyze", str(tmp_path / "missing.json")]) == 2
    assert cli_main(["analyze", str(odd), "--profile", "nonsense"]) == 2


def test_finds_the_loop_in_an_export_made_with_capture_off(tmp_path, capsys):
    """No arguments or results in the export: the digests stand for them."""
    path = tmp_path / "no-content.json"
    env = {k: v for k, v in os.environ.items() if not k.startswith(("AGENTWATCH_", "OTEL_"))}
    subprocess.run([sys.executable, str(ROOT / "examples" / "langgraph_loop.py"),
                    "--export", str(path)], env=env, check=True, capture_output=True,
                   timeout=300)
    text = path.read_text()
    assert "gen_ai.tool.call.arguments" not in text and "order_id" not in text
    assert "agentwatch.tool.arguments_digest" in text
    status, out = analyze(capsys, str(path))
    assert status == 0
    assert "invoke_agent support-agent  critical" in out
    assert "loop.repeated_call" in out and "called 5 times in a row" in out
