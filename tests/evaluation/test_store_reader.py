"""evaluation's view of the store holds to `ingestion.schema` and reads alike on both backends."""

from __future__ import annotations

import datetime as dt

import pytest
from sqlalchemy import JSON, Integer, String, select
from sqlalchemy.types import TypeEngine

from evaluation import store_reader
from evaluation.errors import ConversionError
from evaluation.store_reader import ESCALATIONS, METADATA, UTCTime
from ingestion.schema import Base, Escalation, UTCDateTime
from ingestion.store import Store

T0 = dt.datetime(2026, 3, 1, 9, 30, tzinfo=dt.UTC)


def _kind(kind: TypeEngine[object]) -> str:
    """What a column holds, as far as a reader cares: time, JSON, integer or text."""
    for name, types in (
        ("time", (UTCTime, UTCDateTime)),
        ("json", (JSON,)),
        ("integer", (Integer,)),
        ("text", (String,)),
    ):
        if isinstance(kind, types):
            return name
    raise AssertionError(f"no kind for {kind!r}")


@pytest.mark.parametrize("table", METADATA.sorted_tables, ids=lambda t: t.name)
def test_every_table_and_column_is_the_stores(table) -> None:
    assert table.name in Base.metadata.tables, f"the store has no table {table.name}"
    store_columns = Base.metadata.tables[table.name].columns
    for column in table.columns:
        assert column.name in store_columns, f"{table.name} has no column {column.name}"
        assert _kind(column.type) == _kind(store_columns[column.name].type), column.name


def test_rows_come_back_parsed_and_in_utc(store: Store) -> None:
    with store.transaction() as s:
        s.add(
            Escalation(
                id="e1", session_id="s1", escalation_event_id="1", tenant="acme", reason="no_evidence",
                intent=None, payload={"transcript": [{"role": "customer", "text": "hi"}]},
                payload_hash="h", kind="create", state="pending", ticket_id=None, last_error=None,
                created_at=T0, delivered_at=None,
            )
        )  # fmt: skip
    url = store.engine.url.render_as_string(hide_password=False)
    (row,) = store_reader.read(url, {"escalations": select(ESCALATIONS)})["escalations"]
    assert row["payload"] == {"transcript": [{"role": "customer", "text": "hi"}]}
    assert row["created_at"] == T0
    assert row["created_at"].tzinfo is not None
    assert row["ticket_id"] is None


def test_an_unreadable_store_is_one_readable_error(tmp_path) -> None:
    with pytest.raises(ConversionError, match="cannot read the store"):
        store_reader.read(f"sqlite:///{tmp_path / 'empty.db'}", {"e": select(ESCALATIONS)})
