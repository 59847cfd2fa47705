"""The llama-index adapter returns the index's hits as scored nodes."""

from __future__ import annotations

import pytest

import retrieval

pytest.importorskip("llama_index.core")


def test_retriever_returns_hits_as_nodes(index: retrieval.Index) -> None:
    from llama_index.core.retrievers import BaseRetriever

    retriever = index.as_retriever(k=3, filters={"tenant": "acme"})
    assert isinstance(retriever, BaseRetriever)
    nodes = retriever.retrieve("my refund has not arrived")
    hits = index.search("my refund has not arrived", k=3, filters={"tenant": "acme"})
    assert [n.node.node_id for n in nodes] == [h.case_id for h in hits]
    assert [n.score for n in nodes] == [h.score for h in hits]
    top = nodes[0].node
    assert top.get_content() == "Refund re-issued by card"
    assert top.metadata["ranks"] == {"dense": 1, "bm25": 1}
    assert top.metadata["tenant"] == "acme"
    assert all(n.node.metadata["tenant"] == "acme" for n in nodes)


def test_retriever_modes_and_errors(index: retrieval.Index) -> None:
    nodes = index.as_retriever(k=2, mode="bm25").retrieve("password reset")
    assert nodes[0].node.node_id == "T-2"
    assert set(nodes[0].node.metadata["ranks"]) == {"bm25"}
    with pytest.raises(retrieval.EmptyQuery):
        index.as_retriever().retrieve(" ")
