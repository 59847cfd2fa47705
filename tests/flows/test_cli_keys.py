"""`caseloop keys create|list|revoke` against a real store, and a created key at a real service."""

from __future__ import annotations

from pathlib import Path

import httpx
import pytest
from typer.testing import CliRunner

from flows.cli import app
from ingestion.http import create_app
from ingestion.settings import IngestionSettings
from ingestion.store import open_store
from tests.support.fake_ticketing import escalation_payload
from tests.support.loopback import serve

runner = CliRunner()


@pytest.fixture
def env(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> str:
    url = f"sqlite:///{tmp_path / 'c.db'}"
    monkeypatch.setenv("CASELOOP_DATABASE_URL", url)
    monkeypatch.delenv("CASELOOP_MULTI_TENANT", raising=False)
    return url


def test_create_prints_the_key_last_list_hides_it_revoke_stops_it(env: str) -> None:
    created = runner.invoke(app, ["keys", "create", "--tenant", "acme", "--scope", "escalate"])
    assert created.exit_code == 0, created.output
    key = created.stdout.strip().splitlines()[-1]
    assert key.startswith("clk_")
    assert " " not in key
    listed = runner.invoke(app, ["keys", "list"])
    assert listed.exit_code == 0
    prefix = key.split("_")[1]
    assert prefix in listed.stdout
    assert "acme" in listed.stdout
    assert "escalate" in listed.stdout
    secret = key.removeprefix("clk_").partition("_")[2]  # the secret itself may hold "_"
    assert len(secret) == 32
    assert secret not in listed.stdout
    store = open_store(env)
    try:
        settings = IngestionSettings(api_key_cache_seconds=0.0)
        with serve(create_app(settings, store)) as url:
            headers = {"Authorization": f"Bearer {key}"}
            sent = httpx.post(f"{url}/escalations", json=escalation_payload(), headers=headers)
            assert sent.status_code == 201
            revoked = runner.invoke(app, ["keys", "revoke", prefix])
            assert revoked.exit_code == 0
            assert "revoked" in revoked.stdout
            again = httpx.post(f"{url}/escalations", json=escalation_payload(), headers=headers)
            assert again.status_code == 401
    finally:
        store.dispose()


def test_several_scopes_and_no_tenant_in_single_tenant_mode(env: str) -> None:
    created = runner.invoke(
        app, ["keys", "create", "--scope", "escalate", "--scope", "messages:read"]
    )
    assert created.exit_code == 0, created.output
    assert "tenant *" in created.stdout
    assert "escalate messages:read" in created.stdout


@pytest.mark.parametrize(
    ("args", "expected"),
    [
        (["--scope", "root"], "scopes must be among"),
        (["--tenant", "a/b", "--scope", "escalate"], "tenant must be"),
    ],
)
def test_bad_requests_are_one_line(env: str, args: list[str], expected: str) -> None:
    result = runner.invoke(app, ["keys", "create", *args])
    assert result.exit_code == 2
    assert expected in result.output
    assert "Traceback" not in result.output


def test_multi_tenant_mode_requires_a_tenant(env: str, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("CASELOOP_MULTI_TENANT", "true")
    result = runner.invoke(app, ["keys", "create", "--scope", "escalate"])
    assert result.exit_code == 2
    assert "--tenant" in result.output
    assert runner.invoke(app, ["keys", "list"]).stdout.count("clk_") == 0


def test_revoking_an_unknown_key_is_one_line(env: str) -> None:
    result = runner.invoke(app, ["keys", "revoke", "nope"])
    assert result.exit_code == 1
    assert "no key with prefix 'nope'" in result.output
