"""A flow run reads the settings the command line reads: the environment plus ``env_file``."""

from __future__ import annotations

from pathlib import Path

import pytest
from sqlalchemy import select

from flows.ticket_sync import FLOW_NAME, ticket_sync
from ingestion.schema import FlowRun
from ingestion.store import open_store

pytestmark = pytest.mark.usefixtures("prefect_harness")


def test_a_run_given_only_the_settings_file_uses_its_store(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    state = tmp_path / "state"
    settings_file = tmp_path / "caseloop.env"
    settings_file.write_text(
        f"CASELOOP_DATA_DIR={state}\n"
        "CASELOOP_HELPDESK_URL=http://127.0.0.1:9\n"
        "CASELOOP_SYNC_STUCK_AFTER_SECONDS=42\n"
    )
    elsewhere = tmp_path / "cwd"
    elsewhere.mkdir()
    monkeypatch.chdir(elsewhere)
    for name in ("CASELOOP_DATA_DIR", "CASELOOP_DATABASE_URL"):
        monkeypatch.delenv(name, raising=False)

    report = ticket_sync(env_file=str(settings_file))

    assert report.failed == []
    assert not (elsewhere / ".caseloop").exists()  # the default folder was never made
    store = open_store(f"sqlite:///{state / 'caseloop.db'}", migrate=False)
    try:
        with store.transaction() as tx:
            runs = list(tx.scalars(select(FlowRun).where(FlowRun.flow == FLOW_NAME)))
    finally:
        store.dispose()
    assert [r.status for r in runs] == ["completed"]
