"""Fork under load: a child forked while other threads are inside our code (holding our
locks) starts with no runs and works. Each child gets a generous deadline; one that
misses it is counted as hung and killed (a deadlock never ends by itself)."""

from __future__ import annotations

import os
import signal
import sys
import threading
import time

import pytest
from opentelemetry.sdk.trace import TracerProvider

from otel_agentwatch import (
    AgentWatchSpanProcessor,
    Config,
    agent_run,
    on_detection,
    remove_on_detection,
    tool,
)

FORKS = 40
CHILD_DEADLINE_S = 30.0  # a hang guard, not a measurement: a healthy child needs milliseconds


def _run_child(processor: AgentWatchSpanProcessor, provider: TracerProvider, lookup) -> int:
    """In the child: a run that loops, judged as in any process. 0 when it worked."""
    if processor.active_runs != 0:
        return 2
    with agent_run("child", tracer_provider=provider):
        for _ in range(5):
            lookup("A-1")
    return 0 if processor.active_runs == 0 else 3


def _wait(pid: int) -> int | None:
    """The child's exit code, or None if it was still running at the deadline (killed)."""
    deadline = time.monotonic() + CHILD_DEADLINE_S
    while time.monotonic() < deadline:
        done, status = os.waitpid(pid, os.WNOHANG)
        if done:
            return os.waitstatus_to_exitcode(status)
        time.sleep(0.01)
    os.kill(pid, signal.SIGKILL)
    os.waitpid(pid, 0)
    return None


@pytest.mark.skipif(not hasattr(os, "fork"), reason="needs os.fork")
def test_forks_while_threads_run_agents_never_hang(lenient_guard):
    # No exporter behind the processor: the SDK's in-memory test exporter has a lock of
    # its own that is not renewed after fork (the batch processor's is).
    processor = AgentWatchSpanProcessor(config=Config())
    provider = TracerProvider()
    provider.add_span_processor(processor)
    found = []
    callback = on_detection(found.append)  # the callback registry's lock is in play too

    @tool(tracer_provider=provider)
    def lookup(order_id: str) -> str:
        return f"order {order_id}: shipped"

    stop = threading.Event()

    def agent_loop() -> None:
        while not stop.is_set():
            with agent_run("busy", tracer_provider=provider):
                for _ in range(6):
                    lookup("A-1042")

    # Switch threads often, so that forks land inside our critical sections.
    interval = sys.getswitchinterval()
    sys.setswitchinterval(1e-4)
    threads = [threading.Thread(target=agent_loop, daemon=True) for _ in range(3)]
    for thread in threads:
        thread.start()
    outcomes = []
    try:
        for _ in range(FORKS):
            pid = os.fork()
            if pid == 0:  # child: only this thread exists
                code = 1
                try:
                    code = _run_child(processor, provider, lookup)
                finally:
                    os._exit(code)
            outcomes.append(_wait(pid))
            time.sleep(0.005)
    finally:
        stop.set()
        sys.setswitchinterval(interval)
        for thread in threads:
            thread.join()
        remove_on_detection(callback)
    assert outcomes.count(None) == 0, f"{outcomes.count(None)} of {FORKS} children hung"
    assert outcomes == [0] * FORKS
    assert found, "the parent's threads were judged all along"
