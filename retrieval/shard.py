"""One Qdrant embedded-engine shard (``qdrant-edge-py``) holding the collection schema.

Shards are created without a write-ahead log: writes are durable once :meth:`Shard.flush`
returns (the writer flushes after every call), and a shard without a WAL takes no folder lock,
so many reader processes can map one published generation at once (see
:mod:`retrieval.generations`). Library exceptions are translated to :class:`EngineError`.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import qdrant_edge as qe

from retrieval.bm25 import SparseTerms
from retrieval.engine import DENSE, SPARSE, TENANT, Probe, Ranked, StoredPoint, candidate
from retrieval.errors import EngineError
from retrieval.fusion import Candidate


@contextmanager
def _engine_errors(action: str) -> Iterator[None]:
    try:
        yield
    except EngineError:
        raise
    except Exception as exc:
        raise EngineError(f"embedded Qdrant engine: {action} failed: {exc}") from exc


def _sparse(terms: SparseTerms) -> qe.SparseVector:
    return qe.SparseVector(list(terms.indices), list(terms.values))


class Shard:
    """A loaded shard; the caller decides who writes (only the generation's writer does)."""

    def __init__(self, shard: qe.EdgeShard, path: Path) -> None:
        self._shard = shard
        self.path = path

    @classmethod
    def create(
        cls, path: Path, filter_keys: Sequence[str], search_threads: int = 1, dimension: int = 384
    ) -> Shard:
        """A new, empty shard with the collection schema and keyword indexes.

        ``search_threads`` is stored with the shard (readers load it as it is, never rewrite it).
        """
        config = qe.EdgeConfig(
            vectors={DENSE: qe.EdgeVectorParams(size=dimension, distance=qe.Distance.Cosine)},
            sparse_vectors={SPARSE: qe.EdgeSparseVectorParams(modifier=qe.Modifier.Idf)},
            wal_enabled=False,
            max_search_threads=search_threads,
            # int8 copies of the dense vectors in RAM for the HNSW walk, the float32 originals
            # for rescoring: at 100k cases half the dense search time, the same top-5 (0.95
            # overlap with an exact search either way), and a 2x faster optimize.
            quantization_config=qe.ScalarQuantizationConfig(
                type=qe.ScalarType.Int8, quantile=0.99, always_ram=True
            ),
        )
        with _engine_errors(f"creating a shard in {path}"):
            shard = cls(qe.EdgeShard.create(str(path), config), path)
            for key in filter_keys:
                shard._shard.update(
                    qe.UpdateOperation.create_field_index(f"metadata.{key}", _keyword_index(key))
                )
            shard.flush()
        return shard

    @classmethod
    def load(cls, path: Path) -> Shard:
        """Open an existing shard folder."""
        with _engine_errors(f"loading the shard in {path}"):
            return cls(qe.EdgeShard.load(str(path)), path)

    def upsert(self, points: Sequence[StoredPoint]) -> None:
        ops = [
            qe.Point(p.point_id, {DENSE: list(p.dense), SPARSE: _sparse(p.sparse)}, dict(p.payload))
            for p in points
        ]
        with _engine_errors("upsert"):
            self._shard.update(qe.UpdateOperation.upsert_points(ops))

    def delete(self, point_ids: Sequence[str]) -> None:
        with _engine_errors("delete"):
            self._shard.update(qe.UpdateOperation.delete_points(list(point_ids)))

    def query(self, probe: Probe) -> Ranked:
        # Two plain queries: measured 0.8 ms faster at 100k points than one query_batch.
        flt = _filter(probe)
        dense: list[Candidate] = []
        bm25: list[Candidate] = []
        with _engine_errors("query"):
            if probe.dense is not None:
                vector = qe.Query.Nearest(list(probe.dense), using=DENSE)
                params = qe.SearchParams(
                    hnsw_ef=probe.hnsw_ef,
                    quantization=qe.QuantizationSearchParams(rescore=True),
                )
                found = self._shard.query(_request(vector, probe.limit, flt, params))
                dense = [candidate(p.payload, p.score) for p in found]
            if probe.sparse:
                terms = qe.Query.Nearest(_sparse(probe.sparse), using=SPARSE)
                found = self._shard.query(_request(terms, probe.limit, flt, None))
                bm25 = [candidate(p.payload, p.score) for p in found]
        return Ranked(dense, bm25)

    def payloads(self, point_ids: Sequence[str]) -> dict[str, dict[str, Any]]:
        with _engine_errors("retrieve"):
            records = self._shard.retrieve(list(point_ids), with_payload=True, with_vector=False)
        return {str(r.id): dict(r.payload or {}) for r in records}

    def scan(self, batch: int) -> Iterator[list[dict[str, Any]]]:
        """Every point's payload, ``batch`` points at a time."""
        offset: Any = None
        while True:
            with _engine_errors("scroll"):
                records, offset = self._shard.scroll(
                    qe.ScrollRequest(offset=offset, limit=batch, with_payload=True)
                )
            if records:
                yield [dict(r.payload or {}) for r in records]
            if offset is None:
                return

    def count(self) -> int:
        with _engine_errors("count"):
            return int(self._shard.count(qe.CountRequest(exact=True)))

    def optimize(self) -> None:
        """Build the HNSW graph and merge segments (blocking; the writer does it on publish)."""
        with _engine_errors("optimize"):
            self._shard.optimize()

    def flush(self) -> None:
        with _engine_errors("flush"):
            self._shard.flush()

    def close(self) -> None:
        with _engine_errors("close"):
            self._shard.close()


def _keyword_index(key: str) -> qe.PayloadSchemaType | qe.KeywordIndexParams:
    # The tenant index is a tenant index: optimising then stores each tenant's points together,
    # so a tenant-filtered search reads one contiguous run instead of points strewn over the
    # whole shard. At 100k cases the filtered BM25 search of a tenant of 1-2k cases fell from
    # 5-11 ms (skipping through every query term's posting list point by point) to about 1 ms,
    # below the unfiltered one (benchmarks/retrieval.py; docs/retrieval.md, latency).
    if key == TENANT:
        return qe.KeywordIndexParams(is_tenant=True)
    return qe.PayloadSchemaType.Keyword


def _filter(probe: Probe) -> qe.Filter | None:
    if not probe.filters:
        return None
    conditions: list[Any] = [
        qe.FieldCondition(f"metadata.{key}", match=qe.MatchValue(value))
        for key, value in sorted(probe.filters.items())
    ]
    return qe.Filter(must=conditions)


def _request(
    query: qe.Query, limit: int, flt: qe.Filter | None, params: qe.SearchParams | None
) -> qe.QueryRequest:
    # Candidates carry only their case id; the final hits' payloads are fetched afterwards.
    return qe.QueryRequest(
        limit=limit, query=query, filter=flt, with_payload=["case_id"], params=params
    )
