"""`caseloop serve`, `caseloop relay` and `caseloop outbox` as real commands."""

from __future__ import annotations

import datetime as dt
import os
import random
import signal
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest
from typer.testing import CliRunner

from flows.cli import app
from ingestion import EscalationRequest, IngestionSettings, escalate, get_escalation, outbox
from ingestion.outbox import RetryPolicy
from ingestion.store import open_store
from tests.support.fake_ticketing import escalation_payload
from tests.support.loopback import free_port

CLI = [sys.executable, "-c", "from flows.cli import main; main()"]


def env_for(tmp_path: Path, **extra: str) -> dict[str, str]:
    return {**os.environ, "CASELOOP_DATABASE_URL": f"sqlite:///{tmp_path / 'c.db'}", **extra}


def test_serve_accepts_escalations_and_stops_on_sigterm(tmp_path: Path) -> None:
    port = free_port()
    created = subprocess.run(
        [*CLI, "keys", "create", "--scope", "escalate"],
        env=env_for(tmp_path),
        capture_output=True,
        text=True,
        check=True,
    )
    key = created.stdout.strip().splitlines()[-1]  # the key alone on the last line
    server = subprocess.Popen(
        [*CLI, "serve", "--port", str(port)],
        env=env_for(tmp_path),
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
    )
    try:
        deadline = time.monotonic() + 60
        while True:
            try:
                httpx.get(f"http://127.0.0.1:{port}/healthz").raise_for_status()
                break
            except httpx.HTTPError:
                assert server.poll() is None
                assert time.monotonic() < deadline
                time.sleep(0.1)
        url = f"http://127.0.0.1:{port}/escalations"
        assert httpx.post(url, json=escalation_payload()).status_code == 401
        headers = {"Authorization": f"Bearer {key}"}
        response = httpx.post(url, json=escalation_payload(), headers=headers)
        assert response.status_code == 201
    finally:
        server.send_signal(signal.SIGTERM)
        output = server.communicate(timeout=15)[0].decode()
    # uvicorn shuts down gracefully, then re-raises the signal for a conventional exit status
    assert server.returncode in (0, -signal.SIGTERM), output
    assert "Application shutdown complete" in output


def test_relay_stops_cleanly_on_sigterm(tmp_path: Path) -> None:
    env = env_for(
        tmp_path,
        CASELOOP_HELPDESK_URL=f"http://127.0.0.1:{free_port()}",
        CASELOOP_RELAY_POLL_INTERVAL="0.1",
    )
    relay = subprocess.Popen(
        [*CLI, "relay"], env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE
    )
    assert relay.stderr is not None
    assert "running" in relay.stderr.readline().decode()
    relay.send_signal(signal.SIGTERM)
    _, err = relay.communicate(timeout=15)
    assert relay.returncode == 0
    assert "relay stopped: 0 delivered, 0 retried, 0 dead" in err.decode()


def test_relay_once_keeps_failures_pending(tmp_path: Path) -> None:
    store = open_store(f"sqlite:///{tmp_path / 'c.db'}")
    key = escalate(
        store, EscalationRequest.model_validate(escalation_payload()), settings=IngestionSettings()
    ).id
    env = env_for(tmp_path, CASELOOP_HELPDESK_URL=f"http://127.0.0.1:{free_port()}")
    done = subprocess.run(
        [*CLI, "relay", "--once"], env=env, capture_output=True, text=True, timeout=60
    )
    assert done.returncode == 0, done.stderr
    assert "0 delivered, 1 retried, 0 dead" in done.stderr
    view = get_escalation(store, key)
    assert view.state == "pending"
    assert (view.last_error or "").startswith("unavailable: ")
    store.dispose()


def test_outbox_list_and_redrive(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("CASELOOP_DATABASE_URL", f"sqlite:///{tmp_path / 'c.db'}")
    store = open_store(f"sqlite:///{tmp_path / 'c.db'}")
    settings = IngestionSettings()
    escalate(store, EscalationRequest.model_validate(escalation_payload("s-1")), settings=settings)
    escalate(store, EscalationRequest.model_validate(escalation_payload("s-2")), settings=settings)
    now = dt.datetime.now(dt.UTC)
    [item, _] = outbox.claim(
        store, "r", now=now, lease_seconds=5, limit=5, topics=("ticket.create",)
    )
    policy = RetryPolicy(max_attempts=1, max_age=dt.timedelta(days=1), base_delay=1, max_delay=1)
    with store.transaction() as tx:
        outbox.fail(
            tx, item, error="rejected: 400 queue", now=now, policy=policy, rng=random.Random(0)
        )
    runner = CliRunner()
    listed = runner.invoke(app, ["outbox", "list", "--state", "dead"])
    assert listed.exit_code == 0, listed.output
    assert "rejected: 400 queue (out of attempts after 1 attempts)" in listed.output
    assert "outbox: 1 dead, 1 pending; oldest pending" in listed.output
    refused = runner.invoke(app, ["outbox", "redrive"])
    assert refused.exit_code == 2
    assert "name dead row ids, or pass --all" in refused.output
    assert runner.invoke(app, ["outbox", "list", "--state", "odd"]).exit_code == 2
    redriven = runner.invoke(app, ["outbox", "redrive", str(item.id)])
    assert "re-drove 1 dead row(s)" in redriven.output
    assert outbox.counts(store) == {"pending": 2}
    store.dispose()
