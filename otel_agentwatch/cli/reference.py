"""The references generated from the code: every setting, every built-in detector, and the
wording of every built-in nudge.

``docs/settings.md``, ``docs/detectors.md`` and ``docs/acting.md`` hold these tables
between markers, and a test fails when they differ from what the code generates here;
``agentwatch config`` prints the settings in effect, ``agentwatch config --markdown`` the
settings reference.
"""

from __future__ import annotations

import inspect
import os
from collections.abc import Iterable, Mapping
from typing import Any

from ..config import SETTINGS, Config
from ..detectors import registry
from ..detectors.base import Detector
from ..nudge import BUDGET_TEMPLATE, BUILTIN_TEMPLATES, PLAIN_TEMPLATE
from ..serve.settings import SERVE_SETTINGS
from ..settings import Setting, SettingValues, settings_markdown

__all__ = ["detectors_markdown", "effective_settings", "nudges_markdown", "settings_reference"]


def settings_reference() -> str:
    """The settings reference: the cross-cutting settings, the detectors', then the
    detection service's."""
    return "\n".join([
        "### Cross-cutting",
        "",
        settings_markdown(SETTINGS),
        "",
        "### Detectors",
        "",
        settings_markdown(registry.settings_of(registry.BUILTIN)),
        "",
        "### Detection service (`agentwatch serve`)",
        "",
        settings_markdown(SERVE_SETTINGS),
    ])


def effective_settings(config: Config, environ: Mapping[str, str] | None = None,
                       ) -> list[tuple[Setting[Any], Any]]:
    """Every setting with its value: the cross-cutting ones and those of the built-in and
    installed detectors under ``config``, then the detection service's in ``environ``
    (default ``os.environ``). Raises :class:`~otel_agentwatch.settings.ConfigError` on a
    bad value."""
    classes = (*registry.BUILTIN, *registry.installed())
    values = SettingValues.resolve(registry.settings_of(classes), config.settings)
    service = SettingValues.resolve(SERVE_SETTINGS, os.environ if environ is None
                                    else environ)
    return [*config.items(), *values.items(), *service.items()]


def detectors_markdown(classes: Iterable[type[Detector[Any]]] | None = None) -> str:
    """The detectors (default: the built-in ones) as a Markdown table: id, when it fires
    (the first paragraph of the class's docstring), failure mode, MAST codes, settings."""
    lines = ["| id | fires when | failure mode | MAST | settings |", "|---|---|---|---|---|"]
    for cls in classes if classes is not None else registry.BUILTIN:
        # The docstring's reStructuredText literals, as Markdown.
        summary = " ".join(_first_paragraph(cls).split()).replace("``", "`")
        settings = ", ".join(f"`{setting.env}` ({setting.default_text() or 'none'})"
                             for setting in cls.settings.values()) or "*(none)*"
        cells = (f"`{cls.id}`", summary, f"`{cls.failure_mode}`", ", ".join(cls.mast_codes),
                 settings)
        lines.append("| " + " | ".join(cell.replace("|", "\\|") for cell in cells) + " |")
    return "\n".join(lines)


def nudges_markdown() -> str:
    """The built-in wording of each detector's note (``$message`` is its detection's
    message), as a Markdown table."""
    rows = [*((f"`{detector}`", wording) for detector, wording in BUILTIN_TEMPLATES.items()),
            ("`budget.*`", BUDGET_TEMPLATE), ("any other", PLAIN_TEMPLATE)]
    lines = ["| detector | the note says |", "|---|---|"]
    lines += ["| " + " | ".join(cell.replace("|", "\\|") for cell in row) + " |"
              for row in rows]
    return "\n".join(lines)


def _first_paragraph(cls: type) -> str:
    doc = inspect.getdoc(cls) or ""
    return doc.split("\n\n", 1)[0]
