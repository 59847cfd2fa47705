"""Search latency and indexing throughput of the hybrid index, against its embedding floor.

One run prints, for a corpus of real embedded cases (10,000; ``--quick``: 2,000) and a larger
one (100,000; ``--quick``: 20,000):

* ``search`` end to end (query embedding, both retrievers, fusion; unfiltered and with a tenant
  filter) and ``assess`` (search, resolution vote and verdict: what the orchestrator calls per
  customer message): p50/p95, next to the query embedding alone (the floor) and their ratio;
* the same hybrid query on qdrant-client's local mode and on llama-index's default Qdrant path
  (``VectorStoreIndex`` over ``QdrantVectorStore`` in hybrid mode, our BM25 as its sparse
  functions, on qdrant-client's local mode, since llama-index cannot drive the embedded engine);
* indexing (embedding + BM25 + engine insert) in cases per second next to embedding alone,
  and the publish step (HNSW build + copy to a new generation) separately.

The small corpus is embedded for real. The large corpus re-uses those dense vectors, each
perturbed with Gaussian noise and renormalised, beside BM25 vectors of fresh synthetic texts:
embedding 100,000 texts takes about an hour here, and the measured query path (embedding the
query, searching, fusing, filtering) is the real one. Texts: see ``benchmarks/corpus.py``.
Targets on 2 cores: p95 at 100,000 within 1.5× the embedding floor; indexing ≥ 0.8× embedding.

    python benchmarks/retrieval.py [--quick] [--no-baselines]
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
import uuid
import warnings
from collections.abc import Callable
from pathlib import Path
from typing import Any
from unittest.mock import patch

import numpy as np
import qdrant_edge as qe

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from corpus import Corpus

import retrieval
import retrieval.shard
from retrieval.engine import StoredPoint, point_id
from retrieval.index import Index
from retrieval.server import ServerEngine

WORK = Path(tempfile.mkdtemp(prefix="caseloop-bench-"))


def timed(fn: Callable[[], Any]) -> float:
    t0 = time.perf_counter()
    fn()
    return time.perf_counter() - t0


def percentiles(values: list[float]) -> tuple[float, float]:
    return float(np.percentile(values, 50)) * 1000, float(np.percentile(values, 95)) * 1000


def documents(corpus: Corpus, start: int, stop: int) -> list[retrieval.CaseDocument]:
    return [
        retrieval.CaseDocument(
            f"C-{i}", corpus.texts[i], corpus.texts[i][:160], [], {"tenant": corpus.tenants[i]}
        )
        for i in range(start, stop)
    ]


def settings() -> retrieval.RetrievalSettings:
    return retrieval.RetrievalSettings(
        model_dir=WORK / "models", publish_interval=1e9, filter_keys=["tenant"]
    )


def indexing(corpus: Corpus, n: int) -> tuple[Index, list[StoredPoint]]:
    """Index ``n`` cases for real in chunks of 500; every 4th chunk is also embedded alone right
    before it is indexed (interleaved, so both see the same load from other processes), and
    the ratio compares those chunks."""
    index = retrieval.open_index(WORK / f"real-{n}", settings=settings())
    docs = documents(corpus, 0, n)
    index.encoder.encode([d.text for d in docs[:64]])  # load and warm the model
    embed = upsert_sampled = upsert = 0.0
    sampled = 0
    for number, start in enumerate(range(0, n, 500)):
        chunk = docs[start : start + 500]
        if number % 4 == 0:
            embed += timed(lambda chunk=chunk: index.encoder.encode([d.text for d in chunk]))
        took = timed(lambda chunk=chunk: index.upsert(chunk))
        upsert += took
        if number % 4 == 0:
            upsert_sampled += took
            sampled += len(chunk)
    t_publish = timed(index.publish)
    points = _stored(index, n)
    ratio = embed / upsert_sampled
    verdict = "PASS" if ratio >= 0.8 else "FAIL"
    print(
        f"indexing {n:,} real cases (Index.upsert: both encoders + engine insert + flush): "
        f"{n / upsert:,.1f} cases/s; on {sampled:,} of them, {sampled / upsert_sampled:,.1f}/s against "
        f"embedding alone {sampled / embed:,.1f}/s: ratio {ratio:.2f}x [target >= 0.8x: {verdict}]; "
        f"publish (HNSW + new generation) {t_publish:.1f} s"
    )
    return index, points


def _stored(index: Index, n: int) -> list[StoredPoint]:
    """The points just indexed, read back with their vectors (the pool of the large corpus)."""
    shard = index.engine._work._shard  # type: ignore[attr-defined]
    out = []
    ids = [point_id(f"C-{i}") for i in range(n)]
    for start in range(0, n, 1000):
        for record in shard.retrieve(
            ids[start : start + 1000], with_payload=True, with_vector=True
        ):
            vec = record.vector
            out.append(
                StoredPoint(
                    str(record.id),
                    vec["dense"],
                    index._bm25.document(record.payload["text"]),
                    record.payload,
                )
            )
    return out


def perturbed(corpus: Corpus, pool: list[StoredPoint], n: int, index: Index) -> list[StoredPoint]:
    rng = np.random.default_rng(11)
    dense = np.array([p.dense for p in pool], dtype=np.float32)
    bm25 = index._bm25  # the index's own BM25 encoder (same avg_len and tokenizer)
    out = []
    for start in range(0, n, 5000):
        rows = dense[np.arange(start, min(n, start + 5000)) % len(pool)]
        rows = rows + rng.normal(0, 0.02, size=rows.shape).astype(np.float32)
        rows /= np.linalg.norm(rows, axis=1, keepdims=True)
        for offset, vector in enumerate(rows):
            i = start + offset
            payload = {
                "case_id": f"C-{i}",
                "text": corpus.texts[i],
                "summary": corpus.texts[i][:160],
                "tags": [],
                "metadata": {"tenant": corpus.tenants[i]},
            }
            out.append(
                StoredPoint(
                    point_id(f"C-{i}"), vector.tolist(), bm25.document(corpus.texts[i]), payload
                )
            )
    return out


def latency(
    index: Index,
    queries: list[str],
    repeats: int,
    filtered: list[str] | None,
    before: Index | None = None,
) -> tuple[float, float]:
    """Prints the floor, search and assess latencies; returns the p95 ratios of search and
    assess (the orchestrator's call: search, resolution vote, verdict) to the floor.

    ``before``: the same points in the layout before the tenant index, searched in the same
    loop (so both see the same load from other processes)."""
    floor, search, search_f, assess, old, old_f = [], [], [], [], [], []
    for _ in range(repeats):
        for i, q in enumerate(queries):
            tenant = {"tenant": filtered[i % len(filtered)]} if filtered else None
            floor.append(timed(lambda q=q: index.encoder.encode([q])))
            search.append(timed(lambda q=q: index.search(q, k=5)))
            assess.append(timed(lambda q=q: index.assess(q)))
            if tenant:
                search_f.append(timed(lambda q=q, t=tenant: index.search(q, k=5, filters=t)))
            if before is not None:
                old.append(timed(lambda q=q: before.search(q, k=5)))
                if tenant:
                    old_f.append(timed(lambda q=q, t=tenant: before.search(q, k=5, filters=t)))
    (f50, f95), (s50, s95) = percentiles(floor), percentiles(search)
    print(f"  query embedding alone (floor)   p50 {f50:7.2f} ms  p95 {f95:7.2f} ms")
    print(
        f"  search, hybrid                  p50 {s50:7.2f} ms  p95 {s95:7.2f} ms  "
        f"p95/floor p95 {s95 / f95:.2f}x  p50/floor p50 {s50 / f50:.2f}x  (+{s50 - f50:.2f} ms at p50)"
    )
    if search_f:
        g50, g95 = percentiles(search_f)
        print(
            f"  search, hybrid + tenant filter  p50 {g50:7.2f} ms  p95 {g95:7.2f} ms  p95/floor p95 {g95 / f95:.2f}x"
        )
    for label, values in (("", old), (" + tenant filter", old_f)):
        if values:
            o50, o95 = percentiles(values)
            print(
                f"  layout before, hybrid{label:16s} p50 {o50:7.2f} ms  p95 {o95:7.2f} ms  "
                f"p95/floor p95 {o95 / f95:.2f}x"
            )
    a50, a95 = percentiles(assess)
    print(
        f"  assess (search + verdict)       p50 {a50:7.2f} ms  p95 {a95:7.2f} ms  "
        f"p95/floor p95 {a95 / f95:.2f}x  (+{a50 - f50:.2f} ms at p50)"
    )
    return s95 / f95, a95 / f95


def layout_before(points: list[StoredPoint]) -> Index:
    """An index of ``points`` as made before the tenant index (a plain keyword index on the
    tenant, so each tenant's points stay strewn over the shard), published like the other."""
    with patch.object(retrieval.shard, "_keyword_index", lambda key: qe.PayloadSchemaType.Keyword):
        index = retrieval.open_index(WORK / "layout-before", settings=settings())
    for i in range(0, len(points), 2000):
        index.engine.upsert(points[i : i + 2000])
    index.publish()
    return index


def local_mode(points: list[StoredPoint], queries: list[str], edge: Index) -> None:
    from qdrant_client import QdrantClient

    warnings.filterwarnings("ignore", message="Local mode is not recommended")  # a baseline
    engine = ServerEngine(
        QdrantClient(location=":memory:"), "bench", filter_keys=["tenant"], local=True
    )
    for i in range(0, len(points), 2000):
        engine.upsert(points[i : i + 2000])
    index = Index(engine, settings(), edge.engine.manifest() or {})
    times = [timed(lambda q=q: index.search(q, k=5)) for q in queries]
    ours = [timed(lambda q=q: edge.search(q, k=5)) for q in queries]
    print(
        f"  qdrant-client local mode, same query via our API: p50 {percentiles(times)[0]:8.1f} ms "
        f"({np.median(times) / np.median(ours):,.0f}x the embedded engine, {len(queries)} queries)"
    )
    engine.close()


def llama_index(points: list[StoredPoint], queries: list[str], edge: Index) -> None:
    try:
        from llama_index.core import VectorStoreIndex
        from llama_index.core.embeddings import BaseEmbedding
        from llama_index.core.schema import TextNode
        from llama_index.vector_stores.qdrant import QdrantVectorStore
        from qdrant_client import QdrantClient, models
    except ImportError:
        print("  llama-index baseline skipped: install the llamaindex extra")
        return
    encoder, bm25 = edge.encoder, edge._bm25

    class MiniLM(BaseEmbedding):  # the same encoder, so only the retrieval path differs
        def _get_query_embedding(self, query: str) -> list[float]:
            return encoder.encode([query])[0].tolist()

        def _get_text_embedding(self, text: str) -> list[float]:
            return encoder.encode([text])[0].tolist()

        async def _aget_query_embedding(self, query: str) -> list[float]:
            return self._get_query_embedding(query)

    def sparse_docs(texts: list[str]) -> tuple[list[list[int]], list[list[float]]]:
        vecs = [bm25.document(t) for t in texts]
        return [list(v.indices) for v in vecs], [list(v.values) for v in vecs]

    def sparse_queries(texts: list[str]) -> tuple[list[list[int]], list[list[float]]]:
        vecs = [bm25.query(t) for t in texts]
        return [list(v.indices) for v in vecs], [list(v.values) for v in vecs]

    warnings.filterwarnings("ignore", message="Payload indexes have no effect")  # local mode
    store = QdrantVectorStore(
        collection_name="llama",
        client=QdrantClient(location=":memory:"),
        enable_hybrid=True,
        sparse_doc_fn=sparse_docs,
        sparse_query_fn=sparse_queries,
        sparse_config=models.SparseVectorParams(modifier=models.Modifier.IDF),
        batch_size=2000,
    )
    nodes = [
        TextNode(id_=str(uuid.UUID(p.point_id)), text=p.payload["text"], embedding=list(p.dense))
        for p in points
    ]
    store.add(nodes)
    retriever = VectorStoreIndex.from_vector_store(store, embed_model=MiniLM()).as_retriever(
        similarity_top_k=5, sparse_top_k=50, vector_store_query_mode="hybrid"
    )
    times = [timed(lambda q=q: retriever.retrieve(q)) for q in queries]
    ours = [timed(lambda q=q: edge.search(q, k=5)) for q in queries]
    print(
        f"  llama-index default Qdrant path (local mode):     p50 {percentiles(times)[0]:8.1f} ms "
        f"({np.median(times) / np.median(ours):,.0f}x caseloop's search, {len(queries)} queries)"
    )


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument(
        "--quick", action="store_true", help="2,000 real + 20,000 perturbed cases, fewer queries"
    )
    parser.add_argument(
        "--no-baselines",
        action="store_true",
        help="skip the qdrant-client local mode and llama-index baselines (slow at 100,000)",
    )
    args = parser.parse_args()
    small, large = (2_000, 20_000) if args.quick else (10_000, 100_000)
    n_queries, repeats, slow_queries = (50, 2, 5) if args.quick else (100, 3, 5)
    print(
        f"# retrieval benchmark ({'quick' if args.quick else 'full'}); encoder {settings().encoder}, "
        f"fusion {settings().fusion}, 1 thread"
    )
    print(
        f"corpus: seeded synthetic case summaries (Zipf vocabulary of 30,000 words, log-normal "
        f"lengths around 60 words, 20 tenants); {small:,} embedded for real; the {large:,} corpus re-uses "
        f"those {small:,} dense vectors perturbed (sigma 0.02, renormalised) with BM25 vectors of "
        f"{large:,} distinct texts. Queries: 10-23 words of one case + 2 random words, embedded for real."
    )
    corpus = Corpus(large)
    queries = corpus.queries(n_queries)
    tenants = sorted(set(corpus.tenants))[:5]
    index, points = indexing(corpus, small)
    print(f"{small:,} cases (embedded engine, after publish):")
    latency(index, queries, repeats, tenants)
    if not args.no_baselines:
        local_mode(points, queries[:20], index)
        llama_index(points, queries[:20], index)
    print(f"{large:,} cases (embedded engine, after publish):")
    big = retrieval.open_index(WORK / f"large-{large}", settings=settings())
    all_points = perturbed(corpus, points, large, index)
    insert = timed(
        lambda: [big.engine.upsert(all_points[i : i + 2000]) for i in range(0, large, 2000)]
    )
    publish = timed(big.publish)
    print(
        f"  insert of precomputed points {large / insert:,.0f}/s; publish (HNSW + new generation) {publish:.1f} s"
    )
    before = layout_before(all_points)
    ratio, assess = latency(big, queries, repeats, tenants, before)
    before.close()
    rrf = Index(
        big.engine, settings().model_copy(update={"fusion": "rrf"}), big.engine.manifest() or {}
    )
    before = [timed(lambda q=q: rrf.search(q, k=5)) for q in queries for _ in range(repeats)]
    b50, b95 = percentiles(before)
    print(
        f"  search with the previous default (RRF k 60, 1.5/1): p50 {b50:7.2f} ms  p95 {b95:7.2f} ms"
    )
    for name, value in (("search", ratio), ("assess", assess)):
        verdict = "PASS" if value <= 1.5 else "FAIL"
        print(f"  target: {name} p95 within 1.5x of the embedding floor: {verdict} ({value:.2f}x)")
    if not args.no_baselines:
        local_mode(all_points, queries[:slow_queries], big)
        llama_index(all_points, queries[:slow_queries], big)
    index.close()
    big.close()


if __name__ == "__main__":
    main()
