"""Take ``docs/phoenix-flagged-run.png``: a flagged run of the LangGraph example in
Arize Phoenix's UI, the critical tool span open on its attributes.

    python docs/phoenix_screenshot.py

Needs a Chromium (Debian: ``apt-get install chromium``). Phoenix comes from the test's
virtual environment (``.venv-phoenix``, made on first use), and Playwright, installed
into that environment, drives the browser: the Attributes tab takes a click.
"""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from tests.test_phoenix import VENV, Phoenix, _export, _get  # noqa: E402

OUTPUT = ROOT / "docs" / "phoenix-flagged-run.png"
PROJECT = "support-bot"

CLICK_AND_SHOOT = """
import sys
from playwright.sync_api import sync_playwright

chromium, url, output = sys.argv[1:]
with sync_playwright() as playwright:
    browser = playwright.chromium.launch(executable_path=chromium, args=["--no-sandbox"])
    page = browser.new_page(viewport={"width": 1500, "height": 950})
    page.goto(url)
    page.get_by_role("tab", name="Attributes").click(timeout=30000)
    page.wait_for_timeout(1500)
    page.screenshot(path=output)
    browser.close()
"""


def main() -> int:
    chromium = shutil.which("chromium") or shutil.which("chromium-browser")
    if chromium is None:
        raise SystemExit("needs Chromium (Debian: apt-get install chromium)")
    phoenix = Phoenix()  # installs Phoenix into its venv on first use
    try:
        subprocess.run([str(VENV / "bin" / "pip"), "install", "-q", "playwright"], check=True)
        _export(phoenix, "http/protobuf", PROJECT)
        critical = phoenix.spans(PROJECT, **{"agentwatch.severity": "critical"})
        tool = next(span for span in critical if span["name"].startswith("execute_tool"))
        project = next(p["id"] for p in _get(f"{phoenix.url}/v1/projects")["data"]
                       if p["name"] == PROJECT)
        url = (f"{phoenix.url}/projects/{project}/traces/{tool['context']['trace_id']}"
               f"?selectedSpanNodeId={tool['id']}")
        subprocess.run([str(VENV / "bin" / "python"), "-c", CLICK_AND_SHOOT, chromium, url,
                        str(OUTPUT)], check=True, timeout=180)
    finally:
        phoenix.stop()
    print(f"wrote {OUTPUT}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
