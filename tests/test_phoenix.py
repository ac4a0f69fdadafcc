"""End to end against a real backend: the LangGraph example exports to Arize Phoenix over
OTLP (HTTP/protobuf and gRPC), and the flagged spans come back through Phoenix's API.

Phoenix is large and brings a pytest plugin of its own, so it lives in a virtual
environment of its own, ``.venv-phoenix`` at the project root (or the one
``AGENTWATCH_PHOENIX_VENV`` names), created on first use with the requirement
``AGENTWATCH_PHOENIX_REQUIREMENT`` gives (``.ci/run`` pins the version); the server runs
on 127.0.0.1 with an in-memory database and is stopped by its PID. Not part of the
default test run: ``pytest -m phoenix``.
"""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
VENV = Path(os.environ.get("AGENTWATCH_PHOENIX_VENV", ROOT / ".venv-phoenix"))

# Needs the agent frameworks of the test extras, and runs only when asked for.
pytestmark = [pytest.mark.frameworks, pytest.mark.phoenix]


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def _phoenix_command() -> Path:
    command = VENV / "bin" / "phoenix"
    if not command.exists():
        subprocess.run([sys.executable, "-m", "venv", str(VENV)], check=True)
        requirement = os.environ.get("AGENTWATCH_PHOENIX_REQUIREMENT", "arize-phoenix")
        subprocess.run([str(VENV / "bin" / "pip"), "install", "-q", requirement],
                       check=True, timeout=900)
    return command


def _get(url: str) -> dict | None:
    try:
        with urllib.request.urlopen(url, timeout=10) as response:
            return json.loads(response.read() or b"null")
    except urllib.error.HTTPError as error:
        if error.code == 404:
            return None
        raise


class Phoenix:
    def __init__(self) -> None:
        self.port, self.grpc_port = _free_port(), _free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        env = {**os.environ, "PHOENIX_HOST": "127.0.0.1", "PHOENIX_PORT": str(self.port),
               "PHOENIX_GRPC_PORT": str(self.grpc_port),
               "PHOENIX_SQL_DATABASE_URL": "sqlite:///:memory:",
               "PHOENIX_TELEMETRY_ENABLED": "false"}
        self.process = subprocess.Popen([str(_phoenix_command()), "serve"], env=env,
                                        stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"phoenix exited: {self.process.stderr.read()[-2000:]!r}")
            try:
                with urllib.request.urlopen(f"{self.url}/healthz", timeout=2):
                    return
            except OSError:
                time.sleep(0.5)
        self.stop()
        raise RuntimeError("phoenix did not answer /healthz within 120 s")

    def stop(self) -> None:
        self.process.terminate()
        try:
            self.process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            self.process.kill()

    def spans(self, project: str, **filters: str) -> list[dict]:
        """The project's spans matching ``attribute=key:value`` filters; waits for them."""
        query = "&".join(f"attribute={key}:{value}" for key, value in filters.items())
        deadline = time.monotonic() + 30
        while True:
            found = _get(f"{self.url}/v1/projects/{project}/spans?limit=1000&{query}")
            if (found and found.get("data")) or time.monotonic() > deadline:
                return (found or {}).get("data") or []
            time.sleep(0.5)


@pytest.fixture(scope="module")
def phoenix() -> Iterator[Phoenix]:
    server = Phoenix()
    yield server
    server.stop()


def _export(phoenix: Phoenix, protocol: str, project: str) -> None:
    endpoint = (phoenix.url if protocol == "http/protobuf"
                else f"http://127.0.0.1:{phoenix.grpc_port}")
    env = {k: v for k, v in os.environ.items() if not k.startswith(("AGENTWATCH_", "OTEL_"))}
    env.update(OTEL_EXPORTER_OTLP_PROTOCOL=protocol, OTEL_EXPORTER_OTLP_ENDPOINT=endpoint,
               OTEL_SERVICE_NAME="support-bot",
               OTEL_RESOURCE_ATTRIBUTES=f"openinference.project.name={project}")
    result = subprocess.run([sys.executable, str(ROOT / "examples" / "langgraph_loop.py"),
                             "--otlp"], env=env, capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stderr


@pytest.mark.parametrize("protocol", ["http/protobuf", "grpc"])
def test_flagged_spans_arrive_in_phoenix(phoenix, protocol):
    project = f"agentwatch-{protocol.split('/')[0]}"
    _export(phoenix, protocol, project)
    flagged = phoenix.spans(project, **{"agentwatch.flagged": "true"})
    assert flagged, "no flagged span reached Phoenix"
    assert all(_attribute(span, "agentwatch.flagged") is True for span in flagged)
    names = {span["name"] for span in flagged}
    assert "execute_tool lookup_order" in names
    tool = next(span for span in flagged if span["name"] == "execute_tool lookup_order"
                and _attribute(span, "agentwatch.severity") == "critical")
    assert "loop.repeated_call" in _attribute(tool, "agentwatch.detections")
    assert _attribute(tool, "agentwatch.failure_mode") == "step_repetition"
    events = [event for event in tool.get("events") or ()
              if event.get("name") == "agentwatch.detection"]
    assert events and any(_attribute(event, "agentwatch.detector") == "loop.repeated_call"
                          for event in events)
    critical = phoenix.spans(project, **{"agentwatch.severity": "critical"})
    assert {span["name"] for span in critical} >= {"execute_tool lookup_order"}


def _attribute(item: dict, key: str):
    """An attribute's value, whether Phoenix returns attributes as a list of OTLP-style
    key/value pairs or as a mapping."""
    attributes = item.get("attributes") or {}
    if isinstance(attributes, dict):
        return attributes.get(key)
    for entry in attributes:
        if entry.get("key") == key:
            value = entry.get("value") or {}
            for kind in ("string_value", "bool_value", "int_value", "double_value"):
                if kind in value and value[kind] is not None:
                    return value[kind]
            array = value.get("array_value")
            if array is not None:
                return tuple(_plain(item) for item in array.get("values") or ())
    return None


def _plain(value):
    if isinstance(value, dict):
        return next((v for v in value.values() if v is not None), None)
    return value
