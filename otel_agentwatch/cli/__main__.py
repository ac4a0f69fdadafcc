"""``python -m otel_agentwatch.cli``: the ``agentwatch`` command."""

from __future__ import annotations

import sys

from .main import main

sys.exit(main())
