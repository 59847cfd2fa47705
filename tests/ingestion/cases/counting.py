"""The real retrieval index with its writes counted (every call still reaches the engine)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import retrieval


class CountingIndex:
    """The real index, with its writes counted (every call still reaches the engine)."""

    def __init__(self, index: retrieval.Index) -> None:
        self.inner = index
        self.upserts: list[list[str]] = []
        self.retractions: list[list[str]] = []
        self.embedded_before: list[list[str]] = []  # per upsert: cases whose vector came along

    @property
    def writes(self) -> int:
        return len(self.upserts) + len(self.retractions)

    def upsert(
        self,
        docs: Sequence[retrieval.CaseDocument],
        vectors: retrieval.index.DocumentVectors | None = None,
    ) -> int:
        self.upserts.append([d.case_id for d in docs])
        known = set(vectors.texts) if vectors is not None else set()
        self.embedded_before.append([d.case_id for d in docs if d.text in known])
        return self.inner.upsert(docs, vectors)

    def retract(self, case_ids: Sequence[str]) -> None:
        self.retractions.append(list(case_ids))
        self.inner.retract(case_ids)

    def __getattr__(self, name: str) -> Any:
        return getattr(self.inner, name)
