"""The store converter on SQLite and PostgreSQL: latest active case versions, leak-free labels."""

from __future__ import annotations

import datetime as dt

import pytest

from evaluation.converters.store import convert_store
from evaluation.errors import ConversionError
from ingestion.schema import CaseSummary, Escalation, Ticket
from ingestion.store import Store

T0 = dt.datetime(2026, 3, 1, 9, 0, tzinfo=dt.UTC)


def _escalation(i: int, ticket: int | None, at: dt.datetime, transcript: list[dict]) -> Escalation:
    return Escalation(
        id=f"e{i}", session_id=f"s{i}", escalation_event_id="1", tenant="acme", reason="no_evidence",
        intent=None, payload={"transcript": transcript, "context": {"summary": ""}}, payload_hash="h",
        kind="create", state="delivered", ticket_id=ticket, last_error=None, created_at=at,
        delivered_at=None,
    )  # fmt: skip


def _summary(
    case_id: str, ticket: int, version: int, state: str, tags: list[str], at: dt.datetime
) -> CaseSummary:
    return CaseSummary(
        case_id=case_id, ticket_id=ticket, version=version, content_hash=f"{case_id}{version}",
        state=state, problem=f"problem of {case_id} v{version}", resolution="fixed", summary="s",
        tags=tags, case_metadata={"tenant": "acme", "nested": {"x": 1}}, indexed_hash=None,
        created_at=at, withdrawn_at=None, withdrawn_reason=None,
    )  # fmt: skip


def _fill(store: Store) -> None:
    with store.transaction() as s:
        for i in (1, 2, 3):
            s.add(Ticket(id=i, source="helpdesk", external_id=str(i), session_id=f"s{i}", tenant="acme",
                         status="resolved", created_at=T0))  # fmt: skip
        s.flush()
        s.add_all(
            [
                _escalation(1, 1, T0, [{"role": "customer", "text": "card late"}, {"role": "bot", "text": "sorry"}]),
                _escalation(2, 2, T0 + dt.timedelta(days=2), [{"role": "customer", "text": "card still late"}]),
                _escalation(3, 3, T0 + dt.timedelta(days=3), [{"role": "bot", "text": "login broken?"}]),
                _summary("T-1", 1, 1, "active", ["card delivery"], T0 + dt.timedelta(days=1)),
                _summary("T-2", 2, 1, "active", ["card delivery"], T0 + dt.timedelta(days=3)),
                _summary("T-3", 3, 1, "active", ["login"], T0 + dt.timedelta(days=4)),
                _summary("T-3", 3, 2, "active", ["login"], T0 + dt.timedelta(days=5)),
            ]
        )  # fmt: skip


def test_store_becomes_cases_and_queries(store: Store) -> None:
    _fill(store)
    url = store.engine.url.render_as_string(hide_password=False)
    data = convert_store(url)
    cases = {c.case_id: c for c in data.cases}
    assert set(cases) == {"T-1", "T-2", "T-3"}
    assert cases["T-3"].problem == "problem of T-3 v2"
    assert cases["T-1"].metadata == {"tenant": "acme"}  # nested values are not filterable
    assert cases["T-1"].resolved_at == T0 + dt.timedelta(days=1)
    queries = {q.query_id: q for q in data.queries}
    assert queries["e1"].text == "card late"
    assert queries["e1"].relevant == frozenset({"T-1", "T-2"})  # shares the tag
    assert queries["e1"].filters == {"tenant": "acme"}
    assert queries["e3"].text == "login broken?"  # no customer words: the transcript
    assert convert_store(url, relevance="own").queries[0].relevant == frozenset({"T-1"})
    window = convert_store(url, since=T0 + dt.timedelta(days=1), until=T0 + dt.timedelta(days=3))
    assert [q.query_id for q in window.queries] == ["e2"]


def test_unreadable_store_is_a_conversion_error(tmp_path) -> None:
    with pytest.raises(ConversionError, match="cannot read the store"):
        convert_store(f"sqlite:///{tmp_path / 'empty.db'}")
