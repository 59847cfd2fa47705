"""Operational figures read from the store: the same from every replica, on SQLite and PostgreSQL."""

from __future__ import annotations

import datetime as dt
import json
import random

import httpx
from prometheus_client.parser import text_string_to_metric_families
from sqlalchemy import select

from ingestion import EscalationRequest, IngestionSettings, Relay, escalate, inbox
from ingestion.cases.runs import finish_run, start_run
from ingestion.http import create_app
from ingestion.metrics import snapshot
from ingestion.schema import SyncCursor
from ingestion.store import Store
from tests.support.fake_ticketing import FakeClock, FakeTicketing, escalation_payload
from tests.support.keys import bearer
from tests.support.loopback import serve

SETTINGS = IngestionSettings(relay_base_delay=60.0, relay_max_attempts=5)


def _busy_store(store: Store, clock: FakeClock) -> None:
    """One dead letter, one row retrying, one delivered; rejections, a cursor, two learning runs."""
    fake = FakeTicketing()
    relay = Relay(store, fake, SETTINGS, clock=clock, sleep=clock.sleep, rng=random.Random(1))
    for session in ("dead", "retrying", "delivered"):
        request = EscalationRequest.model_validate(escalation_payload(session))
        escalate(store, request, settings=SETTINGS, clock=clock)
    fake.inject("rejected", "down")
    relay.drain()
    for reason in ("bad_signature", "bad_signature", "stale"):
        inbox.record_rejection(store, source="helpdesk", reason=reason, now=clock())
    with store.transaction() as tx:
        tx.add(
            SyncCursor(
                source="helpdesk",
                updated_at=clock() - dt.timedelta(seconds=90),
                ticket_id="7",
                advanced_at=clock(),
                polled_at=clock() - dt.timedelta(seconds=30),
            )
        )
    for failed in (0, 2):
        run = start_run(store, "nightly_learning", now=clock(), window_start=None)
        counts = {"created": 3, "updated": 1, "retracted": 1, "failed": failed}
        finish_run(store, run, ok=not failed, report={"counts": counts}, now=clock())


def test_the_snapshot_counts_what_the_store_holds(store: Store) -> None:
    clock = FakeClock()
    _busy_store(store, clock)
    clock.sleep(45)
    taken = snapshot(store, now=clock())

    assert (taken.outbox.depth, taken.outbox.dead_letters, taken.outbox.retrying) == (1, 1, 1)
    assert taken.outbox.oldest_age_seconds == 45.0
    assert taken.outbox.attempts == 3  # one attempt each: rejected, down, delivered
    assert taken.webhook_rejections == {"helpdesk": {"bad_signature": 2, "stale": 1}}
    [sync] = taken.sync
    assert (sync.source, sync.lag_seconds, sync.last_poll_age_seconds) == ("helpdesk", 135.0, 75.0)
    assert taken.learning_last_run == {"created": 3, "updated": 1, "retracted": 1, "failed": 2}
    [flow] = taken.flows
    assert (flow.flow, flow.runs, flow.last_status) == (
        "nightly_learning",
        {"completed": 1, "failed": 1},
        "failed",
    )
    assert (taken.inbox.depth, taken.pushes.depth) == (0, 0)


def _scrape(store: Store) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    with serve(create_app(IngestionSettings(), store)) as url:
        assert httpx.get(f"{url}/metrics").status_code == 401  # scrapers send an admin key
        response = httpx.get(f"{url}/metrics", headers=bearer(store, scopes=("admin",)))
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/plain")
    return {
        (sample.name, tuple(sorted(sample.labels.items()))): sample.value
        for family in text_string_to_metric_families(response.text)
        for sample in family.samples
    }


def _steady(scraped: dict[tuple[str, tuple[tuple[str, str], ...]], float]) -> dict[object, float]:
    """The figures that do not move with the clock between two scrapes."""
    return {k: v for k, v in scraped.items() if "age_seconds" not in k[0] and "lag" not in k[0]}


def test_every_replica_reports_the_same_figures(store: Store) -> None:
    _busy_store(store, FakeClock())
    first, second = _scrape(store), _scrape(store)  # two applications: two replicas
    assert _steady(first) == _steady(second)
    assert first[("caseloop_outbox_dead_letters", ())] == 1
    assert first[("caseloop_outbox_attempts_total", ())] == 3
    rejected = (("reason", "bad_signature"), ("source", "helpdesk"))
    assert first[("caseloop_webhook_rejections_total", rejected)] == 2
    assert first[("caseloop_learning_last_run_cases", (("outcome", "failed"),))] == 2
    assert first[("caseloop_flow_last_run_failed", (("flow", "nightly_learning"),))] == 1
    runs = (("flow", "nightly_learning"), ("status", "completed"))
    assert first[("caseloop_flow_runs_total", runs)] == 1


def test_the_families_are_the_documented_ones(store: Store) -> None:
    from pathlib import Path

    docs = (Path(__file__).resolve().parents[2] / "docs" / "operations.md").read_text()
    _busy_store(store, FakeClock())
    names = {name for name, _ in _scrape(store)}
    families = {n.removesuffix("_total") for n in names}
    assert [f for f in sorted(families) if f"`{f}`" not in docs] == []


def test_status_prints_the_same_snapshot_as_json(store: Store) -> None:
    from typer.testing import CliRunner

    from flows.cli import app

    _busy_store(store, FakeClock())
    url = store.engine.url.render_as_string(hide_password=False)
    env = {"CASELOOP_DATABASE_URL": url, "COLUMNS": "200"}
    shown = CliRunner().invoke(app, ["status", "--json"], env=env)
    assert shown.exit_code == 0, shown.output
    data = json.loads(shown.stdout)
    assert data["outbox"]["dead_letters"] == 1
    assert data["webhook_rejections"] == {"helpdesk": {"bad_signature": 2, "stale": 1}}
    table = CliRunner().invoke(app, ["status"], env=env)
    assert table.exit_code == 0
    assert "outbox dead letters" in table.stdout
    assert "webhook rejections helpdesk bad_signature" in table.stdout
    with store.transaction() as tx:
        assert tx.scalars(select(SyncCursor)).one().source == "helpdesk"
