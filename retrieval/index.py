"""The index: the orchestrator's and the learning flow's one object.

``open_index`` picks the engine from the location (a folder: the embedded engine with
generations; ``http(s)://``: a Qdrant server; ``:memory:`` or ``local:PATH``: qdrant-client's
local mode, a test double), checks the stored manifest against this code (schema version, BM25
setup) and the settings (the encoder, :mod:`retrieval.manifest`) and returns an :class:`Index`. Queries are validated (empty → :class:`EmptyQuery`,
longer than ``max_query_chars`` → :class:`QueryTooLong`; the dense side reads the first 256
word pieces), filters are checked against the index's declared filter keys.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

import numpy as np
import numpy.typing as npt

from retrieval.bm25 import Bm25Encoder
from retrieval.dense import DenseEncoder, Matrix
from retrieval.documents import CaseDocument, Hit
from retrieval.encoding import EncoderBinding, Progress, reembed
from retrieval.engine import TENANT, Engine, Filters, Probe, Ranked, StoredPoint, point_id
from retrieval.errors import (
    EmptyQuery,
    EncoderMismatch,
    InvalidDocument,
    InvalidFilter,
    InvalidQuery,
    QueryTooLong,
    TenantRequired,
)
from retrieval.fusion import Candidate, fuse
from retrieval.manifest import (
    EncoderChoice,
    check_manifest,
    encoder_choice,
    manifest_for,
    requested,
)
from retrieval.model import resolve_model
from retrieval.settings import RetrievalSettings
from retrieval.verdict import Assessment, VerdictPolicy, decide

Mode = Literal["hybrid", "bm25", "dense"]
Vector = npt.NDArray[np.float32]
_BATCH = 256


@dataclass(frozen=True, slots=True, eq=False)
class DocumentVectors:
    """Dense vectors of document texts and the encoder that made them (:meth:`Index.embed`)."""

    choice: EncoderChoice
    texts: tuple[str, ...]
    matrix: Matrix  # one unit row per text, in order


class Index:
    """A hybrid BM25 + dense index of case summaries with a calibrated verdict."""

    def __init__(self, engine: Engine, settings: RetrievalSettings, manifest: Mapping[str, Any]):
        self._engine = engine
        self._settings = settings
        bm25 = manifest["bm25"]
        self._bm25 = Bm25Encoder(bm25["k1"], bm25["b"], bm25["avg_len"])
        self._filter_keys = frozenset(manifest["filter_keys"])
        self._multi_tenant = bool(manifest["multi_tenant"])
        self._binding = EncoderBinding(settings, "index")
        self._manifest: tuple[float, dict[str, Any]] | None = None
        self._policy: tuple[dict[str, Any], VerdictPolicy] | None = None

    @property
    def engine(self) -> Engine:
        """The engine behind the index (for benchmarks and operations)."""
        return self._engine

    @property
    def filter_keys(self) -> frozenset[str]:
        """Metadata keys searches may filter on."""
        return self._filter_keys

    @property
    def encoder(self) -> DenseEncoder:
        """The dense encoder this index embeds with (loaded on first use, shared per process)."""
        return self._encoder()

    @property
    def encoder_choice(self) -> EncoderChoice:
        """The model and backend this index embeds with (what its manifest records)."""
        return self._binding.choice(self._current_manifest())

    def _encoder(self) -> DenseEncoder:
        return self._binding.encoder(self._current_manifest())

    def _current_manifest(self) -> dict[str, Any]:
        # Re-read at most every reload_interval seconds (a server round trip otherwise).
        now = time.monotonic()
        if self._manifest is None or now - self._manifest[0] >= self._settings.reload_interval:
            self._manifest = (now, self._engine.manifest() or {})
        return self._manifest[1]

    def reembed(
        self,
        model: str | Path | None = None,
        backend: str | None = None,
        *,
        policy: VerdictPolicy | None = None,
        progress: Progress | None = None,
    ) -> EncoderChoice:
        """Embed every case again with another model and/or backend, as one new generation.

        ``model``: ``packaged`` or a model folder (default: the current one); ``backend``:
        default the current one. The new encoder is recorded in the manifest; readers whose
        settings name no encoder follow it. ``policy``: the verdict policy the new generation
        keeps (one fitted on the new encoder's scores; default: the current one). Returns the
        new choice.
        """
        current = self.encoder_choice
        chosen = resolve_model(model) if model is not None else current.model
        settings = self._settings.model_copy(update={"encoder": backend or current.backend})
        choice = EncoderChoice(chosen, settings.encoder)
        reembed(self, choice, settings, progress, policy)
        self._binding.adopt(choice)
        self._manifest = self._policy = None
        return choice

    # -- writing -------------------------------------------------------------------------
    def embed(self, texts: Sequence[str]) -> DocumentVectors:
        """Dense vectors of ``texts`` by this index's encoder, to pass to :meth:`upsert`.

        For a caller that needs the documents' embeddings itself (learning's tagger ranks tag
        candidates against them): each document is embedded once, not once there and again here.
        """
        return self.embedder()(texts)

    def embedder(self) -> Callable[[Sequence[str]], DocumentVectors]:
        """:meth:`embed` bound to the encoder this index embeds with now. The function touches
        neither the engine nor the manifest, so it may run on another thread (learning embeds
        one batch there while it redacts the next)."""
        manifest = self._current_manifest()
        choice, encoder = self._binding.choice(manifest), self._binding.encoder(manifest)
        return lambda texts: DocumentVectors(choice, tuple(texts), encoder.encode(list(texts)))

    def upsert(
        self, documents: Iterable[CaseDocument], vectors: DocumentVectors | None = None
    ) -> int:
        """Insert or replace cases by ``case_id``; returns how many were written.

        ``vectors`` (from :meth:`embed`): a document whose text they hold is not embedded again.
        They must come from the encoder this index embeds with now, else
        :class:`EncoderMismatch` and nothing is written.
        """
        unique: dict[str, CaseDocument] = {}
        for doc in documents:
            if not isinstance(doc, CaseDocument):
                raise InvalidDocument(f"documents: expected CaseDocument, got {type(doc).__name__}")
            self._check_document(doc)
            unique[doc.case_id] = doc  # the last version of a case in one call wins
        docs = list(unique.values())
        known = self._checked_vectors(vectors)
        for start in range(0, len(docs), _BATCH):
            self._engine.upsert(self.points(docs[start : start + _BATCH], known))
        return len(docs)

    def points(
        self, docs: Sequence[CaseDocument], known: Mapping[str, Vector] | None = None
    ) -> list[StoredPoint]:
        """The engine points of ``docs`` (both encoders run here; dense vectors of texts in
        ``known`` are taken from it)."""
        known = known or {}
        missing = list(dict.fromkeys(d.text for d in docs if d.text not in known))
        fresh = dict(zip(missing, self._encoder().encode(missing), strict=True)) if missing else {}
        payloads = [
            {
                "case_id": d.case_id,
                "text": d.text,
                "summary": d.summary,
                "tags": list(d.tags),
                "metadata": dict(d.metadata),
            }
            for d in docs
        ]
        dense = [known[d.text] if d.text in known else fresh[d.text] for d in docs]
        return self.stored_points(payloads, np.array(dense, dtype=np.float32))

    def _checked_vectors(self, vectors: DocumentVectors | None) -> dict[str, Vector]:
        """``vectors`` by text, once proven to be this index's encoder's (model and backend)."""
        if vectors is None:
            return {}
        if not isinstance(vectors, DocumentVectors):
            raise InvalidDocument(
                f"vectors: expected DocumentVectors from Index.embed, got {type(vectors).__name__}"
            )
        choice = self.encoder_choice
        if vectors.choice != choice:
            raise EncoderMismatch(
                f"vectors: embedded by {vectors.choice.describe()}; "
                f"this index embeds with {choice.describe()}"
            )
        if vectors.matrix.shape != (len(vectors.texts), choice.model.dimension):
            raise InvalidDocument(
                f"vectors: shape {vectors.matrix.shape}, expected "
                f"({len(vectors.texts)}, {choice.model.dimension})"
            )
        return dict(zip(vectors.texts, vectors.matrix, strict=True))

    def stored_points(
        self, payloads: Sequence[Mapping[str, Any]], vectors: Matrix
    ) -> list[StoredPoint]:
        """Engine points from stored payloads and their dense vectors (BM25 computed here)."""
        return [
            StoredPoint(
                point_id=point_id(str(p["case_id"])),
                dense=vector.tolist(),
                sparse=self._bm25.document(str(p["text"])),
                payload=dict(p),
            )
            for p, vector in zip(payloads, vectors, strict=True)
        ]

    def _check_document(self, doc: CaseDocument) -> None:
        for key in self._filter_keys & set(doc.metadata):
            value = doc.metadata[key]
            if not isinstance(value, str | int | bool):
                raise InvalidDocument(
                    f"metadata.{key}: filter values must be str, int or bool (case {doc.case_id})"
                )
        if self._multi_tenant and not doc.metadata.get(TENANT):
            raise TenantRequired(f"metadata.tenant: required in multi-tenant mode ({doc.case_id})")

    def retract(self, case_ids: Iterable[str]) -> None:
        """Remove cases; unknown ids are ignored (retracting twice is safe)."""
        ids = [point_id(c) for c in case_ids]
        if ids:
            self._engine.delete(ids)

    def publish(self) -> None:
        """Make the writes so far visible to other processes now (embedded engine)."""
        self._engine.publish()

    def save_policy(self, policy: VerdictPolicy) -> None:
        """Store ``policy`` with the index; :meth:`assess` uses it when none is passed."""
        manifest = dict(self._engine.manifest() or {})
        manifest["policy"] = policy.to_dict()
        self._engine.save_manifest(manifest)
        self._manifest = self._policy = None

    @property
    def policy(self) -> VerdictPolicy:
        """The stored verdict policy, or the built-in defaults.

        Re-read at most every ``reload_interval`` seconds (a server round trip otherwise).
        """
        manifest = self._current_manifest()
        if self._policy is None or self._policy[0] is not manifest:
            stored = manifest.get("policy")
            self._policy = (
                manifest,
                VerdictPolicy.from_dict(stored) if stored else VerdictPolicy(),
            )
        return self._policy[1]

    # -- reading -------------------------------------------------------------------------
    def count(self) -> int:
        """Number of cases in the index (as this process currently sees it)."""
        return self._engine.count()

    def search(
        self, query: str, k: int = 5, filters: Filters | None = None, mode: Mode = "hybrid"
    ) -> list[Hit]:
        """The ``k`` best cases for ``query`` (hybrid, or one retriever for comparisons)."""
        return self._search(query, k, filters, mode)[1]

    def assess(
        self,
        query: str,
        filters: Filters | None = None,
        *,
        policy: VerdictPolicy | None = None,
        k: int = 5,
    ) -> Assessment:
        """Search, then decide: answer from the top hit, or escalate with a reason."""
        ranked, hits = self._search(query, k, filters, "hybrid")
        return decide(ranked, hits, policy or self.policy)

    def _search(
        self, query: str, k: int, filters: Filters | None, mode: Mode
    ) -> tuple[Ranked, list[Hit]]:
        text = self._check_query(query)
        if mode not in ("hybrid", "bm25", "dense"):
            raise ValueError(f"mode: {mode!r} is not hybrid, bm25 or dense")
        if k < 1:
            raise ValueError("k: must be at least 1")
        checked = self._check_filters(filters)
        ranked = self._retrieve(text, checked, max(k, self._settings.candidates), mode)
        if mode == "hybrid":
            fused = fuse(ranked.dense, ranked.bm25, self._settings)
            chosen = [(f.case_id, f.score, f.ranks, f.scores) for f in fused[:k]]
        else:
            chosen = _single(ranked.dense if mode == "dense" else ranked.bm25, mode, k)
        return ranked, self._hits(chosen)

    def _retrieve(self, text: str, filters: Filters, depth: int, mode: Mode) -> Ranked:
        # Sequential on purpose: running the BM25 search on a thread while the query is
        # embedded measured no faster at 100k cases (benchmarks/retrieval.py, 2 cores).
        dense = self._encoder().encode([text])[0].tolist() if mode != "bm25" else None
        sparse = self._bm25.query(text) if mode != "dense" else None
        return self._engine.query(Probe(dense, sparse, filters, depth, self._settings.hnsw_ef))

    def _hits(
        self, chosen: Sequence[tuple[str, float, dict[str, int], dict[str, float]]]
    ) -> list[Hit]:
        payloads = self._engine.payloads([point_id(c[0]) for c in chosen]) if chosen else {}
        hits = []
        for case_id, score, ranks, scores in chosen:
            payload = payloads.get(point_id(case_id))
            if payload is not None:  # gone between the two calls (a concurrent retract)
                hits.append(_hit(case_id, score, ranks, scores, payload))
        return hits

    def _check_query(self, query: str) -> str:
        if not isinstance(query, str) or not query.strip():
            raise EmptyQuery("query: empty")
        try:
            query.encode("utf-8")
        except UnicodeEncodeError:
            raise InvalidQuery("query: not valid Unicode text (a lone surrogate)") from None
        if len(query) > self._settings.max_query_chars:
            raise QueryTooLong(
                f"query: {len(query)} characters, at most {self._settings.max_query_chars}"
            )
        return query.strip()

    def _check_filters(self, filters: Filters | None) -> dict[str, str | int | bool]:
        if filters is not None and not isinstance(filters, Mapping):
            raise InvalidFilter(
                "filters: must be a mapping of key to value, e.g. {'tenant': 'acme'}"
            )
        checked = dict(filters or {})
        for key, value in checked.items():
            if key not in self._filter_keys:
                raise InvalidFilter(
                    f"filters: unknown key {key!r} (declared: {', '.join(sorted(self._filter_keys))})"
                )
            if not isinstance(value, str | int | bool):
                raise InvalidFilter(f"filters.{key}: must be str, int or bool")
        if self._multi_tenant and not checked.get(TENANT):
            raise TenantRequired("filters.tenant: required in multi-tenant mode")
        return checked

    def as_retriever(
        self, *, k: int = 5, filters: Filters | None = None, mode: Mode = "hybrid"
    ) -> Any:
        """This index as a llama-index ``BaseRetriever`` (needs the ``llamaindex`` extra)."""
        try:
            from retrieval.llamaindex import CaseRetriever
        except ImportError as exc:
            raise ImportError(
                "as_retriever needs llama-index: pip install 'caseloop[llamaindex]'"
            ) from exc
        return CaseRetriever(self, k=k, filters=filters, mode=mode)

    def close(self) -> None:
        """Publish pending writes and release the engine."""
        self._engine.close()

    def __enter__(self) -> Index:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def _hit(
    case_id: str,
    score: float,
    ranks: Mapping[str, int],
    scores: Mapping[str, float],
    payload: Mapping[str, Any],
) -> Hit:
    return Hit(
        case_id=case_id,
        score=score,
        ranks=dict(ranks),
        summary=str(payload.get("summary", "")),
        tags=tuple(payload.get("tags") or ()),
        metadata=dict(payload.get("metadata") or {}),
        scores=dict(scores),
        text=str(payload.get("text", "")),
    )


def _single(
    candidates: Sequence[Candidate], name: str, k: int
) -> list[tuple[str, float, dict[str, int], dict[str, float]]]:
    # already best first, ties by case id (`Ranked`)
    return [
        (c.case_id, c.score, {name: i + 1}, {name: c.score}) for i, c in enumerate(candidates[:k])
    ]


def open_index(
    location: str | Path | None = None,
    *,
    settings: RetrievalSettings | None = None,
    create: bool = True,
) -> Index:
    """Open (or create, unless ``create=False``) the index at ``location``."""
    settings = settings or RetrievalSettings.load()
    where = str(location if location is not None else settings.location)
    initial = manifest_for(settings, requested(settings))
    engine = _engine(where, settings, create, initial)
    try:
        manifest = engine.manifest()
        if manifest is None or "schema_version" not in manifest:
            manifest = {**initial, **(manifest or {})}
            engine.save_manifest(manifest)
        check_manifest(manifest, where)
        encoder_choice(manifest, settings, where)  # a mismatched encoder is refused here
    except BaseException:
        engine.close()
        raise
    return Index(engine, settings, manifest)


def _engine(
    where: str, settings: RetrievalSettings, create: bool, initial: Mapping[str, Any]
) -> Engine:
    keys = sorted(settings.filter_keys)
    dimension = int(initial["dimension"])
    if (
        where.startswith(("http://", "https://"))
        or where == ":memory:"
        or where.startswith("local:")
    ):
        from qdrant_client import QdrantClient

        from retrieval.server import ServerEngine

        if where.startswith("http"):
            key = settings.api_key.get_secret_value() if settings.api_key else None
            # check_compatibility runs a version probe on a background thread that raises there
            # when the server is down; the manifest check below is the compatibility that matters.
            client = QdrantClient(
                url=where, api_key=key, timeout=int(settings.timeout), check_compatibility=False
            )
            return ServerEngine(
                client, settings.collection, filter_keys=keys, create=create, dimension=dimension
            )
        local = (
            QdrantClient(location=":memory:")
            if where == ":memory:"
            else QdrantClient(path=where[6:])
        )
        return ServerEngine(
            local,
            settings.collection,
            filter_keys=keys,
            create=create,
            local=True,
            dimension=dimension,
        )
    from retrieval.generations import GenerationEngine

    return GenerationEngine(
        Path(where),
        initial_manifest=initial,
        filter_keys=keys,
        create=create,
        reload_interval=settings.reload_interval,
        publish_interval=settings.publish_interval,
        keep_generations=settings.keep_generations,
        search_threads=settings.search_threads,
        dimension=dimension,
    )
