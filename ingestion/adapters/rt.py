"""Request Tracker 5 driven over its REST2 API (``/REST/2.0``, token or basic authentication).

Mapping (see ``docs/adapters.md`` for the reasons and limits):

- statuses new, open → open; stalled → pending; resolved → resolved; rejected → closed;
  deleted → deleted (overridable with ``status_map`` for custom lifecycles). RT has no
  "reopened": a reply to a resolved ticket moves it back to open, and the applier sees that move.
- comments are transactions: ``Correspond`` is customer-visible, ``Comment`` is internal; no
  other transaction type is a comment (the ticket's creation text is its description). Bodies
  take transaction → attachment → base64; attachments never change, so bodies are cached.
- the conversation id lives in a ticket custom field (default ``caseloop-conversation``, applied
  to the queue); `find_by_conversation` is one TicketSQL search on it.
- `list_updated_since` is server side: TicketSQL ``LastUpdated >= 'YYYY-MM-DD HH:MM:SS'`` (UTC,
  second precision; RT reads it in the API user's time zone, which must be UTC).
- RT answers an invalid status with HTTP 200 and a message list; `set_status` reads the ticket
  back and raises `TicketingRejected` with RT's messages when the status did not change.
"""

from __future__ import annotations

import base64
import binascii
import dataclasses
import datetime as dt
import re
import threading
from collections.abc import Iterator
from typing import Annotated, Any, Generic, TypeVar
from urllib.parse import quote, unquote

import httpx
from pydantic import AwareDatetime, BaseModel, BeforeValidator, ConfigDict, RootModel

from ingestion.adapters.http import JsonApi, TicketNotFound
from ingestion.errors import TicketingRejected
from ingestion.settings import IngestionSettings
from ingestion.ticketing import (
    AdapterBase,
    AuthorRole,
    Capabilities,
    NewTicket,
    RemoteComment,
    RemoteTicket,
    TicketStatus,
)

SYSTEM = "Request Tracker"
#: RT's default lifecycle read as canonical statuses.
STATUS_MAP: dict[str, TicketStatus] = {
    "new": "open",
    "open": "open",
    "stalled": "pending",
    "resolved": "resolved",
    "rejected": "closed",
    "deleted": "deleted",
}
#: Canonical statuses written as RT statuses.
STATUS_TARGETS: dict[TicketStatus, str] = {
    "open": "open",
    "reopened": "open",
    "pending": "stalled",
    "resolved": "resolved",
    "closed": "rejected",
    "duplicate": "rejected",
    "deleted": "deleted",
}
COMMENT_TYPES = {"Correspond": "public", "Comment": "internal"}
#: An open ticket whose latest status change left one of these reads as reopened.
REOPENED_FROM = frozenset({"resolved"})
PAGE_SIZE = 100  # REST2's largest page
BODY_CACHE_SIZE = 4096
TICKETSQL_TIME = "%Y-%m-%d %H:%M:%S"  # the ISO "T…Z" form compares wrongly in TicketSQL
CONVERSATION_SAFE = "-_.:@~+"
CHARSET_RE = re.compile(r'charset="?([\w.:-]+)"?', re.IGNORECASE)


def _rt_id(value: object) -> str:
    """RT ids are strings in create and search answers and integers in GET: one form, text."""
    text = str(value)
    if not text.isdigit():
        raise ValueError(f"{value!r} is not an RT id")
    return text


RTId = Annotated[str, BeforeValidator(_rt_id)]
ItemT = TypeVar("ItemT", bound=BaseModel)


class _Model(BaseModel):
    model_config = ConfigDict(extra="ignore", frozen=True)


class RefJson(_Model):
    """A reference to another record (``{"id": …, "type": …, "_url": …}``)."""

    id: str
    type: str | None = None


class CustomFieldJson(_Model):
    name: str
    values: list[str] = []


class TicketJson(_Model):
    """``GET ticket/ID``."""

    id: RTId
    Subject: str
    Status: str
    LastUpdated: AwareDatetime
    Creator: RefJson | None = None
    Requestor: list[RefJson] = []
    CustomFields: list[CustomFieldJson] = []


class CreatedJson(_Model):
    """``POST ticket``."""

    id: RTId


class NamedRefJson(_Model):
    id: str
    name: str = ""


class QueueJson(_Model):
    """``GET queue/NAME``: only the custom fields applied to its tickets matter here."""

    id: RTId
    TicketCustomFields: list[NamedRefJson] = []


class PageJson(_Model, Generic[ItemT]):
    """One page of a REST2 collection."""

    page: int
    pages: int | None = None
    items: list[ItemT]


class SearchItemJson(_Model):
    id: RTId
    LastUpdated: AwareDatetime


class TransactionItemJson(_Model):
    id: RTId
    Type: str
    Created: AwareDatetime
    Creator: RefJson
    OldValue: str | None = None
    NewValue: str | None = None


class AttachmentItemJson(_Model):
    id: RTId
    TransactionId: RTId
    ContentType: str


class AttachmentJson(_Model):
    """``GET attachment/ID``: ``Content`` is base64."""

    id: RTId
    Content: str | None = None
    Headers: str = ""


class MessagesJson(RootModel[list[str]]):
    """``PUT ticket/ID`` answers a list of messages, errors included, with HTTP 200."""


def conversation_value(conversation_id: str) -> str:
    """The custom field value for a conversation id: percent-encoded outside a plain set, so
    whitespace, quotes and control characters survive RT's field cleaning and TicketSQL."""
    return quote(conversation_id, safe=CONVERSATION_SAFE)


def ticketsql_quote(value: str) -> str:
    """A TicketSQL string literal."""
    return "'" + value.replace("\\", "\\\\").replace("'", "\\'") + "'"


def ticketsql_time(moment: dt.datetime) -> str:
    """A UTC moment as TicketSQL compares it, floored to the second."""
    if moment.tzinfo is None:
        raise TicketingRejected("since: a zone-aware UTC time is required")
    return moment.astimezone(dt.UTC).strftime(TICKETSQL_TIME)


def _ticket_number(ticket_id: str) -> int:
    if not ticket_id.isdigit():
        raise TicketingRejected(f"ticket id {ticket_id!r} is not a Request Tracker id (an integer)")
    return int(ticket_id)


def _decode(attachment: AttachmentJson) -> str:
    match = CHARSET_RE.search(attachment.Headers)
    charset = match.group(1) if match else "utf-8"
    try:
        raw = base64.b64decode(attachment.Content or "", validate=False)
    except (binascii.Error, ValueError) as exc:
        raise TicketingRejected(f"attachment {attachment.id}: Content is not base64") from exc
    try:
        return raw.decode(charset, errors="replace")
    except LookupError:  # an unknown charset name in the mail headers
        return raw.decode("utf-8", errors="replace")


class RTAdapter(AdapterBase):
    """A `TicketingAdapter` for Request Tracker 5; ``base_url`` is the site root (not REST2)."""

    source = "rt"
    capabilities = Capabilities(
        webhooks=False,
        server_side_updated_since=True,
        idempotency_key_header=False,
        find_by_conversation=True,
    )

    def __init__(
        self,
        base_url: str,
        *,
        token: str | None = None,
        username: str | None = None,
        password: str | None = None,
        queue: str = "General",
        conversation_field: str = "caseloop-conversation",
        status_map: dict[str, TicketStatus] | None = None,
        status_targets: dict[TicketStatus, str] | None = None,
        timeout: float = 10.0,
        transport: httpx.BaseTransport | None = None,
    ) -> None:
        if token:
            auth = f"token {token}"
        elif username and password is not None:
            pair = base64.b64encode(f"{username}:{password}".encode()).decode()
            auth = f"Basic {pair}"
        else:
            raise TicketingRejected("rt: a token, or a username and a password, is required")
        self.base_url = base_url.rstrip("/")
        self.username = username
        self.queue = queue
        self.conversation_field = conversation_field
        self.status_map = dict(status_map or STATUS_MAP)
        self.status_targets = dict(status_targets or STATUS_TARGETS)
        self._api = JsonApi(
            SYSTEM,
            f"{self.base_url}/REST/2.0/",
            headers={"Authorization": auth, "Accept": "application/json"},
            timeout=timeout,
            transport=transport,
        )
        self._bodies: dict[str, str] = {}
        self._field_checked = False
        self._lock = threading.Lock()

    # -- reading ---------------------------------------------------------------------------
    def ticket_url(self, ticket_id: int | str) -> str:
        """The agent's page of a ticket."""
        return f"{self.base_url}/Ticket/Display.html?id={ticket_id}"

    def _pages(
        self, path: str, model: type[ItemT], params: dict[str, Any]
    ) -> Iterator[list[ItemT]]:
        number = 1
        while True:
            page = self._api.call(
                "GET",
                path,
                PageJson[model],  # type: ignore[valid-type]
                params={**params, "page": number, "per_page": PAGE_SIZE},
            )
            yield list(page.items)
            if not page.items or page.pages is None or number >= page.pages:
                return
            number += 1

    def _status(self, raw: str, transactions: list[TransactionItemJson]) -> TicketStatus:
        """The mapped status; an open ticket whose last move came from resolved is reopened."""
        try:
            status = self.status_map[raw]
        except KeyError:
            raise TicketingRejected(
                f"Status: RT status {raw!r} is not mapped; add it to the adapter's status_map"
            ) from None
        moves = [t for t in transactions if t.Type == "Status"]
        if status == "open" and moves and moves[-1].OldValue in REOPENED_FROM:
            return "reopened"
        return status

    def get_ticket(self, ticket_id: str) -> RemoteTicket:
        """One ticket with its correspondence and comments; `TicketNotFound` if absent."""
        number = _ticket_number(ticket_id)
        ticket = self._api.call("GET", f"ticket/{number}", TicketJson)
        requestors = {ref.id for ref in ticket.Requestor}
        conversation = next(
            (
                unquote(f.values[0])
                for f in ticket.CustomFields
                if f.name == self.conversation_field and f.values
            ),
            None,
        )
        transactions = self._transactions(number)
        # With token-only auth the adapter's user is not configured: it is the creator of every
        # ticket carrying the conversation field (caseloop's relay creates them all).
        bot = self.username or (ticket.Creator.id if conversation and ticket.Creator else None)
        return RemoteTicket(
            id=ticket.id,
            status=self._status(ticket.Status, transactions),
            raw_status=ticket.Status,
            title=ticket.Subject,
            url=self.ticket_url(ticket.id),
            external_conversation_id=conversation,
            customer_email=next(iter(sorted(requestors)), None),
            updated_at=ticket.LastUpdated,
            comments=self._comments(number, transactions, requestors, bot),
            # The opening message of a ticket caseloop did not open (learning reads it as the
            # problem); caseloop's own carry the escalation in the store instead.
            description=None if conversation else self._description(number, transactions),
        )

    def _transactions(self, number: int) -> list[TransactionItemJson]:
        """The ticket's creation, replies, comments and status changes, oldest first."""
        query = (
            f"ObjectType = 'RT::Ticket' AND ObjectId = {number} "
            "AND (Type = 'Create' OR Type = 'Correspond' OR Type = 'Comment' OR Type = 'Status')"
        )
        params = {
            "query": query,
            "fields": "Type,Created,Creator,OldValue,NewValue",
            "orderby": "id",
        }
        return [
            t for page in self._pages("transactions", TransactionItemJson, params) for t in page
        ]

    def _comments(
        self,
        number: int,
        transactions: list[TransactionItemJson],
        requestors: set[str],
        bot: str | None,
    ) -> tuple[RemoteComment, ...]:
        transactions = [t for t in transactions if t.Type in COMMENT_TYPES]
        if not transactions:
            return ()
        parts: dict[str, list[AttachmentItemJson]] = {}
        attachment_params = {"fields": "TransactionId,ContentType", "orderby": "id"}
        for page in self._pages(
            f"ticket/{number}/attachments", AttachmentItemJson, attachment_params
        ):
            for part in page:
                parts.setdefault(part.TransactionId, []).append(part)
        return tuple(
            RemoteComment(
                id=t.id,
                body=self._body(parts.get(t.id, [])),
                visibility="public" if COMMENT_TYPES[t.Type] == "public" else "internal",
                author=t.Creator.id,
                author_role=_role(t.Creator.id, requestors, bot),
                created_at=t.Created,
            )
            for t in transactions
        )

    def _description(self, number: int, transactions: list[TransactionItemJson]) -> str | None:
        """The text of the ``Create`` transaction (the requestor's opening message)."""
        create = next((t for t in transactions if t.Type == "Create"), None)
        if create is None:
            return None
        params = {"fields": "TransactionId,ContentType", "orderby": "id"}
        parts = [
            part
            for page in self._pages(f"ticket/{number}/attachments", AttachmentItemJson, params)
            for part in page
            if part.TransactionId == create.id
        ]
        return self._body(parts) or None

    def _body(self, parts: list[AttachmentItemJson]) -> str:
        """The text of a transaction: its first text/plain part, else its first text/html."""
        for wanted in ("text/plain", "text/html"):
            part = next((p for p in parts if p.ContentType.lower() == wanted), None)
            if part is None:
                continue
            cached = self._bodies.get(part.id)
            if cached is None:
                cached = _decode(self._api.call("GET", f"attachment/{part.id}", AttachmentJson))
                if len(self._bodies) >= BODY_CACHE_SIZE:
                    self._bodies.pop(next(iter(self._bodies)))
                self._bodies[part.id] = cached
            return cached.rstrip("\n")
        return ""

    def list_updated_since(
        self, since: dt.datetime, after_id: str | None, limit: int
    ) -> list[RemoteTicket]:
        """Tickets of the queue with ``(LastUpdated, id) >= (since, after_id)``, in that order.

        ``updated_at`` is the search's ``LastUpdated`` (what the order is built on), even if the
        ticket changed again while it was read: the newer change is then seen on the next poll.
        """
        if since.tzinfo is None:
            raise TicketingRejected("since: a zone-aware UTC time is required")
        floor_id = -1 if after_id is None else _ticket_number(after_id)
        floor = (since.astimezone(dt.UTC).replace(microsecond=0), floor_id)
        query = (
            f"Queue = {ticketsql_quote(self.queue)} "
            f"AND LastUpdated >= {ticketsql_quote(ticketsql_time(since))}"
        )
        params = {
            "query": query,
            "fields": "LastUpdated",
            "orderby": ["LastUpdated", "id"],
            "order": ["ASC", "ASC"],
        }
        chosen: list[SearchItemJson] = []
        for page in self._pages("tickets", SearchItemJson, params):
            chosen += [i for i in page if (i.LastUpdated, int(i.id)) >= floor]
            if len(chosen) >= limit:
                break
        chosen.sort(key=lambda i: (i.LastUpdated, int(i.id)))
        result = []
        for item in chosen[:limit]:
            try:
                snapshot = self.get_ticket(item.id)
            except TicketNotFound:
                continue  # shredded between the search and the read
            result.append(dataclasses.replace(snapshot, updated_at=item.LastUpdated))
        return result

    def find_by_conversation(self, conversation_id: str) -> RemoteTicket | None:
        """The newest ticket whose conversation custom field equals ``conversation_id``."""
        field = f"'CF.{{{self.conversation_field}}}'"
        params = {
            "query": f"{field} = {ticketsql_quote(conversation_value(conversation_id))}",
            "orderby": "id",
            "order": "DESC",
            "per_page": 1,
        }
        page = self._api.call("GET", "tickets", PageJson[RefJson], params=params)
        return self.get_ticket(page.items[0].id) if page.items else None

    # -- writing ---------------------------------------------------------------------------
    def _check_conversation_field(self) -> None:
        """RT silently drops unknown custom fields on create: refuse before creating instead."""
        with self._lock:
            if self._field_checked:
                return
            queue = self._api.call("GET", f"queue/{quote(self.queue, safe='')}", QueueJson)
            names = {f.name for f in queue.TicketCustomFields}
            if self.conversation_field not in names:
                raise TicketingRejected(
                    f"rt_conversation_field: custom field {self.conversation_field!r} is not "
                    f"applied to queue {self.queue!r}; create it (Admin → Custom Fields)"
                )
            self._field_checked = True

    def create_ticket(self, ticket: NewTicket) -> RemoteTicket:
        """Create a ticket in the queue, the conversation id in its custom field."""
        self._check_conversation_field()
        body: dict[str, Any] = {
            "Queue": self.queue,
            "Subject": ticket.title,
            "Content": ticket.body,
            "ContentType": "text/plain",
            "CustomFields": {
                self.conversation_field: conversation_value(ticket.external_conversation_id)
            },
        }
        if ticket.customer_email:
            body["Requestor"] = ticket.customer_email
        created = self._api.call("POST", "ticket", CreatedJson, json=body)
        return self.get_ticket(created.id)

    def add_comment(self, ticket_id: str, body: str, *, public: bool) -> RemoteComment:
        """``correspond`` (customer-visible; reopens a resolved ticket) or ``comment``."""
        if not body.strip():
            raise TicketingRejected("comment: an empty comment cannot be added")
        number = _ticket_number(ticket_id)
        kind = "correspond" if public else "comment"
        data = {"Content": body, "ContentType": "text/plain"}
        response = self._api.request("POST", f"ticket/{number}/{kind}", json=data)
        location = response.headers.get("Location", "")
        match = re.search(r"/transaction/(\d+)$", location)
        if match is None:
            raise TicketingRejected(f"RT did not add the {kind}: {response.text[:300]}")
        transaction = self._api.call("GET", f"transaction/{match.group(1)}", TransactionItemJson)
        return RemoteComment(
            id=transaction.id,
            body=body,
            visibility="public" if public else "internal",
            author=transaction.Creator.id,
            author_role="bot",
            created_at=transaction.Created,
        )

    def set_status(self, ticket_id: str, status: TicketStatus) -> None:
        """Set the mapped RT status and read it back (RT reports refusals with HTTP 200)."""
        number = _ticket_number(ticket_id)
        target = self.status_targets.get(status)
        if target is None:
            raise TicketingRejected(f"status: {status!r} has no Request Tracker equivalent")
        answer = self._api.call("PUT", f"ticket/{number}", MessagesJson, json={"Status": target})
        current = self._api.call("GET", f"ticket/{number}", TicketJson)
        if current.Status != target:
            said = "; ".join(answer.root) or "no message"
            raise TicketingRejected(f"Status: RT refused {target!r} for ticket {number}: {said}")

    def close(self) -> None:
        self._api.close()


def _role(creator: str, requestors: set[str], bot: str | None) -> AuthorRole:
    if bot is not None and creator == bot:
        return "bot"
    if creator in requestors:
        return "customer"
    return "unknown" if creator in ("RT_System", "Nobody") else "agent"


def from_settings(settings: IngestionSettings) -> RTAdapter:
    """The adapter `ingestion.adapters.build_adapter` returns for ``ticketing = "rt"``."""
    return RTAdapter(
        settings.rt_url,
        token=settings.rt_token.get_secret_value() or None,
        username=settings.rt_username or None,
        password=settings.rt_password.get_secret_value(),
        queue=settings.rt_queue,
        conversation_field=settings.rt_conversation_field,
        timeout=settings.ticketing_timeout,
    )
