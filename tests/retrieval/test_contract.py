"""The index contract, run on the embedded engine and on qdrant-client's local mode."""

from __future__ import annotations

import pytest

import retrieval
from tests.retrieval.corpus import documents


def test_search_finds_the_matching_case_with_ranks_per_retriever(index: retrieval.Index) -> None:
    hits = index.search("my refund has not arrived", k=3)
    assert hits[0].case_id == "T-1"
    assert hits[0].ranks == {"dense": 1, "bm25": 1}
    assert hits[0].summary == "Refund re-issued by card"
    assert hits[0].tags == ("refund",)
    assert hits[0].metadata == {"tenant": "acme", "product": "shop"}
    assert [h.score for h in hits] == sorted((h.score for h in hits), reverse=True)
    assert len({h.case_id for h in hits}) == len(hits)


def test_modes_use_one_retriever_each(index: retrieval.Index) -> None:
    dense = index.search("password reset mail missing", k=2, mode="dense")
    bm25 = index.search("password reset mail missing", k=2, mode="bm25")
    assert dense[0].case_id == bm25[0].case_id == "T-2"
    assert set(dense[0].ranks) == {"dense"}
    assert set(bm25[0].ranks) == {"bm25"}
    assert 0.0 < dense[0].score <= 1.0


def test_lexical_side_matching_nothing_leaves_bm25_empty(index: retrieval.Index) -> None:
    assert index.search("zzyzx qwfp", mode="bm25") == []
    assert all("bm25" not in h.ranks for h in index.search("zzyzx qwfp"))


def test_count_upsert_replaces_and_retract_removes(index: retrieval.Index) -> None:
    assert index.count() == 6
    changed = retrieval.CaseDocument(
        "T-3", "The app crashes on start", "Reinstall", ["app"], {"tenant": "acme"}
    )
    assert index.upsert([changed, changed]) == 1
    assert index.count() == 6
    assert index.search("app crashes on start", k=1)[0].summary == "Reinstall"
    index.retract(["T-3", "T-3", "never-existed"])
    assert index.count() == 5
    assert "T-3" not in {h.case_id for h in index.search("app crashes", k=6)}


def test_filters_isolate_tenants(index: retrieval.Index) -> None:
    hits = index.search("I was charged twice", k=6, filters={"tenant": "acme"})
    assert hits
    assert {h.metadata["tenant"] for h in hits} == {"acme"}
    assert "T-5" not in {h.case_id for h in hits}
    assert index.search("charged twice", k=1, filters={"tenant": "globex"})[0].case_id == "T-5"
    assert index.search("charged twice", filters={"tenant": "nobody"}) == []


def test_search_is_deterministic(index: retrieval.Index) -> None:
    first = index.search("order problem", k=6)
    assert [(h.case_id, h.score) for h in first] == [
        (h.case_id, h.score) for h in index.search("order problem", k=6)
    ]


def test_equal_scores_come_in_case_id_order_whatever_the_storage_order(
    index: retrieval.Index,
) -> None:
    # The same text under four ids, written in an order unlike theirs: BM25 scores them equal
    # (dense too, up to quantisation), and a ranking must not depend on where they were stored.
    twins = [
        retrieval.CaseDocument(case_id, "Parcel locker code expired", "New code sent", [], {})
        for case_id in ("Z-2", "Z-0", "Z-3", "Z-1")
    ]
    index.upsert(twins)
    index.publish()
    hits = index.search("parcel locker code expired", k=4, mode="bm25")
    assert [h.case_id for h in hits] == ["Z-0", "Z-1", "Z-2", "Z-3"]
    assert len({h.score for h in hits}) == 1


@pytest.mark.parametrize(
    ("query", "filters", "error", "message"),
    [
        ("", None, retrieval.EmptyQuery, "query: empty"),
        ("   ", None, retrieval.EmptyQuery, "query: empty"),
        ("x" * 2001, None, retrieval.QueryTooLong, "2001 characters, at most 2000"),
        ("refund", {"colour": "red"}, retrieval.InvalidFilter, "unknown key 'colour'"),
        ("refund", {"tenant": 1.5}, retrieval.InvalidFilter, "filters.tenant"),
    ],
)
def test_bad_queries_are_refused_with_the_field_named(
    index: retrieval.Index,
    query: str,
    filters: dict[str, object] | None,
    error: type[Exception],
    message: str,
) -> None:
    with pytest.raises(error, match=message):
        index.search(query, filters=filters)  # type: ignore[arg-type]


def test_bad_documents_are_refused_before_any_write(index: retrieval.Index) -> None:
    with pytest.raises(retrieval.InvalidDocument, match="text"):
        retrieval.CaseDocument("T-9", "  ", "s")
    with pytest.raises(retrieval.InvalidDocument, match=r"metadata\.tenant"):
        index.upsert([*documents(), retrieval.CaseDocument("T-9", "t", "s", [], {"tenant": [1]})])
    assert index.count() == 6


def test_multi_tenant_requires_a_tenant(
    location: str, settings: retrieval.RetrievalSettings
) -> None:
    strict = settings.model_copy(update={"multi_tenant": True})
    with retrieval.open_index(location, settings=strict) as idx:
        with pytest.raises(retrieval.TenantRequired, match=r"metadata\.tenant"):
            idx.upsert([retrieval.CaseDocument("T-1", "refund", "s")])
        idx.upsert(documents())
        with pytest.raises(retrieval.TenantRequired, match=r"filters\.tenant"):
            idx.search("refund")
        for tenant in ("acme", "globex"):
            for query in ("refund", "charged twice", "parcel late", "app crash"):
                hits = idx.search(query, k=6, filters={"tenant": tenant})
                assert {h.metadata["tenant"] for h in hits} <= {tenant}


def test_missing_index_without_create(
    tmp_path: object, settings: retrieval.RetrievalSettings
) -> None:
    with pytest.raises(retrieval.IndexMissing):
        retrieval.open_index(f"{tmp_path}/nothing", settings=settings, create=False)
