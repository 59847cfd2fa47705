"""The operational store's tables (SQLAlchemy 2 declarative mapping).

One table per record kind; every table that later issues need is declared here so that one
Alembic history describes the whole store. Times are stored as UTC (see `UTCDateTime`):
SQLite has no time zones, so the column type normalises on the way in and re-attaches UTC on
the way out; PostgreSQL stores ``timestamptz``.

Tables
    escalations          one row per (session_id, escalation_event_id); its delivery state
    outbox               work for the relay (create a ticket, add a bot note), claimed with leases
                         (outbox, webhook_deliveries and outgoing_messages are the work queues of
                         `ingestion.queue`: state, attempts, due time, lease)
    tickets              mirror of tickets in the ticketing system, keyed by (source, external id)
    ticket_events        every status transition, whatever caused it
    ticket_comments      mirrored comments, unique per (ticket, external comment id)
    outgoing_messages    customer-visible agent replies on their way back to the session
    webhook_deliveries   the durable inbox: raw deliveries, unique per (source, delivery id)
    webhook_rejections   counters of rejected deliveries by (source, reason)
    sync_cursors         polling cursor per source: (updated_at, ticket id)
    case_summaries       CASE_SUMMARY documents, versioned per case
    tag_vocabulary       tags in use and their canonical form
    flow_runs            runs of batch jobs (learning, sync, reports) and their reports
    session_outcomes     what the orchestrator reports about each session's end
    api_keys             callers' API keys: a hash and a public prefix only, tenant, scopes, times

Tenancy: escalations, tickets, outgoing messages and session outcomes carry their tenant, and a
session id is unique only within its tenant (``default`` in single-tenant mode).
"""

from __future__ import annotations

import datetime as dt
from typing import Any

from sqlalchemy import (
    JSON,
    BigInteger,
    DateTime,
    ForeignKey,
    Index,
    Integer,
    LargeBinary,
    MetaData,
    String,
    Text,
    TypeDecorator,
    UniqueConstraint,
)
from sqlalchemy.engine import Dialect
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column

NAMING_CONVENTION = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}

# BigInteger autoincrement on PostgreSQL, INTEGER PRIMARY KEY (rowid) on SQLite.
BigId = BigInteger().with_variant(Integer(), "sqlite")


class UTCDateTime(TypeDecorator[dt.datetime]):
    """A timezone-aware datetime stored as UTC on every backend; naive values are refused."""

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: dt.datetime | None, dialect: Dialect) -> dt.datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError(f"naive datetime {value!r}: caseloop stores only zone-aware times")
        value = value.astimezone(dt.UTC)
        return value.replace(tzinfo=None) if dialect.name == "sqlite" else value

    def process_result_value(
        self, value: dt.datetime | None, dialect: Dialect
    ) -> dt.datetime | None:
        if value is None:
            return None
        return value.replace(tzinfo=dt.UTC) if value.tzinfo is None else value.astimezone(dt.UTC)


class Base(DeclarativeBase):
    metadata = MetaData(naming_convention=NAMING_CONVENTION)
    # SQLAlchemy reads this class attribute by name; it is never mutated.
    type_annotation_map = {dt.datetime: UTCDateTime(), dict[str, Any]: JSON(), list[Any]: JSON()}  # noqa: RUF012


class Escalation(Base):
    __tablename__ = "escalations"
    __table_args__ = (UniqueConstraint("tenant", "session_id", "escalation_event_id"),)

    id: Mapped[str] = mapped_column(String(36), primary_key=True)  # UUIDv5 idempotency key
    session_id: Mapped[str] = mapped_column(String(200), index=True)
    escalation_event_id: Mapped[str] = mapped_column(String(200))
    tenant: Mapped[str] = mapped_column(String(100))
    reason: Mapped[str] = mapped_column(String(40))
    intent: Mapped[str | None] = mapped_column(String(200))
    payload: Mapped[dict[str, Any]]
    payload_hash: Mapped[str] = mapped_column(String(64))
    kind: Mapped[str] = mapped_column(String(20))  # "create" | "update" (note on an open ticket)
    state: Mapped[str] = mapped_column(String(20), default="pending")  # pending | delivered | dead
    ticket_id: Mapped[int | None] = mapped_column(ForeignKey("tickets.id"))
    last_error: Mapped[str | None] = mapped_column(Text)
    created_at: Mapped[dt.datetime]
    delivered_at: Mapped[dt.datetime | None]


class OutboxRow(Base):
    __tablename__ = "outbox"
    __table_args__ = (Index("ix_outbox_claim", "state", "next_attempt_at"),)

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    topic: Mapped[str] = mapped_column(String(40))  # ticket.create | ticket.note | message.push
    aggregate_id: Mapped[str] = mapped_column(String(200), index=True)  # ordering key (session id)
    idempotency_key: Mapped[str] = mapped_column(String(64), unique=True)
    payload: Mapped[dict[str, Any]]
    state: Mapped[str] = mapped_column(String(20), default="pending")  # pending | done | dead
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    next_attempt_at: Mapped[dt.datetime]
    lease_owner: Mapped[str | None] = mapped_column(String(100))
    lease_expires_at: Mapped[dt.datetime | None]
    last_error: Mapped[str | None] = mapped_column(Text)
    created_at: Mapped[dt.datetime]
    finished_at: Mapped[dt.datetime | None]


class Ticket(Base):
    __tablename__ = "tickets"
    __table_args__ = (UniqueConstraint("source", "external_id"),)

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    source: Mapped[str] = mapped_column(String(50))
    external_id: Mapped[str] = mapped_column(String(100))
    session_id: Mapped[str] = mapped_column(String(200), index=True)
    tenant: Mapped[str] = mapped_column(String(100))
    url: Mapped[str | None] = mapped_column(String(500))
    title: Mapped[str | None] = mapped_column(String(500))
    status: Mapped[str] = mapped_column(
        String(20)
    )  # open|escalated|resolved|reopened|closed|deleted
    raw_status: Mapped[str | None] = mapped_column(String(50))
    customer_name: Mapped[str | None] = mapped_column(String(200))
    customer_email: Mapped[str | None] = mapped_column(String(320))
    remote_updated_at: Mapped[dt.datetime | None]  # the system's own latest change we have seen
    created_at: Mapped[dt.datetime]
    synced_at: Mapped[dt.datetime | None]
    # caseloop: opened for an escalation; ticketing: adopted by learning (no conversation, so
    # its agents' replies are never forwarded to anyone).
    origin: Mapped[str] = mapped_column(String(20), default="caseloop", server_default="caseloop")
    purged_at: Mapped[
        dt.datetime | None
    ]  # raw text replaced by its redaction (ingestion.cases.retention)


class TicketEvent(Base):
    __tablename__ = "ticket_events"

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    ticket_id: Mapped[int] = mapped_column(ForeignKey("tickets.id"), index=True)
    from_status: Mapped[str | None] = mapped_column(String(20))
    to_status: Mapped[str] = mapped_column(String(20))
    cause: Mapped[str] = mapped_column(String(40))  # relay | webhook | poll | replay | ...
    occurred_at: Mapped[dt.datetime | None]
    recorded_at: Mapped[dt.datetime]


class TicketComment(Base):
    __tablename__ = "ticket_comments"
    __table_args__ = (UniqueConstraint("ticket_id", "external_id"),)

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    ticket_id: Mapped[int] = mapped_column(ForeignKey("tickets.id"), index=True)
    external_id: Mapped[str] = mapped_column(String(100))
    author: Mapped[str | None] = mapped_column(String(200))
    author_role: Mapped[str] = mapped_column(String(20))  # agent | customer | bot | unknown
    visibility: Mapped[str] = mapped_column(String(20))  # public | internal (unknown → internal)
    body: Mapped[str] = mapped_column(Text)
    created_at: Mapped[dt.datetime | None]
    mirrored_at: Mapped[dt.datetime]


class OutgoingMessage(Base):
    __tablename__ = "outgoing_messages"
    __table_args__ = (UniqueConstraint("tenant", "session_id", "seq"),)

    id: Mapped[str] = mapped_column(String(36), primary_key=True)  # UUIDv5(ticket, comment): stable
    tenant: Mapped[str] = mapped_column(String(100), default="default")
    session_id: Mapped[str] = mapped_column(String(200), index=True)
    seq: Mapped[int] = mapped_column(Integer)  # per-session order
    comment_id: Mapped[int] = mapped_column(ForeignKey("ticket_comments.id"), unique=True)
    body: Mapped[str] = mapped_column(Text)
    author: Mapped[str | None] = mapped_column(String(200))
    created_at: Mapped[dt.datetime]
    push_state: Mapped[str] = mapped_column(
        String(20), default="pending"
    )  # pending|delivered|dead|off
    push_attempts: Mapped[int] = mapped_column(Integer, default=0)
    next_push_at: Mapped[dt.datetime | None]
    lease_owner: Mapped[str | None] = mapped_column(String(100))
    lease_expires_at: Mapped[dt.datetime | None]
    last_error: Mapped[str | None] = mapped_column(Text)


class WebhookDelivery(Base):
    __tablename__ = "webhook_deliveries"
    __table_args__ = (
        UniqueConstraint("source", "delivery_id"),
        Index("ix_webhook_deliveries_state", "state", "received_at"),
        Index("ix_webhook_deliveries_claim", "state", "next_attempt_at"),
    )

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    source: Mapped[str] = mapped_column(String(50))
    delivery_id: Mapped[str] = mapped_column(String(200))
    # The ticket the delivery announces (parsed before the ack); the sync worker re-reads it.
    ticket_external_id: Mapped[str | None] = mapped_column(String(100))
    headers: Mapped[dict[str, Any]]
    body: Mapped[bytes] = mapped_column(LargeBinary)
    state: Mapped[str] = mapped_column(String(20), default="pending")  # pending|processed|failed
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    next_attempt_at: Mapped[dt.datetime]
    lease_owner: Mapped[str | None] = mapped_column(String(100))
    lease_expires_at: Mapped[dt.datetime | None]
    last_error: Mapped[str | None] = mapped_column(Text)
    received_at: Mapped[dt.datetime]
    processed_at: Mapped[dt.datetime | None]


class WebhookRejection(Base):
    __tablename__ = "webhook_rejections"

    source: Mapped[str] = mapped_column(String(50), primary_key=True)
    reason: Mapped[str] = mapped_column(String(40), primary_key=True)
    count: Mapped[int] = mapped_column(BigInteger, default=0)
    last_at: Mapped[dt.datetime]


class SyncCursor(Base):
    __tablename__ = "sync_cursors"

    source: Mapped[str] = mapped_column(String(50), primary_key=True)
    updated_at: Mapped[dt.datetime]
    ticket_id: Mapped[str] = mapped_column(String(100))
    advanced_at: Mapped[dt.datetime]
    polled_at: Mapped[dt.datetime | None]  # start of the last completed poll


class CaseSummary(Base):
    __tablename__ = "case_summaries"
    __table_args__ = (UniqueConstraint("case_id", "version"),)

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    case_id: Mapped[str] = mapped_column(String(120), index=True)
    ticket_id: Mapped[int] = mapped_column(ForeignKey("tickets.id"), index=True)
    version: Mapped[int] = mapped_column(Integer)
    content_hash: Mapped[str] = mapped_column(String(64))
    state: Mapped[str] = mapped_column(String(20))  # active | withdrawn
    problem: Mapped[str] = mapped_column(Text)
    resolution: Mapped[str] = mapped_column(Text)
    summary: Mapped[str] = mapped_column(Text)
    tags: Mapped[list[Any]]
    case_metadata: Mapped[dict[str, Any]] = mapped_column("metadata", JSON())
    indexed_hash: Mapped[str | None] = mapped_column(String(64))
    created_at: Mapped[dt.datetime]
    withdrawn_at: Mapped[dt.datetime | None]
    withdrawn_reason: Mapped[str | None] = mapped_column(String(40))


class TagVocabulary(Base):
    __tablename__ = "tag_vocabulary"

    tag: Mapped[str] = mapped_column(String(60), primary_key=True)
    canonical: Mapped[str] = mapped_column(String(60), index=True)
    uses: Mapped[int] = mapped_column(Integer, default=0)
    first_seen: Mapped[dt.datetime]


class FlowRun(Base):
    __tablename__ = "flow_runs"

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    flow: Mapped[str] = mapped_column(String(60), index=True)
    status: Mapped[str] = mapped_column(String(20))  # running | completed | failed
    started_at: Mapped[dt.datetime]
    finished_at: Mapped[dt.datetime | None]
    window_start: Mapped[dt.datetime | None]
    window_end: Mapped[dt.datetime | None]
    report: Mapped[dict[str, Any]]


class SessionOutcome(Base):
    __tablename__ = "session_outcomes"

    tenant: Mapped[str] = mapped_column(String(100), primary_key=True, default="default")
    session_id: Mapped[str] = mapped_column(String(200), primary_key=True)
    outcome: Mapped[str] = mapped_column(String(20))  # answered_by_bot | escalated | abandoned
    confirmation: Mapped[str] = mapped_column(String(20))  # confirmed | assumed
    served_case_ids: Mapped[list[Any]]
    reported_at: Mapped[dt.datetime]


class ApiKey(Base):
    """A caller's API key: never the key itself, only its public prefix and a SHA-256 hash."""

    __tablename__ = "api_keys"

    prefix: Mapped[str] = mapped_column(String(16), primary_key=True)  # public part of the key
    key_hash: Mapped[str] = mapped_column(String(64))
    tenant: Mapped[str] = mapped_column(String(100))  # a tenant, or "*" for an operator key
    scopes: Mapped[list[Any]]
    name: Mapped[str] = mapped_column(String(100), default="")
    created_at: Mapped[dt.datetime]
    last_used_at: Mapped[dt.datetime | None]
    revoked_at: Mapped[dt.datetime | None]
