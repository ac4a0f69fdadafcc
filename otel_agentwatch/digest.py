"""Keyed digests of tool arguments and results: calls compared without being seen.

With content capture off (the default), an exported tool span carries neither its
arguments nor its result, so nothing outside the process (``agentwatch analyze`` on an
export, a detection service behind the Collector) could tell two calls apart or see
them repeat. The processor adds ``agentwatch.tool.arguments_digest`` and
``agentwatch.tool.result_digest`` instead: an HMAC-SHA256 of the canonical text
(arguments parsed, key order and volatile ids left out, as the detectors compare them),
cut to 16 hex digits. Equal calls have equal digests; the digest says nothing else.

The key decides who can compare:

* ``AGENTWATCH_DIGEST_KEY`` set (the same value in every process of a deployment):
  digests from different processes and days compare, so a service that sees spans from
  several processes, or an export of them, finds a loop split across them. Whoever holds
  the key can test a guess ("were the arguments ``{"order_id": "A-1042"}``?"), so keep
  it as secret as the content it stands for.
* unset: a random key per process, made at start and never written anywhere. Digests
  compare within one process's spans only (an export of one service run), and nobody
  can test guesses against them.
"""

from __future__ import annotations

import hmac
import os
from typing import Any

from opentelemetry.util.types import AttributeValue

from . import semconv
from .normalize._args import DIGESTED, canonical_text
from .steps import Step

__all__ = ["DIGEST_HEX_DIGITS", "Digester", "content_digests"]

DIGEST_HEX_DIGITS = 16
"""Hex digits kept of each HMAC: 64 bits, enough that two different calls of one trace
share a digest by chance about once in 10^19 pairs."""
DIGEST_BYTES = DIGEST_HEX_DIGITS // 2


class Digester:
    """Makes the digests of one process: a fixed key, given or random.

    Args:
        key: the deployment's shared key (text); None for a random one for this process.
    """

    __slots__ = ("_key", "shared")

    def __init__(self, key: str | None = None) -> None:
        self.shared = bool(key)
        self._key = key.encode("utf-8") if key else os.urandom(32)

    def digest(self, value: Any) -> str:
        """The digest of a value: parsed arguments or a result's canonical text. Never
        raises."""
        text = value if isinstance(value, str) else canonical_text(value)
        # The one-shot function: no HMAC object is built per digest.
        mac = hmac.digest(self._key, text.encode("utf-8", "surrogatepass"), "sha256")
        return mac[:DIGEST_BYTES].hex()


def content_digests(step: Step, digester: Digester) -> dict[str, AttributeValue] | None:
    """The digest attributes for a tool step's span: of its arguments and of its result,
    those it has in-process; None when it has neither. Content known only by the digests
    the span came with (replayed from an export) is left as they say."""
    digests: dict[str, AttributeValue] = {}
    if step.args is not None and step.args_key is not None:
        digests[semconv.TOOL_ARGUMENTS_DIGEST] = digester.digest(step.args)
    if step.result is not None and not step.result.startswith(DIGESTED):
        digests[semconv.TOOL_RESULT_DIGEST] = digester.digest(step.result)
    return digests or None
