"""Custom detectors: the Detector contract as a user writing one relies on it."""

from __future__ import annotations

from typing import ClassVar

import pytest

from otel_agentwatch import Config, Detection, Detector, Severity, StepKind
from tests.conftest import Pipeline
from tests.dialects import DIALECTS, GenAI


class LongAnswers(Detector[None]):
    """Flags model calls that write more than a limit: a detector a user might add."""

    id: ClassVar[str] = "custom.long_answer"
    failure_mode: ClassVar[str] = "verbose_output"
    mast_codes: ClassVar[tuple[str, ...]] = ()
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


def test_the_example_satisfies_the_protocol():
    assert isinstance(LongAnswers(1), Detector)


@pytest.mark.parametrize("dialect", DIALECTS, ids=lambda d: d.name)
def test_custom_detector_sees_full_model_steps_and_flags_them(dialect):
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
