"""The index as a llama-index retriever, for teams that build query engines on llama-index.

Installed with the ``llamaindex`` extra (``pip install 'caseloop[llamaindex]'``)::

    retriever = index.as_retriever(k=5, filters={"tenant": "acme"})
    nodes = retriever.retrieve("my refund never arrived")
    engine = RetrieverQueryEngine.from_args(retriever, llm=...)

Each node is a ``TextNode`` whose id is the case id and whose text is the case summary; the
fused score is the node score and the per-retriever ranks and scores, tags and metadata are in
``node.metadata``. Search goes through :meth:`retrieval.Index.search` (same fusion, filters and
tenant rules), so llama-index adds no second copy of the data.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from llama_index.core.retrievers import BaseRetriever
from llama_index.core.schema import NodeWithScore, QueryBundle, TextNode

if TYPE_CHECKING:
    from retrieval.engine import Filters
    from retrieval.index import Index, Mode


class CaseRetriever(BaseRetriever):
    """A llama-index ``BaseRetriever`` over a :class:`retrieval.Index`."""

    def __init__(
        self,
        index: Index,
        *,
        k: int = 5,
        filters: Filters | None = None,
        mode: Mode = "hybrid",
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        self._index = index
        self._k = k
        self._filters = dict(filters or {})
        self._mode: Mode = mode

    def _retrieve(self, query_bundle: QueryBundle) -> list[NodeWithScore]:
        hits = self._index.search(
            query_bundle.query_str, k=self._k, filters=self._filters, mode=self._mode
        )
        return [
            NodeWithScore(
                node=TextNode(
                    id_=hit.case_id,
                    text=hit.summary or hit.text,
                    metadata={
                        **dict(hit.metadata),
                        "case_id": hit.case_id,
                        "tags": list(hit.tags),
                        "ranks": dict(hit.ranks),
                        "scores": dict(hit.scores),
                    },
                ),
                score=hit.score,
            )
            for hit in hits
        ]
