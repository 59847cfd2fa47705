"""`caseloop relay` SIGKILLed in the middle of a batch and restarted: nothing lost, nothing doubled."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import func, select

from flows.helpdesk import HelpdeskServer
from ingestion import EscalationRequest, IngestionSettings, escalate
from ingestion.schema import Escalation, OutboxRow
from ingestion.store import Store
from tests.ingestion.test_relay_helpdesk import tickets_by_conversation
from tests.support.fake_ticketing import escalation_payload, later_event
from tests.support.fault_proxy import FaultProxy

pytestmark = pytest.mark.helpdesk
CLI = [sys.executable, "-c", "from flows.cli import main; main()"]


@pytest.fixture
def proxy(helpdesk: HelpdeskServer) -> Iterator[FaultProxy]:
    with FaultProxy(helpdesk.url) as proxy:
        proxy.latency = 0.15  # slow enough to be killed mid-batch
        yield proxy


def relay_env(store: Store, helpdesk: HelpdeskServer, proxy: FaultProxy) -> dict[str, str]:
    return {
        **os.environ,
        "CASELOOP_DATABASE_URL": store.engine.url.render_as_string(hide_password=False),
        "CASELOOP_HELPDESK_URL": proxy.url,
        "CASELOOP_HELPDESK_TOKEN": helpdesk.token,
        "CASELOOP_HELPDESK_QUEUE": str(helpdesk.queue_id),
        "CASELOOP_RELAY_LEASE_SECONDS": "3",
        "CASELOOP_RELAY_BASE_DELAY": "0.2",
        "CASELOOP_RELAY_POLL_INTERVAL": "0.1",
        "CASELOOP_RELAY_BATCH_SIZE": "10",
    }


def delivered(store: Store) -> int:
    with store.transaction() as tx:
        return int(tx.scalar(select(func.count()).where(Escalation.state == "delivered")) or 0)


def test_relay_killed_mid_batch_then_restarted(
    store: Store, helpdesk: HelpdeskServer, proxy: FaultProxy, tmp_path: Path
) -> None:
    prefix = f"kill-{uuid.uuid4().hex[:8]}-"
    settings = IngestionSettings()
    for n in range(16):
        first = escalation_payload(f"{prefix}{n}")
        escalate(store, EscalationRequest.model_validate(first), settings=settings)
        if n % 4 == 0:
            again = later_event(first, "ev-2", "Anyone there?")
            escalate(store, EscalationRequest.model_validate(again), settings=settings)
    env = relay_env(store, helpdesk, proxy)
    log = (tmp_path / "relay.log").open("wb")
    worker = subprocess.Popen([*CLI, "relay"], env=env, stdout=log, stderr=log)
    deadline = time.monotonic() + 60
    while delivered(store) < 3:
        assert worker.poll() is None, (tmp_path / "relay.log").read_text()
        assert time.monotonic() < deadline, "the relay delivered nothing"
        time.sleep(0.05)
    worker.send_signal(signal.SIGKILL)
    worker.wait(timeout=10)
    with store.transaction() as tx:
        leased = tx.scalar(
            select(func.count()).where(
                OutboxRow.state == "pending", OutboxRow.lease_owner.is_not(None)
            )
        )
    assert 3 <= delivered(store) < 20
    assert leased, "the relay was not killed in the middle of a batch"
    finished = subprocess.run(
        [*CLI, "relay", "--once", "--wait"], env=env, capture_output=True, text=True, timeout=120
    )
    assert finished.returncode == 0, finished.stderr
    assert delivered(store) == 20
    held = tickets_by_conversation(helpdesk, prefix)
    assert {c: len(t) for c, t in held.items()} == {f"{prefix}{n}": 1 for n in range(16)}
    for n in range(0, 16, 4):
        [ticket] = held[f"{prefix}{n}"]
        notes = [f for f in ticket["followup_set"] if "again" in (f["comment"] or "")]
        assert len(notes) == 1
