"""Near-duplicate text: hashed character n-gram sets compared by Jaccard similarity.

Used to catch loops that repeat similar, not identical, calls: the same code with a
changed literal, the same query reworded by a character or two. Text is normalized
first (case, whitespace runs, digit runs), so ``line 41`` and ``line 42`` look alike.
"""

from __future__ import annotations

import json
import re
from typing import Any

__all__ = ["jaccard", "signature"]

_NGRAM = 4
_MAX_CHARS = 2000  # beyond this, the head is compared: cost per step stays bounded
_DIGITS = re.compile(r"\d+")
_SPACE = re.compile(r"\s+")


def signature(value: Any) -> frozenset[int]:
    """The set of hashed character n-grams of a value's normalized text."""
    text = value if isinstance(value, str) else json.dumps(value, sort_keys=True, default=str)
    text = _SPACE.sub(" ", _DIGITS.sub("0", text[:_MAX_CHARS].lower())).strip()
    if len(text) <= _NGRAM:
        return frozenset((hash(text),))
    return frozenset(hash(text[i:i + _NGRAM]) for i in range(len(text) - _NGRAM + 1))


def jaccard(first: frozenset[int], second: frozenset[int]) -> float:
    """Shared n-grams over all n-grams of the two; 1.0 for two empty sets."""
    if not first and not second:
        return 1.0
    shared = len(first & second)
    return shared / (len(first) + len(second) - shared)
