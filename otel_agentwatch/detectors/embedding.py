"""Text embeddings for the drift detector: a default that needs no model, and a hook for
your own.

The default, :class:`HashingEmbedder`, maps a text to a fixed-size vector of hashed
character n-gram counts over its words (the hashing trick; n-grams that span a word's
edges stand for the word), L2-normalized, so the dot product of two vectors is their
cosine similarity. Its hashes are stable across processes and machines (a polynomial
rolling hash computed with numpy; never Python's salted ``hash``). It captures shared
vocabulary, not meaning: enough to tell a run that still talks about its objective from
one that has moved on to something else.

``AGENTWATCH_EMBEDDER=module:callable`` plugs in another: a callable taking a string and
returning a sequence of floats (any length; the same for every text).
"""

from __future__ import annotations

import importlib
from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    import numpy as np

__all__ = ["Embedder", "HashingEmbedder", "check_embedder", "load_embedder"]

Embedder = Callable[[str], Any]
"""Text -> vector (a numpy array or a sequence of floats)."""

_MASK = 0xFFFFFFFF
# Letters and digits stay; everything else becomes a space (words are what n-grams span).
_LETTERS = {code: " " for code in range(128) if not chr(code).isalnum()}


class HashingEmbedder:
    """Hashed character n-gram counts of a text's words, L2-normalized (see the module
    docstring).

    Args:
        dimensions: length of the vectors.
        max_chars: texts are cut to this many characters first: cost stays bounded.
        char_ngrams: the character n-gram lengths counted besides words.
    """

    def __init__(self, dimensions: int = 1024, max_chars: int = 2000,
                 char_ngrams: Sequence[int] = (4,)) -> None:
        if dimensions < 16:
            raise ValueError(f"dimensions must be at least 16, not {dimensions}")
        self.dimensions = dimensions
        self.max_chars = max_chars
        self.char_ngrams = tuple(char_ngrams)
        self._np: Any = None

    def __call__(self, text: str) -> np.ndarray:
        nx = self._np
        if nx is None:  # imported on first use: importing the package must not load it
            import numpy

            nx = self._np = numpy
        # Lower case, and every run of other characters one space: " word word ".
        normalized = " " + " ".join(text[:self.max_chars].lower().translate(_LETTERS).split())
        data = nx.frombuffer((normalized + " ").encode("ascii", "ignore"),
                             dtype=nx.uint8).astype(nx.uint64)
        vector = nx.zeros(self.dimensions, dtype=nx.float64)
        for n in self.char_ngrams:
            if len(data) < n:
                continue
            # Polynomial rolling hash of every n-gram at once, in 32-bit arithmetic.
            size = len(data) - n + 1
            hashed = data[:size].copy()
            for offset in range(1, n):
                hashed = (hashed * 16777619 + data[offset:size + offset]) & _MASK
            vector += nx.bincount((hashed % self.dimensions).astype(nx.intp),
                                  minlength=self.dimensions)
        norm = float(nx.sqrt(vector @ vector))
        unit: np.ndarray = vector / norm if norm else vector
        return unit


def load_embedder(spec: str, max_chars: int = 2000) -> Embedder:
    """``"hashing"`` (the default) or ``"module:callable"``, tried on a sample text: it
    must return a non-empty vector of finite numbers. Raises ``ValueError`` saying what
    is wrong."""
    if spec == "hashing":
        return HashingEmbedder(max_chars=max_chars)
    module_name, colon, attribute = spec.partition(":")
    if not colon or not module_name or not attribute:
        raise ValueError(spec)
    try:
        found = getattr(importlib.import_module(module_name), attribute)
    except (ImportError, AttributeError) as error:
        raise ValueError(f"cannot import {spec}: {error}") from error
    if not callable(found):
        raise ValueError(f"{spec} is not callable")
    check_embedder(found)
    return found  # type: ignore[no-any-return]  # checked callable


SAMPLE_TEXT = "Find the order A-1042 and tell the customer when it ships."


def check_embedder(embed: Embedder) -> None:
    """Raise ``ValueError`` unless ``embed`` turns a sample text into a non-empty
    one-dimensional vector of finite numbers (what drift detection computes with): a
    wrong callable fails here, at start, not inside a span later."""
    import numpy  # only for a custom embedder: numpy is not imported otherwise

    try:
        vector = numpy.asarray(embed(SAMPLE_TEXT), dtype=numpy.float64)
    except Exception as error:
        raise ValueError(f"it failed on a sample text: {type(error).__name__}: {error}") \
            from error
    if vector.ndim != 1 or vector.size == 0:
        raise ValueError(f"it returned shape {vector.shape}, not a non-empty vector")
    if not numpy.isfinite(vector).all():
        raise ValueError("it returned a vector with NaN or infinite values")
