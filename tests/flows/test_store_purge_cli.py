"""`caseloop store purge [--dry-run] [--days N]` and `caseloop store erase --email E [--dry-run]`
against a real store: counts, never values."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import pytest
from sqlalchemy import select, update
from typer.testing import CliRunner

from flows.cli import app
from ingestion.clock import utcnow
from ingestion.schema import TicketComment, TicketEvent
from ingestion.settings import IngestionSettings
from ingestion.store import open_store
from tests.ingestion.cases.world import World

runner = CliRunner()
EMAIL = "lena.fischer@example.org"


@pytest.fixture
def url(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> str:
    url = f"sqlite:///{tmp_path / 'c.db'}"
    monkeypatch.setenv("CASELOOP_DATABASE_URL", url)
    monkeypatch.setenv("CASELOOP_LEARNING_NER", "false")
    monkeypatch.delenv("CASELOOP_RETENTION_RAW_DAYS", raising=False)
    store = open_store(url)
    try:
        world = World(store, IngestionSettings(learning_ner=False))
        world.escalate("r1", f"Refund please, mail {EMAIL}", customer={"email": EMAIL})
        world.resolve("r1", f"Refunded; receipt sent to {EMAIL}.")
        with store.transaction() as tx:  # resolved ten days ago
            tx.execute(update(TicketEvent).values(recorded_at=utcnow() - dt.timedelta(days=10)))
    finally:
        store.dispose()
    return url


def _bodies(url: str) -> list[str]:
    store = open_store(url)
    try:
        with store.transaction() as tx:
            return list(tx.scalars(select(TicketComment.body)))
    finally:
        store.dispose()


def test_dry_run_then_purge_then_nothing_left_to_purge(url: str) -> None:
    off = runner.invoke(app, ["store", "purge"])
    assert off.exit_code == 0
    assert "retention is off" in off.output
    assert runner.invoke(app, ["store", "purge", "--days", "30"]).stdout.strip() == (
        "retention: purged 0 tickets (nothing)"
    )

    dry = runner.invoke(app, ["store", "purge", "--dry-run", "--days", "5"])
    assert dry.exit_code == 0, dry.output
    assert "would purge 1 tickets" in dry.stdout
    assert EMAIL not in dry.stdout
    assert any(EMAIL in b for b in _bodies(url))

    done = runner.invoke(app, ["store", "purge", "--days", "5"])
    assert done.exit_code == 0, done.output
    assert "purged 1 tickets" in done.stdout
    assert "ticket_comments" in done.stdout
    assert not any(EMAIL in b for b in _bodies(url))
    again = runner.invoke(app, ["store", "purge", "--days", "5"])
    assert again.stdout.strip() == "retention: purged 0 tickets (nothing)"


def test_a_bad_days_value_is_one_line(url: str) -> None:
    bad = runner.invoke(app, ["store", "purge", "--days", "0"])
    assert bad.exit_code == 2
    assert "--days" in bad.output
    assert "Traceback" not in bad.output


def test_erase_one_customer_dry_run_then_for_real(url: str) -> None:
    dry = runner.invoke(app, ["store", "erase", "--email", EMAIL, "--dry-run"])
    assert dry.exit_code == 0, dry.output
    assert dry.stdout.startswith("erasure: would purge 1 tickets (")
    assert EMAIL not in dry.stdout
    assert any(EMAIL in b for b in _bodies(url))

    done = runner.invoke(app, ["store", "erase", "--email", EMAIL.upper()])
    assert done.exit_code == 0, done.output
    assert done.stdout.startswith("erasure: purged 1 tickets (")
    assert not any(EMAIL in b for b in _bodies(url))
    nobody = runner.invoke(app, ["store", "erase", "--email", "nobody@example.org"])
    assert nobody.stdout.strip() == "erasure: purged 0 tickets (nothing)"


@pytest.mark.parametrize("args", [["--email", "lena"], ["--email", ""], []])
def test_erase_without_an_email_address_is_one_line(url: str, args: list[str]) -> None:
    bad = runner.invoke(app, ["store", "erase", *args])
    assert bad.exit_code == 2
    assert "--email" in bad.output
    assert "Traceback" not in bad.output
    assert any(EMAIL in b for b in _bodies(url))


def test_a_bad_address_opens_no_store(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    database = tmp_path / "never.db"
    monkeypatch.setenv("CASELOOP_DATABASE_URL", f"sqlite:///{database}")
    bad = runner.invoke(app, ["store", "erase", "--email", "lena at example"])
    assert bad.exit_code == 2
    assert not database.exists()
