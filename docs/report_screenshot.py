"""Take ``docs/analyze-report.png``: the page ``agentwatch analyze --html`` writes for the
LangGraph example, exported with content capture off and analyzed with a token budget.

    python docs/report_screenshot.py

Needs a Chromium (Debian: ``apt-get install chromium``), run headless: the page needs no
click and no network.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
OUTPUT = ROOT / "docs" / "analyze-report.png"


def main() -> int:
    chromium = shutil.which("chromium") or shutil.which("chromium-browser")
    if chromium is None:
        print("needs chromium (apt-get install chromium)", file=sys.stderr)
        return 1
    env = {k: v for k, v in os.environ.items() if not k.startswith(("AGENTWATCH_", "OTEL_"))}
    with tempfile.TemporaryDirectory() as folder:
        export, page = Path(folder) / "spans.json", Path(folder) / "report.html"
        subprocess.run([sys.executable, str(ROOT / "examples" / "langgraph_loop.py"),
                        "--export", str(export)], env=env, check=True,
                       capture_output=True)
        subprocess.run([sys.executable, "-m", "otel_agentwatch.cli", "analyze", export.name,
                        "--html", str(page)], env={**env, "AGENTWATCH_BUDGET_TOKENS": "2500",
                                                   "PYTHONPATH": str(ROOT)},
                       check=True, capture_output=True, cwd=folder)
        subprocess.run([chromium, "--headless", "--no-sandbox", "--disable-gpu",
                        "--hide-scrollbars", "--window-size=1100,1280",
                        f"--user-data-dir={Path(folder) / 'profile'}",
                        f"--screenshot={OUTPUT}", page.as_uri()],
                       check=True, capture_output=True)
    print(f"wrote {OUTPUT.relative_to(ROOT)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
