"""drift.objective and its embedder: runs that move away from what they were asked."""

from __future__ import annotations

import itertools
import json
import subprocess
import sys

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from otel_agentwatch import Config, ConfigError, StepKind, agent_run, set_objective, tool
from otel_agentwatch.detectors import build_detectors
from otel_agentwatch.detectors.drift import ObjectiveDriftDetector
from otel_agentwatch.detectors.embedding import HashingEmbedder
from otel_agentwatch.normalize._args import tool_arguments
from otel_agentwatch.steps import Step
from tests.conftest import Pipeline
from tests.detecting import built
from tests.detecting import severities as checked
from tests.dialects import GenAI

_ids = itertools.count(1)
OBJECTIVE = "Find the 2020 population of Paris, the capital of France, in the INSEE census"
ON_TOPIC = [
    ("search", {"query": "INSEE census Paris population 2020"},
     "INSEE: the population of Paris was 2,145,906 at the 2020 census"),
    ("read_page", {"url": "insee.fr/paris"}, "Paris census 2020: legal population figures"),
    ("search", {"query": "Paris population census France capital"},
     "Population of the capital of France according to the census: about 2.1 million"),
    ("search", {"query": "population Paris 2020 INSEE"}, "2020 census: Paris population"),
    ("read_page", {"url": "wikipedia.org/Paris"}, "Paris is the capital of France, "
     "population 2,145,906 (INSEE census 2020)"),
    ("search", {"query": "INSEE legal population Paris capital"},
     "Legal populations 2020, Paris: census figures published by INSEE"),
]
OFF_TOPIC = [
    ("search", {"query": "chocolate cake recipe"}, "Mix flour, sugar, cocoa and eggs"),
    ("search", {"query": "best oven temperature baking"}, "Bake at 180 degrees for 35 min"),
    ("read_page", {"url": "recipes.com/cake"}, "Frosting: whip butter with icing sugar"),
    ("search", {"query": "gluten free flour substitute"}, "Almond flour works for cakes"),
    ("search", {"query": "how to decorate a birthday cake"}, "Use piping bags and sprinkles"),
    ("read_page", {"url": "baking.org/tips"}, "Let the sponge cool before slicing it"),
    ("search", {"query": "vanilla buttercream"}, "Beat butter, vanilla and sugar"),
    ("search", {"query": "cake tin sizes"}, "A 20 cm round tin serves eight"),
]


def step(name: str, args: dict, result: str) -> Step:
    parsed, key = tool_arguments(json.dumps(args))
    return Step(StepKind.TOOL, name, next(_ids), 1, (1, 1), args=parsed, args_key=key,
                result=result)


def severities(steps, objective: str | None = OBJECTIVE, detector=None):
    # Lower thresholds than the defaults, which are set for long coding runs.
    detector = detector or ObjectiveDriftDetector(warning_at=2.0, critical_at=4.0)
    state = detector.new_state()
    if objective is not None:
        detector.objective(state, objective)
    return checked(detector, [step(*one) for one in steps], state)


class TestEmbedder:
    def test_vectors_are_unit_length_and_the_same_in_another_process(self):
        embed = HashingEmbedder()
        here = embed("The capital of France is Paris")
        assert abs(float(here @ here) - 1.0) < 1e-9
        code = ("from otel_agentwatch.detectors.embedding import HashingEmbedder;"
                "print(list(HashingEmbedder()('The capital of France is Paris').nonzero()[0]))")
        there = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                               check=True).stdout.strip()
        assert there == str(list(here.nonzero()[0]))  # no salted hash inside

    def test_shared_vocabulary_scores_higher(self):
        embed = HashingEmbedder()
        target = embed(OBJECTIVE)
        assert float(embed(ON_TOPIC[0][2]) @ target) > 2 * float(embed(OFF_TOPIC[0][2]) @ target)

    def test_text_is_cut_to_the_limit(self):
        embed = HashingEmbedder(max_chars=100)
        assert (embed("a" * 100) == embed("a" * 100 + " something else entirely")).all()


class TestDriftDetector:
    def test_staying_on_topic_with_varied_wording_does_not_fire(self):
        assert set(severities(ON_TOPIC * 3)) == {None}

    def test_moving_to_an_unrelated_topic_fires_and_escalates(self):
        out = severities(ON_TOPIC[:3] + OFF_TOPIC)
        assert out[:4] == [None] * 4  # warm-up, then one off-topic step is not enough
        assert "warning" in out and out[-1] == "critical"
        assert out.index("warning") < out.index("critical")

    def test_one_off_topic_step_among_on_topic_ones_does_not(self):
        steps = ON_TOPIC[:4] + OFF_TOPIC[:1] + ON_TOPIC[4:] + OFF_TOPIC[1:2] + ON_TOPIC
        assert set(severities(steps)) == {None}

    def test_without_an_objective_nothing_is_judged(self):
        assert set(severities(ON_TOPIC[:3] + OFF_TOPIC, objective=None)) == {None}

    def test_a_custom_embedder_from_the_settings(self):
        detector = built(ObjectiveDriftDetector,
                         {"AGENTWATCH_EMBEDDER": "tests.test_drift:word_embedder",
                          "AGENTWATCH_DRIFT_THRESHOLD": "2", "AGENTWATCH_DRIFT_CRITICAL": "4"})
        assert detector.embed.__qualname__ == "word_embedder"
        assert "critical" in severities(ON_TOPIC[:3] + OFF_TOPIC, detector=detector)

    @pytest.mark.parametrize("spec", ["no_colon", "tests.test_drift:missing",
                                      "no.such.module:embed", "builtins:len",
                                      "tests.test_drift:nan_embedder", "builtins:repr"])
    def test_a_bad_embedder_fails_loudly_at_start(self, spec):
        """Tried on a sample text when the processor is built: a callable that does not
        return a vector of finite numbers (len returns a number, repr text) is rejected
        then, instead of failing inside a span and switching drift off."""
        with pytest.raises(ConfigError, match="AGENTWATCH_EMBEDDER"):
            Pipeline(Config.from_env({"AGENTWATCH_EMBEDDER": spec}))


def nan_embedder(text: str) -> list[float]:
    return [float("nan")] * 8


_SENSITIVE = {"AGENTWATCH_DRIFT_THRESHOLD": 2.0, "AGENTWATCH_DRIFT_CRITICAL": 4.0}


def word_embedder(text: str) -> list[float]:
    """A user's embedder: one dimension per word of the test's two topics."""
    vocabulary = ("paris", "population", "census", "insee", "capital", "cake", "flour",
                  "sugar", "butter", "bake")
    words = text.lower().replace(",", " ").split()
    return [float(sum(word.startswith(v) for word in words)) + 0.01 for v in vocabulary]


def test_off_by_default_and_on_with_all():
    assert "drift.objective" not in [d.id for d in build_detectors(Config())]
    assert "drift.objective" in [d.id for d in build_detectors(Config(detectors=("all",)))]


def test_end_to_end_with_set_objective():
    pipeline = Pipeline(Config(detectors=("all",), settings=_SENSITIVE))
    search = tool(tracer_provider=pipeline.provider)(
        lambda query: next(result for _, args, result in ON_TOPIC + OFF_TOPIC
                           if args.get("query") == query))
    with agent_run("researcher", tracer_provider=pipeline.provider):
        assert set_objective(OBJECTIVE)
        for _, args, _ in ON_TOPIC + OFF_TOPIC:
            if "query" in args:
                search(query=args["query"])
    flagged = [s for s in pipeline.spans("execute_tool") if s.attributes.get("agentwatch.flagged")]
    assert flagged and all(s.attributes["agentwatch.detections"] == ("drift.objective",)
                           for s in flagged)
    event = flagged[0].events[0]
    assert event.attributes["agentwatch.failure_mode"] == "objective_drift"
    # Evidence is numbers, never what the run read or wrote.
    exported = json.dumps({k: v for k, v in event.attributes.items()}, default=str)
    assert "cake" not in exported and "Paris" not in exported
    assert "agentwatch.evidence.baseline_similarity" in event.attributes


def test_set_objective_outside_a_run_is_a_no_op_and_empty_text_an_error(pipeline):
    assert set_objective("anything") is False
    with pytest.raises(ValueError):
        set_objective("  ")


@pytest.mark.parametrize("attributes", [
    {"gen_ai.input.messages": json.dumps([
        {"role": "system", "parts": [{"type": "text", "content": "Be brief."}]},
        {"role": "user", "parts": [{"type": "text", "content": OBJECTIVE}]}])},
    {"llm.input_messages.0.message.role": "system",
     "llm.input_messages.0.message.content": "Be brief.",
     "llm.input_messages.1.message.role": "user",
     "llm.input_messages.1.message.content": OBJECTIVE},
    {"gen_ai.prompt.0.role": "user", "gen_ai.prompt.0.content": OBJECTIVE},
], ids=["genai", "openinference", "openllmetry"])
def test_the_objective_from_another_instrumentations_captured_messages(attributes):
    from otel_agentwatch.normalize.messages import first_user_message

    assert first_user_message(attributes) == OBJECTIVE
    pipeline = Pipeline(Config(detectors=("all",), settings=_SENSITIVE))
    tracer = pipeline.tracer
    with tracer.start_as_current_span("invoke_agent x", attributes={
            "gen_ai.operation.name": "invoke_agent"}):
        with tracer.start_as_current_span("chat gpt-4o", attributes={
                "gen_ai.operation.name": "chat", **attributes}):
            pass
        for name, args, result in ON_TOPIC[:3] + OFF_TOPIC:
            with tracer.start_as_current_span(f"execute_tool {name}", attributes={
                    "gen_ai.operation.name": "execute_tool", "gen_ai.tool.name": name,
                    "gen_ai.tool.call.arguments": json.dumps(args),
                    "gen_ai.tool.call.result": result}):
                pass
    flagged = [s for s in pipeline.spans() if "drift.objective" in
               s.attributes.get("agentwatch.detections", ())]
    assert flagged


@pytest.mark.parametrize("attributes", [
    {"gen_ai.operation.name": "invoke_agent", "gen_ai.input.messages": json.dumps([
        {"role": "user", "parts": [{"type": "text", "content": OBJECTIVE}]}])},
    {"openinference.span.kind": "AGENT",
     "input.value": json.dumps({"task": OBJECTIVE, "stream": False})},
    {"openinference.span.kind": "AGENT", "input.value": OBJECTIVE},
    {"traceloop.span.kind": "agent",
     "traceloop.entity.input": json.dumps({"inputs": {"input": OBJECTIVE}})},
], ids=["genai messages", "openinference json", "openinference text", "openllmetry"])
def test_the_objective_an_agent_span_records_as_it_starts(attributes):
    """Where the conventions put an agent's input, on its span as it starts: that is the
    run's objective, with no model span's messages needed."""
    from tests.sdk_fixtures import Recorded

    pipeline = Recorded(Config(detectors=("all",)))
    tracer = pipeline.tracer
    with tracer.start_as_current_span("agent", attributes=attributes):
        GenAI.tool(tracer, "search", {"query": "population of Lyon"}, result="522,000")
    assert pipeline.recorder.objectives == [OBJECTIVE]
    pipeline.close()


@given(st.text(min_size=1, max_size=120), st.booleans())
@settings(max_examples=150, deadline=None)
def test_a_task_cut_short_is_read_as_far_as_it_goes(task, first):
    """An agent's JSON input cut at any length (an attribute length limit; TRAIL's
    recorded spans): the task's text as far as it was kept, never more, never an error."""
    from otel_agentwatch.normalize.messages import agent_input

    fields = {"task": task, "stream": False} if first else {"stream": False, "task": task}
    text = json.dumps(fields)
    opening = text.index('"task": "') + len('"task": "')
    for cut in range(len(text) + 1):
        found = agent_input({"input.value": text[:cut]})
        if cut < opening:
            assert found is None
        else:
            assert found is None or found in task


def test_an_input_with_no_task_in_it_is_not_an_objective():
    from otel_agentwatch.normalize.messages import agent_input

    assert agent_input({"input.value": json.dumps({"stream": True, "max_steps": 4})}) is None
    assert agent_input({"input.value": "[1, 2"}) is None
    assert agent_input({}) is None
