"""Write again the references generated from the code: the settings tables in
``docs/settings.md``, the detectors table in ``docs/detectors.md`` and the wording of the
nudges in ``docs/acting.md``.

    python docs/regenerate.py

``tests/test_docs.py`` fails while they differ from what the code generates; run this
after adding or changing a detector, a setting or a nudge's wording.
"""

from __future__ import annotations

import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from otel_agentwatch.cli.reference import (  # noqa: E402  # the checkout's, not an installed one
    detectors_markdown,
    nudges_markdown,
    settings_reference,
)

SECTIONS = {
    ROOT / "docs" / "settings.md": ("settings-reference", settings_reference),
    ROOT / "docs" / "detectors.md": ("detectors-reference", detectors_markdown),
    ROOT / "docs" / "acting.md": ("nudge-wording", nudges_markdown),
}


def replace_section(text: str, marker: str, content: str) -> str:
    """``text`` with what lies between ``<!-- marker -->`` and ``<!-- /marker -->``
    replaced by ``content``."""
    start, end = f"<!-- {marker} -->\n", f"\n<!-- /{marker} -->"
    head, found, rest = text.partition(start)
    _, found_end, tail = rest.partition(end)
    if not found or not found_end:
        raise SystemExit(f"no {start.strip()} ... {end.strip()} section")
    return head + start + content + end + tail


def main() -> int:
    for path, (marker, generate) in SECTIONS.items():
        text = path.read_text(encoding="utf-8")
        updated = replace_section(text, marker, generate())
        if updated != text:
            path.write_text(updated, encoding="utf-8")
            print(f"rewrote {path.relative_to(ROOT)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
