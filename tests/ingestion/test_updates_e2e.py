"""End to end with a real django-helpdesk whose built-in (unsigned) webhooks point at our receiver
on loopback: escalate → relay creates the ticket → an agent replies in the helpdesk → the reply
reaches the session once, by webhook, by polling, or both; internal notes never do.

At the end the module prints the counts for the issue's closing note (deliveries tried, rejected
by reason, duplicates dropped, messages forwarded, internal notes forwarded).
"""

from __future__ import annotations

import collections
import contextlib
import json
import re
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path

import httpx
import pytest
from fastapi import FastAPI, Request
from pydantic import SecretStr
from sqlalchemy import func, select
from typer.testing import CliRunner

from flows.cli import app as cli
from flows.helpdesk import HelpdeskServer
from ingestion import inbox
from ingestion.adapters.helpdesk import HelpdeskAdapter
from ingestion.errors import TicketingUnavailable
from ingestion.escalations import EscalationRequest, escalate
from ingestion.http import create_app
from ingestion.inbox import InboxWorker
from ingestion.messages import list_messages
from ingestion.pusher import NOTE_MARKER, Pusher
from ingestion.relay import Relay
from ingestion.schema import OutgoingMessage, Ticket, TicketComment, TicketEvent, WebhookDelivery
from ingestion.settings import IngestionSettings
from ingestion.signatures import verify
from ingestion.store import Store
from ingestion.sync import SyncWorker, read_cursor
from tests.support.fake_ticketing import escalation_payload
from tests.support.loopback import free_port, serve

pytestmark = pytest.mark.helpdesk

TOKEN = "e2e-" + uuid.uuid4().hex
TALLY: collections.Counter[str] = collections.Counter()


@pytest.fixture(scope="module")
def receiver_port() -> int:
    return free_port()


@pytest.fixture(scope="module")
def hooked_helpdesk(
    tmp_path_factory: pytest.TempPathFactory, receiver_port: int, request: pytest.FixtureRequest
) -> Iterator[HelpdeskServer]:
    """A helpdesk whose new-ticket and follow-up webhooks call our receiver with the URL token."""
    hook = f"http://127.0.0.1:{receiver_port}/webhooks/helpdesk?token={TOKEN}"
    env = {"HELPDESK_NEW_TICKET_WEBHOOK_URLS": hook, "HELPDESK_FOLLOWUP_WEBHOOK_URLS": hook}
    with HelpdeskServer(tmp_path_factory.mktemp("hooked-helpdesk"), free_port(), env=env) as server:
        yield server
    reporter = request.config.pluginmanager.get_plugin("terminalreporter")
    line = "updates e2e counts: " + json.dumps(dict(sorted(TALLY.items())))
    if reporter is not None:
        reporter.write_line(line)
    out = Path(str(request.config.rootpath)) / ".caseloop" / "updates-e2e-counts.json"
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(dict(sorted(TALLY.items())), indent=2) + "\n")


@pytest.fixture
def adapter(hooked_helpdesk: HelpdeskServer) -> Iterator[HelpdeskAdapter]:
    agent = HelpdeskAdapter(
        hooked_helpdesk.url, hooked_helpdesk.token, queue=hooked_helpdesk.queue_id
    )
    yield agent
    agent.close()


@pytest.fixture
def settings(hooked_helpdesk: HelpdeskServer) -> IngestionSettings:
    return IngestionSettings(
        ticketing="helpdesk",
        helpdesk_url=hooked_helpdesk.url,
        helpdesk_token=SecretStr(hooked_helpdesk.token),
        helpdesk_queue=hooked_helpdesk.queue_id,
        helpdesk_webhook_token=SecretStr(TOKEN),
        sync_overlap_seconds=5,
        sync_page_size=10,
        sync_interval=0.3,
        inbox_poll_interval=0.05,
        relay_base_delay=0.01,
        relay_max_delay=0.05,
    )


@contextlib.contextmanager
def receiver(store: Store, settings: IngestionSettings, port: int) -> Iterator[str]:
    with serve(create_app(settings, store), port=port) as url:
        yield url


def open_ticket(
    store: Store, adapter: HelpdeskAdapter, settings: IngestionSettings
) -> tuple[str, str]:
    """Escalate a new session through the real path; (session id, helpdesk ticket id)."""
    session_id = f"e2e-{uuid.uuid4().hex[:10]}"
    escalate(
        store, EscalationRequest.model_validate(escalation_payload(session_id)), settings=settings
    )
    Relay(store, adapter, settings).drain()
    with store.transaction() as s:
        ticket_id = s.scalars(
            select(Ticket.external_id).where(Ticket.session_id == session_id)
        ).one()
    return session_id, ticket_id


def bodies(store: Store, session_id: str) -> list[str]:
    return [m.body for m in list_messages(store, session_id, tenant="acme")]


def reply(adapter: HelpdeskAdapter, ticket_id: str, text: str, *, public: bool) -> None:
    """An agent writes in the helpdesk. With our receiver down the helpdesk answers 500 *after*
    committing the follow-up (its webhook call fails), so the error is expected then."""
    with contextlib.suppress(TicketingUnavailable):
        adapter.add_comment(ticket_id, text, public=public)


def wait_for(condition: Callable[[], bool], timeout: float = 30.0) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.05)


def cli_env(store: Store, settings: IngestionSettings) -> dict[str, str]:
    """The environment a `caseloop` command needs to reach this store and helpdesk."""
    return {
        "CASELOOP_DATABASE_URL": store.engine.url.render_as_string(hide_password=False),
        "CASELOOP_TICKETING": "helpdesk",
        "CASELOOP_HELPDESK_URL": settings.helpdesk_url,
        "CASELOOP_HELPDESK_TOKEN": settings.helpdesk_token.get_secret_value(),
        "CASELOOP_HELPDESK_QUEUE": str(settings.helpdesk_queue),
        "CASELOOP_SYNC_OVERLAP_SECONDS": "5",
    }


def tally(store: Store) -> None:
    """Add this test's counts to the closing-note totals."""
    rejections = inbox.rejection_counts(store)
    with store.transaction() as s:
        stored = int(s.scalar(select(func.count()).select_from(WebhookDelivery)) or 0)
        forwarded = int(s.scalar(select(func.count()).select_from(OutgoingMessage)) or 0)
        internal = s.scalar(
            select(func.count())
            .select_from(OutgoingMessage)
            .join(TicketComment, TicketComment.id == OutgoingMessage.comment_id)
            .where(TicketComment.visibility != "public")
        )
    rejected = {r: n for (_, r), n in rejections.items() if r != "duplicate"}
    TALLY["deliveries_accepted"] += stored
    TALLY["duplicates_dropped"] += rejections.get(("helpdesk", "duplicate"), 0)
    TALLY["deliveries_tried"] += stored + sum(rejections.values())
    for reason, count in rejected.items():
        TALLY[f"rejected_{reason}"] += count
    TALLY["messages_forwarded"] += forwarded
    TALLY["internal_notes_forwarded"] += int(internal or 0)
    assert internal == 0


def test_public_reply_once_internal_note_never(
    store: Store, adapter: HelpdeskAdapter, settings: IngestionSettings, receiver_port: int
) -> None:
    with receiver(store, settings, receiver_port):
        session_id, ticket_id = open_ticket(store, adapter, settings)
        reply(adapter, ticket_id, "Please send us invoice 1042.", public=True)
        reply(adapter, ticket_id, "INTERNAL: customer is on the legacy VAT plan", public=False)
        adapter.set_status(ticket_id, "resolved")
        worker = InboxWorker(store, adapter, settings)
        report = worker.process_pending()
    assert report.messages == 1
    assert bodies(store, session_id) == ["Please send us invoice 1042."]
    # A poll and a replay of every delivery change nothing.
    assert SyncWorker(store, adapter, settings).poll_once().messages == 0
    replayed = CliRunner().invoke(
        cli, ["webhooks", "replay", "--source", "helpdesk"], env=cli_env(store, settings)
    )
    assert replayed.exit_code == 0, replayed.output
    redriven = re.search(
        r"inbox: (\d+) processed, 0 failed, 0 deferred, 0 messages", replayed.output
    )
    assert redriven is not None, replayed.output
    assert int(redriven.group(1)) >= 3  # new ticket, reply, note, status change
    assert set(inbox.state_counts(store)) == {"processed"}
    assert bodies(store, session_id) == ["Please send us invoice 1042."]
    with store.transaction() as s:
        events = s.execute(
            select(TicketEvent.from_status, TicketEvent.to_status, TicketEvent.cause).order_by(
                TicketEvent.id
            )
        ).all()
    assert [tuple(e) for e in events][-1] == ("escalated", "resolved", "webhook")
    tally(store)


def test_webhooks_and_polling_together_still_once(
    store: Store, adapter: HelpdeskAdapter, settings: IngestionSettings, receiver_port: int
) -> None:
    stop = threading.Event()
    with receiver(store, settings, receiver_port):
        session_id, ticket_id = open_ticket(store, adapter, settings)
        workers = [
            threading.Thread(target=InboxWorker(store, adapter, settings).run, args=(stop,)),
            threading.Thread(target=SyncWorker(store, adapter, settings).run, args=(stop,)),
        ]
        for thread in workers:
            thread.start()
        try:
            expected = []
            for n in range(4):
                reply(adapter, ticket_id, f"public answer {n}", public=True)
                reply(adapter, ticket_id, f"internal thought {n}", public=False)
                expected.append(f"public answer {n}")
            wait_for(lambda: len(bodies(store, session_id)) >= 4)
            time.sleep(1.0)  # let both paths see everything at least once more
        finally:
            stop.set()
            for thread in workers:
                thread.join(timeout=30)
    assert bodies(store, session_id) == expected
    assert [m.seq for m in list_messages(store, session_id, tenant="acme")] == [1, 2, 3, 4]
    with store.transaction() as s:
        causes = set(s.scalars(select(TicketComment.visibility)))
    assert causes == {"public", "internal"}
    tally(store)


def test_receiver_down_polling_catches_up(
    store: Store, adapter: HelpdeskAdapter, settings: IngestionSettings, receiver_port: int
) -> None:
    with receiver(store, settings, receiver_port):
        session_id, ticket_id = open_ticket(store, adapter, settings)
    # The receiver is down: the helpdesk's webhook calls fail, the replies are still committed.
    reply(adapter, ticket_id, "first reply while you were away", public=True)
    reply(adapter, ticket_id, "note while down", public=False)
    reply(adapter, ticket_id, "second reply while you were away", public=True)
    env = cli_env(store, settings)
    result = CliRunner().invoke(cli, ["sync", "--once"], env=env)
    assert result.exit_code == 0, result.output
    [summary] = result.stdout.splitlines()  # the summary is the result, on stdout
    assert summary.startswith("sync helpdesk: ")
    assert ", 2 messages," in summary
    assert bodies(store, session_id) == [
        "first reply while you were away",
        "second reply while you were away",
    ]
    # Back up: the next reply comes by webhook, nothing is doubled by either path.
    with receiver(store, settings, receiver_port):
        reply(adapter, ticket_id, "welcome back", public=True)
        InboxWorker(store, adapter, settings).process_pending()
    assert CliRunner().invoke(cli, ["sync", "--once"], env=env).exit_code == 0
    assert bodies(store, session_id)[-1] == "welcome back"
    assert len(bodies(store, session_id)) == 3
    tally(store)


def test_forged_and_lying_webhooks_change_nothing(
    store: Store, adapter: HelpdeskAdapter, settings: IngestionSettings, receiver_port: int
) -> None:
    with receiver(store, settings, receiver_port) as url:
        session_id, ticket_id = open_ticket(store, adapter, settings)
        InboxWorker(store, adapter, settings).process_pending()
        before = inbox.state_counts(store)
        lie = json.dumps(
            {
                "ticket": {
                    "id": int(ticket_id),
                    "status": 3,
                    "followup_set": [{"comment": "you win", "public": True}],
                },
                "followup_id": 10**9,
            }
        ).encode()
        forged = httpx.post(f"{url}/webhooks/helpdesk", params={"token": "guess"}, content=lie)
        assert (forged.status_code, forged.json()["error"]) == (401, "bad_token")
        unsigned = httpx.post(f"{url}/webhooks/helpdesk", content=lie)
        assert unsigned.json()["error"] == "missing_header"
        oversized = httpx.post(
            f"{url}/webhooks/helpdesk", params={"token": TOKEN}, content=b"x" * 1_000_001
        )
        assert oversized.status_code == 413
        assert inbox.state_counts(store) == before
        # With the right URL token the lie is stored, but only as a hint: the re-read wins.
        accepted = httpx.post(f"{url}/webhooks/helpdesk", params={"token": TOKEN}, content=lie)
        assert accepted.status_code == 202
        again = httpx.post(f"{url}/webhooks/helpdesk", params={"token": TOKEN}, content=lie)
        assert again.json()["status"] == "duplicate"
        InboxWorker(store, adapter, settings).process_pending()
    assert bodies(store, session_id) == []
    with store.transaction() as s:
        assert (
            s.scalars(select(Ticket.status).where(Ticket.external_id == ticket_id)).one()
            == "escalated"
        )
    tally(store)


def test_429_and_outage_from_the_real_helpdesk_are_honoured(
    store: Store, adapter: HelpdeskAdapter, settings: IngestionSettings, receiver_port: int
) -> None:
    from tests.support.fault_proxy import FaultProxy

    with receiver(store, settings, receiver_port):
        session_id, ticket_id = open_ticket(store, adapter, settings)
        reply(adapter, ticket_id, "answer behind a rate limit", public=True)
    with FaultProxy(adapter.base_url, methods=frozenset({"GET"})) as proxy:
        proxied = HelpdeskAdapter(
            proxy.url, settings.helpdesk_token.get_secret_value(), queue=settings.helpdesk_queue
        )
        # The inbox worker's re-read is rate-limited: deliveries stay pending, Retry-After is kept.
        proxy.plan("429")
        first = InboxWorker(store, proxied, settings).process_pending()
        assert first.retry_after == 1.0
        assert first.deferred >= 1
        assert bodies(store, session_id) == []
        # The sync worker's listing is rate-limited too: nothing applied, the cursor not moved.
        cursor_before = read_cursor(store, "helpdesk")
        proxy.plan("429")
        poll = SyncWorker(store, proxied, settings).poll_once()
        assert poll.retry_after == 1.0
        assert poll.messages == 0
        assert read_cursor(store, "helpdesk") == cursor_before
        # The helpdesk is unreachable: retryable, no Retry-After, nothing changes.
        proxy.stop()
        cut_off = HelpdeskAdapter(proxy.url, "any", queue=1)  # new connections are refused
        assert SyncWorker(store, cut_off, settings).poll_once().retry_after == 0.0
        cut_off.close()
        assert bodies(store, session_id) == []
        proxy.start()
        time.sleep(first.retry_after)  # the deferred deliveries wait out the Retry-After
        # Back: the next rounds deliver the reply once.
        assert InboxWorker(store, proxied, settings).process_pending().messages == 1
        assert SyncWorker(store, proxied, settings).poll_once().messages == 0
        assert proxy.injected["429"] == 2
        proxied.close()
    assert bodies(store, session_id) == ["answer behind a rate limit"]
    tally(store)


def test_pushed_to_the_orchestrator_signed_in_order_with_bot_notes(
    store: Store, adapter: HelpdeskAdapter, settings: IngestionSettings, receiver_port: int
) -> None:
    secret = "whsec_" + "b3JjaGVzdHJhdG9yIGUyZSBzZWNyZXQgMzIgYnl0ZXMh"
    pushed: list[dict[str, object]] = []
    orchestrator = FastAPI()

    @orchestrator.post("/callback")
    async def callback(request: Request) -> dict[str, str]:
        body = await request.body()
        verify(request.headers, body, [secret], now=time.time())  # raises (500) when forged
        pushed.append(json.loads(body)["data"])
        return {"status": "ok"}

    with serve(orchestrator) as orchestrator_url, receiver(store, settings, receiver_port):
        pushing = settings.model_copy(
            update={
                "orchestrator_url": f"{orchestrator_url}/callback",
                "orchestrator_secret": SecretStr(secret),
                "bot_note_after_forward": True,
            }
        )
        session_id, ticket_id = open_ticket(store, adapter, pushing)
        for n in range(3):
            reply(adapter, ticket_id, f"pushed answer {n}", public=True)
        reply(adapter, ticket_id, "never pushed", public=False)
        worker, channel = (
            InboxWorker(store, adapter, pushing),
            Pusher(store, pushing, adapter=adapter),
        )
        for _ in range(5):  # notes fire webhooks of their own: a few rounds settle everything
            worker.process_pending()
            channel.run_once()
        channel.close()
    assert [(m["seq"], m["body"]) for m in pushed] == [
        (n + 1, f"pushed answer {n}") for n in range(3)
    ]
    assert [m["id"] for m in pushed] == [
        m.id for m in list_messages(store, session_id, tenant="acme")
    ]
    notes = [c for c in adapter.get_ticket(ticket_id).comments if NOTE_MARKER in c.body]
    assert len(notes) == 3
    assert {c.visibility for c in notes} == {"internal"}
    with store.transaction() as s:
        states = set(s.scalars(select(OutgoingMessage.push_state)))
    assert states == {"delivered"}
    tally(store)
