"""Tags: 1–3 short phrases per case, KeyBERT-style, normalised against the tags already in use.

Candidates are the case's one- and two-word content phrases; the most frequent few are embedded
with the same MiniLM model as the index and ranked by cosine similarity to the case's vector
(learning passes the one the index stores: ticket title and problem, embedded once), with
maximal marginal relevance so that three tags say three different things. A tag's *key* is its
words singularised and sorted, so "password reset", "reset password" and "passwords reset" are one
tag; a new phrase whose embedding is very close to a tag in use is mapped onto that tag too.
Both keep the vocabulary from growing with every case.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol

import numpy as np
from numpy.typing import NDArray

from ingestion.cases.text import proper_nouns, stopwords, words

Vector = NDArray[np.float32]


class Encoder(Protocol):
    """Sentence embeddings: one L2-normalised row per text."""

    def encode(self, texts: Sequence[str]) -> Vector:
        """Embed ``texts`` (shape ``(len(texts), dim)``)."""
        ...


def tag_key(phrase: str) -> str:
    """The normalised identity of a tag: singular words, sorted."""
    return " ".join(sorted(_singular(w) for w in phrase.lower().split()))


def _singular(word: str) -> str:
    if len(word) > 3 and word.endswith("ies"):
        return word[:-3] + "y"
    if len(word) > 3 and word.endswith("s") and not word.endswith(("ss", "us", "is")):
        return word[:-1]
    return word


@dataclass(slots=True)
class Vocabulary:
    """Tags in use: key → canonical tag, plus the canonical tags' embeddings for merging."""

    canonical_by_key: dict[str, str] = field(default_factory=dict)
    added: list[str] = field(default_factory=list)
    aliases: dict[str, str] = field(default_factory=dict)  # merged by embedding: phrase → tag
    embeddings: dict[str, Vector] = field(default_factory=dict)
    _names: list[str] | None = field(default=None, repr=False)
    _matrix: Vector | None = field(default=None, repr=False)

    @classmethod
    def of(cls, tags: Iterable[str]) -> Vocabulary:
        vocabulary = cls()
        for tag in tags:
            vocabulary.canonical_by_key.setdefault(tag_key(tag), tag)
        return vocabulary

    @property
    def size(self) -> int:
        return len(set(self.canonical_by_key.values()))

    def resolve(self, phrase: str, vector: Vector, merge_threshold: float) -> str:
        """The tag in use for ``phrase`` (by key, then by embedding), or ``phrase`` as a new tag."""
        key = tag_key(phrase)
        if key in self.canonical_by_key:
            return self.canonical_by_key[key]
        best, similarity = self._nearest(vector)
        if best is not None and similarity >= merge_threshold:
            self.canonical_by_key[key] = best
            self.aliases[phrase] = best
            return best
        self.canonical_by_key[key] = phrase
        self.embeddings[phrase] = vector
        self.added.append(phrase)
        return phrase

    def _nearest(self, vector: Vector) -> tuple[str | None, float]:
        if not self.embeddings:
            return None, 0.0
        if self._names is None or len(self._names) != len(self.embeddings):
            self._names = list(self.embeddings)  # rebuilt only when a tag was added
            self._matrix = np.stack([self.embeddings[n] for n in self._names])
        assert self._matrix is not None
        scores = self._matrix @ vector
        i = int(np.argmax(scores))
        return self._names[i], float(scores[i])


class Tagger:
    """Ranks candidate phrases against the case text with an `Encoder` and picks 1–N tags."""

    def __init__(
        self,
        encoder: Encoder,
        *,
        max_tags: int = 3,
        candidates: int = 8,
        diversity: float = 0.5,
        merge_threshold: float = 0.85,
        min_similarity: float = 0.2,
        screen: Callable[[str], bool] | None = None,
    ) -> None:
        self._encoder = encoder
        self._screen = screen  # True: the phrase is personal data or a secret, never a tag
        self._max_tags = max(1, min(3, max_tags))
        self._candidates = candidates
        self._diversity = diversity
        self._merge_threshold = merge_threshold
        self._min_similarity = min_similarity
        self._cache: dict[str, Vector] = {}  # phrase embeddings recur across a support corpus
        self._screened: dict[str, bool] = {}  # and so do the screen's verdicts on them

    def tag_many(
        self, texts: Sequence[str], vocabulary: Vocabulary, documents: Vector | None = None
    ) -> list[tuple[str, ...]]:
        """Tags for each text, in order; new tags are added to ``vocabulary`` as they appear.

        Candidates come from ``texts`` and are ranked against ``documents``, one row per text
        by this tagger's encoder (default: the texts' own embeddings). Learning passes the
        vectors the index stores for the cases, so each case is embedded once.
        """
        if not texts:
            return []
        if documents is not None and len(documents) != len(texts):
            raise ValueError(f"documents: {len(documents)} rows for {len(texts)} texts")
        per_text = [self._candidates_of(t, vocabulary) for t in texts]
        self._embed_phrases(
            {p for phrases in per_text for p in phrases} | self._unembedded(vocabulary)
        )
        if documents is None:
            documents = self._encoder.encode(list(texts))
        return [
            self._choose(documents[i], phrases, vocabulary) for i, phrases in enumerate(per_text)
        ]

    def _candidates_of(self, text: str, vocabulary: Vocabulary) -> list[str]:
        """Frequent phrases, plus the tags in use whose key occurs in the text (reuse first)."""
        phrases = candidate_phrases(text, self._candidates * 3)
        if self._screen is not None:
            phrases = [p for p in phrases if not self._screens_out(p, self._screen)]
        in_use = [p for p in phrases if tag_key(p) in vocabulary.canonical_by_key]
        fresh = [p for p in phrases if p not in in_use]
        return in_use[: self._candidates] + fresh[: max(0, self._candidates - len(in_use))]

    def _screens_out(self, phrase: str, screen: Callable[[str], bool]) -> bool:
        verdict = self._screened.get(phrase)
        if verdict is None:
            verdict = self._screened[phrase] = screen(phrase)
        return verdict

    def _unembedded(self, vocabulary: Vocabulary) -> set[str]:
        canonical = set(vocabulary.canonical_by_key.values())
        return {tag for tag in canonical if tag not in vocabulary.embeddings}

    def _embed_phrases(self, phrases: set[str]) -> None:
        missing = sorted(p for p in phrases if p not in self._cache)
        if missing:
            for phrase, vector in zip(missing, self._encoder.encode(missing), strict=True):
                self._cache[phrase] = vector

    def _choose(
        self, document: Vector, phrases: list[str], vocabulary: Vocabulary
    ) -> tuple[str, ...]:
        for tag in self._unembedded(vocabulary):
            vocabulary.embeddings[tag] = self._cache[tag]
        if not phrases:
            return ()
        vectors = np.stack([self._cache[p] for p in phrases])
        relevance = vectors @ document
        # Phrases already in the vocabulary win close calls (+0.1 cosine): the vocabulary stays
        # stable instead of growing a near-synonym with every case.
        relevance += np.array(
            [0.1 if tag_key(p) in vocabulary.canonical_by_key else 0.0 for p in phrases]
        )
        picked = _mmr(vectors, relevance, self._max_tags, self._diversity)
        tags: list[str] = []
        for i in picked:
            if tags and relevance[i] < self._min_similarity:
                continue
            tag = vocabulary.resolve(phrases[i], vectors[i], self._merge_threshold)
            if tag not in tags:
                tags.append(tag)
        return tuple(tags)


def candidate_phrases(text: str, limit: int) -> list[str]:
    """The ``limit`` most frequent one- and two-word content phrases (first use breaks ties)."""
    stop = stopwords() | proper_nouns(text)
    counts: dict[str, float] = {}
    first: dict[str, int] = {}
    previous: str | None = None
    for position, word in enumerate(_words_and_breaks(text)):
        if word is None or len(word) < 3 or word in stop:
            previous = None
            continue
        for phrase, weight in ((word, 1.0), (f"{previous} {word}" if previous else "", 1.5)):
            if phrase:
                counts[phrase] = counts.get(phrase, 0.0) + weight
                first.setdefault(phrase, position)
        previous = word
    ranked = sorted(counts, key=lambda p: (-counts[p], first[p]))
    return ranked[:limit]


# Two-word phrases never span a placeholder, a number or punctuation ("password [SECRET] order").
_BREAK = re.compile(r"\[[A-Z_]+\]|\d+|[.,;:!?()\[\]\n\"“”]")


def _words_and_breaks(text: str) -> Iterator[str | None]:
    for i, segment in enumerate(_BREAK.split(text)):
        if i:
            yield None
        yield from words(segment)


def _mmr(
    vectors: Vector, relevance: NDArray[np.floating[Any]], k: int, diversity: float
) -> list[int]:
    """Maximal marginal relevance: relevant to the document, unlike the phrases picked before."""
    picked = [int(np.argmax(relevance))]
    while len(picked) < min(k, len(relevance)):
        similarity_to_picked = (vectors @ vectors[picked].T).max(axis=1)
        score = (1 - diversity) * relevance - diversity * similarity_to_picked
        score[picked] = -np.inf
        picked.append(int(np.argmax(score)))
    return picked
