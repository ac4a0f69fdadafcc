"""Settings: the declaration every setting is written with, and one parser per type.

A setting is declared once, beside the code it tunes: its environment variable, its type
(:class:`Kind`: how text is parsed and what values are accepted), its default and a
sentence of documentation. The cross-cutting ones are in :mod:`otel_agentwatch.config`,
each detector's in its own module (``Detector.settings``). Everything else is generated
from the declarations: validation at start, ``agentwatch config``, the settings reference
in ``docs/settings.md``.

Bad configuration fails loudly at start with a :class:`ConfigError` that names the
variable, the value it had and what is accepted. This module imports nothing of ours.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Generic, TypeVar

__all__ = [
    "ConfigError",
    "Kind",
    "Setting",
    "SettingValues",
    "boolean",
    "choice",
    "format_value",
    "fraction",
    "integer",
    "name_list",
    "number",
    "parse_boolean",
    "parse_names",
    "settings_markdown",
]

T = TypeVar("T")


class ConfigError(ValueError):
    """A configuration value was rejected.

    Attributes:
        variable: the environment variable (or setting) that held the value.
        value: the rejected value, as given.
        accepted: what would have been accepted.
    """

    def __init__(self, variable: str, value: object, accepted: str) -> None:
        self.variable = variable
        self.value = value
        self.accepted = accepted
        super().__init__(f"{variable}={value!r} is not valid: expected {accepted}")


# --- kinds of value: one parser per type --------------------------------------------------


def format_value(value: Any) -> str:
    """A value as a user would write it in the environment."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, tuple):
        return ",".join(_format_item(item) for item in value)
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    return str(value)


def _format_item(item: Any) -> str:
    if isinstance(item, tuple) and len(item) == 2 and isinstance(item[1], tuple):
        return f"{item[0]}={'|'.join(map(str, item[1]))}"  # name=a|b
    return str(item)



@dataclass(frozen=True)
class Kind(Generic[T]):
    """A type of setting: how its text is parsed, and which values are accepted.

    ``parse`` raises ``ValueError`` on text it cannot read; ``check`` says whether a
    value (parsed, or given in code) is acceptable; ``accepted`` says so to a person;
    ``format`` writes a value back as a user would write it in the environment.
    """

    accepted: str
    parse: Callable[[str], T]
    check: Callable[[Any], bool]
    format: Callable[[Any], str] = format_value


def parse_boolean(text: str) -> bool:
    """``true``/``false`` (also 1/0, yes/no, on/off, any case); ``ValueError`` otherwise."""
    lowered = text.strip().lower()
    if lowered in ("1", "true", "yes", "on"):
        return True
    if lowered in ("0", "false", "no", "off"):
        return False
    raise ValueError(text)


def boolean() -> Kind[bool]:
    return Kind("true or false (also 1/0, yes/no, on/off)", parse_boolean,
                lambda value: isinstance(value, bool))


def integer(minimum: int) -> Kind[int]:
    return Kind(
        f"an integer >= {minimum}",
        lambda text: int(text.strip()),
        lambda value: isinstance(value, int) and not isinstance(value, bool)
        and value >= minimum,
    )


def _real(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool) \
        and math.isfinite(value)


def number(minimum: float) -> Kind[float]:
    return Kind(f"a number >= {minimum:g}", lambda text: float(text.strip()),
                lambda value: _real(value) and value >= minimum)


def fraction() -> Kind[float]:
    return Kind("a number from 0 to 1", lambda text: float(text.strip()),
                lambda value: _real(value) and 0.0 <= value <= 1.0)


def choice(*values: str) -> Kind[str]:
    return Kind("one of " + ", ".join(values), lambda text: text.strip().lower(),
                lambda value: value in values)


def parse_names(text: str) -> tuple[str, ...]:
    """Names separated by commas or spaces; ``ValueError`` for none."""
    names = tuple(part.strip() for part in text.replace(" ", ",").split(",") if part.strip())
    if not names:
        raise ValueError(text)
    return names


def name_list(accepted: str) -> Kind[tuple[str, ...]]:
    """A comma-separated list of names; which names exist is checked where they are
    known (the detector and instrumentation registries), not here."""
    return Kind(accepted, parse_names,
                lambda value: isinstance(value, tuple)
                and all(isinstance(name, str) for name in value))


# --- the declaration --------------------------------------------------------------------


@dataclass(frozen=True, eq=False)
class Setting(Generic[T]):
    """One setting: an environment variable, its type, its default, what it does.

    Args:
        env: the environment variable, e.g. ``"AGENTWATCH_LOOP_REPEAT_THRESHOLD"``.
        kind: how its text is parsed and which values are accepted.
        default: its value when the variable is unset or empty.
        doc: one or two sentences for the settings reference.
        at_least: another setting this one may not be below (a critical stage is never
            below its warning stage).
        standard: an OpenTelemetry variable that we honour too.

    Settings are compared by identity: the same declaration, imported where it is used.
    """

    env: str
    kind: Kind[T]
    default: T
    doc: str
    at_least: Setting[Any] | None = None
    standard: bool = False

    def __post_init__(self) -> None:
        if not self.kind.check(self.default):
            raise ValueError(f"{self.env}: the default {self.default!r} is not "
                             f"{self.kind.accepted}")

    @property
    def accepted(self) -> str:
        if self.at_least is not None:
            return f"{self.kind.accepted}, not below {self.at_least.env}"
        return self.kind.accepted

    def parse(self, text: str, variable: str | None = None) -> T:
        """The value of ``text`` as this setting reads it. Raises :class:`ConfigError`
        (naming ``variable``, default the setting's own)."""
        try:
            value = self.kind.parse(text)
        except (ValueError, OverflowError):
            raise ConfigError(variable or self.env, text, self.kind.accepted) from None
        if not self.kind.check(value):
            raise ConfigError(variable or self.env, text, self.kind.accepted)
        return value

    def validate(self, value: Any) -> T:
        """``value`` if this setting accepts it (text is parsed first); raises
        :class:`ConfigError`."""
        if isinstance(value, str) and not isinstance(self.default, str):
            return self.parse(value)
        if not self.kind.check(value):
            raise ConfigError(self.env, value, self.kind.accepted)
        return value  # type: ignore[no-any-return]  # checked by the kind

    def format(self, value: Any) -> str:
        """``value`` as a user would write it in the environment."""
        return self.kind.format(value)

    def default_text(self) -> str:
        """The default as a user would write it in the environment."""
        return self.format(self.default)


class SettingValues(Mapping[Setting[Any], Any]):
    """The value of each declared setting, validated: ``values[SETTING]``.

    Built by :meth:`resolve` from what was given (by variable name: text from the
    environment, or values in code); every setting not given has its default.
    """

    __slots__ = ("_values",)

    def __init__(self, values: Mapping[Setting[Any], Any]) -> None:
        self._values = dict(values)

    @classmethod
    def resolve(cls, settings: Iterable[Setting[Any]],
                given: Mapping[str, Any]) -> SettingValues:
        """The values of ``settings``, from ``given`` (variable name -> text or value;
        empty text means unset). Raises :class:`ConfigError`."""
        values: dict[Setting[Any], Any] = {}
        for setting in settings:
            raw = given.get(setting.env)
            if raw is None or (isinstance(raw, str) and not raw.strip()):
                values[setting] = setting.default
            else:
                values[setting] = setting.validate(raw)
        for setting, value in values.items():
            floor = setting.at_least
            if floor is not None and floor in values and value < values[floor]:
                raise ConfigError(setting.env, value,
                                  f"{setting.kind.accepted}, not below {floor.env} "
                                  f"({floor.format(values[floor])})")
        return cls(values)

    def __getitem__(self, setting: Setting[T]) -> T:
        try:
            value: T = self._values[setting]  # validated against the setting's kind
        except KeyError:
            raise KeyError(f"{setting.env} is not among the settings resolved") from None
        return value

    def __iter__(self) -> Iterator[Setting[Any]]:
        return iter(self._values)

    def __len__(self) -> int:
        return len(self._values)


def settings_markdown(settings: Sequence[Setting[Any]]) -> str:
    """``settings`` as a Markdown table: variable, default, accepted, what it does."""
    lines = ["| variable | default | accepted | what it does |", "|---|---|---|---|"]
    for setting in settings:
        doc = setting.doc + (" *(standard OpenTelemetry variable)*" if setting.standard else "")
        default = setting.default_text()
        shown = f"`{default}`" if default else "*(none)*"
        cells = (f"`{setting.env}`", shown, setting.accepted, doc)
        # A '|' inside a cell would end it.
        lines.append("| " + " | ".join(cell.replace("|", "\\|") for cell in cells) + " |")
    return "\n".join(lines)
