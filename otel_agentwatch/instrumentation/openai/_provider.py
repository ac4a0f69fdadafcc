"""Which provider an OpenAI client talks to."""

from __future__ import annotations

from typing import Any

__all__ = ["provider_name"]


def provider_name(instance: Any) -> str:
    """``gen_ai.provider.name`` for the client behind an SDK resource."""
    client = getattr(instance, "_client", None)
    return "azure.ai.openai" if type(client).__name__.startswith(("Azure", "AsyncAzure")) \
        else "openai"
