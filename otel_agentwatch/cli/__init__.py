"""The ``agentwatch`` command line: ``demo``, ``config``, ``analyze``, and what they read and
print (exported traces, replays through the detectors, span trees)."""

from __future__ import annotations

from .main import main

__all__ = ["main"]
