"""The store migrates on both backends and keeps times in UTC."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import pytest
from sqlalchemy import select, text

from ingestion.errors import StoreError
from ingestion.schema import Ticket
from ingestion.store import Store, current_revision, open_store


def test_migrated_to_head(store: Store) -> None:
    assert current_revision(store.engine) == "0001"


def test_times_round_trip_as_utc(store: Store) -> None:
    local = dt.datetime(2026, 3, 2, 12, 0, tzinfo=dt.timezone(dt.timedelta(hours=2)))
    with store.transaction() as tx:
        tx.add(
            Ticket(
                source="s",
                external_id="1",
                session_id="c",
                tenant="t",
                status="open",
                created_at=local,
            )
        )
    with store.transaction() as tx:
        ticket = tx.scalars(select(Ticket)).one()
    assert ticket.created_at == local
    assert ticket.created_at.utcoffset() == dt.timedelta(0)
    assert ticket.created_at.hour == 10


def test_naive_times_are_refused(store: Store) -> None:
    ticket = Ticket(
        source="s",
        external_id="1",
        session_id="c",
        tenant="t",
        status="open",
        created_at=dt.datetime(2026, 1, 1),
    )
    with store.transaction() as tx:
        tx.add(ticket)
        with pytest.raises(Exception, match="naive datetime"):
            tx.flush()
        tx.rollback()


def test_sqlite_uses_wal(sqlite_store: Store) -> None:
    with sqlite_store.engine.connect() as conn:
        assert conn.exec_driver_sql("PRAGMA journal_mode").scalar() == "wal"


def test_unsupported_url_is_a_clear_error() -> None:
    with pytest.raises(StoreError, match="unsupported database 'mysql'"):
        open_store("mysql://localhost/x")


def test_the_store_is_a_context_manager(tmp_path: Path) -> None:
    with open_store(f"sqlite:///{tmp_path / 'cm.db'}") as store:
        with store.transaction() as tx:
            tx.execute(text("select 1"))
        assert store.engine.pool.checkedin() == 1  # type: ignore[attr-defined]
    assert store.engine.pool.checkedin() == 0  # type: ignore[attr-defined]  # disposed
