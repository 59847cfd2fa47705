"""The operational store as evaluation reads it: each table and column it uses, named once.

evaluation does not import ingestion (an import-linter contract keeps the layers apart), so the
store's names are written here, as SQLAlchemy Core tables listing only the columns evaluation
reads. ``tests/evaluation/test_store_reader.py`` checks every table, column and kind of type
against ``ingestion.schema``, so a renamed column fails a test rather than a report.

Rows come back alike from SQLite and PostgreSQL: JSON columns parsed, times zone-aware UTC.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping
from typing import Any

from sqlalchemy import (
    JSON,
    Column,
    DateTime,
    Integer,
    MetaData,
    Select,
    String,
    Table,
    Text,
    TypeDecorator,
    create_engine,
)
from sqlalchemy.engine import Dialect
from sqlalchemy.exc import SQLAlchemyError

from evaluation.errors import ConversionError

Row = dict[str, Any]


class UTCTime(TypeDecorator[dt.datetime]):
    """A stored time read back as UTC (SQLite keeps the store's UTC times without a zone)."""

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_result_value(
        self, value: dt.datetime | None, dialect: Dialect
    ) -> dt.datetime | None:
        if value is None:
            return None
        return value.replace(tzinfo=dt.UTC) if value.tzinfo is None else value.astimezone(dt.UTC)


METADATA = MetaData()

ESCALATIONS = Table(
    "escalations",
    METADATA,
    Column("id", String),
    Column("session_id", String),
    Column("tenant", String),
    Column("reason", String),
    Column("kind", String),
    Column("payload", JSON),
    Column("ticket_id", Integer),
    Column("created_at", UTCTime),
)
TICKETS = Table(
    "tickets",
    METADATA,
    Column("id", Integer),
    Column("session_id", String),
    Column("tenant", String),
    Column("status", String),
    Column("created_at", UTCTime),
    Column("origin", String),
)
TICKET_EVENTS = Table(
    "ticket_events",
    METADATA,
    Column("ticket_id", Integer),
    Column("from_status", String),
    Column("to_status", String),
    Column("occurred_at", UTCTime),
    Column("recorded_at", UTCTime),
)
TICKET_COMMENTS = Table(
    "ticket_comments",
    METADATA,
    Column("ticket_id", Integer),
    Column("author_role", String),
    Column("visibility", String),
    Column("created_at", UTCTime),
    Column("mirrored_at", UTCTime),
)
SESSION_OUTCOMES = Table(
    "session_outcomes",
    METADATA,
    Column("session_id", String),
    Column("outcome", String),
    Column("confirmation", String),
    Column("tenant", String),
    Column("served_case_ids", JSON),
    Column("reported_at", UTCTime),
)
FLOW_RUNS = Table(
    "flow_runs",
    METADATA,
    Column("flow", String),
    Column("status", String),
    Column("started_at", UTCTime),
    Column("finished_at", UTCTime),
)
CASE_SUMMARIES = Table(
    "case_summaries",
    METADATA,
    Column("case_id", String),
    Column("ticket_id", Integer),
    Column("version", Integer),
    Column("state", String),
    Column("problem", Text),
    Column("resolution", Text),
    Column("tags", JSON),
    Column("metadata", JSON),
    Column("created_at", UTCTime),
)


def read(url: str, queries: Mapping[str, Select[Any]]) -> dict[str, list[Row]]:
    """Each query's rows from the store at ``url``, over one connection, as column → value dicts.

    Raises :class:`~evaluation.errors.ConversionError` when the store cannot be read (missing
    tables, wrong URL, database down).
    """
    engine = create_engine(url)
    try:
        with engine.connect() as conn:
            return {
                name: [dict(row._mapping) for row in conn.execute(query)]
                for name, query in queries.items()
            }
    except SQLAlchemyError as exc:
        raise ConversionError(f"cannot read the store: {exc}") from exc
    finally:
        engine.dispose()
