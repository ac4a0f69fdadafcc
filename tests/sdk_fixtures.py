"""What the SDK tests share: a pipeline with the OpenAI and Anthropic SDKs instrumented
into it, and a detector that records the steps the detectors see (fixtures in conftest)."""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Iterator
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


@contextlib.contextmanager
def pipelines(instrumentor: type, base: type = Instrumented, through_global: bool = False,
              prepare: Callable[[], Any] | None = None) -> Iterator[Callable[..., Any]]:
    """What each framework's ``make_pipeline`` fixture yields: ``make(before=(),
    **settings)`` builds a pipeline (``base``) with ``instrumentor`` instrumented into
    it; all are closed at the end. ``through_global``: the framework traces through the
    global provider (its spans are forwarded to the newest pipeline); ``prepare``: run
    before each pipeline is made."""
    made: list[Any] = []
    forward = global_forward() if through_global else None

    def make(before: Any = (), **settings: Any) -> Any:
        if prepare is not None:
            prepare()
        pipeline = base(Config(**settings), before=before)
        instrumented = instrumentor()
        assert instrumented.instrument(tracer_provider=pipeline.provider, config=pipeline.config)
        pipeline.instrumentors.append(instrumented)
        if forward is not None:
            forward.target = pipeline.processor
        made.append(pipeline)
        return pipeline

    try:
        yield make
    finally:
        if forward is not None:
            forward.target = None
        for pipeline in made:
            pipeline.close()


class Forwarding:
    """A tracer provider of its own whose one processor hands spans to the current
    test's pipeline: for an instrumentation that keeps the provider it was first
    instrumented with (OpenLLMetry's LangChain handler)."""

    def __init__(self) -> None:
        self.forward = Forward()
        self.provider = TracerProvider()
        self.provider.add_span_processor(self.forward)


@contextlib.contextmanager
def beside(theirs: Any, ours: type, config: Config, order: str,
           via: Forwarding | None = None) -> Iterator[Instrumented]:
    """A pipeline with our instrumentor ``ours`` and another instrumentation's instrumentor
    ``theirs`` (an instance) instrumented into it in ``order`` (``"theirs first"`` or
    ``"ours first"``): the coexistence tests of each framework. Both undone at the end.
    ``via``: both are instrumented into its provider, forwarded to the pipeline."""
    pipeline = Instrumented(config)
    provider = via.provider if via is not None else pipeline.provider
    if via is not None:
        via.forward.target = pipeline.processor
    mine = ours()
    if order == "theirs first":
        theirs.instrument(tracer_provider=provider)
    assert mine.instrument(tracer_provider=provider, config=pipeline.config)
    pipeline.instrumentors.append(mine)
    if order == "ours first":
        theirs.instrument(tracer_provider=provider)
    try:
        yield pipeline
    finally:
        theirs.uninstrument()
        if via is not None:
            via.forward.target = None
        pipeline.close()
