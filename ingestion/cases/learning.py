"""`learn`: resolved tickets in the store → CASE_SUMMARY rows → the retrieval index, reversibly.

Per batch of candidate tickets: plan (read the store, build and redact each case, compare its
content hash with the active version), summarise and tag what changed, store the new versions
in one transaction, then write the index (one upsert, one retraction) and record what it holds.
Nothing unchanged is summarised, stored or written to the index again, so a re-run with nothing
new makes no writes at all. One case's failure is reported and never stops the others.

A batch's index texts are embedded on a second thread while the next batch is planned (the
encoder releases the GIL); everything else happens on the calling thread, batch after batch.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Mapping, Sequence
from concurrent.futures import Executor, Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Protocol

from sqlalchemy import select
from sqlalchemy.orm import Session

from ingestion.cases import catalogue
from ingestion.cases.document import (
    CaseDocumentDraft,
    CaseSource,
    case_id_of,
    draft_of,
    drafts_of,
    index_text,
    read_sources,
)
from ingestion.cases.errors import IndexWriteFailed
from ingestion.cases.redact import Redactor, build_redactor
from ingestion.cases.report import CaseOutcome, LearningReport
from ingestion.cases.summariser import Summariser, build_summariser
from ingestion.cases.tags import Encoder, Tagger, Vector, Vocabulary
from ingestion.cases.ticketing import CaseTicketing
from ingestion.clock import utcnow
from ingestion.schema import CaseSummary, Ticket
from ingestion.settings import IngestionSettings
from ingestion.status import RESOLVED_STATUSES, WITHDRAWING
from ingestion.store import Store

if TYPE_CHECKING:
    from retrieval import CaseDocument

Clock = Callable[[], dt.datetime]
Progress = Callable[[int, int], None]


class CaseIndex(Protocol):
    """The retrieval writer as learning uses it (`retrieval.Index` satisfies it)."""

    def upsert(self, docs: Sequence[Any], vectors: Any = None) -> Any:
        """Insert or replace documents by case id (``vectors``: from its ``embedder``, if it has
        one: the dense vectors already computed for the documents' texts)."""
        ...

    def retract(self, case_ids: Sequence[str]) -> Any:
        """Remove documents by case id."""
        ...


@dataclass(frozen=True, slots=True)
class _Work:
    draft: CaseDocumentDraft
    content_hash: str
    replaces: bool  # an earlier version exists (active or withdrawn)


@dataclass(slots=True)
class _Plan:
    work: list[_Work] = field(default_factory=list)
    reindex: list[int] = field(default_factory=list)  # case_summaries ids
    retract: list[CaseOutcome] = field(default_factory=list)


def learn(
    store: Store,
    ticketing: CaseTicketing | None,
    index: CaseIndex,
    settings: IngestionSettings,
    *,
    since: dt.datetime | None = None,
    summariser: Summariser | None = None,
    encoder: Encoder | None = None,
    clock: Clock = utcnow,
    progress: Progress | None = None,
) -> LearningReport:
    """Learn from tickets changed since ``since`` (all when None) plus every pending repair.

    With ``ticketing``, what changed in the ticketing system since ``since`` is pulled first
    (through the update applier) and, with ``settings.learning_write_note``, the "Resolution
    summary" notes are written back. ``encoder`` defaults to the index's MiniLM encoder.
    """
    summariser = summariser or build_summariser(settings)
    redactor = build_redactor(settings)
    encoder = encoder or default_encoder(index)
    tagger = Tagger(
        encoder,
        max_tags=settings.learning_max_tags,
        screen=Redactor(regions=redactor.regions).detects,
    )
    report = LearningReport(window_start=since)
    live = ticketing.pull(since) if ticketing is not None else {}
    with store.transaction() as session:
        ticket_ids = catalogue.candidate_tickets(
            session, since, escalated_only=settings.learning_source == "escalated"
        )
        vocabulary = catalogue.load_vocabulary(session)
        report.vocabulary_before = catalogue.vocabulary_size(session)
    size = max(1, settings.learning_batch_size)
    # The encoder releases the GIL: a batch's index texts are embedded on a second thread while
    # the next batch is read, redacted and planned, and the one before is tagged and stored.
    # Everything else (store, index, named-entity model, vocabulary) stays on this thread.
    with ThreadPoolExecutor(max_workers=1, thread_name_prefix="learn-embed") as embedder:
        pending: _Planned | None = None
        for start in range(0, len(ticket_ids), size):
            batch = ticket_ids[start : start + size]
            plan = _plan(store, batch, live, redactor, summariser, report)
            done = start + len(batch)
            embed = _case_embedding(index, encoder)
            planned = _Planned.of(plan, summariser, embedder, embed, done, len(ticket_ids), report)
            if pending is not None:
                _finish(pending, store, index, tagger, vocabulary, clock(), report, progress)
            pending = planned
        if pending is not None:
            _finish(pending, store, index, tagger, vocabulary, clock(), report, progress)
    with store.transaction() as session:
        report.vocabulary_after = catalogue.vocabulary_size(session)
    report.new_tags = list(vocabulary.added)
    if settings.learning_write_note and ticketing is not None:
        learned = [o.case_id for o in [*report.created, *report.updated]]
        report.notes_written = ticketing.write_notes(learned)
    return report


def default_encoder(index: Any) -> Encoder:
    """The MiniLM encoder the index embeds with (`retrieval.Index.encoder`): tags and search
    share one model and one loaded instance."""
    encoder = getattr(index, "encoder", None)
    if encoder is None or not hasattr(encoder, "encode"):
        raise TypeError(
            f"encoder: {type(index).__name__} exposes no .encoder; pass encoder= to learn()"
        )
    return encoder  # type: ignore[no-any-return]


Embed = Callable[[Sequence[str]], tuple[Vector, Any]]
"""Cases' index texts → their vectors, and what the index's ``upsert`` takes as ``vectors``."""


def _case_embedding(index: Any, encoder: Encoder) -> Embed:
    """How learning embeds a batch's index texts, once: tags are ranked against those vectors.

    When the tagger uses the index's own encoder, by the index's ``embedder`` (bound now, to
    the encoder the index embeds with), and the index stores the same vectors
    (``upsert(..., vectors=…)``); with another encoder, by that encoder (the index then embeds
    the text itself). The function returned touches no index: it runs on the embedding thread.
    """
    embedder = getattr(index, "embedder", None)
    if callable(embedder) and getattr(index, "encoder", None) is encoder:
        bound = embedder()

        def shared(texts: Sequence[str]) -> tuple[Vector, Any]:
            vectors = bound(texts)
            return vectors.matrix, vectors

        return shared
    return lambda texts: (encoder.encode(texts), None)


@dataclass(frozen=True, slots=True)
class _Active:
    """The active version of a case, as planning needs it."""

    row_id: int  # case_summaries id
    version: int
    content_hash: str
    indexed_hash: str | None  # what the index holds (None: not indexed yet)

    @classmethod
    def of(cls, row: CaseSummary | None) -> _Active | None:
        if row is None:
            return None
        return cls(row.id, row.version, row.content_hash, row.indexed_hash)


@dataclass(frozen=True, slots=True)
class _Seen:
    """One candidate as read from the store: its source rows and its case versions."""

    case_id: str
    ticket_id: int
    status: str
    source: CaseSource | None  # None: not resolved, nothing to build
    active: _Active | None
    has_versions: bool


def _plan(
    store: Store,
    ticket_ids: Sequence[int],
    live: Mapping[int, str],
    redactor: Redactor,
    summariser: Summariser,
    report: LearningReport,
) -> _Plan:
    plan = _Plan()
    for seen, draft in _build(_read(store, ticket_ids, live, report), redactor, report):
        try:
            _plan_case(seen, draft, summariser, plan, report)
        except Exception as exc:  # one bad ticket must not stop the night's run
            report.failed.append(CaseOutcome(seen.case_id, seen.ticket_id, f"build: {exc}"))
    return plan


def _build(
    seen: Sequence[_Seen], redactor: Redactor, report: LearningReport
) -> list[tuple[_Seen, CaseDocumentDraft | None]]:
    """Each candidate with its redacted case (None: not resolved, or nothing to learn).

    The batch is built and redacted together (its texts go through the named-entity model in
    one pass); should that fail, one case at a time, so only the failing case is reported.
    """
    try:
        drafts = iter(drafts_of([s.source for s in seen if s.source is not None], redactor))
        return [(s, next(drafts) if s.source is not None else None) for s in seen]
    except Exception:  # retried case by case below, where the failing case is reported
        built: list[tuple[_Seen, CaseDocumentDraft | None]] = []
    for s in seen:
        try:
            built.append((s, draft_of(s.source, redactor) if s.source is not None else None))
        except Exception as exc:  # one bad ticket must not stop the night's run
            report.failed.append(CaseOutcome(s.case_id, s.ticket_id, f"build: {exc}"))
    return built


def _read(
    store: Store, ticket_ids: Sequence[int], live: Mapping[int, str], report: LearningReport
) -> list[_Seen]:
    """One short transaction and a handful of queries per batch; redaction and hashing happen
    after it (SQLite's write lock is not held while CPU-heavy work runs). Should the batch
    fail to read, one ticket at a time, so only the unreadable one is reported."""
    try:
        with store.transaction() as session:
            return _seen(session, ticket_ids, live)
    except Exception:  # retried ticket by ticket below, where the failing one is reported
        seen: list[_Seen] = []
    for ticket_id in ticket_ids:
        try:
            with store.transaction() as session:
                seen.extend(_seen(session, [ticket_id], live))
        except Exception as exc:  # an unreadable ticket is reported, the batch goes on
            report.failed.append(CaseOutcome(f"ticket {ticket_id}", ticket_id, f"read: {exc}"))
    return seen


def _seen(session: Session, ticket_ids: Sequence[int], live: Mapping[int, str]) -> list[_Seen]:
    query = select(Ticket).where(Ticket.id.in_(list(ticket_ids)))
    by_id = {ticket.id: ticket for ticket in session.scalars(query)}
    tickets = [by_id[i] for i in ticket_ids if i in by_id]
    status = {t.id: _effective_status(t, live.get(t.id)) for t in tickets}
    sources = read_sources(session, [t for t in tickets if status[t.id] in RESOLVED_STATUSES])
    case_ids = [case_id_of(t) for t in tickets]
    active = catalogue.active_summaries(session, case_ids)
    latest = catalogue.latest_versions(session, case_ids)
    return [
        _Seen(
            case_id=case_id,
            ticket_id=ticket.id,
            status=status[ticket.id],
            source=sources.get(ticket.id),
            active=_Active.of(active.get(case_id)),
            has_versions=latest.get(case_id, 0) > 0,
        )
        for ticket, case_id in zip(tickets, case_ids, strict=True)
    ]


def _plan_case(
    seen: _Seen,
    draft: CaseDocumentDraft | None,
    summariser: Summariser,
    plan: _Plan,
    report: LearningReport,
) -> None:
    case_id, ticket_id, active = seen.case_id, seen.ticket_id, seen.active
    if draft is None:
        reason = (
            f"not resolved ({seen.status})"
            if seen.source is None
            else "no customer-visible agent comment"
        )
        if active is not None:
            retract_reason = seen.status if seen.source is None else reason
            plan.retract.append(CaseOutcome(case_id, ticket_id, retract_reason, active.version))
        else:
            report.skipped.append(CaseOutcome(case_id, ticket_id, reason))
        return
    content_hash = draft.content_hash(summariser.name)
    if active is not None and active.content_hash == content_hash:
        if active.indexed_hash != content_hash:
            plan.reindex.append(active.row_id)
        else:
            report.skipped.append(CaseOutcome(case_id, ticket_id, "unchanged", active.version))
        return
    plan.work.append(_Work(draft, content_hash, seen.has_versions))


def _effective_status(ticket: Ticket, live: str | None) -> str:
    """The mirror status, unless the ticketing system says deleted or duplicate."""
    for status in (live, (ticket.raw_status or "").strip().lower()):
        if status in WITHDRAWING:
            return status
    return ticket.status


@dataclass(frozen=True, slots=True)
class _Planned:
    """A planned batch, summarised, its index texts being embedded on the embedding thread."""

    plan: _Plan
    ready: list[tuple[_Work, str]]  # the work that was summarised, with its summary
    vectors: Future[tuple[Vector, Any]] | None  # None: nothing to embed
    done: int  # candidates looked at once this batch is finished
    total: int

    @classmethod
    def of(
        cls,
        plan: _Plan,
        summariser: Summariser,
        embedder: Executor,
        embed: Embed,
        done: int,
        total: int,
        report: LearningReport,
    ) -> _Planned:
        ready = _summarise(plan.work, summariser, report)
        texts = [w.draft.index_text for w, _ in ready]
        return cls(plan, ready, embedder.submit(embed, texts) if ready else None, done, total)


def _finish(
    planned: _Planned,
    store: Store,
    index: CaseIndex,
    tagger: Tagger,
    vocabulary: Vocabulary,
    now: dt.datetime,
    report: LearningReport,
    progress: Progress | None,
) -> None:
    """Tag, store and index a planned batch, then retract what it withdraws."""
    plan, ready = planned.plan, planned.ready
    # Tags are ranked against the case's index vector (embedded once, stored as computed).
    documents, vectors = planned.vectors.result() if planned.vectors else (None, None)
    tags = tagger.tag_many([f"{w.draft.problem}\n{s}" for w, s in ready], vocabulary, documents)
    with store.transaction() as session:
        rows = catalogue.add_versions(
            session,
            [
                catalogue.NewVersion(w.draft, w.content_hash, s, t)
                for (w, s), t in zip(ready, tags, strict=True)
            ],
            now,
        )
        catalogue.save_vocabulary(session, vocabulary, [tag for t in tags for tag in t], now)
        vocabulary.aliases.clear()
        rows += [session.get_one(CaseSummary, row_id) for row_id in plan.reindex]
        outcomes = [(_outcome(r, ready), r) for r in rows]
    _index(store, index, outcomes, vectors, report)
    _retract(store, index, plan.retract, now, report)
    if progress:
        progress(planned.done, planned.total)


def _summarise(
    work: Sequence[_Work], summariser: Summariser, report: LearningReport
) -> list[tuple[_Work, str]]:
    ready = []
    for item in work:
        try:
            ready.append((item, summariser.summarise(item.draft.problem, item.draft.resolution)))
        except Exception as exc:  # a summariser outage fails the case, the run goes on
            report.failed.append(
                CaseOutcome(item.draft.case_id, item.draft.ticket_id, f"summarise: {exc}")
            )
    return ready


def _outcome(row: CaseSummary, ready: Sequence[tuple[_Work, str]]) -> str:
    for work, _ in ready:
        if work.draft.case_id == row.case_id:
            return "updated" if work.replaces else "created"
    return "reindexed"


def to_document(row: CaseSummary) -> CaseDocument:
    """The retrieval document of a stored version."""
    from retrieval import CaseDocument

    metadata = {**row.case_metadata, "version": row.version}
    return CaseDocument(
        case_id=row.case_id,
        text=index_text(row.problem, row.case_metadata),
        summary=row.summary,
        tags=list(row.tags),
        metadata=metadata,
    )


def _index(
    store: Store,
    index: CaseIndex,
    outcomes: Sequence[tuple[str, CaseSummary]],
    vectors: Any,
    report: LearningReport,
) -> None:
    if not outcomes:
        return
    try:
        documents = [to_document(row) for _, row in outcomes]
        if vectors is None:
            index.upsert(documents)
        else:  # re-indexed rows (not in the vectors) are embedded by the index itself
            index.upsert(documents, vectors=vectors)
        report.index_writes += 1
    except Exception as exc:  # stored rows stay un-indexed and are repaired on the next run
        error = IndexWriteFailed(f"index upsert failed: {exc}")
        for _, row in outcomes:
            report.failed.append(CaseOutcome(row.case_id, row.ticket_id, str(error), row.version))
        return
    with store.transaction() as session:
        catalogue.mark_indexed(session, [row.id for _, row in outcomes])
    for kind, row in outcomes:
        getattr(report, kind).append(CaseOutcome(row.case_id, row.ticket_id, kind, row.version))


def _retract(
    store: Store,
    index: CaseIndex,
    retractions: Sequence[CaseOutcome],
    now: dt.datetime,
    report: LearningReport,
) -> None:
    if not retractions:
        return
    try:
        index.retract([o.case_id for o in retractions])
        report.index_writes += 1
    except Exception as exc:  # still active in the store: retried on the next run
        for o in retractions:
            report.failed.append(
                CaseOutcome(o.case_id, o.ticket_id, f"index retract failed: {exc}")
            )
        return
    with store.transaction() as session:
        for o in retractions:
            catalogue.withdraw(session, o.case_id, o.reason, now)
    report.retracted.extend(retractions)
