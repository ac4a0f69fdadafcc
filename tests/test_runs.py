"""Run identity and bounded state: which spans form a run, and that state never grows unbounded."""

from __future__ import annotations

import itertools
import os

from opentelemetry import trace
from opentelemetry.trace import NonRecordingSpan, SpanContext, TraceFlags

from otel_agentwatch import Config, StepKind
from otel_agentwatch.detectors.coordination import RepeatedFailureDetector
from otel_agentwatch.detectors.engine import DetectorEngine
from otel_agentwatch.runs import RunTable
from otel_agentwatch.steps import Step
from tests.conftest import Pipeline
from tests.dialects import GenAI

ARGS = {"q": "same"}


class FakeClock:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


def test_finished_run_leaves_no_state(pipeline):
    """Ending the root span finalizes the run and frees everything registered for it."""
    with GenAI.agent(pipeline.tracer):
        for _ in range(4):
            GenAI.tool(pipeline.tracer, "search", ARGS)
    assert pipeline.processor.active_runs == 0
    assert pipeline.processor.live_spans == 0


def test_ten_thousand_open_runs_stay_within_the_cap():
    """Agent spans that never end do not make the processor grow past its caps."""
    built = Pipeline(Config(max_runs=100))
    leaked = []
    for _ in range(10_000):
        agent = built.tracer.start_span("invoke_agent leaky",
                                        attributes={"gen_ai.operation.name": "invoke_agent"})
        leaked.append(agent)
        with trace.use_span(agent, end_on_exit=False):
            GenAI.tool(built.tracer, "search", ARGS)
    assert built.processor.active_runs <= 100
    assert built.processor.live_spans <= 4096


def test_idle_runs_are_evicted_after_the_ttl():
    clock = FakeClock()
    table: RunTable[str] = RunTable(lambda key: f"state{key}", max_runs=10, ttl_seconds=60,
                                    clock=clock)
    table.state((1, 1))
    clock.now = 30
    table.state((2, 2))
    clock.now = 61
    table.state((3, 3))  # any activity sweeps the idle runs
    assert len(table) == 2
    clock.now = 200
    table.state((3, 3))
    assert len(table) == 1 and table.evicted == 2


def test_run_cap_drops_the_least_recently_active():
    table: RunTable[str] = RunTable(str, max_runs=2, ttl_seconds=1e9, clock=FakeClock())
    table.state((1, 1))
    table.state((2, 2))
    table.state((1, 1))  # touched: now the most recent
    table.state((3, 3))
    assert table.pop((2, 2)) is None
    assert table.pop((1, 1)) is not None


def test_nested_agents_are_separate_runs(pipeline):
    """A sub-agent's calls do not add to its caller's streak, and vice versa."""
    with GenAI.agent(pipeline.tracer, "manager"):
        GenAI.tool(pipeline.tracer, "search", ARGS)
        GenAI.tool(pipeline.tracer, "search", ARGS)
        with GenAI.agent(pipeline.tracer, "worker"):
            GenAI.tool(pipeline.tracer, "search", ARGS)
            GenAI.tool(pipeline.tracer, "search", ARGS)
    assert not any("agentwatch.severity" in s.attributes for s in pipeline.spans())


def test_spans_without_an_agent_group_by_trace_root(pipeline):
    """With no agent span, the trace root is the run."""
    with pipeline.tracer.start_as_current_span("handle_request"):
        for _ in range(3):
            GenAI.tool(pipeline.tracer, "search", ARGS)
    (root,) = [s for s in pipeline.spans() if s.parent is None]
    assert root.attributes["agentwatch.run.flagged"] is True


def test_remote_parent_starts_a_local_run(pipeline):
    """A span whose parent is in another process anchors the run here."""
    remote = SpanContext(trace_id=0xABC, span_id=0xDEF, is_remote=True,
                         trace_flags=TraceFlags(TraceFlags.SAMPLED))
    with trace.use_span(NonRecordingSpan(remote)), GenAI.agent(pipeline.tracer):
        for _ in range(3):
            GenAI.tool(pipeline.tracer, "search", ARGS)
    assert pipeline.processor.active_runs == 0
    (agent,) = pipeline.spans("invoke_agent")
    assert agent.attributes["agentwatch.run.flagged"] is True


def test_separate_traces_never_share_a_streak(pipeline):
    for _ in range(5):
        with GenAI.agent(pipeline.tracer):
            GenAI.tool(pipeline.tracer, "search", ARGS)
    assert not any("agentwatch.flagged" in s.attributes for s in pipeline.spans())


def test_forked_child_starts_clean(pipeline):
    """State of runs in flight in the parent is not the child's; the child works normally."""
    agent_cm = GenAI.agent(pipeline.tracer)
    agent_cm.__enter__()
    GenAI.tool(pipeline.tracer, "search", ARGS)
    GenAI.tool(pipeline.tracer, "search", ARGS)
    read_end, write_end = os.pipe()
    pid = os.fork()
    if pid == 0:  # child
        status = 1
        try:
            clean = pipeline.processor.active_runs == 0 and pipeline.processor.live_spans == 0
            pipeline.exporter.clear()
            with GenAI.agent(pipeline.tracer):
                for _ in range(3):
                    GenAI.tool(pipeline.tracer, "search", ARGS)
            flagged = [s for s in pipeline.spans() if s.attributes.get("agentwatch.flagged")]
            status = 0 if clean and len(flagged) == 1 else 2
        finally:
            os.write(write_end, bytes([status]))
            os._exit(0)
    os.close(write_end)
    status = os.read(read_end, 1)
    os.waitpid(pid, 0)
    agent_cm.__exit__(None, None, None)
    assert status == bytes([0])


def test_runs_of_one_trace_share_the_trace_state_within_bounds():
    """coordination.repeated_failure's state is its trace's: the runs of one trace add up,
    runs outside any trace (conversations of bare SDK calls) never do, and only the most
    recent traces are kept."""
    engine = DetectorEngine([RepeatedFailureDetector(3, 5)], max_traces=2)
    anchors = itertools.count(1)

    def fail_once(trace_id: int) -> list[str]:
        run = engine.new_run(trace_id)
        step = Step(StepKind.TOOL, "read", 1, trace_id, (trace_id, next(anchors)),
                    error="FileNotFoundError")
        return [found.severity.value for found in engine.observe(step, run)]

    assert [fail_once(7) for _ in range(3)] == [[], [], ["warning"]]
    assert [fail_once(0) for _ in range(3)] == [[], [], []]
    fail_once(8)
    fail_once(9)  # two newer traces: trace 7's state is forgotten
    assert [fail_once(7) for _ in range(3)] == [[], [], ["warning"]]


def test_a_run_keeps_the_latest_findings_to_tell_and_tells_each_once():
    from otel_agentwatch.detectors.base import Detection, Severity
    from otel_agentwatch.runs import RunState

    run = RunState((1, 1), None)
    assert run.take_untold() == []
    for count in range(20):
        run.to_tell(Detection(detector="loop.repeated_call", failure_mode="step_repetition",
                              severity=Severity.WARNING, score=0.5, message=f"{count}",
                              mast_codes=(), span_id=count, trace_id=1, run_key=(1, 1)))
    assert [d.message for d in run.take_untold()] == [str(n) for n in range(12, 20)]
    assert run.take_untold() == []
