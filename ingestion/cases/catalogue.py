"""The store side of learning: versioned CASE_SUMMARY rows, the tag vocabulary, and detection.

A case (one ticket) has versions 1, 2, …; at most one is ``active``. A new version withdraws
the previous one (reason ``superseded``); a reopened, deleted or duplicate ticket withdraws its
active version (reason ``reopened``, ``deleted``, ``duplicate``, …). ``indexed_hash`` records
what the retrieval index holds, so an interrupted run repairs itself on the next one.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from sqlalchemy import exists, func, or_, select
from sqlalchemy.orm import Session

from ingestion.cases.document import CaseDocumentDraft
from ingestion.cases.tags import Vocabulary, tag_key
from ingestion.schema import CaseSummary, TagVocabulary, Ticket, TicketComment, TicketEvent
from ingestion.status import RESOLVED_STATUSES

#: Ticket statuses that withdraw a case immediately.


def active_summary(session: Session, case_id: str) -> CaseSummary | None:
    """The case's active version, if any."""
    return active_summaries(session, [case_id]).get(case_id)


def active_summaries(session: Session, case_ids: Iterable[str]) -> dict[str, CaseSummary]:
    """The active version of each case that has one, by case id (one query)."""
    query = select(CaseSummary).where(
        CaseSummary.case_id.in_(list(case_ids)), CaseSummary.state == "active"
    )
    return {row.case_id: row for row in session.scalars(query)}


def latest_version(session: Session, case_id: str) -> int:
    """The highest version number of the case (0 when it has none)."""
    return latest_versions(session, [case_id]).get(case_id, 0)


def latest_versions(session: Session, case_ids: Iterable[str]) -> dict[str, int]:
    """The highest version number of each case that has versions, by case id (one query)."""
    query = (
        select(CaseSummary.case_id, func.max(CaseSummary.version))
        .where(CaseSummary.case_id.in_(list(case_ids)))
        .group_by(CaseSummary.case_id)
    )
    return {case_id: int(version) for case_id, version in session.execute(query)}


@dataclass(frozen=True, slots=True)
class NewVersion:
    """What a new version of a case stores besides its draft."""

    draft: CaseDocumentDraft
    content_hash: str
    summary: str
    tags: tuple[str, ...]


def add_versions(
    session: Session, versions: Sequence[NewVersion], now: dt.datetime
) -> list[CaseSummary]:
    """Store a new active version of each case, in order (the previous active one becomes
    superseded): two queries and one flush for all of them."""
    case_ids = [v.draft.case_id for v in versions]
    active = active_summaries(session, case_ids)
    latest = latest_versions(session, case_ids)
    rows = []
    for v in versions:
        case_id = v.draft.case_id
        previous = active.get(case_id)
        if previous is not None:
            _withdrawn(previous, "superseded", now)
        row = CaseSummary(
            case_id=case_id,
            ticket_id=v.draft.ticket_id,
            version=latest.get(case_id, 0) + 1,
            content_hash=v.content_hash,
            state="active",
            problem=v.draft.problem,
            resolution=v.draft.resolution,
            summary=v.summary,
            tags=list(v.tags),
            case_metadata=v.draft.metadata,
            indexed_hash=None,
            created_at=now,
        )
        active[case_id], latest[case_id] = row, row.version  # a case twice in one call
        session.add(row)
        rows.append(row)
    session.flush()
    return rows


def withdraw(session: Session, case_id: str, reason: str, now: dt.datetime) -> bool:
    """Withdraw the case's active version; False when it had none."""
    row = active_summary(session, case_id)
    if row is None:
        return False
    _withdrawn(row, reason, now)
    session.flush()
    return True


def _withdrawn(row: CaseSummary, reason: str, now: dt.datetime) -> None:
    row.state = "withdrawn"
    row.withdrawn_at = now
    row.withdrawn_reason = reason


def mark_indexed(session: Session, row_ids: Iterable[int]) -> None:
    """Record that the index now holds these versions' content."""
    for row in session.scalars(select(CaseSummary).where(CaseSummary.id.in_(list(row_ids)))):
        row.indexed_hash = row.content_hash


def candidate_tickets(
    session: Session, since: dt.datetime | None, *, escalated_only: bool = False
) -> list[int]:
    """Tickets to look at: changed since ``since`` (everything when None), plus repairs.

    Repairs are resolved tickets with a customer-visible agent comment and no active summary,
    active summaries whose ticket is no longer resolved, and versions the index does not hold.
    ``escalated_only`` leaves out adopted tickets that have no active summary (one that has is
    still a candidate, so that it can be retracted).
    """
    ids: set[int] = set()
    if since is None:
        ids.update(session.scalars(select(Ticket.id).where(Ticket.status.in_(RESOLVED_STATUSES))))
    else:
        ids.update(
            session.scalars(select(TicketEvent.ticket_id).where(TicketEvent.recorded_at >= since))
        )
        ids.update(session.scalars(select(Ticket.id).where(Ticket.synced_at >= since)))
        ids.update(
            session.scalars(
                select(TicketComment.ticket_id).where(TicketComment.mirrored_at >= since)
            )
        )
    answered = exists().where(
        TicketComment.ticket_id == Ticket.id,
        TicketComment.visibility == "public",
        TicketComment.author_role == "agent",
    )
    has_active = exists().where(CaseSummary.ticket_id == Ticket.id, CaseSummary.state == "active")
    ids.update(
        session.scalars(
            select(Ticket.id).where(Ticket.status.in_(RESOLVED_STATUSES), answered, ~has_active)
        )
    )
    stale = select(CaseSummary.ticket_id).join(Ticket, Ticket.id == CaseSummary.ticket_id)
    stale = stale.where(
        CaseSummary.state == "active",
        or_(
            ~Ticket.status.in_(RESOLVED_STATUSES),
            CaseSummary.indexed_hash.is_(None),
            CaseSummary.indexed_hash != CaseSummary.content_hash,
        ),
    )
    ids.update(session.scalars(stale))
    if escalated_only and ids:
        adopted = select(Ticket.id).where(
            Ticket.id.in_(ids), Ticket.origin != "caseloop", ~has_active
        )
        ids.difference_update(session.scalars(adopted))
    return sorted(ids)


def load_vocabulary(session: Session) -> Vocabulary:
    """The tags in use, keyed for normalisation."""
    vocabulary = Vocabulary()
    for row in session.scalars(select(TagVocabulary).order_by(TagVocabulary.tag)):
        vocabulary.canonical_by_key.setdefault(tag_key(row.tag), row.canonical)
    return vocabulary


def save_vocabulary(
    session: Session, vocabulary: Vocabulary, used: Iterable[str], now: dt.datetime
) -> None:
    """Persist new tags and aliases, and count each use of a tag."""
    rows = {row.tag: row for row in session.scalars(select(TagVocabulary))}
    for alias, canonical in vocabulary.aliases.items():
        if alias not in rows:
            rows[alias] = TagVocabulary(tag=alias, canonical=canonical, uses=0, first_seen=now)
            session.add(rows[alias])
    for tag in used:
        row = rows.get(tag)
        if row is None:
            row = rows[tag] = TagVocabulary(tag=tag, canonical=tag, uses=0, first_seen=now)
            session.add(row)
        row.uses = (row.uses or 0) + 1
    session.flush()


def vocabulary_size(session: Session) -> int:
    """Distinct canonical tags in the store."""
    return int(session.scalar(select(func.count(func.distinct(TagVocabulary.canonical)))) or 0)
