"""Other instrumentations tracing a framework beside ours: which there are, and a process
of its own for one whose ``uninstrument()`` does not undo it (else it would stay on for
every later test). The pipelines themselves come from :func:`tests.sdk_fixtures.beside`."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from tests.sdk_fixtures import Forwarding

# Per framework: (label, module, instrumentor class, whether its uninstrument() undoes it).
TRACERS = {
    "langchain": (
        ("openinference", "openinference.instrumentation.langchain", "LangChainInstrumentor",
         True),
        # 0.62.4 unwraps "BaseCallbackManager.__init__" and Pregel's methods by dotted
        # names that its unwrap helper cannot follow: they stay wrapped for good, and its
        # handler keeps the provider it was first instrumented with.
        ("openllmetry", "opentelemetry.instrumentation.langchain", "LangchainInstrumentor",
         False),
    ),
}
# In a process of its own, the one tracer (and order) to test: "label-order".
ONLY = "AGENTWATCH_TEST_TRACER"
ORDERS = ("theirs first", "ours first")
# One provider for the tests in such a process, whatever pipeline each test makes.
VIA = Forwarding()


def tracer_params(framework: str) -> list[Any]:
    """pytest params ``(their instrumentor, order, via)``: each other instrumentation,
    instrumented before and after ours. One that cannot be undone is only tested in a
    process of its own (:func:`run_in_own_process`), where ``AGENTWATCH_TEST_TRACER``
    names it."""
    only = os.environ.get(ONLY)
    params = []
    for label, module, cls, undoes in TRACERS[framework]:
        for order in ORDERS:
            name = f"{label}-{order.replace(' ', '-')}"
            if (name == only) if only else undoes:
                params.append(pytest.param((module, cls, order, None if undoes else VIA),
                                           id=name))
    return params


def their_instrumentor(param: tuple[str, str, str, Any]) -> Any:
    module, cls, _order, _via = param
    return getattr(pytest.importorskip(module), cls)()


def own_process(framework: str) -> list[Any]:
    """pytest params ``(name, module)``: the other instrumentations (with their order) of
    ``framework`` that are tested in a process of their own."""
    return [pytest.param((f"{label}-{order.replace(' ', '-')}", module),
                         id=f"{label}-{order.replace(' ', '-')}")
            for label, module, _cls, undoes in TRACERS[framework] if not undoes
            for order in ORDERS]


def run_in_own_process(test_file: str, selected: str, which: str) -> str:
    """Runs the tests ``selected`` (a ``-k`` expression) of ``test_file`` with only the
    tracer ``which``, in a new process; returns pytest's summary line."""
    result = subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", test_file,
         "-k", selected], env={**os.environ, ONLY: which}, capture_output=True, text=True,
        timeout=600, cwd=Path(__file__).resolve().parent.parent)
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-2000:]
    return result.stdout.strip().splitlines()[-1]


def is_ours(span: Any) -> bool:
    """Whether our instrumentation made the span (not the other one)."""
    scope = span.instrumentation_scope
    return scope is not None and scope.name.startswith("otel_agentwatch")
