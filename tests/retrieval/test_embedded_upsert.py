"""`Index.embed` and `Index.embedder` + `Index.upsert(vectors=…)`: a caller's vectors are stored
as given, only the index's own encoder's are accepted, and documents they do not cover are
embedded as usual."""

from __future__ import annotations

import dataclasses
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest

import retrieval
from retrieval.index import DocumentVectors
from retrieval.manifest import EncoderChoice
from tests.retrieval.corpus import documents


@pytest.fixture
def empty(tmp_path: Path, settings: retrieval.RetrievalSettings) -> Iterator[retrieval.Index]:
    with retrieval.open_index(tmp_path / "index", settings=settings) as index:
        yield index


def _top(index: retrieval.Index, query: str) -> str:
    return index.search(query, k=1, mode="dense")[0].case_id


def test_the_given_vectors_are_stored_not_embedded_again(empty: retrieval.Index) -> None:
    refund, login, *_ = documents()
    # login's vector under refund's text: if the index embedded the text itself, a dense
    # search for the login problem would not find the refund case first.
    vectors = empty.embed([login.text])
    swapped = DocumentVectors(vectors.choice, (refund.text,), vectors.matrix)
    assert empty.upsert([refund, login], vectors=swapped) == 2
    hits = empty.search(login.text, k=2, mode="dense")
    assert [round(h.score, 4) for h in hits] == [1.0, 1.0]  # both hold login's vector


def test_embedded_once_is_what_embedding_in_upsert_gives(
    empty: retrieval.Index, tmp_path: Path, settings: retrieval.RetrievalSettings
) -> None:
    docs = documents()
    empty.upsert(docs, vectors=empty.embed([d.text for d in docs]))
    with retrieval.open_index(tmp_path / "plain", settings=settings) as plain:
        plain.upsert(docs)
        for doc in docs:
            shared, own = empty.search(doc.text, k=3), plain.search(doc.text, k=3)
            assert [h.case_id for h in shared] == [h.case_id for h in own]


def test_documents_the_vectors_do_not_cover_are_embedded_by_the_index(
    empty: retrieval.Index,
) -> None:
    refund, login, *_ = documents()
    empty.upsert([refund, login], vectors=empty.embed([refund.text]))
    assert _top(empty, refund.text) == refund.case_id
    assert _top(empty, login.text) == login.case_id


def test_vectors_of_another_encoder_are_refused_and_nothing_is_written(
    empty: retrieval.Index,
) -> None:
    refund, *_ = documents()
    vectors = empty.embed([refund.text])
    other = EncoderChoice(vectors.choice.model, "torch")
    with pytest.raises(retrieval.EncoderMismatch, match="torch"):
        empty.upsert([refund], vectors=dataclasses.replace(vectors, choice=other))
    assert empty.count() == 0
    empty.upsert([refund], vectors=vectors)
    assert empty.count() == 1


def test_vectors_of_the_wrong_shape_are_refused(empty: retrieval.Index) -> None:
    refund, *_ = documents()
    vectors = empty.embed([refund.text])
    short = dataclasses.replace(vectors, matrix=np.zeros((1, 8), dtype=np.float32))
    with pytest.raises(retrieval.InvalidDocument, match="shape"):
        empty.upsert([refund], vectors=short)
    with pytest.raises(retrieval.InvalidDocument, match="DocumentVectors"):
        empty.upsert([refund], vectors=vectors.matrix)  # type: ignore[arg-type]
    assert empty.count() == 0


def test_an_embedder_runs_on_another_thread_and_its_vectors_are_accepted(
    empty: retrieval.Index,
) -> None:
    from concurrent.futures import ThreadPoolExecutor

    docs = documents()
    texts = [d.text for d in docs]
    embed = empty.embedder()  # bound here; the worker thread touches no engine
    with ThreadPoolExecutor(max_workers=1) as worker:
        vectors = worker.submit(embed, texts).result()
    direct = empty.embed(texts)
    assert vectors.choice == direct.choice
    assert vectors.texts == direct.texts
    np.testing.assert_allclose(vectors.matrix, direct.matrix, atol=1e-6)
    assert empty.upsert(docs, vectors=vectors) == len(docs)
    assert all(_top(empty, d.text) == d.case_id for d in docs[:3])
