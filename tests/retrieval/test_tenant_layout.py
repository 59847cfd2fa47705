"""The embedded engine's tenant index (issue 11, latency): a new index stores each tenant's points
together; tenant-filtered searches return what an unfiltered search returns for that tenant; an
index made before (a plain keyword index on the tenant) still opens, filters and takes writes."""

from __future__ import annotations

from pathlib import Path

import pytest
import qdrant_edge as qe

import retrieval
import retrieval.shard
from retrieval.shard import Shard
from tests.retrieval.corpus import CASES

TENANTS = ("acme", "globex", "initech")
PER_TENANT = 20


def _cases() -> list[retrieval.CaseDocument]:
    """Tenants interleaved point by point (the layout a tenant index undoes on optimise)."""
    return [
        retrieval.CaseDocument(
            f"C-{n}",
            f"{CASES[n % len(CASES)][1]} (ticket {n})",
            CASES[n % len(CASES)][2],
            [],
            {"tenant": TENANTS[n % len(TENANTS)], "product": "shop"},
        )
        for n in range(PER_TENANT * len(TENANTS))
    ]


def _schema(folder: Path) -> dict[str, bool]:
    """Each payload index of the published generation: is it a tenant index?"""
    name = (folder / "CURRENT").read_text().strip()
    shard = Shard.load(folder / "generations" / name / "shard")
    try:
        return {
            key: bool(getattr(info.params, "is_tenant", False))
            for key, info in shard._shard.info().payload_schema.items()
        }
    finally:
        shard.close()


def _filtered_matches_unfiltered(index: retrieval.Index) -> None:
    for mode in ("dense", "bm25", "hybrid"):
        for tenant in TENANTS:
            query = "charged twice for my order"
            got = index.search(query, k=PER_TENANT, filters={"tenant": tenant}, mode=mode)
            everything = index.search(query, k=PER_TENANT * len(TENANTS), mode=mode)
            want = [h for h in everything if h.metadata["tenant"] == tenant][:PER_TENANT]
            assert got, (mode, tenant)
            assert {h.metadata["tenant"] for h in got} == {tenant}
            if mode != "hybrid":  # fused scores depend on each list's ranks, which the filter moves
                assert {h.case_id for h in got} == {h.case_id for h in want}, (mode, tenant)
                assert [h.score for h in got] == pytest.approx([h.score for h in want]), mode


def test_new_index_has_a_tenant_index_and_filters_like_an_unfiltered_search(
    tmp_path: Path, settings: retrieval.RetrievalSettings
) -> None:
    folder = tmp_path / "index"
    with retrieval.open_index(folder, settings=settings) as index:
        index.upsert(_cases())
        index.publish()
        _filtered_matches_unfiltered(index)
    assert _schema(folder) == {"metadata.tenant": True, "metadata.product": False}


def test_index_made_before_the_tenant_index_opens_filters_and_takes_writes(
    tmp_path: Path, settings: retrieval.RetrievalSettings, monkeypatch: pytest.MonkeyPatch
) -> None:
    folder = tmp_path / "index"
    with monkeypatch.context() as old_code:  # the schema before: a plain keyword index each
        old_code.setattr(
            retrieval.shard, "_keyword_index", lambda key: qe.PayloadSchemaType.Keyword
        )
        with retrieval.open_index(folder, settings=settings) as index:
            index.upsert(_cases())
    assert _schema(folder) == {"metadata.tenant": False, "metadata.product": False}
    with retrieval.open_index(folder, settings=settings, create=False) as reader:
        assert reader.count() == PER_TENANT * len(TENANTS)
        _filtered_matches_unfiltered(reader)
    with retrieval.open_index(folder, settings=settings, create=False) as writer:
        writer.upsert(
            [
                retrieval.CaseDocument(
                    "NEW", "charged twice again", "refunded", [], {"tenant": "acme"}
                )
            ]
        )
        writer.publish()
        hits = writer.search("charged twice again", k=1, filters={"tenant": "acme"})
        assert hits[0].case_id == "NEW"
    assert _schema(folder) == {"metadata.tenant": False, "metadata.product": False}
