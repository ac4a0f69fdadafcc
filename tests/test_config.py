"""Configuration: defaults, parsing, and errors that tell the user what to fix."""

from __future__ import annotations

import logging
import os
import subprocess
import sys

import pytest

from otel_agentwatch import AgentWatchSpanProcessor, Config, ConfigError
from otel_agentwatch.config import SETTINGS
from otel_agentwatch.detectors import DETECTOR_IDS, build_detectors
from otel_agentwatch.detectors.loop import RepeatedCallDetector


def start(environ: dict[str, str]) -> AgentWatchSpanProcessor:
    """What happens at start: the configuration read, the detectors built."""
    return AgentWatchSpanProcessor(config=Config.from_env(environ))


def detector(processor: AgentWatchSpanProcessor, detector_id: str):
    return next(d for d in processor.detectors if d.id == detector_id)


def test_defaults_when_nothing_is_set():
    config = Config.from_env({})
    assert config == Config()
    processor = start({})
    repeated = detector(processor, "loop.repeated_call")
    assert (repeated.warning_at, repeated.critical_at) == (3, 5)
    assert {d.id for d in processor.detectors} == (
        set(DETECTOR_IDS) - {"drift.objective", "coordination.role_violation"}
        - {i for i in DETECTOR_IDS if i.startswith("budget.")})


def test_every_setting_default_matches_the_config_field_default():
    """The declaration and the dataclass cannot disagree about a default."""
    for setting, value in Config().items():
        assert value == setting.default, setting.env
    assert [setting for setting, _ in Config().items()] == list(SETTINGS)


def test_values_are_parsed_from_the_environment():
    environ = {"AGENTWATCH_ENABLED": "off", "AGENTWATCH_LOOP_REPEAT_THRESHOLD": " 4 ",
               "AGENTWATCH_LOOP_REPEAT_CRITICAL": "8", "AGENTWATCH_RUN_TTL_SECONDS": "2.5",
               "OTEL_TRACES_EXPORTER": "Console"}
    config = Config.from_env(environ)
    assert config.enabled is False
    assert config.run_ttl_seconds == 2.5
    assert config.traces_exporter == ("console",)
    repeated = detector(start(environ), "loop.repeated_call")
    assert (repeated.warning_at, repeated.critical_at) == (4, 8)


def test_detector_settings_can_be_given_in_code_as_values_or_text():
    for value in (4, "4"):
        config = Config(settings={"AGENTWATCH_LOOP_REPEAT_THRESHOLD": value})
        repeated = detector(AgentWatchSpanProcessor(config=config), "loop.repeated_call")
        assert repeated.warning_at == 4


def test_empty_variable_keeps_the_default():
    environ = {"AGENTWATCH_LOOP_REPEAT_THRESHOLD": "  ", "AGENTWATCH_MAX_RUNS": ""}
    assert Config.from_env(environ).max_runs == 10_000
    assert detector(start(environ), "loop.repeated_call").warning_at == 3


@pytest.mark.parametrize(("variable", "value", "accepted"), [
    ("AGENTWATCH_LOOP_REPEAT_THRESHOLD", "abc", "an integer >= 2"),
    ("AGENTWATCH_LOOP_REPEAT_THRESHOLD", "1", "an integer >= 2"),
    ("AGENTWATCH_LOOP_SIMILARITY", "1.5", "a number from 0 to 1"),
    ("AGENTWATCH_ENABLED", "maybe", "true or false"),
    ("AGENTWATCH_RUN_TTL_SECONDS", "nan", "a number >= 1"),
    ("AGENTWATCH_BUDGET_COST_USD", "inf", "a number >= 0"),
])
def test_bad_value_names_variable_value_and_what_is_accepted(variable, value, accepted):
    with pytest.raises(ConfigError) as caught:
        start({variable: value})
    message = str(caught.value)
    assert variable in message and repr(value) in message and accepted in message
    assert caught.value.variable == variable


def test_critical_below_warning_is_rejected():
    with pytest.raises(ConfigError, match=r"AGENTWATCH_LOOP_REPEAT_CRITICAL=2.*THRESHOLD \(4\)"):
        start({"AGENTWATCH_LOOP_REPEAT_THRESHOLD": "4", "AGENTWATCH_LOOP_REPEAT_CRITICAL": "2"})


def test_programmatic_config_is_validated_too():
    with pytest.raises(ConfigError, match="AGENTWATCH_MAX_RUNS"):
        Config(max_runs=0)
    with pytest.raises(ConfigError, match="AGENTWATCH_LOOP_WINDOW"):
        AgentWatchSpanProcessor(config=Config(settings={"AGENTWATCH_LOOP_WINDOW": 0}))
    with pytest.raises(ConfigError, match=r"AGENTWATCH_ACTION.*a Config field"):
        Config(settings={"AGENTWATCH_ACTION": "halt"})


def test_a_setting_no_detector_has_is_named_in_a_warning(caplog):
    with caplog.at_level(logging.WARNING, logger="otel_agentwatch"):
        start({"AGENTWATCH_LOOP_REPEAT_TRESHOLD": "4"})
    assert "AGENTWATCH_LOOP_REPEAT_TRESHOLD" in caplog.text


def test_traces_protocol_variable_wins_over_the_general_one():
    config = Config.from_env({"OTEL_EXPORTER_OTLP_PROTOCOL": "grpc",
                              "OTEL_EXPORTER_OTLP_TRACES_PROTOCOL": "http/protobuf"})
    assert config.otlp_protocol == "http/protobuf"


def test_an_opentelemetry_variable_we_cannot_read_warns_and_keeps_its_default(caplog):
    """As the SDK does: a standard variable never stops the program; ours do."""
    with caplog.at_level(logging.WARNING, logger="otel_agentwatch"):
        config = Config.from_env({"OTEL_EXPORTER_OTLP_TRACES_PROTOCOL": "carrier-pigeon",
                                  "OTEL_INSTRUMENTATION_GENAI_CAPTURE_MESSAGE_CONTENT": "maybe"})
    assert (config.otlp_protocol, config.capture_content) == ("grpc", False)
    assert "OTEL_EXPORTER_OTLP_TRACES_PROTOCOL" in caplog.text
    assert "OTEL_INSTRUMENTATION_GENAI_CAPTURE_MESSAGE_CONTENT" in caplog.text
    with pytest.raises(ConfigError, match="AGENTWATCH_MAX_RUNS"):
        Config.from_env({"AGENTWATCH_MAX_RUNS": "many"})


@pytest.mark.parametrize(("value", "captured"), [
    ("true", True), ("FALSE", False), ("SPAN_ONLY", True), ("span_and_event", True),
    ("EVENT_ONLY", False), ("NO_CONTENT", False), ("1", True)])
def test_every_content_capture_value_the_genai_instrumentations_use(value, captured):
    config = Config.from_env({"OTEL_INSTRUMENTATION_GENAI_CAPTURE_MESSAGE_CONTENT": value})
    assert config.capture_content is captured


def test_several_exporters_and_unknown_ones(caplog):
    assert Config.from_env({"OTEL_TRACES_EXPORTER": "otlp, Console"}).traces_exporter == (
        "otlp", "console")
    with caplog.at_level(logging.WARNING, logger="otel_agentwatch"):
        config = Config.from_env({"OTEL_TRACES_EXPORTER": "zipkin,console"})
    assert config.traces_exporter == ("console",)
    assert "zipkin" in caplog.text


def test_a_detector_declares_each_of_its_settings_once():
    """One declaration per setting: the constructor's defaults are the declarations'."""
    for name, setting in RepeatedCallDetector.settings.items():
        assert getattr(RepeatedCallDetector(), name) == setting.default


# Budgets and role checks have nothing to judge without their settings.
GIVEN = {"AGENTWATCH_AGENT_TOOLS": "a=b", "AGENTWATCH_BUDGET_TOOL_CALLS": "1",
         "AGENTWATCH_BUDGET_LLM_CALLS": "1", "AGENTWATCH_BUDGET_TOKENS": "1",
         "AGENTWATCH_BUDGET_COST_USD": "1", "AGENTWATCH_BUDGET_SECONDS": "1"}


class TestDetectorSelection:

    @pytest.mark.parametrize(("value", "expected"), [
        ("all", set(DETECTOR_IDS)),
        ("loop", {i for i in DETECTOR_IDS if i.startswith("loop.")}),
        ("budget", {"budget.tool_calls", "budget.llm_calls", "budget.tokens", "budget.cost",
                    "budget.duration"}),
        ("loop.repeated_call", {"loop.repeated_call"}),
        ("-loop.repeated_outcome", set(DETECTOR_IDS) - {"loop.repeated_outcome"}),
        ("all,-loop,-budget,-termination,-progress,-drift,-reasoning,-coordination", set()),
        ("loop.repeated_outcome, loop.repeated_call", {"loop.repeated_call",
                                                       "loop.repeated_outcome"}),
    ])
    def test_selection(self, value, expected):
        config = Config.from_env({"AGENTWATCH_DETECTORS": value, **GIVEN})
        assert {d.id for d in build_detectors(config)} == expected

    def test_unknown_detector_lists_the_known_ones(self):
        with pytest.raises(ConfigError, match=r"known detectors: loop\.repeated_call"):
            start({"AGENTWATCH_DETECTORS": "loop.repeated_cal"})

    def test_processor_runs_only_the_selected_detectors(self):
        config = Config(detectors=("loop.repeated_outcome",))
        processor = AgentWatchSpanProcessor(config=config)
        assert [d.id for d in processor.detectors] == ["loop.repeated_outcome"]


def test_auto_import_fails_at_start_on_bad_configuration():
    """`import otel_agentwatch.auto` with a bad value stops the program with a clear message."""
    env = {**os.environ, "AGENTWATCH_LOOP_REPEAT_THRESHOLD": "abc", "OTEL_TRACES_EXPORTER": "none"}
    result = subprocess.run([sys.executable, "-c", "import otel_agentwatch.auto"],
                            env=env, capture_output=True, text=True, timeout=60)
    assert result.returncode != 0
    assert "ConfigError: AGENTWATCH_LOOP_REPEAT_THRESHOLD='abc' is not valid" in result.stderr


def test_the_instrument_setting_names_every_framework():
    """The settings reference is where a user looks up the names AGENTWATCH_INSTRUMENT
    takes: it lists each instrumentor's."""
    from otel_agentwatch.config import INSTRUMENT
    from otel_agentwatch.instrumentation import INSTRUMENTORS

    assert {name for name in INSTRUMENTORS if f"`{name}`" not in INSTRUMENT.doc} == set()
