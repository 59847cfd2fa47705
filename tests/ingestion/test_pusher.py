"""The push worker: signed pushes to the orchestrator in per-session order with retries, and the
optional bot note after forwarding."""

from __future__ import annotations

import base64
import datetime as dt
import json
from collections.abc import Iterator

import pytest
from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse
from pydantic import SecretStr
from sqlalchemy import select

from ingestion.applier import apply_snapshot
from ingestion.messages import list_messages
from ingestion.pusher import NOTE_MARKER, Pusher
from ingestion.schema import OutboxRow, OutgoingMessage, TicketComment
from ingestion.settings import IngestionSettings
from ingestion.signatures import verify
from ingestion.store import Store
from ingestion.ticketing import NewTicket
from tests.support.fake_ticketing import FakeClock, FakeTicketing, mirror_ticket, seed_replies
from tests.support.loopback import serve

SECRET = "whsec_" + base64.b64encode(b"orchestrator push secret 32 byte").decode()


class Orchestrator:
    """A loopback stand-in for the orchestrator's callback: verifies, records, answers."""

    def __init__(self) -> None:
        self.received: list[dict[str, object]] = []
        self.answers: list[tuple[int, dict[str, str]]] = []
        self.app = FastAPI()

        @self.app.post("/hook")
        async def hook(request: Request) -> JSONResponse:
            body = await request.body()
            verify(request.headers, body, [SECRET], now=dt.datetime.now(dt.UTC).timestamp())
            status, headers = self.answers.pop(0) if self.answers else (200, {})
            if status < 300:
                self.received.append(json.loads(body)["data"])
            return JSONResponse({}, status_code=status, headers=headers)


@pytest.fixture
def orchestrator() -> Iterator[tuple[Orchestrator, str]]:
    stand_in = Orchestrator()
    with serve(stand_in.app) as url:
        yield stand_in, f"{url}/hook"


def pusher_for(
    store: Store, hook: str, replies: dict[str, int], **changes: float
) -> tuple[Pusher, FakeClock]:
    """A pusher signing for ``hook``, over sessions seeded with that many replies, on a clock."""
    settings = IngestionSettings(
        orchestrator_url=hook,
        orchestrator_secret=SecretStr(SECRET),
        **changes,  # type: ignore[arg-type]
    )
    seed_replies(store, settings, replies)
    clock = FakeClock(dt.datetime.now(dt.UTC))
    return Pusher(store, settings, clock=clock), clock


def test_push_signed_in_order_with_retries(
    store: Store, orchestrator: tuple[Orchestrator, str]
) -> None:
    stand_in, hook = orchestrator
    channel, clock = pusher_for(
        store, hook, {"s1": 2, "s2": 1}, relay_base_delay=10, relay_max_delay=60
    )
    stand_in.answers = [(500, {}), (200, {})]  # the first push fails, the other head succeeds
    first = channel.push_due()
    assert (first.delivered, first.retrying) == (1, 1)
    assert (
        channel.push_due().delivered == 0
    )  # the failed head waits its backoff; s1 reply 2 waits too
    clock.now += dt.timedelta(seconds=11)
    stand_in.answers = [(503, {"Retry-After": "120"})]
    assert channel.push_due().retrying == 1
    clock.now += dt.timedelta(seconds=61)
    assert channel.push_due().delivered == 0  # Retry-After (120 s) beats the backoff cap (60 s)
    clock.now += dt.timedelta(seconds=60)
    while channel.push_due().delivered:
        pass
    per_session: dict[str, list[int]] = {}
    for data in stand_in.received:
        per_session.setdefault(str(data["session_id"]), []).append(int(data["seq"]))  # type: ignore[call-overload]
    assert per_session == {"s1": [1, 2], "s2": [1]}
    with store.transaction() as s:
        assert set(s.scalars(select(OutgoingMessage.push_state))) == {"delivered"}
    channel.close()


def test_push_dead_on_4xx_and_after_max_attempts(
    store: Store, orchestrator: tuple[Orchestrator, str]
) -> None:
    stand_in, hook = orchestrator
    channel, clock = pusher_for(store, hook, {"s1": 2}, relay_max_attempts=2, relay_base_delay=1)
    stand_in.answers = [(410, {})]
    assert channel.push_due().dead == 1  # permanent: dead at once; the next message is unblocked
    stand_in.answers = [(500, {}), (500, {})]
    channel.push_due()
    clock.now += dt.timedelta(seconds=5)
    assert channel.push_due().dead == 1
    with store.transaction() as s:
        rows = s.scalars(select(OutgoingMessage).order_by(OutgoingMessage.seq)).all()
        assert [(r.push_state, r.push_attempts) for r in rows] == [("dead", 1), ("dead", 2)]
        assert rows[1].last_error == "HTTP 500"
    # Dead pushes stay available to pull.
    assert [m.seq for m in list_messages(store, "s1", tenant="acme")] == [1, 2]
    channel.close()


def test_bot_note_after_forward(store: Store) -> None:
    settings = IngestionSettings(bot_note_after_forward=True)
    fake = seed_replies(store, settings, {"s1": 1})
    with store.transaction() as s:
        assert [r.topic for r in s.scalars(select(OutboxRow))] == ["ticket.bot_note"]
    channel = Pusher(store, settings, adapter=fake)
    assert channel.add_bot_notes() == 1
    assert channel.add_bot_notes() == 0
    [note] = [c for c in fake.tickets["1"].comments if NOTE_MARKER in c.body]
    assert note.visibility == "internal"
    # The note comes back in the next snapshot: mirrored once (as the bot's), never forwarded.
    result = apply_snapshot(store, "fake", fake.tickets["1"], cause="webhook", settings=settings)
    assert result.messages == ()
    with store.transaction() as s:
        roles = {c.external_id: c.author_role for c in s.scalars(select(TicketComment))}
    assert roles[note.id] == "bot"
    assert len(list_messages(store, "s1", tenant="acme")) == 1


def test_bot_note_retry_does_not_duplicate(store: Store) -> None:
    settings = IngestionSettings(
        bot_note_after_forward=True, relay_base_delay=0.001, relay_max_delay=0.001
    )
    fake = seed_replies(store, settings, {"s1": 1})
    clock = FakeClock(dt.datetime.now(dt.UTC))
    channel = Pusher(store, settings, adapter=fake, clock=clock)
    real_add = fake.add_comment

    def add_then_fail(ticket_id: str, body: str, *, public: bool):  # type: ignore[no-untyped-def]
        real_add(ticket_id, body, public=public)
        from ingestion.errors import TicketingUnavailable

        raise TicketingUnavailable("500 after commit")

    fake.add_comment = add_then_fail  # type: ignore[method-assign]
    assert channel.add_bot_notes() == 0
    fake.add_comment = real_add  # type: ignore[method-assign]
    clock.now += dt.timedelta(seconds=1)
    assert channel.add_bot_notes() == 1
    assert sum(NOTE_MARKER in c.body for c in fake.tickets["1"].comments) == 1


def test_push_honours_a_retry_after_given_as_an_http_date(
    store: Store, orchestrator: tuple[Orchestrator, str]
) -> None:
    from email.utils import format_datetime

    stand_in, hook = orchestrator
    channel, clock = pusher_for(store, hook, {"s1": 1}, relay_base_delay=1)
    until = clock.now + dt.timedelta(seconds=200)  # within the signature tolerance
    stand_in.answers = [(429, {"Retry-After": format_datetime(until, usegmt=True)})]
    assert channel.push_due().retrying == 1
    with store.transaction() as s:
        due = s.scalars(select(OutgoingMessage.next_push_at)).one()
    assert due is not None
    assert due >= until - dt.timedelta(seconds=1)  # the date, not the 1 s backoff
    clock.now = until + dt.timedelta(seconds=1)
    assert channel.push_due().delivered == 1
    channel.close()


def test_a_message_carries_the_time_the_agent_wrote_it_not_the_poll_time(
    store: Store, orchestrator: tuple[Orchestrator, str]
) -> None:
    stand_in, hook = orchestrator
    settings = IngestionSettings(orchestrator_url=hook, orchestrator_secret=SecretStr(SECRET))
    fake = FakeTicketing()
    remote = fake.create_ticket(NewTicket("s9", "s9", "acme", "t", "b"))
    mirror_ticket(store, "fake", remote.id, "s9")
    written = fake.comment(remote.id, "We re-sent the invoice.", public=True).created_at
    assert written is not None
    polled = dt.datetime.now(dt.UTC)
    assert polled - written > dt.timedelta(hours=1)  # the poll runs long after the agent wrote
    apply_snapshot(
        store, "fake", fake.tickets[remote.id], cause="poll", settings=settings, now=polled
    )
    [message] = list_messages(store, "s9", tenant="acme")
    assert dt.datetime.fromisoformat(message.created_at) == written
    with Pusher(store, settings, clock=FakeClock(dt.datetime.now(dt.UTC))) as pusher:
        assert pusher.push_due().delivered == 1
    assert dt.datetime.fromisoformat(str(stand_in.received[0]["created_at"])) == written
