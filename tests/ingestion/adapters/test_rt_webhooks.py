"""Webhooks from a real Request Tracker: the scrip from ``docs/adapters.md`` posts signed Standard
Webhooks hints to caseloop's receiver on loopback; the inbox worker re-reads the ticket."""

from __future__ import annotations

import base64
import datetime as dt
import re
import secrets
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
from pydantic import SecretStr
from sqlalchemy import func, select

from ingestion import inbox
from ingestion.adapters.rt import RTAdapter
from ingestion.http.app import create_app
from ingestion.inbox import InboxWorker
from ingestion.schema import OutgoingMessage, Ticket, WebhookDelivery
from ingestion.settings import IngestionSettings
from ingestion.store import Store
from tests.ingestion.adapters.contract import new_ticket
from tests.support.loopback import free_port, serve
from tests.support.rt_server import RTServer, unavailable_reason

pytestmark = pytest.mark.rt

DOCS = Path(__file__).resolve().parents[3] / "docs" / "adapters.md"
SECRET = "whsec_" + base64.b64encode(secrets.token_bytes(32)).decode()


def documented_scrip() -> str:
    """The scrip code exactly as the operator copies it from the docs."""
    found = re.search(r"```perl caseloop-scrip\n(.*?)\n```", DOCS.read_text(encoding="utf-8"), re.S)
    assert found is not None, "docs/adapters.md lost its caseloop-scrip block"
    return found.group(1)


@pytest.fixture(scope="module")
def receiver_port() -> int:
    return free_port()


@pytest.fixture(scope="module")
def rt_with_scrip(
    tmp_path_factory: pytest.TempPathFactory, receiver_port: int
) -> Iterator[RTServer]:
    """An RT of its own whose config points the scrip at this module's receiver."""
    reason = unavailable_reason()
    if reason is not None:
        pytest.skip(reason)
    config: dict[str, str | int] = {
        "CaseloopWebhookURL": f"http://127.0.0.1:{receiver_port}/webhooks/rt",
        "CaseloopWebhookSecret": SECRET,
    }
    server = RTServer(tmp_path_factory.mktemp("rt-hooks"), free_port(), extra_config=config)
    server.start()
    server.add_global_scrip("caseloop webhook", documented_scrip())
    yield server
    server.stop()


def wait_for_deliveries(store: Store, at_least: int, deadline: float = 30.0) -> int:
    end = time.monotonic() + deadline
    while True:
        with store.transaction() as session:
            count = int(session.scalar(select(func.count()).select_from(WebhookDelivery)) or 0)
        if count >= at_least or time.monotonic() > end:
            return count
        time.sleep(0.2)


def test_an_agent_reply_arrives_by_webhook_and_a_note_does_not(
    sqlite_store: Store, rt_with_scrip: RTServer, receiver_port: int
) -> None:
    rt = rt_with_scrip
    settings = IngestionSettings(ticketing="rt", webhook_secrets=[SecretStr(SECRET)], rt_url=rt.url)
    adapter = RTAdapter(rt.url, token=rt.token, username=rt.username)
    agent = RTAdapter(rt.url, username="root", password="password")
    session_id = f"session-{uuid.uuid4()}"
    with serve(create_app(settings, sqlite_store), port=receiver_port):
        created = adapter.create_ticket(new_ticket(session_id))
        with sqlite_store.transaction() as session:
            session.add(
                Ticket(
                    source="rt",
                    external_id=created.id,
                    session_id=session_id,
                    tenant="acme",
                    status="escalated",
                    created_at=dt.datetime.now(dt.UTC),
                )
            )
        before = wait_for_deliveries(sqlite_store, 1)
        agent.add_comment(created.id, "Internal: VIP, handle first.", public=False)
        agent.add_comment(created.id, "We found your parcel.", public=True)
        assert wait_for_deliveries(sqlite_store, before + 2) >= before + 2
        report = InboxWorker(sqlite_store, adapter, settings).process_pending()
    assert report.messages == 1
    with sqlite_store.transaction() as session:
        bodies = session.scalars(
            select(OutgoingMessage.body).where(OutgoingMessage.session_id == session_id)
        ).all()
    assert bodies == ["We found your parcel."]
    # Every delivery was signed correctly: nothing was rejected.
    assert inbox.rejection_counts(sqlite_store) == {}
    adapter.close()
    agent.close()
