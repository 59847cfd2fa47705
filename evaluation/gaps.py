"""Content gaps: groups of similar escalated questions that no case summary covers.

The questions of ``no_evidence`` escalations are turned into TF-IDF vectors (word unigrams and
bigrams, stop words and one-letter tokens left out) and grouped by a single greedy pass: a
question joins the most similar existing group whose centroid it reaches with cosine ≥
``threshold``, otherwise it starts a new one. Deterministic, dependency-free and fast for the
thousands of questions a window holds; each group is labelled by its centroid's top terms, and
groups of at least ``min_size`` are reported, largest first.
"""

from __future__ import annotations

import itertools
import math
import re
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

_STOP = frozenset(
    [
        "a",
        "an",
        "and",
        "are",
        "as",
        "at",
        "be",
        "but",
        "by",
        "can",
        "do",
        "does",
        "for",
        "from",
        "have",
        "how",
        "i",
        "if",
        "in",
        "is",
        "it",
        "me",
        "my",
        "no",
        "not",
        "of",
        "on",
        "or",
        "our",
        "so",
        "that",
        "the",
        "this",
        "to",
        "was",
        "we",
        "what",
        "when",
        "where",
        "which",
        "why",
        "will",
        "with",
        "you",
        "your",
        "please",
        "hi",
        "hello",
        "thanks",
        "thank",
        "there",
        "any",
        "get",
        "got",
        "still",
        "has",
        "had",
        "im",
    ]
)


@dataclass(frozen=True, slots=True)
class ContentGap:
    """A group of escalated questions with no case summary behind them."""

    label: str
    size: int
    examples: tuple[str, ...]

    def as_dict(self) -> dict[str, object]:
        return {"label": self.label, "size": self.size, "examples": list(self.examples)}


def _terms(text: str) -> list[str]:
    words = [w for w in re.findall(r"[a-z0-9']+", text.lower()) if len(w) > 1 and w not in _STOP]
    return words + [f"{a} {b}" for a, b in itertools.pairwise(words)]


def _vectors(texts: Sequence[str]) -> tuple[np.ndarray, list[str]]:
    docs = [Counter(_terms(t)) for t in texts]
    df = Counter(term for doc in docs for term in doc)
    vocab = sorted(df)
    column = {term: i for i, term in enumerate(vocab)}
    matrix = np.zeros((len(docs), len(vocab)))
    for row, doc in enumerate(docs):
        for term, count in doc.items():
            matrix[row, column[term]] = (1 + math.log(count)) * math.log(
                (1 + len(docs)) / (1 + df[term]) + 1
            )
    norms = np.linalg.norm(matrix, axis=1, keepdims=True)
    return matrix / np.where(norms == 0, 1, norms), vocab


def content_gaps(
    questions: Sequence[str], *, threshold: float = 0.3, min_size: int = 2, examples: int = 3
) -> tuple[ContentGap, ...]:
    """Group similar questions and label each group (see the module doc)."""
    if not questions:
        return ()
    vectors, vocab = _vectors(questions)
    sums: list[np.ndarray] = []
    members: list[list[int]] = []
    for i, vector in enumerate(vectors):
        best, best_sim = -1, threshold
        for g, total in enumerate(sums):
            norm = np.linalg.norm(total)
            similarity = float(vector @ total / norm) if norm else 0.0
            if similarity >= best_sim:
                best, best_sim = g, similarity
        if best < 0:
            sums.append(vector.copy())
            members.append([i])
        else:
            sums[best] += vector
            members[best].append(i)
    gaps = []
    for total, group in zip(sums, members, strict=True):
        if len(group) < min_size:
            continue
        top = [vocab[j] for j in np.argsort(-total)[:3] if total[j] > 0]
        gaps.append(
            ContentGap(" / ".join(top), len(group), tuple(questions[i] for i in group[:examples]))
        )
    return tuple(sorted(gaps, key=lambda g: (-g.size, g.label)))
