"""Configuration: one table of settings, read from the environment in one place.

Every setting is a row of :data:`SETTINGS`: its environment variable, the
:class:`Config` field it fills, its parser, its default and a sentence of
documentation. The README's table is checked against this table by a test, and
``agentwatch config`` prints it, so the three cannot drift apart.

Bad configuration fails loudly at start: :meth:`Config.from_env` raises
:class:`ConfigError`, which names the variable, the value it had and what is
accepted.
"""

from __future__ import annotations

import dataclasses
import math
import os
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from .detectors.pricing import ModelPrice, parse_prices

__all__ = ["SETTINGS", "Config", "ConfigError", "Setting", "settings_markdown"]


class ConfigError(ValueError):
    """A configuration value was rejected.

    Attributes:
        variable: the environment variable (or settings) that held the value.
        value: the rejected value, as given.
        accepted: what would have been accepted.
    """

    def __init__(self, variable: str, value: object, accepted: str) -> None:
        self.variable = variable
        self.value = value
        self.accepted = accepted
        super().__init__(f"{variable}={value!r} is not valid: expected {accepted}")


# --- value kinds: one parser per type -------------------------------------------------------


@dataclass(frozen=True)
class _Kind:
    accepted: str
    parse: Callable[[str], Any]
    check: Callable[[Any], bool] = lambda _value: True


def _parse_bool(text: str) -> bool:
    lowered = text.strip().lower()
    if lowered in ("1", "true", "yes", "on"):
        return True
    if lowered in ("0", "false", "no", "off"):
        return False
    raise ValueError(text)


def _boolean() -> _Kind:
    return _Kind("true or false (also 1/0, yes/no, on/off)", _parse_bool,
                 lambda v: isinstance(v, bool))


def _integer(minimum: int) -> _Kind:
    return _Kind(
        f"an integer >= {minimum}",
        lambda text: int(text.strip()),
        lambda v: isinstance(v, int) and not isinstance(v, bool) and v >= minimum,
    )


def _number(minimum: float) -> _Kind:
    def check(value: Any) -> bool:
        return (
            isinstance(value, (int, float))
            and not isinstance(value, bool)
            and math.isfinite(value)
            and value >= minimum
        )

    return _Kind(f"a number >= {minimum:g}", lambda text: float(text.strip()), check)


def _fraction() -> _Kind:
    def check(value: Any) -> bool:
        return (isinstance(value, (int, float)) and not isinstance(value, bool)
                and 0.0 <= value <= 1.0)

    return _Kind("a number from 0 to 1", lambda text: float(text.strip()), check)


def _choice(*values: str) -> _Kind:
    return _Kind(
        "one of " + ", ".join(values),
        lambda text: text.strip().lower(),
        lambda v: v in values,
    )


def _parse_names(text: str) -> tuple[str, ...]:
    names = tuple(part.strip() for part in text.replace(" ", ",").split(",") if part.strip())
    if not names:
        raise ValueError(text)
    return names


def _name_list(accepted: str) -> _Kind:
    # The names are validated in Config.__post_init__, against registries known there.
    return _Kind(accepted, _parse_names,
                 lambda v: isinstance(v, tuple) and all(isinstance(x, str) for x in v))


def _parse_agent_tools(text: str) -> tuple[tuple[str, tuple[str, ...]], ...]:
    entries = []
    for part in text.split(","):
        if not part.strip():
            continue
        agent, separator, tools = part.partition("=")
        names = tuple(name.strip() for name in tools.split("|") if name.strip())
        if not separator or not agent.strip() or not names:
            raise ValueError(part)
        entries.append((agent.strip(), names))
    if not entries:
        raise ValueError(text)
    return tuple(entries)


def _is_embedder_spec(value: Any) -> bool:
    if not isinstance(value, str):
        return False
    if value == "hashing":
        return True
    module, colon, attribute = value.partition(":")
    return bool(colon and module and attribute)


# --- the table ---------------------------------------------------------------------------------


@dataclass(frozen=True)
class Setting:
    """One row of the settings table."""

    env: str
    field: str
    kind: _Kind
    default: Any
    doc: str
    standard: bool = False  # an OpenTelemetry variable that we also honour

    @property
    def accepted(self) -> str:
        return self.kind.accepted

    def default_text(self) -> str:
        """The default as a user would write it in the environment."""
        return format_value(self.default)


SETTINGS: tuple[Setting, ...] = (
    Setting("AGENTWATCH_ENABLED", "enabled", _boolean(), True,
            "Turns the whole package on or off; when off, spans pass through untouched."),
    Setting("AGENTWATCH_DETECTORS", "detectors", _name_list(
                "'all', or a comma-separated list of detector ids or families "
                "(e.g. 'loop'), each optionally prefixed with '-' to drop it"),
            ("all", "-drift.objective"),
            "Which detectors run: `all`, a list of ids or families, `-id` to drop one. "
            "`drift.objective` is off by default (see Detectors); `all` turns it on."),
    Setting("AGENTWATCH_PROFILE", "profile",
            _choice("default", "openhands", "gemini_cli", "cline", "roo"), "default",
            "Detector parameters: ours (`default`, tuned by the variables below), or the "
            "fixed rules of another runtime's loop guard (see Profiles)."),
    Setting("AGENTWATCH_LOOP_REPEAT_THRESHOLD", "loop_repeat_threshold", _integer(2), 3,
            "`loop.repeated_call`: identical consecutive tool calls that raise a warning."),
    Setting("AGENTWATCH_LOOP_REPEAT_CRITICAL", "loop_repeat_critical", _integer(2), 5,
            "`loop.repeated_call`: identical consecutive tool calls that make it critical."),
    Setting("AGENTWATCH_LOOP_OUTCOME_THRESHOLD", "loop_outcome_threshold", _integer(2), 3,
            "`loop.repeated_outcome`: same call with the same result, within the window, "
            "that raises a warning."),
    Setting("AGENTWATCH_LOOP_OUTCOME_CRITICAL", "loop_outcome_critical", _integer(2), 5,
            "`loop.repeated_outcome`: same call with the same result that makes it critical."),
    Setting("AGENTWATCH_LOOP_WINDOW", "loop_window", _integer(2), 30,
            "How many of a run's most recent tool calls `loop.repeated_outcome` looks back over."),
    Setting("AGENTWATCH_LOOP_SIMILARITY", "loop_similarity", _fraction(), 0.0,
            "`loop.repeated_call`: also count near-identical arguments at this similarity "
            "(Jaccard over character 4-grams); 0 compares exactly."),
    Setting("AGENTWATCH_LOOP_ERROR_THRESHOLD", "loop_error_threshold", _integer(2), 3,
            "`loop.error_streak`: consecutive failures of one tool that raise a warning."),
    Setting("AGENTWATCH_LOOP_ERROR_CRITICAL", "loop_error_critical", _integer(2), 5,
            "`loop.error_streak`: consecutive failures that make it critical."),
    Setting("AGENTWATCH_LOOP_CYCLE_THRESHOLD", "loop_cycle_threshold", _integer(2), 3,
            "`loop.cycle`: repetitions of a 2-5 call pattern that raise a warning."),
    Setting("AGENTWATCH_LOOP_CYCLE_CRITICAL", "loop_cycle_critical", _integer(2), 4,
            "`loop.cycle`: repetitions that make it critical."),
    Setting("AGENTWATCH_LOOP_REREAD_THRESHOLD", "loop_reread_threshold", _integer(1), 2,
            "`loop.redundant_read`: re-reads of an unchanged resource that raise a warning."),
    Setting("AGENTWATCH_LOOP_REREAD_CRITICAL", "loop_reread_critical", _integer(1), 4,
            "`loop.redundant_read`: re-reads that make it critical."),
    Setting("AGENTWATCH_LOOP_EDIT_THRESHOLD", "loop_edit_threshold", _integer(2), 6,
            "`loop.edit_churn`: edits of one resource with no verification between that "
            "raise a warning."),
    Setting("AGENTWATCH_LOOP_EDIT_CRITICAL", "loop_edit_critical", _integer(2), 10,
            "`loop.edit_churn`: such edits that make it critical."),
    Setting("AGENTWATCH_LOOP_TEXT_REPEATS", "loop_text_repeats", _integer(0), 10,
            "`loop.repeated_text`: occurrences of a 50-character passage, close together, "
            "that make output chanting critical; 0 turns it off."),
    Setting("AGENTWATCH_LOOP_MONOLOGUE_THRESHOLD", "loop_monologue_threshold", _integer(0), 3,
            "`loop.repeated_text`: model outputs in a row, with no tool call, each restating "
            "the one before, that raise a warning; 0 turns it off."),
    Setting("AGENTWATCH_LOOP_MONOLOGUE_CRITICAL", "loop_monologue_critical", _integer(0), 5,
            "`loop.repeated_text`: such outputs that make it critical."),
    Setting("AGENTWATCH_LOOP_MONOLOGUE_SIMILARITY", "loop_monologue_similarity", _fraction(),
            0.8,
            "`loop.repeated_text`: how similar an output must be to the one before to count "
            "as restating it; 0 counts every output."),
    Setting("AGENTWATCH_DRIFT_THRESHOLD", "drift_threshold", _number(0.1), 6.0,
            "`drift.objective`: accumulated decline of the steps' similarity to the "
            "objective (in baseline units) that raises a warning."),
    Setting("AGENTWATCH_DRIFT_CRITICAL", "drift_critical", _number(0.1), 12.0,
            "`drift.objective`: the accumulated decline that makes it critical."),
    Setting("AGENTWATCH_DRIFT_WARMUP", "drift_warmup", _integer(1), 3,
            "`drift.objective`: steps that set a run's baseline similarity before it is "
            "judged."),
    Setting("AGENTWATCH_EMBEDDER", "embedder", _Kind(
                "'hashing', or module:callable (text -> vector of floats)",
                lambda text: text.strip(), _is_embedder_spec), "hashing",
            "How `drift.objective` embeds text: the built-in hashed n-gram vectors, or "
            "your own callable."),
    Setting("AGENTWATCH_EMBED_MAX_CHARS", "embed_max_chars", _integer(100), 2000,
            "Characters of a text that are embedded (the rest is ignored)."),
    Setting("AGENTWATCH_STALL_THRESHOLD", "stall_threshold", _integer(2), 10,
            "`progress.stall`: tool calls in a row with no new result and no new change "
            "that raise a warning."),
    Setting("AGENTWATCH_STALL_CRITICAL", "stall_critical", _integer(2), 20,
            "`progress.stall`: such tool calls that make it critical."),
    Setting("AGENTWATCH_OVERTHINKING_RATIO", "overthinking_ratio", _number(1), 3.0,
            "`reasoning.overthinking`: how many times the run's usual length (the median of "
            "its first 3 model calls) a model call must reach to count."),
    Setting("AGENTWATCH_OVERTHINKING_THRESHOLD", "overthinking_threshold", _integer(1), 2,
            "`reasoning.overthinking`: such model calls in a row, with no tool bringing "
            "anything new, that raise a warning."),
    Setting("AGENTWATCH_OVERTHINKING_CRITICAL", "overthinking_critical", _integer(1), 4,
            "`reasoning.overthinking`: such calls that make it critical."),
    Setting("AGENTWATCH_HANDOFF_CYCLE_THRESHOLD", "handoff_cycle_threshold", _integer(2), 3,
            "`coordination.handoff_cycle`: repetitions of a cycle of handoffs between 2-4 "
            "agents, with no tool bringing anything new, that raise a warning."),
    Setting("AGENTWATCH_HANDOFF_CYCLE_CRITICAL", "handoff_cycle_critical", _integer(2), 5,
            "`coordination.handoff_cycle`: such repetitions that make it critical."),
    Setting("AGENTWATCH_AGENT_TOOLS", "agent_tools", _Kind(
                "comma-separated agent=tool|tool entries, e.g. "
                "'researcher=search|read_page,coder=bash'", _parse_agent_tools,
                lambda v: isinstance(v, tuple)), (),
            "`coordination.role_violation`: the tools each named agent may call; agents not "
            "listed are not judged."),
    Setting("AGENTWATCH_TERMINATION_ERRORS_THRESHOLD", "termination_errors_threshold",
            _integer(1), 2,
            "`termination.after_errors`: failed tool calls in a row at the end of a run that "
            "raise a warning."),
    Setting("AGENTWATCH_TERMINATION_ERRORS_CRITICAL", "termination_errors_critical",
            _integer(1), 3,
            "`termination.after_errors`: such failures that make it critical."),
    Setting("AGENTWATCH_BUDGET_TOOL_CALLS", "budget_tool_calls", _integer(0), 0,
            "`budget.tool_calls`: tool calls a run may make; 0 sets no limit."),
    Setting("AGENTWATCH_BUDGET_LLM_CALLS", "budget_llm_calls", _integer(0), 0,
            "`budget.llm_calls`: model calls a run may make; 0 sets no limit."),
    Setting("AGENTWATCH_BUDGET_TOKENS", "budget_tokens", _integer(0), 0,
            "`budget.tokens`: input plus output tokens a run may use; 0 sets no limit."),
    Setting("AGENTWATCH_BUDGET_COST_USD", "budget_cost_usd", _number(0), 0.0,
            "`budget.cost`: US dollars a run may spend on model calls (see "
            "`AGENTWATCH_MODEL_PRICES`); 0 sets no limit."),
    Setting("AGENTWATCH_BUDGET_SECONDS", "budget_seconds", _number(0), 0.0,
            "`budget.duration`: seconds from a run's first step to its latest; 0 sets no "
            "limit."),
    Setting("AGENTWATCH_BUDGET_WARNING_FRACTION", "budget_warning_fraction", _fraction(), 0.8,
            "The share of a budget spent that raises a warning (critical at the limit)."),
    Setting("AGENTWATCH_MODEL_PRICES", "model_prices", _Kind(
                "comma-separated model=input/output prices in USD per million tokens, "
                "e.g. 'my-model=0.5/1.5'", parse_prices,
                lambda v: isinstance(v, tuple)), (),
            "Prices that add to or override the built-in table, by model-name prefix."),
    Setting("AGENTWATCH_ACTION", "action", _choice("observe", "halt"), "observe",
            "`halt`: instrumented tool calls and SDK model calls of a run with a detection "
            "at `AGENTWATCH_HALT_ON` raise `otel_agentwatch.AgentHalted` instead of running; "
            "`observe` never changes what the application does."),
    Setting("AGENTWATCH_HALT_ON", "halt_on", _choice("critical", "warning"), "critical",
            "The severity that halts a run when `AGENTWATCH_ACTION=halt`."),
    Setting("AGENTWATCH_INSTRUMENT", "instrument",
            _name_list("'all', 'none', or a comma-separated list of framework names"), ("all",),
            "Which frameworks `init()` instruments when the application imports them: "
            "`all`, `none`, or a list (`langchain,openai,anthropic`)."),
    Setting("AGENTWATCH_LANGCHAIN_CHAINS", "langchain_chains", _choice("agents", "nodes", "all"),
            "agents",
            "LangChain chain spans: only agent and graph invocations, also LangGraph nodes, "
            "or every chain."),
    Setting("AGENTWATCH_MAX_RUNS", "max_runs", _integer(1), 10_000,
            "Most runs tracked at once; the least recently active is dropped beyond it."),
    Setting("AGENTWATCH_RUN_TTL_SECONDS", "run_ttl_seconds", _number(1), 900.0,
            "A run with no span for this long is forgotten."),
    Setting("OTEL_INSTRUMENTATION_GENAI_CAPTURE_MESSAGE_CONTENT", "capture_content", _boolean(),
            False,
            "Put prompts, tool arguments and results on the spans our instrumentation makes. "
            "Off, detectors still see them in-process and nothing leaves it.", standard=True),
    Setting("OTEL_TRACES_EXPORTER", "traces_exporter", _choice("otlp", "console", "none"), "otlp",
            "Exporter for the TracerProvider that `init()` creates (ignored when the "
            "application already set one).", standard=True),
    Setting("OTEL_EXPORTER_OTLP_PROTOCOL", "otlp_protocol", _choice("grpc", "http/protobuf"),
            "grpc",
            "OTLP transport, as in `opentelemetry-instrument`; "
            "`OTEL_EXPORTER_OTLP_TRACES_PROTOCOL` takes precedence.", standard=True),
)

def _format_item(item: Any) -> str:
    if isinstance(item, tuple) and len(item) == 2 and isinstance(item[1], ModelPrice):
        return f"{item[0]}={item[1].input_per_mtok:g}/{item[1].output_per_mtok:g}"
    if isinstance(item, tuple) and len(item) == 2 and isinstance(item[1], tuple):
        return f"{item[0]}={'|'.join(item[1])}"  # an agent's tools
    return str(item)


def format_value(value: Any) -> str:
    """A setting's value as a user would write it in the environment."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, tuple):
        return ",".join(_format_item(item) for item in value)
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    return str(value)


_BY_FIELD = {setting.field: setting for setting in SETTINGS}
_PROTOCOL_TRACES_ENV = "OTEL_EXPORTER_OTLP_TRACES_PROTOCOL"


@dataclass(frozen=True)
class Config:
    """Validated settings. Build it with :meth:`from_env` or with keyword arguments.

    Every field is validated on construction, so a ``Config`` that exists is usable.
    """

    enabled: bool = True
    detectors: tuple[str, ...] = ("all", "-drift.objective")
    profile: str = "default"
    loop_repeat_threshold: int = 3
    loop_repeat_critical: int = 5
    loop_outcome_threshold: int = 3
    loop_outcome_critical: int = 5
    loop_window: int = 30
    loop_similarity: float = 0.0
    loop_error_threshold: int = 3
    loop_error_critical: int = 5
    loop_cycle_threshold: int = 3
    loop_cycle_critical: int = 4
    loop_reread_threshold: int = 2
    loop_reread_critical: int = 4
    loop_edit_threshold: int = 6
    loop_edit_critical: int = 10
    loop_text_repeats: int = 10
    loop_monologue_threshold: int = 3
    loop_monologue_critical: int = 5
    loop_monologue_similarity: float = 0.8
    drift_threshold: float = 6.0
    drift_critical: float = 12.0
    drift_warmup: int = 3
    embedder: str = "hashing"
    embed_max_chars: int = 2000
    stall_threshold: int = 10
    stall_critical: int = 20
    overthinking_ratio: float = 3.0
    overthinking_threshold: int = 2
    overthinking_critical: int = 4
    handoff_cycle_threshold: int = 3
    handoff_cycle_critical: int = 5
    agent_tools: tuple[tuple[str, tuple[str, ...]], ...] = ()
    termination_errors_threshold: int = 2
    termination_errors_critical: int = 3
    budget_tool_calls: int = 0
    budget_llm_calls: int = 0
    budget_tokens: int = 0
    budget_cost_usd: float = 0.0
    budget_seconds: float = 0.0
    budget_warning_fraction: float = 0.8
    model_prices: tuple[tuple[str, ModelPrice], ...] = ()
    action: str = "observe"
    halt_on: str = "critical"
    instrument: tuple[str, ...] = ("all",)
    langchain_chains: str = "agents"
    max_runs: int = 10_000
    run_ttl_seconds: float = 900.0
    capture_content: bool = False
    traces_exporter: str = "otlp"
    otlp_protocol: str = "grpc"
    # Derived from `detectors` and `instrument`; not settings of their own.
    enabled_detectors: frozenset[str] = field(init=False, repr=False, compare=False)
    instrumented: frozenset[str] = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        for setting in SETTINGS:
            value = getattr(self, setting.field)
            if not setting.kind.check(value):
                raise ConfigError(setting.env, value, setting.accepted)
        for prefix, warning, critical in (
            ("AGENTWATCH_LOOP_REPEAT", self.loop_repeat_threshold, self.loop_repeat_critical),
            ("AGENTWATCH_LOOP_OUTCOME", self.loop_outcome_threshold, self.loop_outcome_critical),
            ("AGENTWATCH_LOOP_ERROR", self.loop_error_threshold, self.loop_error_critical),
            ("AGENTWATCH_LOOP_CYCLE", self.loop_cycle_threshold, self.loop_cycle_critical),
            ("AGENTWATCH_LOOP_REREAD", self.loop_reread_threshold, self.loop_reread_critical),
            ("AGENTWATCH_LOOP_EDIT", self.loop_edit_threshold, self.loop_edit_critical),
            ("AGENTWATCH_LOOP_MONOLOGUE", self.loop_monologue_threshold,
             self.loop_monologue_critical),
            ("AGENTWATCH_STALL", self.stall_threshold, self.stall_critical),
            ("AGENTWATCH_HANDOFF_CYCLE", self.handoff_cycle_threshold,
             self.handoff_cycle_critical),
            ("AGENTWATCH_OVERTHINKING", self.overthinking_threshold,
             self.overthinking_critical),
            ("AGENTWATCH_TERMINATION_ERRORS", self.termination_errors_threshold,
             self.termination_errors_critical),
        ):
            _check_stages(prefix, warning, critical)
        if self.drift_critical < self.drift_threshold:
            raise ConfigError("AGENTWATCH_DRIFT_CRITICAL", self.drift_critical,
                              f"a number >= AGENTWATCH_DRIFT_THRESHOLD ({self.drift_threshold:g})")
        object.__setattr__(self, "enabled_detectors", _resolve_selection(self.detectors))
        object.__setattr__(self, "instrumented", _resolve_frameworks(self.instrument))

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None) -> Config:
        """Read every setting from ``environ`` (default ``os.environ``).

        Unset or empty variables keep their defaults. Raises :class:`ConfigError`.
        """
        env = os.environ if environ is None else environ
        values: dict[str, Any] = {}
        for setting in SETTINGS:
            name = setting.env
            if setting.field == "otlp_protocol" and env.get(_PROTOCOL_TRACES_ENV, "").strip():
                name = _PROTOCOL_TRACES_ENV
            raw = env.get(name, "")
            if not raw.strip():
                continue
            try:
                values[setting.field] = setting.kind.parse(raw)
            except ValueError:
                raise ConfigError(name, raw, setting.accepted) from None
            if not setting.kind.check(values[setting.field]):
                raise ConfigError(name, raw, setting.accepted)
        return cls(**values)

    def replace(self, **changes: Any) -> Config:
        """A copy with some settings changed, validated like a new one."""
        return dataclasses.replace(self, **changes)

    def items(self) -> Iterable[tuple[Setting, Any]]:
        """Each setting with its value in this configuration."""
        for setting in SETTINGS:
            yield setting, getattr(self, setting.field)


def _check_stages(prefix: str, warning: int, critical: int) -> None:
    if critical < warning:
        raise ConfigError(
            f"{prefix}_CRITICAL",
            critical,
            f"an integer >= {prefix}_THRESHOLD ({warning})",
        )


def _resolve_frameworks(tokens: tuple[str, ...]) -> frozenset[str]:
    from .instrumentation import INSTRUMENTORS  # names only; imports no framework

    known = frozenset(INSTRUMENTORS)
    names = {token.lower() for token in tokens}
    if names == {"all"}:
        return known
    if names == {"none"}:
        return frozenset()
    unknown = names - known
    if unknown:
        setting = _BY_FIELD["instrument"]
        raise ConfigError(setting.env, ",".join(tokens),
                          f"{setting.accepted}; known: {', '.join(sorted(known))}")
    return frozenset(names)


def _resolve_selection(tokens: tuple[str, ...]) -> frozenset[str]:
    from .detectors import DETECTOR_IDS  # the registry is static data; no heavy imports

    setting = _BY_FIELD["detectors"]
    shown = ",".join(tokens)

    def expand(name: str) -> set[str]:
        matched = {i for i in DETECTOR_IDS if i == name or i.split(".", 1)[0] == name}
        if not matched:
            raise ConfigError(
                setting.env, shown,
                f"{setting.accepted}; known detectors: {', '.join(DETECTOR_IDS)}",
            )
        return matched

    positive = [t for t in tokens if not t.startswith("-")]
    selected: set[str] = set() if positive else set(DETECTOR_IDS)
    for token in tokens:
        if token.lower() == "all":
            selected |= set(DETECTOR_IDS)
        elif token.startswith("-"):
            selected -= expand(token[1:])
        else:
            selected |= expand(token)
    return frozenset(selected)


def settings_markdown() -> str:
    """The settings as the Markdown table in the README (``agentwatch config --markdown``)."""
    lines = ["| variable | default | accepted | what it does |", "|---|---|---|---|"]
    for setting in SETTINGS:
        doc = setting.doc + (" *(standard OpenTelemetry variable)*" if setting.standard else "")
        default = setting.default_text()
        shown = f"`{default}`" if default else "*(none)*"
        cells = (f"`{setting.env}`", shown, setting.accepted, doc)
        # A '|' inside a cell would end it.
        lines.append("| " + " | ".join(cell.replace("|", "\\|") for cell in cells) + " |")
    return "\n".join(lines)
