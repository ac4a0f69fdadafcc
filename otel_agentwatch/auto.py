"""``import otel_agentwatch.auto``: set up otel-agentwatch from the environment.

Equivalent to ``otel_agentwatch.init()``; the handle is available as
:data:`handle`. A configuration error raises here, at start.
"""

from __future__ import annotations

from ._setup import AgentWatchHandle, init

handle: AgentWatchHandle = init()
