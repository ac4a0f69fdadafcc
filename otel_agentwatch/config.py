"""Configuration: the cross-cutting settings, and the detectors' settings as given.

:class:`Config` holds the settings that concern the whole package (on or off, which
detectors, which profile, what to do about a detection, what to instrument, limits, the
standard OpenTelemetry variables we honour), each declared once in :data:`SETTINGS`. The
settings that tune one detector are declared beside that detector
(``Detector.settings``); a ``Config`` carries them as given, by variable name
(:attr:`Config.settings`), and they are validated against their declarations when the
detectors are built, at start.

Bad configuration fails loudly at start: a :class:`~otel_agentwatch.settings.ConfigError`
names the variable, the value it had and what is accepted. This module imports nothing of
ours but the declaration type.
"""

from __future__ import annotations

import dataclasses
import logging
import os
import types
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from .settings import (
    ConfigError,
    Kind,
    Setting,
    boolean,
    choice,
    format_value,
    integer,
    name_list,
    number,
    parse_boolean,
    parse_names,
)

logger = logging.getLogger("otel_agentwatch")

__all__ = ["SETTINGS", "Config", "ConfigError", "Setting"]

PREFIX = "AGENTWATCH_"
SERVE_PREFIX = PREFIX + "SERVE_"  # agentwatch serve's own (otel_agentwatch.serve.settings)

ENABLED = Setting(
    "AGENTWATCH_ENABLED", boolean(), True,
    "Turns the whole package on or off; when off, spans pass through untouched.")
DETECTORS = Setting(
    "AGENTWATCH_DETECTORS",
    name_list("'all', or a comma-separated list of detector ids or families (e.g. 'loop'), "
              "each optionally prefixed with '-' to drop it"),
    ("all", "-drift.objective"),
    "Which detectors run: `all`, a list of ids or families, `-id` to drop one. "
    "`drift.objective` is off by default; `all` turns it on. Detectors installed by other "
    "packages are selected the same way.")
PROFILE = Setting(
    "AGENTWATCH_PROFILE", choice("default", "openhands", "gemini_cli", "cline", "roo"),
    "default",
    "Detector parameters: ours (`default`, tuned by the detectors' own settings), or the "
    "fixed rules of another runtime's loop guard (see docs/detectors.md, Profiles).")
_ACTIONS = ("observe", "nudge", "halt", "nudge,halt")


def _parse_action(text: str) -> str:
    """``halt, nudge`` and ``nudge,halt`` alike; ``ValueError`` for an unknown action."""
    order = ("nudge", "halt", "observe")
    parts = {part.strip().lower() for part in text.split(",") if part.strip()}
    return ",".join(sorted(parts, key=order.index))


ACTION = Setting(
    "AGENTWATCH_ACTION",
    Kind("one of " + ", ".join(_ACTIONS), _parse_action, lambda value: value in _ACTIONS),
    "observe",
    "`observe` never changes what the application does. `nudge`: the next model request "
    "of a run with a new detection at `AGENTWATCH_NUDGE_ON` carries a note saying what "
    "was found. `halt`: instrumented tool calls and model calls of a run with a detection "
    "at `AGENTWATCH_HALT_ON` raise `otel_agentwatch.AgentHalted` instead of running. "
    "`nudge,halt` does both.")
HALT_ON = Setting(
    "AGENTWATCH_HALT_ON", choice("critical", "warning"), "critical",
    "The severity that halts a run when `AGENTWATCH_ACTION` includes `halt`.")
NUDGE_ON = Setting(
    "AGENTWATCH_NUDGE_ON", choice("warning", "critical", "info"), "warning",
    "The severity of the detections a note tells the model about when "
    "`AGENTWATCH_ACTION` includes `nudge` (`info` includes advisories).")
NUDGE_BUDGET = Setting(
    "AGENTWATCH_NUDGE_BUDGET", choice("findings", "always"), "findings",
    "With budgets set and `AGENTWATCH_ACTION` including `nudge`: `findings` states what "
    "is left of them in each note, `always` also adds it to every model request.")
DIGESTS = Setting(
    "AGENTWATCH_DIGESTS", boolean(), True,
    "With content capture off, tool spans carry keyed digests of their arguments and "
    "result (`agentwatch.tool.arguments_digest`, `agentwatch.tool.result_digest`), so "
    "that calls can be compared outside the process without their content.")
DIGEST_KEY = Setting(
    "AGENTWATCH_DIGEST_KEY",
    Kind("any text, the same in every process whose digests are compared", str.strip,
         lambda value: isinstance(value, str), lambda value: "(set)" if value else ""),
    "",
    "The key of the digests; unset, a random key per process (digests then compare "
    "within one process only). Keep it secret: it lets its holder test guesses.")
NUDGE_TEMPLATE_PREFIX = PREFIX + "NUDGE_TEMPLATE_"
"""``AGENTWATCH_NUDGE_TEMPLATE_<FAILURE_MODE>``: the wording of the note for detections of
that failure mode (``$message``, ``$detector``, ``$severity`` and the detection's
evidence, such as ``$tool`` and ``$count``, are filled in)."""
INSTRUMENT = Setting(
    "AGENTWATCH_INSTRUMENT",
    name_list("'all', 'none', or a comma-separated list of framework names"), ("all",),
    "Which frameworks `init()` instruments when the application imports them: `all`, "
    "`none`, or a list of `anthropic`, `autogen`, `crewai`, `google_adk`, `langchain`, "
    "`llama_index`, `mcp`, `openai`, `openai_agents`, `pydantic_ai`, `smolagents` "
    "(`langchain,openai`).")
LANGCHAIN_CHAINS = Setting(
    "AGENTWATCH_LANGCHAIN_CHAINS", choice("agents", "nodes", "all"), "agents",
    "LangChain chain spans: only agent and graph invocations, also LangGraph nodes, or "
    "every chain.")
MAX_RUNS = Setting(
    "AGENTWATCH_MAX_RUNS", integer(1), 10_000,
    "Most runs tracked at once; the least recently active is dropped beyond it.")
RUN_TTL_SECONDS = Setting(
    "AGENTWATCH_RUN_TTL_SECONDS", number(1), 900.0,
    "A run with no span for this long is forgotten.")
# The values the GenAI instrumentations give this variable: a boolean, or where content
# goes. We put content on spans only; events are not ours to emit.
_CAPTURE_MODES = {"span_only": True, "span_and_event": True, "event_only": False,
                  "no_content": False}


def _parse_capture(text: str) -> bool:
    mode = text.strip().lower()
    return _CAPTURE_MODES[mode] if mode in _CAPTURE_MODES else parse_boolean(mode)


CAPTURE_CONTENT = Setting(
    "OTEL_INSTRUMENTATION_GENAI_CAPTURE_MESSAGE_CONTENT",
    Kind("true or false, or SPAN_ONLY, SPAN_AND_EVENT (on), EVENT_ONLY, NO_CONTENT (off)",
         _parse_capture, lambda value: isinstance(value, bool)), False,
    "Put prompts, tool arguments and results on the spans our instrumentation makes. Off, "
    "detectors still see them in-process and nothing leaves it.", standard=True)
EXPORTERS = ("otlp", "console", "none")


def _parse_exporters(text: str) -> tuple[str, ...]:
    """The exporters named that we can make; the others are left out with a warning, as
    the SDK's configurator does not stop for them either."""
    names = tuple(name.lower() for name in parse_names(text))
    known = tuple(name for name in names if name in EXPORTERS) or ("none",)
    unknown = [name for name in names if name not in EXPORTERS]
    if unknown:
        logger.warning("otel-agentwatch: OTEL_TRACES_EXPORTER=%r: no exporter named %s here; "
                       "using %s", text, ", ".join(unknown), ",".join(known))
    return known


TRACES_EXPORTER = Setting(
    "OTEL_TRACES_EXPORTER",
    Kind("a comma-separated list of otlp, console, none", _parse_exporters,
         lambda value: isinstance(value, tuple) and bool(value)
         and all(name in EXPORTERS for name in value)), ("otlp",),
    "Exporters for the TracerProvider that `init()` creates (ignored when the application "
    "already set one); several, as the SDK allows: `otlp,console`.", standard=True)
OTLP_PROTOCOL = Setting(
    "OTEL_EXPORTER_OTLP_PROTOCOL", choice("grpc", "http/protobuf", "http/json"), "grpc",
    "OTLP transport, as in `opentelemetry-instrument`; `OTEL_EXPORTER_OTLP_TRACES_PROTOCOL` "
    "takes precedence. `http/json` has no Python exporter: `http/protobuf` is used, with a "
    "warning.", standard=True)
_PROTOCOL_TRACES_ENV = "OTEL_EXPORTER_OTLP_TRACES_PROTOCOL"

# Config field -> its setting, in the order the settings reference lists them.
_FIELDS: tuple[tuple[str, Setting[Any]], ...] = (
    ("enabled", ENABLED), ("detectors", DETECTORS), ("profile", PROFILE),
    ("action", ACTION), ("halt_on", HALT_ON), ("nudge_on", NUDGE_ON),
    ("nudge_budget", NUDGE_BUDGET), ("instrument", INSTRUMENT),
    ("digests", DIGESTS), ("digest_key", DIGEST_KEY),
    ("langchain_chains", LANGCHAIN_CHAINS), ("max_runs", MAX_RUNS),
    ("run_ttl_seconds", RUN_TTL_SECONDS), ("capture_content", CAPTURE_CONTENT),
    ("traces_exporter", TRACES_EXPORTER), ("otlp_protocol", OTLP_PROTOCOL),
)
SETTINGS: tuple[Setting[Any], ...] = tuple(setting for _, setting in _FIELDS)
"""The cross-cutting settings; each detector's are in its ``settings``."""
_OWN = frozenset(setting.env for setting in SETTINGS)


def _read(setting: Setting[Any], raw: str, variable: str) -> Any:
    """A variable's value. An OpenTelemetry variable that we cannot read never stops the
    program (the SDK does not): it keeps its default, with a warning; ours raise
    :class:`ConfigError`."""
    if not setting.standard:
        return setting.parse(raw, variable)
    try:
        return setting.parse(raw, variable)
    except ConfigError as error:
        logger.warning("otel-agentwatch: %s; using the default, %s", error,
                       format_value(setting.default))
        return setting.default


@dataclass(frozen=True)
class Config:
    """Validated settings. Build it with :meth:`from_env` or with keyword arguments.

    The cross-cutting settings are fields, validated on construction. ``settings`` holds
    the detectors' own settings by variable name (text as in the environment, or values),
    e.g. ``Config(settings={"AGENTWATCH_LOOP_REPEAT_THRESHOLD": 4})``; they are validated
    against the detectors' declarations when a processor builds its detectors.
    """

    enabled: bool = ENABLED.default
    detectors: tuple[str, ...] = DETECTORS.default
    profile: str = PROFILE.default
    action: str = ACTION.default
    halt_on: str = HALT_ON.default
    nudge_on: str = NUDGE_ON.default
    nudge_budget: str = NUDGE_BUDGET.default
    digests: bool = DIGESTS.default
    digest_key: str = dataclasses.field(default=DIGEST_KEY.default, repr=False)
    instrument: tuple[str, ...] = INSTRUMENT.default
    langchain_chains: str = LANGCHAIN_CHAINS.default
    max_runs: int = MAX_RUNS.default
    run_ttl_seconds: float = RUN_TTL_SECONDS.default
    capture_content: bool = CAPTURE_CONTENT.default
    traces_exporter: tuple[str, ...] = TRACES_EXPORTER.default
    otlp_protocol: str = OTLP_PROTOCOL.default
    settings: Mapping[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        for name, setting in _FIELDS:
            object.__setattr__(self, name, setting.validate(getattr(self, name)))
        if not isinstance(self.settings, Mapping):
            raise ConfigError("settings", self.settings,
                              "a mapping of variable names to values")
        clashing = _OWN.intersection(self.settings)
        if clashing:
            name = min(clashing)
            raise ConfigError(name, self.settings[name],
                              "a Config field, not an entry of settings")
        # Frozen: a Config is shared by everything it configures.
        object.__setattr__(self, "settings", types.MappingProxyType(dict(self.settings)))

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None) -> Config:
        """Read the settings from ``environ`` (default ``os.environ``).

        Unset or empty variables keep their defaults; every other ``AGENTWATCH_*``
        variable is kept in :attr:`settings` for the detectors. Raises
        :class:`~otel_agentwatch.settings.ConfigError`.
        """
        env = os.environ if environ is None else environ
        values: dict[str, Any] = {}
        for name, setting in _FIELDS:
            variable = setting.env
            if setting is OTLP_PROTOCOL and env.get(_PROTOCOL_TRACES_ENV, "").strip():
                variable = _PROTOCOL_TRACES_ENV
            raw = env.get(variable, "")
            if raw.strip():
                values[name] = _read(setting, raw, variable)
        detector_settings = {name: raw for name, raw in env.items()
                             if name.startswith(PREFIX) and name not in _OWN and raw.strip()
                             and not name.startswith(SERVE_PREFIX)}
        return cls(**values, settings=detector_settings)

    @property
    def halts(self) -> bool:
        """Whether ``action`` includes ``halt``."""
        return "halt" in self.action.split(",")

    @property
    def nudges(self) -> bool:
        """Whether ``action`` includes ``nudge``."""
        return "nudge" in self.action.split(",")

    def nudge_templates(self) -> dict[str, str]:
        """The note wordings given by ``AGENTWATCH_NUDGE_TEMPLATE_<FAILURE_MODE>``
        settings, by failure mode (lower case, as detections name it)."""
        return {name[len(NUDGE_TEMPLATE_PREFIX):].lower(): str(value)
                for name, value in self.settings.items()
                if name.startswith(NUDGE_TEMPLATE_PREFIX) and len(name) > len(
                    NUDGE_TEMPLATE_PREFIX)}

    def replace(self, **changes: Any) -> Config:
        """A copy with some settings changed, validated like a new one."""
        return dataclasses.replace(self, **changes)

    def items(self) -> Iterable[tuple[Setting[Any], Any]]:
        """Each cross-cutting setting with its value in this configuration."""
        for name, setting in _FIELDS:
            yield setting, getattr(self, name)
