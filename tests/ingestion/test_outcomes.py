"""Session outcomes: stored per session on SQLite and PostgreSQL, replaced by later reports."""

from __future__ import annotations

import datetime as dt

import pytest
from pydantic import ValidationError
from sqlalchemy import func, select

from ingestion.errors import InvalidEscalation, NotFound
from ingestion.outcomes import OutcomeReport, get_outcome, record_outcome
from ingestion.schema import SessionOutcome
from ingestion.settings import IngestionSettings
from ingestion.store import Store

AT = dt.datetime(2026, 3, 5, 8, 0, tzinfo=dt.UTC)


def _count(store: Store) -> int:
    with store.transaction() as session:
        return int(session.scalar(select(func.count()).select_from(SessionOutcome)) or 0)


def test_first_report_creates_and_later_report_replaces(store: Store) -> None:
    settings = IngestionSettings()
    first = OutcomeReport(
        outcome="answered_by_bot",
        confirmation="assumed",
        tenant="acme",
        served_case_ids=["T-1", "T-2"],
        reported_at=AT,
    )
    view = record_outcome(store, "s-1", first, settings=settings)
    assert view.created is True
    assert get_outcome(store, "s-1", tenant="acme").served_case_ids == ("T-1", "T-2")

    later = OutcomeReport(
        outcome="escalated", confirmation="confirmed", tenant="acme", served_case_ids=["T-1"]
    )
    view = record_outcome(store, "s-1", later, settings=settings, clock=lambda: AT)
    assert view.created is False
    stored = get_outcome(store, "s-1", tenant="acme")
    assert (stored.outcome, stored.confirmation, stored.tenant) == (
        "escalated",
        "confirmed",
        "acme",
    )
    assert stored.served_case_ids == ("T-1",)
    assert stored.reported_at == AT
    assert _count(store) == 1


def test_multi_tenant_requires_a_tenant_and_writes_nothing(store: Store) -> None:
    report = OutcomeReport(outcome="abandoned", confirmation="assumed")
    with pytest.raises(InvalidEscalation, match="tenant"):
        record_outcome(store, "s-2", report, settings=IngestionSettings(multi_tenant=True))
    assert _count(store) == 0
    with pytest.raises(NotFound):
        get_outcome(store, "s-2")


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"outcome": "resolved", "confirmation": "confirmed"}, "outcome"),
        ({"outcome": "escalated", "confirmation": "maybe"}, "confirmation"),
        ({"outcome": "escalated"}, "confirmation"),
        (
            {"outcome": "escalated", "confirmation": "assumed", "served_case_ids": ["a", "a"]},
            "served_case_ids",
        ),
        (
            {"outcome": "escalated", "confirmation": "assumed", "served_case_ids": [" "]},
            "served_case_ids",
        ),
        ({"outcome": "escalated", "confirmation": "assumed", "extra": 1}, "extra"),
        (
            {
                "outcome": "escalated",
                "confirmation": "assumed",
                "reported_at": "2026-03-05T08:00:00",
            },
            "reported_at",
        ),
    ],
)
def test_report_validation_names_the_field(body: dict[str, object], field: str) -> None:
    with pytest.raises(ValidationError) as info:
        OutcomeReport.model_validate(body)
    assert info.value.errors()[0]["loc"][0] == field
