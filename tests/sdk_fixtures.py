"""What the SDK tests share: a pipeline with the OpenAI and Anthropic SDKs instrumented
into it, and a detector that records the steps the detectors see (fixtures in conftest)."""

from __future__ import annotations

from typing import Any, ClassVar

from opentelemetry import trace
from opentelemetry.sdk.trace import SpanProcessor, TracerProvider

from otel_agentwatch import Config, Detector, StepKind
from otel_agentwatch.instrumentation.anthropic import AnthropicInstrumentor
from otel_agentwatch.instrumentation.openai import OpenAIInstrumentor
from tests.conftest import Pipeline


class StepRecorder(Detector[None]):
    """A detector that flags nothing and keeps every step it is shown: what the
    detectors see."""

    id: ClassVar[str] = "test.recorder"
    failure_mode: ClassVar[str] = "none"
    mast_codes: ClassVar[tuple[str, ...]] = ()
    kinds: ClassVar[frozenset[StepKind]] = frozenset({StepKind.TOOL, StepKind.LLM})

    def __init__(self) -> None:
        self.steps: list[Any] = []
        self.objectives: list[str] = []

    def observe(self, step: Any, state: Any, facts: Any) -> None:
        self.steps.append(step)

    def objective(self, state: Any, text: str) -> None:
        self.objectives.append(text)

    def of(self, kind: StepKind) -> list[Any]:
        return [step for step in self.steps if step.kind is kind]


class Recorded(Pipeline):
    """A pipeline that records the steps the detectors see, and the instrumentors a test
    adds to it (uninstrumented on close)."""

    def __init__(self, config: Config | None = None, before=()) -> None:
        self.recorder = StepRecorder()
        super().__init__(config or Config(), before=before, extra_detectors=[self.recorder])
        self.instrumentors: list[Any] = []

    @property
    def config(self) -> Config:
        return self.processor.config

    def close(self) -> None:
        for instrumentor in self.instrumentors:
            instrumentor.uninstrument()
        self.provider.shutdown()

    def flagged(self, name_prefix: str = "") -> list[Any]:
        return [s for s in self.spans(name_prefix) if s.attributes.get("agentwatch.flagged")]


class Instrumented(Recorded):
    """A pipeline with the OpenAI and Anthropic SDKs instrumented into it."""

    def __init__(self, config: Config | None = None, before=()) -> None:
        super().__init__(config, before)
        self.instrumentors = [OpenAIInstrumentor(), AnthropicInstrumentor()]
        for instrumentor in self.instrumentors:
            assert instrumentor.instrument(tracer_provider=self.provider, config=self.config)


class Forward(SpanProcessor):
    """For frameworks that trace through the global tracer provider (ADK, AutoGen): the
    global provider's one processor, handing each span to the current test's pipeline."""

    def __init__(self) -> None:
        self.target: SpanProcessor | None = None

    def on_start(self, span: Any, parent_context: Any = None) -> None:
        if self.target is not None:
            self.target.on_start(span, parent_context)

    def on_end(self, span: Any) -> None:
        if self.target is not None:
            self.target.on_end(span)


_FORWARD: Forward | None = None


def global_forward() -> Forward:
    """The global provider's Forward processor; the provider is set on first use (once
    per process, as the API allows)."""
    global _FORWARD
    if _FORWARD is None:
        _FORWARD = Forward()
        provider = TracerProvider()
        provider.add_span_processor(_FORWARD)
        trace.set_tracer_provider(provider)
    return _FORWARD
