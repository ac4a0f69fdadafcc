"""deploy/: the Collector configuration, the Kubernetes layout and the image definition
agree with each other and with the service (the Collector and a container runtime do not
run here; the service they start is tested in test_serve.py)."""

from __future__ import annotations

from pathlib import Path
from urllib.parse import urlsplit

import pytest

yaml = pytest.importorskip("yaml")

from otel_agentwatch.config import SETTINGS  # noqa: E402
from otel_agentwatch.detectors import registry  # noqa: E402
from otel_agentwatch.serve.settings import SERVE_SETTINGS, ServeSettings  # noqa: E402

DEPLOY = Path(__file__).resolve().parent.parent / "deploy"


def collector() -> dict:
    return yaml.safe_load((DEPLOY / "collector.yaml").read_text())


def kubernetes() -> list[dict]:
    return list(yaml.safe_load_all((DEPLOY / "kubernetes.yaml").read_text()))


def test_the_collector_routes_every_span_of_a_trace_to_one_replica() -> None:
    config = collector()
    balancer = config["exporters"]["loadbalancing"]
    assert balancer["routing_key"] == "traceID"
    pipelines = config["service"]["pipelines"]
    assert pipelines["traces/to-agentwatch"]["exporters"] == ["loadbalancing"]
    # What comes back judged does not go round again.
    assert "loadbalancing" not in pipelines["traces/judged"]["exporters"]
    assert set(pipelines["traces/judged"]["receivers"]).isdisjoint(
        pipelines["traces/to-agentwatch"]["receivers"])


def test_the_collector_resolves_the_headless_service_on_the_replicas_grpc_port() -> None:
    resolver = collector()["exporters"]["loadbalancing"]["resolver"]["dns"]
    service = next(item for item in kubernetes() if item["kind"] == "Service")
    assert service["spec"]["clusterIP"] == "None"  # headless: one address per replica
    name, namespace = service["metadata"]["name"], service["metadata"]["namespace"]
    assert resolver["hostname"] == f"{name}.{namespace}.svc.cluster.local"
    assert resolver["port"] in [port["port"] for port in service["spec"]["ports"]]
    grpc_port = int(ServeSettings().grpc_endpoint.rpartition(":")[2])
    assert resolver["port"] == grpc_port


def test_the_replicas_forward_to_the_collectors_judged_receiver() -> None:
    deployment = next(item for item in kubernetes() if item["kind"] == "Deployment")
    [container] = deployment["spec"]["template"]["spec"]["containers"]
    env = {item["name"]: item.get("value") for item in container["env"]}
    forward = urlsplit(env["AGENTWATCH_SERVE_FORWARD_ENDPOINT"])
    judged = collector()["receivers"]["otlp/judged"]["protocols"]["grpc"]["endpoint"]
    assert forward.port == int(judged.rpartition(":")[2])
    declared = {setting.env for setting in (*SETTINGS, *SERVE_SETTINGS,
                                            *registry.settings_of(registry.BUILTIN))}
    assert set(env) <= declared, "a variable the service does not read"
    ServeSettings.from_env({name: value for name, value in env.items() if value})
    probe = container["readinessProbe"]["httpGet"]
    assert probe["path"] == "/healthz"
    http_port = int(ServeSettings().http_endpoint.rpartition(":")[2])
    assert {"name": probe["port"], "containerPort": http_port} in container["ports"]


def test_the_image_runs_the_service_with_its_extra() -> None:
    text = (DEPLOY / "Dockerfile").read_text()
    assert 'ENTRYPOINT ["agentwatch", "serve"]' in text
    assert '"/src[serve]"' in text
    for port in (4317, 4318):
        assert str(port) in text.split("EXPOSE", 1)[1].splitlines()[0]
    # What it copies exists: the build context is the checkout.
    root = DEPLOY.parent
    for line in text.splitlines():
        if line.startswith("COPY "):
            for source in line.split()[1:-1]:
                assert (root / source).exists(), source
