"""`evaluation_report`: the plain function on both stores, the flow under the session's harness."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import pytest
from sqlalchemy import select

from flows.evaluation_report import FLOW_NAME, evaluation_report, make_report, window
from ingestion.schema import Escalation, FlowRun, SessionOutcome
from ingestion.settings import IngestionSettings
from ingestion.store import Store

NOW = dt.datetime(2026, 3, 9, 12, 0, tzinfo=dt.UTC)


def _fill(store: Store) -> None:
    with store.transaction() as s:
        for i, reason in enumerate(["no_evidence", "no_evidence", "conflict"]):
            s.add(
                Escalation(
                    id=f"e{i}", session_id=f"s{i}", escalation_event_id="1", tenant="acme",
                    reason=reason, intent=None, kind="create", state="delivered", ticket_id=None,
                    payload={"transcript": [{"role": "customer", "text": "how to export invoices"}]},
                    payload_hash="h", last_error=None, delivered_at=None,
                    created_at=NOW - dt.timedelta(days=i + 1),
                )
            )  # fmt: skip
        s.add(SessionOutcome(session_id="s0", outcome="escalated", confirmation="confirmed",
                             served_case_ids=["T-4"], reported_at=NOW - dt.timedelta(days=1)))  # fmt: skip


def _runs(store: Store) -> list[FlowRun]:
    with store.transaction() as tx:
        return list(tx.scalars(select(FlowRun).where(FlowRun.flow == FLOW_NAME)))


def test_make_report_stores_the_run_and_writes_the_report(store: Store, tmp_path: Path) -> None:
    _fill(store)
    since, until = window(None, NOW, 7, NOW)
    record = make_report(store, since=since, until=until, out=tmp_path / "r", now=NOW)
    assert record["escalations"] == 3
    assert record["served_then_escalated"] == {"T-4": 1}
    assert record["content_gaps"][0]["size"] == 2
    report = Path(record["report_path"]).read_text(encoding="utf-8")
    assert "Content gaps" in report
    assert (tmp_path / "r" / "escalations_over_time.png").exists()
    (run,) = _runs(store)
    assert (run.status, run.window_start, run.window_end) == ("completed", since, until)
    assert run.report["escalations_per_day"]["2026-03-08"] == {"conflict": 0, "no_evidence": 1}


def test_window_defaults_and_checks() -> None:
    assert window(None, None, 7, NOW) == (NOW - dt.timedelta(days=7), NOW)
    with pytest.raises(ValueError, match="before until"):
        window(NOW, NOW, 7, NOW)
    with pytest.raises(ValueError, match="time zone"):
        window(NOW.replace(tzinfo=None), None, 7, NOW)


@pytest.mark.usefixtures("prefect_harness")
def test_the_flow_runs_under_prefect(sqlite_store: Store, tmp_path: Path) -> None:
    _fill(sqlite_store)
    settings = IngestionSettings(data_dir=tmp_path / "data")
    record = evaluation_report(until=NOW, days=2, fmt="html", settings=settings, store=sqlite_store)
    assert record["escalations"] == 2  # the third is three days old
    assert record["report_path"].endswith("report.html")
    assert Path(record["report_path"]).is_relative_to(tmp_path / "data" / "reports")
    assert len(_runs(sqlite_store)) == 1
