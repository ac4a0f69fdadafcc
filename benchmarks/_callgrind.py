"""Counting CPU instructions of a benchmark process under valgrind's callgrind: repeatable
where timings on a shared machine are not."""

from __future__ import annotations

import re
import shutil
import subprocess
import sys

__all__ = ["instructions"]


def instructions(script: str, *arguments: str) -> int:
    """Instructions executed by ``python script arguments...``, all threads counted."""
    if shutil.which("valgrind") is None:
        raise SystemExit("--instructions needs valgrind (Debian: apt-get install valgrind)")
    result = subprocess.run(
        ["valgrind", "--tool=callgrind", "--callgrind-out-file=/dev/null",
         sys.executable, script, *arguments],
        capture_output=True, text=True, check=True,
    )
    return int(re.search(r"Collected : (\d+)", result.stderr).group(1))
