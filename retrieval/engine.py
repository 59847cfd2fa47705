"""What the index needs from a Qdrant engine, and the collection schema both engines share.

Schema (``SCHEMA_VERSION``): one point per case, id ``uuid5(case id)``; a named dense vector
``dense`` (the model's dimension, cosine) and a named sparse vector ``bm25`` with the IDF modifier; payload
``{case_id, text, summary, tags, metadata: {...}}`` with a keyword index on
``metadata.<key>`` for every filter key (on the embedded engine the ``tenant`` key's is a tenant
index: each tenant's points are stored together). The dense size is the encoder's (384 for MiniLM). The
index's manifest (schema version, encoder, BM25 setup, filter keys, tenancy, verdict policy) is
stored with it.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from functools import lru_cache
from typing import Any, Protocol

from retrieval.bm25 import SparseTerms
from retrieval.fusion import Candidate

SCHEMA_VERSION = 1
DENSE = "dense"
SPARSE = "bm25"
TENANT = "tenant"  # the filter key that separates tenants (required in multi-tenant mode)
_NAMESPACE = uuid.UUID("6f1c8f3e-2b0a-5d43-9c61-7a3e4b2d9f10")

Filters = Mapping[str, str | int | bool]


@lru_cache(maxsize=100_000)
def point_id(case_id: str) -> str:
    """Deterministic point id of a case: the same case always lands on the same point."""
    return str(uuid.uuid5(_NAMESPACE, case_id))


@dataclass(frozen=True, slots=True)
class StoredPoint:
    """A point ready for either engine."""

    point_id: str
    dense: Sequence[float]
    sparse: SparseTerms
    payload: Mapping[str, Any]


@dataclass(frozen=True, slots=True)
class Probe:
    """One query: a dense vector and/or a BM25 term set, filters, depth."""

    dense: Sequence[float] | None
    sparse: SparseTerms | None
    filters: Filters
    limit: int
    hnsw_ef: int = 128


@dataclass(frozen=True, slots=True)
class Ranked:
    """Each retriever's candidates, best first (empty when that side was not asked); equal
    scores in case id order, as engines return ties in storage order, which differs between
    builds of the same cases (BM25 ties are common: the same terms, the same length)."""

    dense: list[Candidate]
    bm25: list[Candidate]

    def __post_init__(self) -> None:
        for candidates in (self.dense, self.bm25):
            candidates.sort(key=lambda c: (-c.score, c.case_id))


class Engine(Protocol):
    """A Qdrant collection with the schema above (embedded shard or server collection)."""

    def upsert(self, points: Sequence[StoredPoint]) -> None:
        """Insert or replace points by id."""
        ...

    def delete(self, point_ids: Sequence[str]) -> None:
        """Remove points by id (unknown ids are ignored)."""
        ...

    def query(self, probe: Probe) -> Ranked:
        """Run the dense and the BM25 search of ``probe``."""
        ...

    def payloads(self, point_ids: Sequence[str]) -> dict[str, dict[str, Any]]:
        """Full payloads of these points by point id (missing ids are left out)."""
        ...

    def count(self) -> int:
        """Number of cases visible to this process."""
        ...

    def scan(self, batch: int) -> Iterator[list[dict[str, Any]]]:
        """Every point's payload, ``batch`` at a time (the writer's view on the embedded engine)."""
        ...

    def rebuild(
        self, manifest: Mapping[str, Any], batches: Iterable[Sequence[StoredPoint]], dimension: int
    ) -> None:
        """Replace every point and the manifest (a new dense size allowed where the engine can)."""
        ...

    def manifest(self) -> dict[str, Any] | None:
        """The stored manifest, or None for a new, empty location."""
        ...

    def save_manifest(self, manifest: Mapping[str, Any]) -> None:
        """Store the manifest with the index."""
        ...

    def publish(self) -> None:
        """Make the writes so far visible to other processes (a no-op on a server)."""
        ...

    def close(self) -> None:
        """Publish pending writes and release files, locks and connections."""
        ...


def candidate(payload: Mapping[str, Any] | None, score: float) -> Candidate:
    """A fusion candidate from an engine's scored point."""
    return Candidate(case_id=str((payload or {}).get("case_id", "")), score=float(score))
