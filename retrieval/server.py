"""The Qdrant server (or cluster) engine through ``qdrant-client``, same collection schema.

Point caseloop at a cluster with ``CASELOOP_RETRIEVAL_LOCATION=https://qdrant.example:6333``
(and ``CASELOOP_RETRIEVAL_API_KEY``); the collection and a ``<collection>_manifest`` collection
are created on first use. The server gives many readers and one writer by itself, so
:meth:`ServerEngine.publish` is a no-op. qdrant-client's local mode (``:memory:``, a path) runs the
same code in-process and is what the tests use in place of a server; it is 100× slower than the
embedded engine and never the default.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from typing import Any

from retrieval.bm25 import SparseTerms
from retrieval.engine import DENSE, SPARSE, Probe, Ranked, StoredPoint, candidate
from retrieval.errors import EngineError, IndexMissing

_MANIFEST_ID = 1


@contextmanager
def _server_errors(action: str) -> Iterator[None]:
    try:
        yield
    except (EngineError, IndexMissing):
        raise
    except Exception as exc:
        raise EngineError(f"Qdrant server: {action} failed: {exc}") from exc


class ServerEngine:
    """An :class:`~retrieval.engine.Engine` on a qdrant-client connection."""

    def __init__(
        self,
        client: Any,
        collection: str,
        *,
        filter_keys: Sequence[str],
        create: bool = True,
        local: bool = False,
        dimension: int = 384,
    ) -> None:
        from qdrant_client import models

        self._models = models
        self._client = client
        self._name = collection
        self._meta = f"{collection}_manifest"
        self._local = local
        with _server_errors(f"opening collection {collection}"):
            if not client.collection_exists(collection):
                if not create:
                    raise IndexMissing(f"no collection {collection!r} on the Qdrant server")
                self._create(filter_keys, local, dimension)

    def _create(self, filter_keys: Sequence[str], local: bool, dimension: int) -> None:
        m = self._models
        self._client.create_collection(
            self._name,
            vectors_config={DENSE: m.VectorParams(size=dimension, distance=m.Distance.COSINE)},
            sparse_vectors_config={SPARSE: m.SparseVectorParams(modifier=m.Modifier.IDF)},
        )
        if not local:  # local mode has no payload indexes (it warns and ignores them)
            for key in filter_keys:
                self._client.create_payload_index(
                    self._name, f"metadata.{key}", m.PayloadSchemaType.KEYWORD
                )
        if not self._client.collection_exists(self._meta):
            self._client.create_collection(self._meta, vectors_config={})

    def _sparse(self, terms: SparseTerms) -> Any:
        return self._models.SparseVector(indices=list(terms.indices), values=list(terms.values))

    def upsert(self, points: Sequence[StoredPoint]) -> None:
        structs = [
            self._models.PointStruct(
                id=p.point_id,
                vector={DENSE: list(p.dense), SPARSE: self._sparse(p.sparse)},
                payload=dict(p.payload),
            )
            for p in points
        ]
        with _server_errors("upsert"):
            self._client.upsert(self._name, points=structs, wait=True)

    def delete(self, point_ids: Sequence[str]) -> None:
        selector = self._models.PointIdsList(points=list(point_ids))
        with _server_errors("delete"):
            self._client.delete(self._name, points_selector=selector, wait=True)

    def query(self, probe: Probe) -> Ranked:
        m = self._models
        flt = _filter(m, probe.filters)
        requests = []
        if probe.dense is not None:
            requests.append(
                m.QueryRequest(
                    query=list(probe.dense),
                    using=DENSE,
                    limit=probe.limit,
                    filter=flt,
                    with_payload=["case_id"],
                    # local mode searches exactly and warns that it ignores search params
                    params=None if self._local else m.SearchParams(hnsw_ef=probe.hnsw_ef),
                )
            )
        if probe.sparse:
            requests.append(
                m.QueryRequest(
                    query=self._sparse(probe.sparse),
                    using=SPARSE,
                    limit=probe.limit,
                    filter=flt,
                    with_payload=["case_id"],
                )
            )
        if not requests:
            return Ranked([], [])
        with _server_errors("query"):
            responses = self._client.query_batch_points(self._name, requests=requests)
        lists = [[candidate(p.payload, p.score) for p in r.points] for r in responses]
        dense = lists.pop(0) if probe.dense is not None else []
        bm25 = lists.pop(0) if probe.sparse else []
        return Ranked(dense, bm25)

    def payloads(self, point_ids: Sequence[str]) -> dict[str, dict[str, Any]]:
        with _server_errors("retrieve"):
            records = self._client.retrieve(self._name, ids=list(point_ids), with_payload=True)
        return {str(r.id): dict(r.payload or {}) for r in records}

    def scan(self, batch: int) -> Iterator[list[dict[str, Any]]]:
        """Every point's payload, ``batch`` points at a time."""
        offset: Any = None
        while True:
            with _server_errors("scroll"):
                records, offset = self._client.scroll(
                    self._name, limit=batch, offset=offset, with_payload=True, with_vectors=False
                )
            if records:
                yield [dict(r.payload or {}) for r in records]
            if offset is None:
                return

    def rebuild(
        self, manifest: Mapping[str, Any], batches: Iterable[Sequence[StoredPoint]], dimension: int
    ) -> None:
        """Re-write every point in place, then the manifest.

        Not atomic: a server has no generations, so readers see old and new vectors side by side
        until the manifest is written. A new dense size would need a new collection: refused.
        """
        with _server_errors("reading the collection"):
            info = self._client.get_collection(self._name)
        size = info.config.params.vectors[DENSE].size
        if size != dimension:
            raise EngineError(
                f"Qdrant server: collection {self._name} holds {size}-float vectors; a "
                f"{dimension}-float encoder needs a new collection (set CASELOOP_RETRIEVAL_COLLECTION)"
            )
        for points in batches:
            self.upsert(points)
        self.save_manifest(manifest)

    def count(self) -> int:
        with _server_errors("count"):
            return int(self._client.count(self._name, exact=True).count)

    def manifest(self) -> dict[str, Any] | None:
        with _server_errors("reading the manifest"):
            if not self._client.collection_exists(self._meta):
                return None
            records = self._client.retrieve(self._meta, ids=[_MANIFEST_ID], with_payload=True)
        return dict(records[0].payload or {}) if records else None

    def save_manifest(self, manifest: Mapping[str, Any]) -> None:
        point = self._models.PointStruct(id=_MANIFEST_ID, vector={}, payload=dict(manifest))
        with _server_errors("writing the manifest"):
            self._client.upsert(self._meta, points=[point], wait=True)

    def publish(self) -> None:
        """Nothing to do: a server shows each acknowledged write to every reader."""

    def close(self) -> None:
        with _server_errors("closing the connection"):
            self._client.close()


def _filter(m: Any, filters: Mapping[str, str | int | bool]) -> Any:
    if not filters:
        return None
    return m.Filter(
        must=[
            m.FieldCondition(key=f"metadata.{k}", match=m.MatchValue(value=v))
            for k, v in sorted(filters.items())
        ]
    )
