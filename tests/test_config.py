"""Configuration: defaults, parsing, and errors that tell the user what to fix."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest

from otel_agentwatch import AgentWatchSpanProcessor, Config, ConfigError
from otel_agentwatch.config import SETTINGS
from otel_agentwatch.detectors import DETECTOR_IDS


def test_defaults_when_nothing_is_set():
    config = Config.from_env({})
    assert config == Config()
    assert (config.loop_repeat_threshold, config.loop_repeat_critical) == (3, 5)
    assert config.enabled_detectors == set(DETECTOR_IDS) - {"drift.objective"}


def test_every_setting_default_matches_the_config_field_default():
    """The table and the dataclass cannot disagree about a default."""
    defaults = Config()
    for setting in SETTINGS:
        assert getattr(defaults, setting.field) == setting.default, setting.env


def test_values_are_parsed_from_the_environment():
    config = Config.from_env({
        "AGENTWATCH_ENABLED": "off",
        "AGENTWATCH_LOOP_REPEAT_THRESHOLD": " 4 ",
        "AGENTWATCH_LOOP_REPEAT_CRITICAL": "8",
        "AGENTWATCH_RUN_TTL_SECONDS": "2.5",
        "OTEL_TRACES_EXPORTER": "Console",
    })
    assert config.enabled is False
    assert (config.loop_repeat_threshold, config.loop_repeat_critical) == (4, 8)
    assert config.run_ttl_seconds == 2.5
    assert config.traces_exporter == "console"


def test_empty_variable_keeps_the_default():
    assert Config.from_env({"AGENTWATCH_LOOP_REPEAT_THRESHOLD": "  "}).loop_repeat_threshold == 3


@pytest.mark.parametrize(("variable", "value", "accepted"), [
    ("AGENTWATCH_LOOP_REPEAT_THRESHOLD", "abc", "an integer >= 2"),
    ("AGENTWATCH_LOOP_REPEAT_THRESHOLD", "1", "an integer >= 2"),
    ("AGENTWATCH_ENABLED", "maybe", "true or false"),
    ("AGENTWATCH_RUN_TTL_SECONDS", "nan", "a number >= 1"),
    ("OTEL_TRACES_EXPORTER", "zipkin", "one of otlp, console, none"),
    ("OTEL_EXPORTER_OTLP_PROTOCOL", "http/json", "one of grpc, http/protobuf"),
])
def test_bad_value_names_variable_value_and_what_is_accepted(variable, value, accepted):
    with pytest.raises(ConfigError) as caught:
        Config.from_env({variable: value})
    message = str(caught.value)
    assert variable in message and repr(value) in message and accepted in message
    assert caught.value.variable == variable


def test_critical_below_warning_is_rejected():
    with pytest.raises(ConfigError, match=r"AGENTWATCH_LOOP_REPEAT_CRITICAL=2.*THRESHOLD \(4\)"):
        Config.from_env({"AGENTWATCH_LOOP_REPEAT_THRESHOLD": "4",
                         "AGENTWATCH_LOOP_REPEAT_CRITICAL": "2"})


def test_programmatic_config_is_validated_too():
    with pytest.raises(ConfigError, match="AGENTWATCH_LOOP_WINDOW"):
        Config(loop_window=0)


def test_traces_protocol_variable_wins_over_the_general_one():
    config = Config.from_env({"OTEL_EXPORTER_OTLP_PROTOCOL": "grpc",
                              "OTEL_EXPORTER_OTLP_TRACES_PROTOCOL": "http/protobuf"})
    assert config.otlp_protocol == "http/protobuf"
    with pytest.raises(ConfigError, match="OTEL_EXPORTER_OTLP_TRACES_PROTOCOL"):
        Config.from_env({"OTEL_EXPORTER_OTLP_TRACES_PROTOCOL": "carrier-pigeon"})


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
        assert Config.from_env({"AGENTWATCH_DETECTORS": value}).enabled_detectors == expected

    def test_unknown_detector_lists_the_known_ones(self):
        with pytest.raises(ConfigError, match=r"known detectors: loop\.repeated_call"):
            Config.from_env({"AGENTWATCH_DETECTORS": "loop.repeated_cal"})

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
