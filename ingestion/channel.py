"""The channel back to the orchestrator: forwarded agent replies, pulled or pushed, in order.

Outgoing messages are written by the applier (stable id = UUIDv5 of ticket and comment, ``seq``
per session). The orchestrator gets them either way, and dedupes on the id:

* pull: `list_messages` behind ``GET /sessions/{session_id}/messages?after=<seq or message id>``;
* push: `Channel.push_due` POSTs each message to ``orchestrator_url``, signed with the Standard
  Webhooks scheme (``webhook-id`` = message id, so the orchestrator's dedupe survives retries).
  Only the oldest undelivered message of a session is in flight, so a session never receives
  seq n+1 before seq n. Outgoing messages are one of the store's work queues (`ingestion.queue`):
  a claimed message is leased, so a crashed pusher's work is re-taken, and failures retry with
  the shared policy (exponential backoff with jitter, Retry-After honoured, dead after
  ``relay_max_attempts`` or at once on an answer that cannot succeed later, see
  `ingestion.adapters.http.is_retryable`).

With ``bot_note_after_forward`` the applier also queues an outbox row (topic `TOPIC_BOT_NOTE`,
its own aggregate so it never holds back an escalation) and `Channel.add_bot_notes` writes an
internal note on the ticket: "forwarded to the customer as message …". A retried note first
looks for its marker on the ticket, and the note is mirrored as the bot's own internal comment.
"""

from __future__ import annotations

import datetime as dt
import json
import logging
import random
import socket
import threading
import uuid
from collections.abc import Callable
from dataclasses import asdict, dataclass

import httpx
from sqlalchemy import Select, select

from ingestion import outbox, queue
from ingestion.adapters.http import is_retryable, parse_retry_after
from ingestion.applier import record_own_note
from ingestion.clock import utcnow
from ingestion.errors import NotFound, TicketingRejected, TicketingUnavailable
from ingestion.notes import marker, marker_prefix, write_note_once
from ingestion.outbox import TOPIC_BOT_NOTE
from ingestion.queue import QueueTable, RetryPolicy, Tally
from ingestion.schema import OutgoingMessage, Ticket, TicketComment
from ingestion.settings import IngestionSettings
from ingestion.store import Store
from ingestion.ticketing import TicketingAdapter
from ingestion.webhooks import signed_headers

log = logging.getLogger(__name__)
FORWARDED = "forwarded-message"
#: What every "forwarded" note carries (`ingestion.notes` marker format).
NOTE_MARKER = marker_prefix(FORWARDED)
#: The outgoing messages as a queue: one session at a time, in ``seq`` order.
MESSAGES = QueueTable(
    OutgoingMessage,
    state="push_state",
    attempts="push_attempts",
    due="next_push_at",
    finished=None,
    group="session_id",
    position="seq",
    order=("created_at", "seq"),
    done="delivered",
)
_NO_ERROR = {"last_error": None}


@dataclass(frozen=True, slots=True)
class Message:
    """One customer-visible agent reply on its way to the session."""

    id: str
    session_id: str
    seq: int
    body: str
    author: str | None
    created_at: str  # ISO 8601, UTC
    ticket_source: str
    ticket_id: str

    def to_dict(self) -> dict[str, object]:
        return asdict(self)


def _message(
    row: OutgoingMessage, source: str, ticket_id: str, written_at: dt.datetime | None
) -> Message:
    return Message(
        id=row.id,
        session_id=row.session_id,
        seq=row.seq,
        body=row.body,
        author=row.author,
        # when the agent wrote it; the row's own time (when it was mirrored) is the queue's clock
        created_at=(written_at or row.created_at).isoformat(),
        ticket_source=source,
        ticket_id=ticket_id,
    )


def _base_query() -> Select[tuple[OutgoingMessage, str, str, dt.datetime | None]]:
    return (
        select(OutgoingMessage, Ticket.source, Ticket.external_id, TicketComment.created_at)
        .join(TicketComment, TicketComment.id == OutgoingMessage.comment_id)
        .join(Ticket, Ticket.id == TicketComment.ticket_id)
    )


def read_messages(store: Store, ids: list[str]) -> list[Message]:
    """The messages with these ids (those that exist)."""
    if not ids:
        return []
    with store.transaction() as session:
        rows = session.execute(_base_query().where(OutgoingMessage.id.in_(ids))).all()
        return [_message(*row) for row in rows]


def list_messages(
    store: Store, session_id: str, *, after: str | None = None, limit: int = 200
) -> list[Message]:
    """Messages of a session after ``after`` (a seq number or a message id), oldest first.

    Raises `NotFound` when ``after`` names a message id this session does not have.
    """
    with store.transaction() as session:
        floor = 0
        if after and after.isdigit():
            floor = int(after)
        elif after:
            seq = session.scalar(
                select(OutgoingMessage.seq).where(
                    OutgoingMessage.id == after, OutgoingMessage.session_id == session_id
                )
            )
            if seq is None:
                raise NotFound(f"after: message {after!r} is not in session {session_id!r}")
            floor = seq
        rows = session.execute(
            _base_query()
            .where(OutgoingMessage.session_id == session_id, OutgoingMessage.seq > floor)
            .order_by(OutgoingMessage.seq)
            .limit(limit)
        ).all()
        return [_message(*row) for row in rows]


@dataclass(frozen=True, slots=True)
class _Claimed:
    id: str
    attempts: int
    created_at: dt.datetime

    @classmethod
    def of(cls, row: OutgoingMessage) -> _Claimed:
        return cls(row.id, row.push_attempts, row.created_at)


@dataclass(frozen=True, slots=True)
class PushReport(Tally):
    """What rounds of pushes and notes did (reports add up)."""

    delivered: int = 0
    retrying: int = 0
    dead: int = 0
    notes: int = 0


class Channel:
    """Pushes due messages and writes bot notes; clock and randomness are injectable."""

    def __init__(
        self,
        store: Store,
        settings: IngestionSettings,
        *,
        adapter: TicketingAdapter | None = None,
        transport: httpx.BaseTransport | None = None,
        clock: Callable[[], dt.datetime] = utcnow,
        rng: random.Random | None = None,
    ) -> None:
        self.store = store
        self.settings = settings
        self.adapter = adapter
        self.clock = clock
        self.rng = rng or random.Random()
        self.policy = RetryPolicy.from_settings(settings)
        self.owner = f"channel:{socket.gethostname()}:{uuid.uuid4().hex[:8]}"
        self._http = httpx.Client(timeout=settings.ticketing_timeout, transport=transport)

    def close(self) -> None:
        self._http.close()

    # -- push ------------------------------------------------------------------------------
    def _claim(self, limit: int) -> list[tuple[Message, _Claimed]]:
        claimed = queue.claim(
            self.store,
            MESSAGES,
            self.owner,
            now=self.clock(),
            lease_seconds=self.settings.relay_lease_seconds,
            limit=limit,
            view=_Claimed.of,
        )
        found = {m.id: m for m in read_messages(self.store, [c.id for c in claimed])}
        return [(found[c.id], c) for c in claimed if c.id in found]

    def push_due(self, limit: int = 50) -> PushReport:
        """POST every due head-of-session message once; record delivered / retry / dead."""
        if not self.settings.orchestrator_url:
            return PushReport()
        report = PushReport()
        for message, claimed in self._claim(limit):
            outcome = self._push(message, claimed)
            report += PushReport(
                delivered=outcome == "delivered",
                retrying=outcome == "retry",
                dead=outcome == "dead",
            )
        return report

    def _push(self, message: Message, claimed: _Claimed) -> str:
        body = json.dumps({"type": "message.created", "data": message.to_dict()}).encode()
        now = self.clock()
        headers = {"content-type": "application/json"}
        secret = self.settings.orchestrator_secret.get_secret_value()
        if secret:
            headers.update(signed_headers(secret, message.id, int(now.timestamp()), body))
        else:
            headers.update(
                {"webhook-id": message.id, "webhook-timestamp": str(int(now.timestamp()))}
            )
        retry_after, permanent = None, False
        try:
            response = self._http.post(
                str(self.settings.orchestrator_url), content=body, headers=headers
            )
        except httpx.HTTPError as exc:
            error = f"{type(exc).__name__}: {exc}"
        else:
            if response.is_success:
                with self.store.transaction() as session:
                    queue.complete(session, MESSAGES, [message.id], now=now, values=_NO_ERROR)
                return "delivered"
            error = f"HTTP {response.status_code}"
            permanent = not is_retryable(response.status_code)
            retry_after = parse_retry_after(response.headers.get("retry-after"), now=now)
        with self.store.transaction() as session:
            outcome = queue.fail(
                session,
                MESSAGES,
                message.id,
                attempts=claimed.attempts,
                created_at=claimed.created_at,
                error=error,
                now=now,
                policy=self.policy,
                rng=self.rng,
                retry_after=retry_after,
                permanent=permanent,
            )
        log.warning("push of message %s: %s (%s)", message.id, outcome, error)
        return outcome

    # -- bot notes -------------------------------------------------------------------------
    def add_bot_notes(self, limit: int = 20) -> int:
        """Write queued "forwarded" notes; how many were written."""
        if self.adapter is None:
            return 0
        items = outbox.claim(
            self.store,
            self.owner,
            now=self.clock(),
            lease_seconds=self.settings.relay_lease_seconds,
            limit=limit,
            topics=(TOPIC_BOT_NOTE,),
        )
        written = 0
        for item in items:
            written += self._note(item)
        return written

    def _note(self, item: outbox.OutboxItem) -> int:
        assert self.adapter is not None
        with self.store.transaction() as session:
            ticket = session.get(Ticket, item.payload["ticket_row"])
            external_id = ticket.external_id if ticket else None
        tag = marker(FORWARDED, item.payload["message_id"])
        text = f"Forwarded to the customer's chat as message #{item.payload['seq']}.\n{tag}"
        try:
            if ticket is None or external_id is None:
                raise TicketingRejected("the ticket's mirror row is gone")
            note = write_note_once(
                self.adapter, external_id, tag, text, look_first=item.attempts > 1
            )
        except (TicketingUnavailable, TicketingRejected) as exc:
            with self.store.transaction() as session:
                outbox.fail(
                    session,
                    item,
                    error=str(exc),
                    now=self.clock(),
                    policy=self.policy,
                    rng=self.rng,
                    retry_after=getattr(exc, "retry_after", None),
                    permanent=isinstance(exc, TicketingRejected),
                )
            return 0
        with self.store.transaction() as session:
            outbox.complete(session, item, now=self.clock())
            record_own_note(session, ticket.id, note.comment, now=self.clock())
        return 1

    def run_once(self) -> PushReport:
        """One round: pushes, then notes."""
        return self.push_due() + PushReport(notes=self.add_bot_notes())

    def run(self, stop: threading.Event, *, interval: float | None = None) -> PushReport:
        """Push and note until ``stop`` is set."""
        return queue.run(
            stop,
            self.run_once,
            empty=PushReport(),
            idle=interval or self.settings.relay_poll_interval,
            name="pusher",
        )
