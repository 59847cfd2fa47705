"""The push worker: agent replies POSTed to the orchestrator, in order, and the "forwarded" notes.

`Pusher.push_due` POSTs each due message (`ingestion.messages`) to ``orchestrator_url``, signed
with the Standard Webhooks scheme (``webhook-id`` = message id, so the orchestrator's dedupe
survives retries). Only the oldest undelivered message of a session is in flight, so a session
never receives seq n+1 before seq n. Outgoing messages are one of the store's work queues
(`ingestion.queue`): a claimed message is leased, so a crashed pusher's work is re-taken, and
failures retry with the shared policy (exponential backoff with jitter, Retry-After honoured, dead
after ``relay_max_attempts`` or at once on an answer that cannot succeed later, see
`ingestion.adapters.http.is_retryable`).

With ``bot_note_after_forward`` the applier also queues an outbox row (topic `TOPIC_BOT_NOTE`,
its own aggregate so it never holds back an escalation) and `Pusher.add_bot_notes` writes an
internal note on the ticket: "forwarded to the customer as message …", once (`ingestion.notes`),
mirrored as the bot's own internal comment.
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
from dataclasses import dataclass

import httpx

from ingestion import outbox, queue
from ingestion.adapters.http import is_retryable, parse_retry_after
from ingestion.applier import record_own_note
from ingestion.clock import utcnow
from ingestion.errors import TicketingRejected, TicketingUnavailable
from ingestion.messages import Message, read_messages
from ingestion.notes import marker, marker_prefix, write_note_once
from ingestion.outbox import OUTBOX, TOPIC_BOT_NOTE
from ingestion.queue import Failure, QueueTable, Retrier, Tally
from ingestion.schema import OutgoingMessage, Ticket
from ingestion.settings import IngestionSettings
from ingestion.signatures import signed_headers
from ingestion.store import Store
from ingestion.ticketing import TicketingAdapter

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

__all__ = ["MESSAGES", "NOTE_MARKER", "PushReport", "Pusher"]


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


class Pusher:
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
        self.retrier = Retrier.from_settings(settings, rng=rng, clock=clock)
        self.owner = f"pusher:{socket.gethostname()}:{uuid.uuid4().hex[:8]}"
        self._http = httpx.Client(timeout=settings.ticketing_timeout, transport=transport)

    def close(self) -> None:
        """Close the HTTP client."""
        self._http.close()

    def __enter__(self) -> Pusher:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

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
            failure = Failure(error, retry_after, permanent)
            outcome = self.retrier.fail(session, MESSAGES, claimed, failure)
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
                self.retrier.fail(session, OUTBOX, item, Failure.of(exc))
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
