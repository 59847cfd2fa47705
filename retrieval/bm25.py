"""The BM25 side: tokenisation and document term weights; Qdrant applies the IDF.

A document term weight is BM25's term-frequency part,
``tf · (k1 + 1) / (tf + k1 · (1 − b + b · len / avg_len))``; a query term weighs 1. With the
collection's sparse vector declared with the IDF modifier, Qdrant multiplies each matched term
by ``ln(1 + (N − n + 0.5) / (n + 0.5))`` at query time, so the dot product is the BM25 score
(Lucene's variant). ``avg_len`` is fixed when the index is made (stored with it): a corpus drifting
from it only shifts how much length matters, and the stored value keeps old and new documents
on one scale.

Terms are lower-cased word tokens without English stop words, Snowball-stemmed, hashed to
31-bit ids (no vocabulary to store; a collision needs two stems with one 31-bit hash).
"""

from __future__ import annotations

import hashlib
import re
from collections import Counter
from dataclasses import dataclass
from functools import lru_cache
from typing import Any

import snowballstemmer

TOKENIZER_VERSION = "words-stop-snowball-en-blake2b31/1"

_WORD = re.compile(r"[^\W_]+", re.UNICODE)
_STOP_WORDS = frozenset(
    """a about above after again against all am an and any are as at be because been before being
    below between both but by can could did do does doing down during each few for from further had
    has have having he her here hers herself him himself his how i if in into is it its itself just
    me more most my myself no nor not of off on once only or other our ours ourselves out over own
    same she should so some such than that the their theirs them themselves then there these they
    this those through to too under until up very was we were what when where which while who whom
    why will with would you your yours yourself yourselves""".split()  # noqa: SIM905
)


@dataclass(frozen=True, slots=True)
class SparseTerms:
    """A sparse vector: term ids (sorted, unique) and their weights."""

    indices: tuple[int, ...]
    values: tuple[float, ...]

    def __bool__(self) -> bool:
        return bool(self.indices)


@lru_cache(maxsize=200_000)
def term_id(term: str) -> int:
    """Stable 31-bit id of a term (the same in every process and release)."""
    digest = hashlib.blake2b(term.encode("utf-8"), digest_size=4).digest()
    return int.from_bytes(digest, "little") & 0x7FFFFFFF


class Bm25Encoder:
    """Turns text into BM25 sparse vectors (documents) and term sets (queries)."""

    def __init__(self, k1: float = 1.2, b: float = 0.75, avg_len: float = 40.0) -> None:
        self.k1 = k1
        self.b = b
        self.avg_len = avg_len
        self._stemmer: Any = snowballstemmer.stemmer("english")
        # Word frequencies are Zipfian, so a bounded stem cache saves most of the (pure Python)
        # stemmer's time; it is cleared when full rather than evicting one by one.
        self._stems: dict[str, str] = {}

    def tokens(self, text: str) -> list[str]:
        """Lower-cased, stop-word-free, stemmed tokens of ``text`` in order."""
        stems = self._stems
        out = []
        for word in _WORD.findall(text.lower()):
            if word in _STOP_WORDS:
                continue
            stem = stems.get(word)
            if stem is None:
                if len(stems) >= 200_000:
                    stems.clear()
                stem = stems[word] = str(self._stemmer.stemWord(word))
            out.append(stem)
        return out

    def document(self, text: str) -> SparseTerms:
        """The document vector: saturated, length-normalised term frequencies."""
        tokens = self.tokens(text)
        norm = self.k1 * (1.0 - self.b + self.b * len(tokens) / self.avg_len)
        weights: dict[int, float] = {}
        for term, tf in Counter(tokens).items():
            weight = tf * (self.k1 + 1.0) / (tf + norm)
            index = term_id(term)
            weights[index] = weights.get(index, 0.0) + weight
        return _sparse(weights)

    def query(self, text: str) -> SparseTerms:
        """The query vector: each distinct term once with weight 1 (Qdrant adds the IDF)."""
        return _sparse({term_id(t): 1.0 for t in self.tokens(text)})


def _sparse(weights: dict[int, float]) -> SparseTerms:
    ordered = sorted(weights.items())
    return SparseTerms(tuple(i for i, _ in ordered), tuple(v for _, v in ordered))
