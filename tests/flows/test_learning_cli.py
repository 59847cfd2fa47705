"""`caseloop learn` and `caseloop sync-once`: run once without a Prefect server."""

from __future__ import annotations

from pathlib import Path

import pytest
from typer.testing import CliRunner

from flows.cli import app
from flows.helpdesk import HelpdeskServer
from ingestion.store import open_store
from tests.ingestion.cases.world import World


@pytest.fixture
def env(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> str:
    url = f"sqlite:///{tmp_path / 'caseloop.db'}"
    monkeypatch.setenv("CASELOOP_DATABASE_URL", url)
    monkeypatch.setenv("CASELOOP_RETRIEVAL_LOCATION", str(tmp_path / "index"))
    return url


def test_learn_once_then_nothing_new(env: str) -> None:
    store = open_store(env)
    world = World(store)
    world.escalate("1", "My parcel shows delivered but never arrived", intent="missing_parcel")
    world.resolve("1", "We opened a trace with the carrier and sent a replacement today.")
    store.dispose()
    runner = CliRunner()
    first = runner.invoke(app, ["learn", "--no-pull"])
    assert first.exit_code == 0, first.output
    assert "│ created           │ 1     │" in first.stdout
    second = runner.invoke(app, ["learn", "--no-pull"])
    assert second.exit_code == 0, second.output
    assert "│ created           │ 0     │" in second.stdout
    assert "│ index_writes      │ 0     │" in second.stdout


def test_learn_rejects_a_bad_since(env: str) -> None:
    result = CliRunner().invoke(app, ["learn", "--no-pull", "--since", "yesterday"])
    assert result.exit_code == 2
    assert "--since: 'yesterday' is not an ISO 8601 time" in result.output


@pytest.mark.helpdesk
def test_sync_once_against_the_helpdesk(
    env: str, helpdesk: HelpdeskServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("CASELOOP_HELPDESK_URL", helpdesk.url)
    monkeypatch.setenv("CASELOOP_HELPDESK_TOKEN", helpdesk.token)
    monkeypatch.setenv("CASELOOP_HELPDESK_QUEUE", str(helpdesk.queue_id))
    result = CliRunner().invoke(app, ["sync-once"])
    assert result.exit_code == 0, result.output
    assert "ticket_sync: notes pushed 0, outbox re-driven 0, delivered 0, drift 0" in result.stdout
