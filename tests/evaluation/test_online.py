"""Online metrics read from a real store (SQLite and PostgreSQL) filled through the ORM."""

from __future__ import annotations

import datetime as dt

import pytest

from evaluation.errors import EvaluationError
from evaluation.gaps import content_gaps
from evaluation.online import online_metrics
from ingestion.schema import Escalation, FlowRun, SessionOutcome, Ticket, TicketComment, TicketEvent
from ingestion.store import Store

DAY0 = dt.datetime(2026, 3, 2, 9, 0, tzinfo=dt.UTC)  # a Monday


def _escalation(
    i: int, reason: str, at: dt.datetime, text: str, evidence: list[dict] | None = None
) -> Escalation:
    payload = {
        "session_id": f"s{i}",
        "transcript": [{"role": "customer", "text": text, "at": at.isoformat()}],
        "evidence": evidence or [],
        "reason": reason,
    }
    return Escalation(
        id=f"e{i}", session_id=f"s{i}", escalation_event_id="1", tenant="acme", reason=reason,
        intent=None, payload=payload, payload_hash="h", kind="create", state="delivered",
        ticket_id=None, last_error=None, created_at=at, delivered_at=None,
    )  # fmt: skip


def _fill(store: Store) -> None:
    with store.transaction() as s:
        s.add_all(
            [
                _escalation(1, "no_evidence", DAY0, "How do I export my invoices to PDF?"),
                _escalation(2, "no_evidence", DAY0 + dt.timedelta(hours=2), "export invoices as PDF file"),
                _escalation(3, "low_confidence", DAY0 + dt.timedelta(days=1), "card not arrived",
                            [{"doc_id": "T-9", "type": "CASE_SUMMARY"}]),
                _escalation(4, "conflict", DAY0 + dt.timedelta(days=8), "refund twice"),
                _escalation(5, "no_evidence", DAY0 - dt.timedelta(days=30), "outside the window"),
            ]
        )  # fmt: skip
        for i, created in ((1, DAY0), (2, DAY0), (3, DAY0 + dt.timedelta(days=1))):
            s.add(Ticket(id=i, source="helpdesk", external_id=str(i), session_id=f"s{i}", tenant="acme",
                         status="resolved", created_at=created))  # fmt: skip
        s.flush()
        s.add_all(
            [
                TicketComment(ticket_id=1, external_id="c1", author_role="agent", visibility="internal",
                              body="note", created_at=DAY0 + dt.timedelta(minutes=30), mirrored_at=DAY0),
                TicketComment(ticket_id=1, external_id="c2", author_role="agent", visibility="public",
                              body="hi", created_at=DAY0 + dt.timedelta(hours=2), mirrored_at=DAY0),
                TicketComment(ticket_id=2, external_id="c3", author_role="agent", visibility="public",
                              body="hi", created_at=DAY0 + dt.timedelta(hours=4), mirrored_at=DAY0),
                TicketEvent(ticket_id=1, from_status="escalated", to_status="resolved", cause="poll",
                            occurred_at=DAY0 + dt.timedelta(hours=10), recorded_at=DAY0),
                TicketEvent(ticket_id=2, from_status="escalated", to_status="resolved", cause="poll",
                            occurred_at=DAY0 + dt.timedelta(hours=20), recorded_at=DAY0),
                TicketEvent(ticket_id=2, from_status="resolved", to_status="reopened", cause="poll",
                            occurred_at=DAY0 + dt.timedelta(hours=30), recorded_at=DAY0),
                SessionOutcome(session_id="s3", outcome="escalated", confirmation="confirmed",
                               served_case_ids=["T-7"], reported_at=DAY0 + dt.timedelta(days=1)),
                SessionOutcome(session_id="b1", outcome="answered_by_bot", confirmation="confirmed",
                               served_case_ids=["T-1"], reported_at=DAY0),
                SessionOutcome(session_id="b2", outcome="answered_by_bot", confirmation="assumed",
                               served_case_ids=[], reported_at=DAY0),
                SessionOutcome(session_id="b3", outcome="abandoned", confirmation="assumed",
                               served_case_ids=[], reported_at=DAY0),
                FlowRun(flow="nightly_learning", status="completed", started_at=DAY0 + dt.timedelta(hours=17),
                        finished_at=None, window_start=None, window_end=None, report={}),
                FlowRun(flow="ticket_sync", status="completed", started_at=DAY0, finished_at=None,
                        window_start=None, window_end=None, report={}),
            ]
        )  # fmt: skip


def test_online_metrics_over_a_window(store: Store) -> None:
    _fill(store)
    url = store.engine.url.render_as_string(hide_password=False)
    report = online_metrics(url, DAY0 - dt.timedelta(days=1), DAY0 + dt.timedelta(days=14))
    assert report.escalations == 4
    assert report.per_day.loc["2026-03-02"].to_dict() == {
        "conflict": 0,
        "low_confidence": 0,
        "no_evidence": 2,
    }
    assert report.per_week["conflict"].tolist() == [0, 1]
    outcomes = report.outcomes
    assert outcomes["sessions"] == 4
    assert outcomes["escalation_rate"] == pytest.approx(0.25)
    assert outcomes["resolution_rate_confirmed"] == pytest.approx(0.25)
    assert outcomes["resolution_rate_with_assumed"] == pytest.approx(0.5)
    tickets = report.tickets
    assert tickets["first_agent_reply"] == {
        "median_hours": 3.0,
        "p90_hours": pytest.approx(3.8),
        "n": 2,
    }
    assert tickets["resolution"]["median_hours"] == pytest.approx(15.0)
    assert tickets["reopen_rate"] == pytest.approx(0.5)
    assert report.served_then_escalated == {"T-7": 1}  # s3's outcome, not its evidence again
    assert [gap.size for gap in report.gaps] == [2]
    assert "invoices" in report.gaps[0].label
    assert [t.hour for t in report.learning_runs] == [2]
    assert report.as_dict()["escalations_per_week"] == {
        "2026-03-02": {"conflict": 0, "low_confidence": 1, "no_evidence": 2},
        "2026-03-09": {"conflict": 1, "low_confidence": 0, "no_evidence": 0},
    }


def test_tickets_learning_adopted_are_not_counted(store: Store) -> None:
    _fill(store)
    url = store.engine.url.render_as_string(hide_password=False)
    window = (DAY0 - dt.timedelta(days=1), DAY0 + dt.timedelta(days=14))
    before = online_metrics(url, *window).tickets
    with store.transaction() as s:
        s.add(Ticket(id=9, source="helpdesk", external_id="9", session_id="ticket:helpdesk:9",
                     tenant="default", status="resolved", created_at=DAY0, origin="ticketing"))  # fmt: skip
        s.flush()
        s.add(TicketEvent(ticket_id=9, from_status="open", to_status="resolved", cause="learning",
                          occurred_at=DAY0 + dt.timedelta(days=3), recorded_at=DAY0))  # fmt: skip
    after = online_metrics(url, *window).tickets
    assert before["tickets"] == 3
    assert after == before


def test_window_must_be_aware_and_ordered(sqlite_store: Store) -> None:
    url = sqlite_store.engine.url.render_as_string()
    with pytest.raises(EvaluationError, match="window"):
        online_metrics(url, DAY0, DAY0)
    with pytest.raises(EvaluationError, match="window"):
        online_metrics(url, DAY0.replace(tzinfo=None), DAY0 + dt.timedelta(days=1))


def test_content_gaps_group_similar_questions() -> None:
    gaps = content_gaps(
        [
            "how to change my delivery address",
            "change delivery address on order",
            "the app crashes at login",
            "app crashes when I log in",
            "something unrelated entirely",
        ]
    )
    assert [g.size for g in gaps] == [2, 2]
    assert {g.label.split(" / ")[0] for g in gaps} <= {
        "address",
        "delivery",
        "change",
        "app",
        "crashes",
        "delivery address",
        "app crashes",
    }
    assert content_gaps([]) == ()


def test_report_shows_drop_by_reason_between_first_and_last_week(store: Store, tmp_path) -> None:
    from evaluation import write_report

    _fill(store)
    url = store.engine.url.render_as_string(hide_password=False)
    report = online_metrics(url, DAY0 - dt.timedelta(days=1), DAY0 + dt.timedelta(days=14))
    text = write_report(tmp_path, online=report).read_text(encoding="utf-8")
    assert "| no_evidence | 2 | 0 | -100.0% |" in text
    assert "| conflict | 0 | 1 | n/a |" in text
    assert "| T-7 | 1 |" in text  # served and still escalated
    assert "invoices" in text  # the content gap
