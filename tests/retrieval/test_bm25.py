"""The BM25 encoder, and Qdrant's IDF on top of it, rank like a reference BM25 (bm25s)."""

from __future__ import annotations

import bm25s
import numpy as np
import pytest

import retrieval
from retrieval.bm25 import Bm25Encoder, term_id
from tests.retrieval.banking import rows


def test_document_weights_follow_bm25_saturation_and_length() -> None:
    enc = Bm25Encoder(k1=1.2, b=0.75, avg_len=4.0)
    vec = enc.document("refund refund refund card")
    weights = dict(zip(vec.indices, vec.values, strict=True))
    norm = 1.2 * (1 - 0.75 + 0.75 * 4 / 4.0)
    assert weights[term_id("refund")] == pytest.approx(3 * 2.2 / (3 + norm))
    assert weights[term_id("card")] == pytest.approx(1 * 2.2 / (1 + norm))
    short, long_ = enc.document("card refund"), enc.document("card " + "word " * 20)
    assert (
        dict(zip(short.indices, short.values, strict=True))[term_id("card")]
        > dict(zip(long_.indices, long_.values, strict=True))[term_id("card")]
    )


def test_tokens_drop_stop_words_and_stem() -> None:
    assert Bm25Encoder().tokens("Why were my Refunds NOT showing?") == ["refund", "show"]
    assert Bm25Encoder().query("refund refunds refunded").indices == (term_id("refund"),)


def test_ranking_matches_bm25s_on_real_queries(
    tmp_path: object, settings: retrieval.RetrievalSettings
) -> None:
    texts = [t for t, _ in rows()]
    enc = Bm25Encoder(settings.bm25_k1, settings.bm25_b)
    tokens = [enc.tokens(t) for t in texts]
    avg = float(np.mean([len(t) for t in tokens]))
    tuned = settings.model_copy(update={"bm25_avg_len": avg})
    reference = bm25s.BM25(method="lucene", k1=tuned.bm25_k1, b=tuned.bm25_b)
    reference.index(tokens, show_progress=False)
    docs = [retrieval.CaseDocument(str(i), t, t) for i, t in enumerate(texts)]
    with retrieval.open_index(f"{tmp_path}/bm25", settings=tuned) as index:
        index.upsert(docs)
        agree, total = 0, 0
        for query in texts[::12]:
            q = sorted(set(enc.tokens(query)))
            ids, scores = reference.retrieve([q], k=10, show_progress=False)
            expected = [(str(i), float(s)) for i, s in zip(ids[0], scores[0], strict=True) if s > 0]
            got = [(h.case_id, h.score) for h in index.search(query, k=10, mode="bm25")]
            # identical scores (up to float32), hence identical order up to exact ties
            # bm25s' Lucene variant leaves out the constant factor (k1 + 1)
            assert [s for _, s in got][: len(expected)] == pytest.approx(
                [s * (tuned.bm25_k1 + 1) for _, s in expected], rel=1e-4
            )
            agree += len({c for c, _ in got} & {c for c, _ in expected})
            total += len(expected)
        assert agree / total >= 0.95
