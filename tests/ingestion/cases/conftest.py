"""Fixtures of the learning tests: a real embedded retrieval index, counted at its write API."""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

import pytest

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


@pytest.fixture
def index(tmp_path: Path) -> Iterator[CountingIndex]:
    """An embedded (qdrant-edge) index in a temporary folder."""
    with retrieval.open_index(tmp_path / "index") as opened:
        yield CountingIndex(opened)
