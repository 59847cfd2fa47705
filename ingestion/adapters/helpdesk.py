"""django-helpdesk (2.6) driven over its REST API (``/helpdesk/api/``, DRF token auth).

Mapping (see ``docs/helpdesk.md`` for the reasons and costs):

- statuses 1 Open → open, 2 Reopened → reopened, 3 Resolved → resolved, 4 Closed → closed,
  5 Duplicate → duplicate; ``on_hold`` on an open or reopened ticket reads as pending. Status
  changes are follow-ups carrying ``new_status`` (history and webhooks, unlike a PATCH).
- comments are follow-ups; only ``public: true`` reads as public (default-deny). The first
  follow-up ("Ticket Opened", a public copy of the description) always reads as internal, and
  follow-ups without text (pure status changes) are not comments at all.
- the helpdesk ignores idempotency keys and cannot filter by conversation, so the description
  ends with a footer: marker lines (conversation id, idempotency key, tenant) and a fenced JSON
  copy of the escalation payload. `find_by_conversation` reads the marker through a
  `ConversationIndex`, scanning only tickets above the floor it has already read completely.
- there are no ticket timestamps: ``updated_at`` is the newest follow-up date, and
  `list_updated_since` reads every ticket (the API has no "updated since" filter).
- the helpdesk renders follow-up comments as Django templates (``{{ x }}`` substituted,
  ``{# #}`` dropped, an unpaired ``{%`` or ``%}`` a 500), so `add_comment` writes braces as
  template literals that render back to themselves (`template_literal`); the stored comment is the
  literal text, so reading needs no decoding. Titles and descriptions are stored as sent.
"""

from __future__ import annotations

import datetime as dt
import json
import logging
import math
import re
import threading
import time
from collections.abc import Callable, Iterable
from typing import Literal
from urllib.parse import quote, unquote

import httpx
from pydantic import AwareDatetime, BaseModel, ConfigDict

from ingestion.adapters.http import JsonApi, TicketNotFound
from ingestion.errors import TicketingError, TicketingRejected
from ingestion.ticketing import (
    AdapterBase,
    AuthorRole,
    Capabilities,
    NewTicket,
    RemoteComment,
    RemoteTicket,
    TicketStatus,
)

log = logging.getLogger(__name__)

SYSTEM = "django-helpdesk"
STATUS_NAMES: dict[int, TicketStatus] = {
    1: "open",
    2: "reopened",
    3: "resolved",
    4: "closed",
    5: "duplicate",
}
STATUS_CODES: dict[TicketStatus, int] = {name: code for code, name in STATUS_NAMES.items()}
MARKER_RE = re.compile(r"^caseloop-conversation: (\S+)$", re.MULTILINE)
FOOTER_RULE = "\n\n---\n"
#: What the "Ticket Opened" follow-up says once the adapter has replaced its copy of the
#: description, so the agent reads the escalation once (in the ticket's header).
OPENING_NOTE = "Opened by caseloop: the escalation (reason, evidence, transcript) is above."
#: Page size of the incremental lookups: between two lookups only a few tickets are new.
PROBE_SIZE = 10
#: How long an id missing below the newest one is re-read: a ticket whose id was allocated before
#: a newer ticket's but committed after it (a helpdesk on PostgreSQL or MySQL with concurrent
#: creates) appears within a request's duration. A hole older than this is a deletion.
LATE_COMMIT_SECONDS = 60.0
#: Only holes this close below the newest id are watched: few creates are in flight at once.
LATE_COMMIT_WINDOW = 100
#: Delimiters Django's template lexer acts on. django-helpdesk renders each follow-up comment as a
#: template, so text holding any of them must be written with `template_literal`.
TEMPLATE_SEQUENCE_RE = re.compile(r"\{[{%#]|[}%#]\}")
#: A brace as a template variable holding a string literal: it renders to the brace itself.
BRACE_LITERALS = {"{": '{{ "{" }}', "}": '{{ "}" }}'}


class _Model(BaseModel):
    model_config = ConfigDict(extra="ignore", frozen=True)


class FollowUpJson(_Model):
    """A follow-up as ``/api/followups/`` and ``followup_set`` return it."""

    id: int
    ticket: int
    user: int | None = None
    title: str | None = None
    comment: str | None = None
    public: bool | None = None
    new_status: Literal[1, 2, 3, 4, 5] | None = None
    date: AwareDatetime


class TicketJson(_Model):
    """A ticket as ``/api/tickets/`` returns it."""

    id: int
    queue: int
    title: str
    description: str | None = None
    submitter_email: str | None = None
    status: Literal[1, 2, 3, 4, 5]
    on_hold: bool = False
    followup_set: list[FollowUpJson] = []


class TicketPageJson(_Model):
    """One page of DRF's ``PageNumberPagination``."""

    count: int
    results: list[TicketJson]


def render_footer(ticket: NewTicket) -> str:
    """The machine-readable tail of a ticket description (marker lines + payload copy)."""
    payload = json.dumps(ticket.payload, sort_keys=True, separators=(",", ":"), default=str)
    return (
        f"{FOOTER_RULE}caseloop-conversation: {quote(ticket.external_conversation_id, safe='')}\n"
        f"caseloop-idempotency-key: {ticket.idempotency_key}\n"
        f"caseloop-tenant: {quote(ticket.tenant, safe='')}\n"
        "caseloop's machine-readable copy of the escalation (nothing to read here):\n\n"
        f"```caseloop-escalation\n{payload}\n```\n"
    )


def conversation_marker(description: str | None) -> str | None:
    """The conversation id in a description's footer; the last marker wins (the footer is last)."""
    matches = MARKER_RE.findall(description or "")
    return unquote(matches[-1]) if matches else None


def template_literal(text: str) -> str:
    """``text`` written so that django-helpdesk's rendering of a follow-up stores exactly ``text``.

    The helpdesk wraps every ``{%`` and ``%}`` in ``{% verbatim %}`` and renders the result with
    the ticket as context, so ``{% templatetag %}`` would show up verbatim and ``{{ x }}`` would be
    substituted. Instead every brace becomes ``{{ "{" }}`` or ``{{ "}" }}``: the result holds no
    ``{%``, ``%}``, ``{#`` or ``#}`` of its own, and Django renders a string literal unescaped.
    Text without a template delimiter is returned unchanged.
    """
    if not TEMPLATE_SEQUENCE_RE.search(text):
        return text
    return re.sub(r"[{}]", lambda brace: BRACE_LITERALS[brace.group()], text)


def _status(ticket: TicketJson) -> TicketStatus:
    if ticket.on_hold and ticket.status in (1, 2):
        return "pending"
    return STATUS_NAMES[ticket.status]


def _role(followup: FollowUpJson, opening: bool) -> AuthorRole:
    if opening:
        ours = followup.comment == OPENING_NOTE or conversation_marker(followup.comment)
        return "bot" if ours else "unknown"
    return "agent" if followup.user is not None else "unknown"


def _comment(followup: FollowUpJson, opening: bool) -> RemoteComment:
    return RemoteComment(
        id=str(followup.id),
        body=followup.comment or "",
        visibility="public" if followup.public is True and not opening else "internal",
        author=None if followup.user is None else str(followup.user),
        author_role=_role(followup, opening),
        created_at=followup.date.astimezone(dt.UTC),
    )


def _ticket_id(ticket_id: str) -> int:
    if not (ticket_id.isascii() and ticket_id.isdigit()):
        raise TicketingRejected(f"ticket id {ticket_id!r} is not a django-helpdesk id (an integer)")
    return int(ticket_id)


class ConversationIndex:
    """Conversation id → newest ticket id, kept current by reading only the tickets above `floor`.

    Invariant: every ticket the helpdesk shows with an id at or below `floor` has been read by a
    scan and is in `newest` (or a newer ticket of its conversation is). Only `absorb`, fed with
    *every* ticket a scan found above the floor, moves the floor. `remember` (a create's answer)
    fills the map but never moves the floor: a create answered with id N says nothing about the
    ids below N, which may belong to other relays' tickets or to our own earlier create whose
    answer was lost (500 after commit, timeout); moving the floor there made lookups miss those
    tickets and the relay create duplicates.

    Ids below the newest one that a scan did not see are *holes*: deleted tickets, or tickets
    committed after a newer one (ids allocated before the commit). The floor stays below a hole
    for `LATE_COMMIT_SECONDS`, so a late ticket is still read; after that the hole is taken for a
    deletion. Ids are never reused (SQLite AUTOINCREMENT, PostgreSQL sequences), so a deleted
    ticket's id cannot come back as a new ticket below the floor.
    """

    __slots__ = ("_clock", "holes", "newest", "scanned_up_to")

    def __init__(self, clock: Callable[[], float] = time.monotonic) -> None:
        self._clock = clock
        self.newest: dict[str, int] = {}
        self.scanned_up_to = 0  # the highest id a scan has read
        self.holes: dict[int, float] = {}  # unseen id below `scanned_up_to` → when first missed

    @property
    def floor(self) -> int:
        """Scans read every ticket with a greater id; 0 means everything."""
        return min(self.holes, default=self.scanned_up_to + 1) - 1

    def remember(self, ticket: TicketJson) -> None:
        """Map the ticket's conversation to it if it is the newest one; the floor does not move."""
        conversation = conversation_marker(ticket.description)
        if conversation is not None:
            self.newest[conversation] = max(self.newest.get(conversation, 0), ticket.id)

    def absorb(self, tickets: Iterable[TicketJson]) -> None:
        """Index the result of a scan: every ticket the helpdesk showed above `floor`."""
        now = self._clock()
        ids: set[int] = set()
        for ticket in tickets:
            self.remember(ticket)
            ids.add(ticket.id)
            self.holes.pop(ticket.id, None)
        top = max(ids, default=self.scanned_up_to)
        for missing in range(max(self.scanned_up_to, top - LATE_COMMIT_WINDOW) + 1, top):
            if missing not in ids:
                self.holes[missing] = now
        self.holes = {i: t for i, t in self.holes.items() if now - t < LATE_COMMIT_SECONDS}
        self.scanned_up_to = max(self.scanned_up_to, top)


class HelpdeskAdapter(AdapterBase):
    """A `TicketingAdapter` for django-helpdesk; ``base_url`` is the site root (not the API)."""

    source = "helpdesk"
    capabilities = Capabilities(
        webhooks=True,
        server_side_updated_since=False,
        idempotency_key_header=False,
        find_by_conversation=True,
    )

    def __init__(
        self,
        base_url: str,
        token: str,
        *,
        queue: int,
        timeout: float = 10.0,
        transport: httpx.BaseTransport | None = None,
        priority: int = 3,
        page_size: int = 100,
    ) -> None:
        self.base_url = base_url.rstrip("/")
        self.queue = queue
        self.priority = priority
        self.page_size = page_size
        self._api = JsonApi(
            SYSTEM,
            f"{self.base_url}/helpdesk/api/",
            headers={"Authorization": f"Token {token}", "Accept": "application/json"},
            timeout=timeout,
            transport=transport,
        )
        self._index = ConversationIndex()
        self._lock = threading.Lock()

    # -- reading ---------------------------------------------------------------------------
    def ticket_url(self, ticket_id: int | str) -> str:
        """The staff page of a ticket."""
        return f"{self.base_url}/helpdesk/tickets/{ticket_id}/"

    def _remote(self, ticket: TicketJson) -> RemoteTicket:
        followups = sorted(ticket.followup_set, key=lambda f: (f.date, f.id))
        # The first follow-up is the one the helpdesk wrote when the ticket was opened: a public
        # copy of the description (ours: the whole escalation). It is never a reply to forward,
        # even after an agent edits the description or the UI language changes its title.
        opening_id = followups[0].id if followups else None
        comments = tuple(_comment(f, f.id == opening_id) for f in followups if f.comment)
        return RemoteTicket(
            id=str(ticket.id),
            status=_status(ticket),
            raw_status=str(ticket.status) + (" on_hold" if ticket.on_hold else ""),
            title=ticket.title,
            url=self.ticket_url(ticket.id),
            external_conversation_id=conversation_marker(ticket.description),
            customer_email=ticket.submitter_email or None,
            updated_at=followups[-1].date.astimezone(dt.UTC) if followups else None,
            comments=comments,
            description=ticket.description,
            in_queue=ticket.queue == self.queue,
        )

    def get_ticket(self, ticket_id: str) -> RemoteTicket:
        """One ticket with its follow-ups; `TicketNotFound` if it does not exist."""
        return self._remote(self._api.call("GET", f"tickets/{_ticket_id(ticket_id)}/", TicketJson))

    def _page(self, number: int | Literal["last"], size: int | None = None) -> TicketPageJson:
        params = {"page": number, "page_size": size or self.page_size}
        return self._api.call("GET", "tickets/", TicketPageJson, params=params)

    def _all_tickets(self) -> list[TicketJson]:
        first = self._page(1)
        tickets = list(first.results)
        for number in range(2, math.ceil(first.count / self.page_size) + 1):
            tickets.extend(self._page(number).results)
        return tickets

    def list_updated_since(
        self, since: dt.datetime, after_id: str | None, limit: int
    ) -> list[RemoteTicket]:
        """Tickets with ``(updated_at, id) >= (since, after_id)``, ids compared as integers.

        Reads every ticket: the API has neither timestamps nor an "updated since" filter.
        """
        if since.tzinfo is None:
            raise TicketingRejected("since: a zone-aware UTC time is required")
        floor = (since, -1 if after_id is None else _ticket_id(after_id))
        remote = [self._remote(t) for t in self._all_tickets()]
        keyed = [(r.updated_at, int(r.id), r) for r in remote if r.updated_at is not None]
        chosen = sorted((k for k in keyed if (k[0], k[1]) >= floor), key=lambda k: (k[0], k[1]))
        return [r for _, _, r in chosen[:limit]]

    # -- conversation lookup ---------------------------------------------------------------
    def _page_or_empty(self, number: int, size: int) -> list[TicketJson]:
        try:
            return list(self._page(number, size).results)
        except TicketNotFound:
            return []  # "invalid page": deletions shrank the list since the first page was read

    def _scan_new(self) -> dict[int, TicketJson]:
        """Read every ticket above the index's floor, from the last page backwards.

        The list is ordered by id and paged by position. Walking backwards, a deletion only moves
        tickets towards pages still to be read and a create only appends, so the pages read cover
        every ticket above the floor. The first scan reads everything in large pages; later ones
        usually need one small page.
        """
        floor = self._index.floor
        size = self.page_size if floor == 0 else min(self.page_size, PROBE_SIZE)
        newest = self._page("last", size)
        seen: dict[int, TicketJson] = {}
        last = math.ceil(newest.count / size)
        for number in range(last, 0, -1):
            results = newest.results if number == last else self._page_or_empty(number, size)
            fresh = [t for t in results if t.id > floor]
            seen.update((t.id, t) for t in fresh)
            if len(fresh) < len(results):
                break  # ids ascend: everything on earlier pages is at or below the floor
        self._index.absorb(seen.values())
        return seen

    def find_by_conversation(self, conversation_id: str) -> RemoteTicket | None:
        """The newest ticket whose footer names ``conversation_id``, or None."""
        with self._lock:
            for _ in range(2):
                seen = self._scan_new()
                ticket_id = self._index.newest.get(conversation_id)
                if ticket_id is None:
                    return None
                if ticket_id in seen:
                    return self._remote(seen[ticket_id])
                try:
                    return self.get_ticket(str(ticket_id))
                except TicketNotFound:
                    # Deleted since we indexed it: forget everything and read the helpdesk again.
                    self._index = ConversationIndex()
            return None

    # -- writing ---------------------------------------------------------------------------
    def create_ticket(self, ticket: NewTicket) -> RemoteTicket:
        """Create a ticket whose description ends with the conversation marker and payload."""
        body = {
            "queue": self.queue,
            "title": ticket.title,
            "description": ticket.body + render_footer(ticket),
            "priority": self.priority,
        }
        if ticket.customer_email:
            body["submitter_email"] = ticket.customer_email
        created = self._api.call("POST", "tickets/", TicketJson, json=body)
        with self._lock:
            # Into the map only, never the floor: this answer says nothing about the ids below it
            # (other relays' tickets, or our own earlier create whose answer was lost).
            self._index.remember(created)
        return self._remote(self._shorten_opening(created))

    def _shorten_opening(self, created: TicketJson) -> TicketJson:
        """Replace the "Ticket Opened" follow-up's public copy of the description by a short,
        internal pointer: agents read the escalation once, and the customer's view of the ticket
        does not show it. Cosmetic, so a failure keeps the copy and the ticket (logged)."""
        if not created.followup_set:
            return created
        opening = min(created.followup_set, key=lambda f: (f.date, f.id))
        change = {"comment": OPENING_NOTE, "public": False}
        try:
            patched = self._api.call("PATCH", f"followups/{opening.id}/", FollowUpJson, json=change)
        except TicketingError as exc:
            log.warning("ticket %s: opening follow-up kept as is (%s)", created.id, exc)
            return created
        rest = [f for f in created.followup_set if f.id != opening.id]
        return created.model_copy(update={"followup_set": [patched, *rest]})

    def add_comment(self, ticket_id: str, body: str, *, public: bool) -> RemoteComment:
        """A follow-up; never sends ``title`` (the helpdesk would rename the ticket).

        The body is sent through `template_literal`, so the helpdesk stores and shows it literally.
        """
        if not body.strip():
            raise TicketingRejected("comment: an empty comment cannot be added")
        comment = template_literal(body)
        data = {"ticket": _ticket_id(ticket_id), "comment": comment, "public": public}
        followup = self._api.call("POST", "followups/", FollowUpJson, json=data)
        return _comment(followup, opening=False)

    def set_status(self, ticket_id: str, status: TicketStatus) -> None:
        """Change status through a follow-up (history + webhook); pending is ``on_hold``.

        ``on_hold`` can only be PATCHed, which leaves no follow-up: an empty internal follow-up
        after it moves ``updated_at`` and fires the webhook, so polling and webhooks see it.
        """
        number = _ticket_id(ticket_id)
        if status == "deleted":
            self._api.request("DELETE", f"tickets/{number}/")
            return
        if status != "pending" and status not in STATUS_CODES:
            raise TicketingRejected(f"status: {status!r} has no django-helpdesk equivalent")
        if status in ("pending", "open", "reopened"):
            on_hold = {"on_hold": status == "pending"}
            self._api.request("PATCH", f"tickets/{number}/", json=on_hold)
        data: dict[str, object] = {"ticket": number, "comment": "", "public": False}
        if status != "pending":
            data["new_status"] = STATUS_CODES[status]
        self._api.call("POST", "followups/", FollowUpJson, json=data)

    def close(self) -> None:
        self._api.close()
