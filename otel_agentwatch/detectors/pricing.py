"""Model prices for the cost budget: US dollars per million input and output tokens.

The built-in table holds providers' list prices for common models, as published when
this was written; prices change, and yours may differ (discounts, batch, cached input).
``AGENTWATCH_MODEL_PRICES`` adds or overrides entries. A model is priced by the longest
table entry its name starts with (``gpt-4o-2024-08-06`` by ``gpt-4o``, ``gpt-4o-mini``
by ``gpt-4o-mini``), after any ``provider/`` prefix; an unknown model costs nothing and
is counted as unpriced.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping
from typing import NamedTuple

__all__ = ["PRICES", "ModelPrice", "PriceTable", "is_price", "parse_prices"]


class ModelPrice(NamedTuple):
    input_per_mtok: float
    output_per_mtok: float


PRICES: Mapping[str, ModelPrice] = {
    # OpenAI
    "gpt-5": ModelPrice(1.25, 10.0),
    "gpt-5-mini": ModelPrice(0.25, 2.0),
    "gpt-5-nano": ModelPrice(0.05, 0.40),
    "gpt-4.1": ModelPrice(2.0, 8.0),
    "gpt-4.1-mini": ModelPrice(0.40, 1.60),
    "gpt-4.1-nano": ModelPrice(0.10, 0.40),
    "gpt-4o": ModelPrice(2.50, 10.0),
    "gpt-4o-mini": ModelPrice(0.15, 0.60),
    "o3": ModelPrice(2.0, 8.0),
    "o3-mini": ModelPrice(1.10, 4.40),
    "o4-mini": ModelPrice(1.10, 4.40),
    # Anthropic
    "claude-opus-4": ModelPrice(15.0, 75.0),
    "claude-sonnet-4": ModelPrice(3.0, 15.0),
    "claude-haiku-4": ModelPrice(1.0, 5.0),
    "claude-3-7-sonnet": ModelPrice(3.0, 15.0),
    "claude-3-5-sonnet": ModelPrice(3.0, 15.0),
    "claude-3-5-haiku": ModelPrice(0.80, 4.0),
    # Google
    "gemini-2.5-pro": ModelPrice(1.25, 10.0),
    "gemini-2.5-flash": ModelPrice(0.30, 2.50),
    "gemini-2.0-flash": ModelPrice(0.10, 0.40),
}

_CACHE_LIMIT = 1024


def is_price(value: float) -> bool:
    """A price a budget can add up: finite, not negative (NaN never compares, infinity
    makes every call over budget)."""
    return math.isfinite(value) and value >= 0


def parse_prices(text: str) -> tuple[tuple[str, ModelPrice], ...]:
    """``"gpt-4o=2.5/10, my-model=0.5/1.5"`` (USD per million input/output tokens).

    Raises ``ValueError`` on anything else.
    """
    entries = []
    for part in text.split(","):
        if not part.strip():
            continue
        model, separator, price = part.partition("=")
        given, slash, taken = price.partition("/")
        if not separator or not slash or not model.strip():
            raise ValueError(part)
        input_price, output_price = float(given), float(taken)
        if not (is_price(input_price) and is_price(output_price)):
            raise ValueError(part)
        entries.append((model.strip().lower(), ModelPrice(input_price, output_price)))
    if not entries:
        raise ValueError(text)
    return tuple(entries)


class PriceTable:
    """The built-in prices with overrides; prices per model name are cached (bounded)."""

    def __init__(self, overrides: Iterable[tuple[str, ModelPrice]] = ()) -> None:
        self._table = {**PRICES, **dict(overrides)}
        # Longest first, so that the most specific prefix wins.
        self._prefixes = sorted(self._table, key=len, reverse=True)
        self._cache: dict[str, ModelPrice | None] = {}

    def price(self, model: str) -> ModelPrice | None:
        """The price of ``model``, or None when no entry matches it."""
        cached = self._cache.get(model, False)
        if cached is not False:
            return cached  # type: ignore[return-value]  # a price or None
        name = model.lower().rpartition("/")[2]
        found = next((self._table[prefix] for prefix in self._prefixes
                      if name.startswith(prefix)), None)
        if len(self._cache) >= _CACHE_LIMIT:
            self._cache.clear()
        self._cache[model] = found
        return found

    def cost(self, model: str, input_tokens: int, output_tokens: int) -> float | None:
        """US dollars for one call, or None when the model is not priced."""
        price = self.price(model)
        if price is None:
            return None
        return (input_tokens * price.input_per_mtok + output_tokens * price.output_per_mtok) / 1e6
