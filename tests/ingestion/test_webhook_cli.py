"""`caseloop webhooks stats|purge|replay` on a real SQLite store (the worker and replay with a
real adapter run in test_updates_e2e.py)."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

from typer.testing import CliRunner

from flows.cli import app
from ingestion import inbox
from ingestion.store import open_store


def test_stats_purge_and_empty_replay(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'cli.db'}"
    store = open_store(url)
    old = dt.datetime.now(dt.UTC) - dt.timedelta(days=30)
    inbox.store_delivery(
        store,
        source="helpdesk",
        delivery_id="a",
        ticket_external_id="1",
        headers={},
        body=b"{}",
        now=old,
    )
    inbox.store_delivery(
        store, source="helpdesk", delivery_id="b", ticket_external_id="1", headers={}, body=b"{}"
    )
    inbox.record_rejection(store, source="helpdesk", reason="bad_signature")
    inbox.record_rejection(store, source="helpdesk", reason="bad_signature")
    with store.transaction() as s:
        from ingestion.schema import WebhookDelivery

        s.query(WebhookDelivery).filter_by(delivery_id="a").update({"state": "processed"})
    env = {"CASELOOP_DATABASE_URL": url}
    runner = CliRunner()
    stats = runner.invoke(app, ["webhooks", "stats"], env=env)
    assert stats.exit_code == 0, stats.output
    assert "pending 1" in stats.output
    assert "processed 1" in stats.output
    assert "bad_signature" in stats.output
    assert " 2 " in stats.output
    purged = runner.invoke(app, ["webhooks", "purge"], env=env)
    assert purged.exit_code == 0, purged.output
    assert "purged 1 deliveries" in purged.output
    assert inbox.state_counts(store) == {"pending": 1}
    replay = runner.invoke(app, ["webhooks", "replay", "--failed-only"], env=env)
    assert replay.exit_code == 0, replay.output
    assert "0 deliveries back to pending" in replay.output
    store.dispose()
