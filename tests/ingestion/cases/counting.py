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

    @property
    def writes(self) -> int:
        return len(self.upserts) + len(self.retractions)

    def upsert(self, docs: Sequence[retrieval.CaseDocument]) -> int:
        self.upserts.append([d.case_id for d in docs])
        return self.inner.upsert(docs)

    def retract(self, case_ids: Sequence[str]) -> None:
        self.retractions.append(list(case_ids))
        self.inner.retract(case_ids)

    def __getattr__(self, name: str) -> Any:
        return getattr(self.inner, name)
