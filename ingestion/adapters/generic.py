"""A ticketing adapter driven by a mapping file, for REST systems caseloop has no module for.

`GenericAdapter(mapping, base_url, secret=…)` speaks whatever API the `Mapping` describes (see
`ingestion.adapters.mappings` for the file format and ``docs/adapters.md`` for a walk-through).
What it guarantees whatever the mapping says:

- visibility is default-deny: a comment is public only when its visibility field holds one of the
  mapping's ``public`` values and no ``internal_when`` condition matches;
- a comment's author is an agent only if it has an author and no ``role_when`` rule says
  otherwise (the applier forwards public comments of agents only);
- a status the mapping does not list, a missing field or an unparsable time is a
  `TicketingRejected` naming the mapping key and the path, never a guess;
- conversation ids are written percent-encoded outside ``[A-Za-z0-9-_.:@~+]`` and read back
  decoded, so any id survives templates and search syntaxes;
- `list_updated_since` filters and orders by ``(updated_at, id)`` on the client, whether or not
  the server filtered first (``server_side_since``), so a coarse server filter loses nothing.
"""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.parse import quote, unquote

import httpx
from pydantic import AwareDatetime, RootModel, TypeAdapter, ValidationError

from ingestion.adapters.http import JsonApi, parse_json
from ingestion.adapters.mappings import Mapping, RequestSpec, load_mapping
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

MISSING = object()
CONVERSATION_SAFE = "-_.:@~+"
PLACEHOLDER_RE = re.compile(r"^\{(\w+)(?::(int))?\}$")
MAX_PAGES = 10_000  # a server whose "next" never ends must not loop forever
_TIME = TypeAdapter(AwareDatetime)


class AnyJson(RootModel[Any]):
    """Any JSON document: the mapping's paths do the field-level validation."""


def lookup(data: Any, path: str) -> Any:
    """The value at a dotted path, or `MISSING`. On a list, a number picks by position and
    ``field=value`` picks the first object whose ``field`` is ``value`` (as text)."""
    current = data
    for part in path.split(".") if path else []:
        if isinstance(current, dict) and part in current:
            current = current[part]
        elif isinstance(current, list) and part.isdigit() and int(part) < len(current):
            current = current[int(part)]
        elif isinstance(current, list) and "=" in part:
            field, _, wanted = part.partition("=")
            current = next(
                (i for i in current if isinstance(i, dict) and str(i.get(field)) == wanted),
                MISSING,
            )
            if current is MISSING:
                return MISSING
        else:
            return MISSING
    return current


def render(template: Any, values: dict[str, Any]) -> Any:
    """Fill placeholders in a JSON-like template; keys whose exact placeholder is None go away."""
    if isinstance(template, dict):
        rendered = {key: render(value, values) for key, value in template.items()}
        return {key: value for key, value in rendered.items() if value is not MISSING}
    if isinstance(template, list):
        return [item for item in (render(v, values) for v in template) if item is not MISSING]
    if not isinstance(template, str):
        return template
    exact = PLACEHOLDER_RE.match(template)
    if exact:
        value = values.get(exact.group(1))
        if value is None:
            return MISSING
        return int(value) if exact.group(2) == "int" else value
    try:
        return template.format_map({k: "" if v is None else v for k, v in values.items()})
    except (KeyError, ValueError, IndexError) as exc:
        raise TicketingRejected(f"mapping template {template!r}: {exc!r}") from exc


def _matches(item: Any, conditions: list[Any]) -> bool:
    return all(lookup(item, c.path) == c.equals for c in conditions)


class GenericAdapter(AdapterBase):
    """A `TicketingAdapter` whose every request and field comes from a `Mapping`."""

    def __init__(
        self,
        mapping: Mapping,
        base_url: str,
        *,
        secret: str = "",
        username: str = "",
        variables: dict[str, Any] | None = None,
        timeout: float = 10.0,
        transport: httpx.BaseTransport | None = None,
    ) -> None:
        self.mapping = mapping
        # Deployment values (a queue id, …) the mapping's templates use; settings override.
        self.variables = {**mapping.variables, **(variables or {})}
        self.source = mapping.source
        self.capabilities = Capabilities(
            webhooks=mapping.capabilities.webhooks,
            server_side_updated_since=mapping.list.server_side_since,
            idempotency_key_header=mapping.create.idempotency_header is not None,
            find_by_conversation=True,
        )
        self.base_url = base_url.rstrip("/")
        auth = httpx.BasicAuth(username, secret) if mapping.auth.scheme == "basic" else None
        headers = {"Accept": "application/json"}
        if mapping.auth.scheme == "header":
            headers[mapping.auth.header] = mapping.auth.template.format(secret=secret)
        self._api = JsonApi(
            mapping.name,
            f"{self.base_url}/{mapping.api_root.lstrip('/')}",
            headers=headers,
            timeout=timeout,
            transport=transport,
        )
        self._auth = auth
        self._bodies: dict[str, str] = {}

    # -- plumbing --------------------------------------------------------------------------
    def _send(
        self, spec: RequestSpec, values: dict[str, Any], headers: dict[str, str] | None = None
    ) -> httpx.Response:
        values = {**self.variables, "base_url": self.base_url, **values}
        kwargs: dict[str, Any] = {"params": render(spec.params, values), "headers": headers}
        if spec.body is not None:
            kwargs["json"] = render(spec.body, values)
        if self._auth is not None:
            kwargs["auth"] = self._auth
        return self._api.request(spec.method, render(spec.path, values), **kwargs)

    def _json(self, spec: RequestSpec, values: dict[str, Any]) -> Any:
        return parse_json(self._send(spec, values), AnyJson, system=self.mapping.name).root

    def _field(self, data: Any, path: str, key: str) -> Any:
        value = lookup(data, path)
        if value is MISSING:
            raise TicketingRejected(
                f"{self.mapping.name}: mapping key {key} names path {path!r}, "
                "which the answer does not have"
            )
        return value

    def _time(self, value: Any, key: str) -> dt.datetime:
        try:
            return _TIME.validate_python(value).astimezone(dt.UTC)
        except ValidationError as exc:
            raise TicketingRejected(
                f"{self.mapping.name}: {key}: {value!r} is not a time with a zone"
            ) from exc

    def _items(self, data: Any, path: str, key: str) -> list[Any]:
        items = self._field(data, path, key)
        if not isinstance(items, list):
            raise TicketingRejected(f"{self.mapping.name}: {key}: {path!r} is not a list")
        return items

    @staticmethod
    def _ticket_id(ticket_id: str) -> str:
        if not ticket_id or "/" in ticket_id or ticket_id in (".", ".."):
            raise TicketingRejected(f"ticket id {ticket_id!r} cannot be placed in a URL path")
        return quote(ticket_id, safe="")

    # -- reading ---------------------------------------------------------------------------
    def _remote(self, data: Any) -> RemoteTicket:
        spec = self.mapping.ticket
        ticket_id = str(self._field(data, spec.id, "ticket.id"))
        raw = str(self._field(data, spec.status, "ticket.status"))
        status = self.mapping.statuses.get(raw)
        if status is None:
            raise TicketingRejected(
                f"{self.mapping.name}: statuses: the system's status {raw!r} is not mapped"
            )
        comments = self._comments(data, ticket_id)
        updated: dt.datetime | None
        if spec.updated_at is not None:
            value = self._field(data, spec.updated_at, "ticket.updated_at")
            updated = self._time(value, "ticket.updated_at")
        else:
            stamps = [c.created_at for c in comments if c.created_at is not None]
            updated = max(stamps) if stamps else None
        email = lookup(data, spec.customer_email) if spec.customer_email else None
        return RemoteTicket(
            id=ticket_id,
            status=status,
            raw_status=raw,
            title=str(self._field(data, spec.title, "ticket.title")),
            url=render(spec.url, {"base_url": self.base_url, "id": ticket_id}),
            external_conversation_id=self._conversation(data),
            customer_email=email if isinstance(email, str) and email else None,
            updated_at=updated,
            comments=comments,
        )

    def _conversation(self, data: Any) -> str | None:
        spec = self.mapping.ticket.conversation
        value = lookup(data, spec.path)
        if isinstance(value, list):  # e.g. a multi-value custom field
            value = value[0] if value else None
        if not isinstance(value, str):
            return None
        if spec.pattern is not None:
            found = re.findall(spec.pattern, value, re.MULTILINE)
            if not found:
                return None
            value = found[-1]  # the footer is last: a marker quoted earlier cannot win
        return unquote(value)

    def _comments(self, ticket: Any, ticket_id: str) -> tuple[RemoteComment, ...]:
        spec = self.mapping.comments
        source = ticket if spec.request is None else self._json(spec.request, {"id": ticket_id})
        comments = []
        for item in self._items(source, spec.items, "comments.items"):
            if not _matches(item, spec.only_when):
                continue
            comment_id = str(self._field(item, spec.id, "comments.id"))
            body = self._body(item, comment_id)
            if not body.strip():
                continue  # a pure status change, not a comment
            forced_internal = bool(spec.internal_when) and _matches(item, spec.internal_when)
            public = lookup(item, spec.visibility.path) in spec.visibility.public
            author = lookup(item, spec.author) if spec.author else None
            author = None if author in (None, MISSING) else str(author)
            comments.append(
                RemoteComment(
                    id=comment_id,
                    body=body,
                    visibility="public" if public and not forced_internal else "internal",
                    author=author,
                    author_role="bot" if forced_internal else self._role(item, author),
                    created_at=self._time(
                        self._field(item, spec.created_at, "comments.created_at"),
                        "comments.created_at",
                    ),
                )
            )
        return tuple(comments)

    def _role(self, item: Any, author: str | None) -> AuthorRole:
        """The first matching ``role_when`` rule; else agent when someone wrote it."""
        for rule in self.mapping.comments.role_when:
            if lookup(item, rule.path) == render(rule.equals, self.variables):
                return rule.role
        return "unknown" if author is None else "agent"

    def _body(self, item: Any, comment_id: str) -> str:
        spec = self.mapping.comments
        if spec.body_request is None:
            value = lookup(item, spec.body)
            return "" if value in (None, MISSING) else str(value)
        if comment_id not in self._bodies:  # fetched bodies never change: keep them
            answer = self._json(spec.body_request, {"comment_id": comment_id})
            value = lookup(answer, spec.body_path or spec.body)
            self._bodies[comment_id] = "" if value in (None, MISSING) else str(value)
        return self._bodies[comment_id].rstrip("\n")

    def get_ticket(self, ticket_id: str) -> RemoteTicket:
        """One ticket with its comments, read through ``ticket.get``."""
        data = self._json(self.mapping.ticket.get, {"id": self._ticket_id(ticket_id)})
        return self._remote(data)

    def _list_items(self, values: dict[str, Any]) -> Iterator[Any]:
        spec = self.mapping.list
        for page in range(1, MAX_PAGES + 1):
            answer = self._json(spec.request, {**values, "page": page})
            items = self._items(answer, spec.items, "list.items")
            yield from items
            following = lookup(answer, spec.next) if spec.next else None
            if not items or following in (None, MISSING, "", False):
                return

    def _listed(self, values: dict[str, Any]) -> Iterator[RemoteTicket]:
        for item in self._list_items(values):
            if lookup(item, self.mapping.ticket.status) is MISSING:  # a reference: read it
                yield self.get_ticket(str(self._field(item, self.mapping.ticket.id, "ticket.id")))
            else:
                yield self._remote(item)

    def list_updated_since(
        self, since: dt.datetime, after_id: str | None, limit: int
    ) -> list[RemoteTicket]:
        """Tickets with ``(updated_at, id) >= (since, after_id)``; numeric ids compare as numbers."""
        if since.tzinfo is None:
            raise TicketingRejected("since: a zone-aware UTC time is required")
        stamp = since.astimezone(dt.UTC).strftime(self.mapping.list.since_format)
        floor = (since, _id_key(after_id) if after_id is not None else (-1, ""))
        keyed = [
            (t.updated_at, _id_key(t.id), t)
            for t in self._listed({"since": stamp})
            if t.updated_at is not None
        ]
        chosen = sorted((k for k in keyed if (k[0], k[1]) >= floor), key=lambda k: (k[0], k[1]))
        return [t for _, _, t in chosen[:limit]]

    def find_by_conversation(self, conversation_id: str) -> RemoteTicket | None:
        """The newest ticket (highest id) whose conversation id is exactly this one."""
        spec = self.mapping.find
        values = {"conversation": quote(conversation_id, safe=CONVERSATION_SAFE)}
        candidates: Iterator[RemoteTicket]
        if spec.strategy == "query" and spec.request is not None:
            answer = self._json(spec.request, values)
            ids = [
                str(self._field(item, self.mapping.ticket.id, "ticket.id"))
                for item in self._items(answer, spec.items or "", "find.items")
            ]
            candidates = (self.get_ticket(i) for i in sorted(ids, key=_id_key, reverse=True))
        else:
            candidates = iter(sorted(self._listed({}), key=lambda t: _id_key(t.id), reverse=True))
        return next((t for t in candidates if t.external_conversation_id == conversation_id), None)

    # -- writing ---------------------------------------------------------------------------
    def create_ticket(self, ticket: NewTicket) -> RemoteTicket:
        """Create through ``create.request``, then read the ticket back."""
        values = {
            "title": ticket.title,
            "body": ticket.body,
            "customer_email": ticket.customer_email,
            "customer_name": ticket.customer_name,
            "conversation": quote(ticket.external_conversation_id, safe=CONVERSATION_SAFE),
            "tenant": ticket.tenant,
            "idempotency_key": ticket.idempotency_key,
        }
        spec = self.mapping.create
        headers = (
            {spec.idempotency_header: ticket.idempotency_key} if spec.idempotency_header else None
        )
        response = self._send(spec.request, values, headers)
        answer = parse_json(response, AnyJson, system=self.mapping.name).root
        return self.get_ticket(str(self._field(answer, spec.id, "create.id")))

    def add_comment(self, ticket_id: str, body: str, *, public: bool) -> RemoteComment:
        """A customer-visible (``comment.public``) or internal (``comment.internal``) comment."""
        if not body.strip():
            raise TicketingRejected("comment: an empty comment cannot be added")
        spec = self.mapping.comment
        request = spec.public if public else spec.internal
        response = self._send(request, {"id": self._ticket_id(ticket_id), "body": body})
        if spec.id_header is not None:
            found = re.search(spec.id_pattern or "(.+)", response.headers.get(spec.id_header, ""))
            if found is None:
                raise TicketingRejected(f"comment: no id in the {spec.id_header} header")
            comment_id = found.group(1) if found.re.groups else found.group(0)
        else:
            answer = parse_json(response, AnyJson, system=self.mapping.name).root
            comment_id = str(self._field(answer, spec.id or "id", "comment.id"))
        return RemoteComment(
            id=comment_id,
            body=body,
            visibility="public" if public else "internal",
            author_role="bot",
        )

    def set_status(self, ticket_id: str, status: TicketStatus) -> None:
        """``status.requests[status]`` if given, else ``status.request`` with ``status.values``."""
        spec = self.mapping.status
        if status not in spec.values and status not in spec.requests:
            raise TicketingRejected(f"status: {status!r} has no value in the mapping")
        value = spec.values.get(status)
        request = spec.requests.get(status, spec.request)
        self._send(request, {"id": self._ticket_id(ticket_id), "status": value})
        if spec.verify:
            raw = self.get_ticket(ticket_id).raw_status
            if value is not None and raw != str(value):
                raise TicketingRejected(
                    f"status: the system kept {raw!r} instead of {value!r} for ticket {ticket_id}"
                )

    def close(self) -> None:
        self._api.close()


def _id_key(ticket_id: str) -> tuple[int, str]:
    """Numeric ids order as numbers, before any non-numeric id."""
    return (int(ticket_id), "") if ticket_id.isdigit() else (1 << 62, ticket_id)


def from_settings(settings: IngestionSettings) -> GenericAdapter:
    """The adapter `ingestion.adapters.build_adapter` returns for ``ticketing = "generic"``."""
    if settings.generic_mapping is None:
        raise TicketingRejected("generic_mapping: the generic adapter needs a mapping file")
    return GenericAdapter(
        load_mapping(Path(settings.generic_mapping)),
        settings.generic_url,
        secret=settings.generic_token.get_secret_value(),
        username=settings.generic_username,
        variables=dict(settings.generic_variables),
        timeout=settings.ticketing_timeout,
    )
