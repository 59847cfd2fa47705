"""Escalations: the orchestrator's hand-off, validated at the edge and queued in one transaction.

`escalate` writes the escalation row and its outbox row together, so an accepted escalation can
never be lost and a failed write leaves nothing behind. The idempotency key is a UUIDv5 over
``session_id:escalation_event_id`` (prefixed ``<tenant>/`` for any tenant but the default, see
`ingestion.tenancy`): the same event sent again returns the existing escalation;
the same key with a different payload is refused (`IdempotencyConflict`, HTTP 422 as the IETF
Idempotency-Key draft says). A new event in a conversation whose ticket is still open (or whose
ticket is still being created) becomes an *update*: a bot note on that ticket, not a second one.
Every lookup is scoped to the escalation's tenant: another tenant's session is another session.

`PayloadTooLarge` (a subclass of `InvalidEscalation`) is raised by `parse_escalation` when the raw
body is over ``max_payload_bytes``.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator
from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from ingestion import outbox
from ingestion.clock import utcnow
from ingestion.errors import IdempotencyConflict, InvalidEscalation, NotFound, StoreError
from ingestion.jsonsafe import BoundedDatetime, check_value, parse_json
from ingestion.schema import Escalation, Ticket
from ingestion.settings import IngestionSettings
from ingestion.status import OPEN_STATUSES
from ingestion.store import Store
from ingestion.tenancy import DEFAULT_TENANT, SESSION_ID_PATTERN, TENANT_PATTERN, qualified

#: A customer's e-mail as intake accepts it (and erasure looks it up): one @, no spaces.
EMAIL_PATTERN = r"^[^@\s]+@[^@\s]+$"
#: Namespace of the idempotency keys (a fixed, project-specific UUID: never change it).
ESCALATION_NAMESPACE = uuid.UUID("6f1d3c52-5a43-4c4e-9a51-0c6d2f4b7e10")

Reason = Literal["no_evidence", "conflict", "low_confidence", "missing_entitlement"]


class _Strict(BaseModel):
    model_config = ConfigDict(
        extra="forbid", frozen=True, str_strip_whitespace=True, allow_inf_nan=False
    )


class Customer(_Strict):
    """Who is asking; every field optional (anonymous chats escalate too)."""

    id: Annotated[str | None, Field(max_length=200)] = None
    name: Annotated[str | None, Field(max_length=200)] = None
    email: Annotated[str | None, Field(max_length=320, pattern=EMAIL_PATTERN)] = None


class Message(_Strict):
    """One verbatim transcript message."""

    role: Literal["customer", "bot", "agent", "system"]
    text: str = Field(min_length=1)
    at: BoundedDatetime


class Context(_Strict):
    """The orchestrator's rolling view of the conversation."""

    summary: str = ""
    intent: Annotated[str | None, Field(max_length=200)] = None


class Evidence(_Strict):
    """One document the bot retrieved, with its fused score and per-retriever ranks."""

    doc_id: str = Field(min_length=1)
    type: str = Field(min_length=1, max_length=40)
    title: str = ""
    link: str | None = None
    score: float
    ranks: dict[str, int] = Field(default_factory=dict)
    retrieved_at: BoundedDatetime


class EscalationRequest(_Strict):
    """The escalation payload of the architecture brief (pydantic: it is an edge)."""

    session_id: str = Field(min_length=1, max_length=200, pattern=SESSION_ID_PATTERN)
    escalation_event_id: str = Field(min_length=1, max_length=200)
    tenant: Annotated[str | None, Field(min_length=1, max_length=100, pattern=TENANT_PATTERN)] = (
        None
    )
    customer: Customer = Customer()
    transcript: list[Message] = Field(min_length=1)
    context: Context = Context()
    evidence: list[Evidence] = Field(default_factory=list)
    reason: Reason
    suggested_questions: list[str] = Field(default_factory=list)

    @field_validator("transcript", mode="after")
    @classmethod
    def _some_text(cls, value: list[Message]) -> list[Message]:
        if not any(m.text.strip() for m in value):
            raise ValueError("transcript has no text")
        return value

    @property
    def tenant_name(self) -> str:
        return self.tenant or DEFAULT_TENANT

    @property
    def idempotency_key(self) -> str:
        return escalation_key(self.session_id, self.escalation_event_id, self.tenant_name)

    def canonical(self) -> dict[str, Any]:
        """The payload as JSON-ready data (what is stored and hashed)."""
        return self.model_dump(mode="json")


class PayloadTooLarge(InvalidEscalation):
    """The raw body is over ``max_payload_bytes`` (HTTP 413)."""


@dataclass(frozen=True, slots=True)
class EscalationView:
    """An escalation's state as callers see it. ``replayed``: this call found it already there."""

    id: str
    session_id: str
    escalation_event_id: str
    tenant: str
    kind: str
    state: str
    ticket_id: str | None
    ticket_url: str | None
    last_error: str | None
    created_at: dt.datetime
    delivered_at: dt.datetime | None
    replayed: bool = False

    def to_dict(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "session_id": self.session_id,
            "escalation_event_id": self.escalation_event_id,
            "tenant": self.tenant,
            "kind": self.kind,
            "state": self.state,
            "ticket_id": self.ticket_id,
            "ticket_url": self.ticket_url,
            "last_error": self.last_error,
            "created_at": self.created_at.isoformat(),
            "delivered_at": self.delivered_at.isoformat() if self.delivered_at else None,
        }


def escalation_key(session_id: str, escalation_event_id: str, tenant: str = DEFAULT_TENANT) -> str:
    """The deterministic idempotency key: UUIDv5 over ``[tenant/]session_id:escalation_event_id``."""
    name = qualified(tenant, f"{session_id}:{escalation_event_id}")
    return str(uuid.uuid5(ESCALATION_NAMESPACE, name))


def _field(loc: tuple[int | str, ...]) -> str:
    out = ""
    for part in loc:
        out += f"[{part}]" if isinstance(part, int) else (f".{part}" if out else str(part))
    return out or "body"


def problems_of(error: ValidationError) -> list[tuple[str, str]]:
    """Pydantic errors as (field path, problem) pairs, e.g. ``("transcript[0].at", …)``."""
    problems = []
    for item in error.errors(include_url=False):
        message = item["msg"]
        if item["type"] == "literal_error" and item["loc"] and item["loc"][-1] == "reason":
            message = (
                f"unknown reason code {item.get('input')!r}; {message[0].lower()}{message[1:]}"
            )
        problems.append((_field(tuple(item["loc"])), message))
    return problems


def validate_request(
    data: Any, *, settings: IngestionSettings, tenant: str | None = None
) -> EscalationRequest:
    """Validate already-parsed data; raises `InvalidEscalation` naming every bad field.

    ``tenant`` (the caller's, when its key is bound to one) fills a payload that names none.
    """
    try:
        check_value(data)  # NUL, depth and non-finite numbers, also for callers passing dicts
    except ValueError as exc:
        raise InvalidEscalation([("body", str(exc))]) from None
    try:
        request = EscalationRequest.model_validate(data)
    except ValidationError as exc:
        raise InvalidEscalation(problems_of(exc)) from None
    if request.tenant is None and tenant not in (None, DEFAULT_TENANT):
        request = request.model_copy(update={"tenant": tenant})
    if settings.multi_tenant and request.tenant is None:
        raise InvalidEscalation([("tenant", "required when CASELOOP_MULTI_TENANT is on")])
    return request


def parse_escalation(
    body: bytes, *, settings: IngestionSettings, tenant: str | None = None
) -> EscalationRequest:
    """Parse a raw HTTP body: size limit, UTF-8, JSON, then the model."""
    if len(body) > settings.max_payload_bytes:
        raise PayloadTooLarge(
            [("body", f"{len(body)} bytes is over the limit of {settings.max_payload_bytes}")]
        )
    try:
        text = body.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise InvalidEscalation([("body", f"invalid UTF-8 at byte {exc.start}")]) from None
    try:
        data = parse_json(text)
    except ValueError as exc:
        raise InvalidEscalation([("body", str(exc))]) from None
    if not isinstance(data, dict):
        raise InvalidEscalation([("body", "expected a JSON object")])
    return validate_request(data, settings=settings, tenant=tenant)


def payload_hash(payload: dict[str, Any]) -> str:
    return hashlib.sha256(json.dumps(payload, sort_keys=True).encode()).hexdigest()


def escalate(
    store: Store,
    request: EscalationRequest,
    *,
    settings: IngestionSettings,
    clock: Callable[[], dt.datetime] = utcnow,
) -> EscalationView:
    """Accept an escalation: its row and its outbox row commit in one transaction.

    Returns the new escalation, or the existing one (``replayed=True``) when the same event was
    sent before. Raises `IdempotencyConflict` when the key was used with a different payload.
    """
    if settings.multi_tenant and request.tenant is None:
        raise InvalidEscalation([("tenant", "required when CASELOOP_MULTI_TENANT is on")])
    payload = request.canonical()
    digest = payload_hash(payload)
    try:
        with store.transaction() as tx:
            existing = tx.get(Escalation, request.idempotency_key)
            if existing is not None:
                return _replay(tx, existing, digest)
            row = _insert(tx, request, payload, digest, clock())
            tx.flush()
            return _view(tx, row)
    except IntegrityError as exc:
        # A concurrent request with the same key committed first: answer as a replay.
        with store.transaction() as tx:
            existing = tx.get(Escalation, request.idempotency_key)
            if existing is None:
                raise StoreError(
                    f"storing escalation {request.idempotency_key} failed: {exc.orig}"
                ) from exc
            return _replay(tx, existing, digest)


def _replay(tx: Session, existing: Escalation, digest: str) -> EscalationView:
    if existing.payload_hash != digest:
        raise IdempotencyConflict(
            f"escalation {existing.id} (session {existing.session_id!r}, event "
            f"{existing.escalation_event_id!r}) was already accepted with a different payload"
        )
    view = _view(tx, existing)
    return EscalationView(**{**_fields(view), "replayed": True})


def _fields(view: EscalationView) -> dict[str, Any]:
    return {name: getattr(view, name) for name in EscalationView.__slots__}


def _insert(
    tx: Session, request: EscalationRequest, payload: dict[str, Any], digest: str, now: dt.datetime
) -> Escalation:
    previous = _latest_in_conversation(tx, request.tenant_name, request.session_id)
    is_update = _conversation_has_open_ticket(tx, request.tenant_name, request.session_id)
    row = Escalation(
        id=request.idempotency_key,
        session_id=request.session_id,
        escalation_event_id=request.escalation_event_id,
        tenant=request.tenant_name,
        reason=request.reason,
        intent=request.context.intent,
        payload=payload,
        payload_hash=digest,
        kind="update" if is_update else "create",
        state="pending",
        created_at=now,
    )
    tx.add(row)
    outbox.enqueue(
        tx,
        topic=outbox.TOPIC_NOTE if is_update else outbox.TOPIC_CREATE,
        aggregate_id=request.session_id,
        idempotency_key=row.id,
        payload={"escalation_id": row.id, "previous_escalation_id": previous},
        now=now,
    )
    return row


def _latest_in_conversation(tx: Session, tenant: str, session_id: str) -> str | None:
    """The conversation's latest escalation: what a bot note is compared with."""
    return tx.scalars(
        select(Escalation.id)
        .where(Escalation.tenant == tenant, Escalation.session_id == session_id)
        .order_by(Escalation.created_at.desc(), Escalation.id.desc())
        .limit(1)
    ).first()


def _conversation_has_open_ticket(tx: Session, tenant: str, session_id: str) -> bool:
    """An open mirrored ticket, or a create still on its way (pending), for this conversation."""
    ticket = tx.scalars(
        select(Ticket.id)
        .where(
            Ticket.tenant == tenant,
            Ticket.session_id == session_id,
            Ticket.status.in_(OPEN_STATUSES),
        )
        .limit(1)
    ).first()
    if ticket is not None:
        return True
    pending = tx.scalars(
        select(Escalation.id)
        .where(
            Escalation.tenant == tenant,
            Escalation.session_id == session_id,
            Escalation.state == "pending",
        )
        .limit(1)
    ).first()
    return pending is not None


def _view(tx: Session, row: Escalation) -> EscalationView:
    ticket = tx.get(Ticket, row.ticket_id) if row.ticket_id is not None else None
    return EscalationView(
        id=row.id,
        session_id=row.session_id,
        escalation_event_id=row.escalation_event_id,
        tenant=row.tenant,
        kind=row.kind,
        state=row.state,
        ticket_id=ticket.external_id if ticket else None,
        ticket_url=ticket.url if ticket else None,
        last_error=row.last_error,
        created_at=row.created_at,
        delivered_at=row.delivered_at,
    )


def get_escalation(
    store: Store, escalation_id: str, *, tenant: str | None = None
) -> EscalationView:
    """The escalation's current state; raises `NotFound` (also when it is not ``tenant``'s)."""
    with store.transaction() as tx:
        row = tx.get(Escalation, escalation_id)
        if row is None or (tenant is not None and row.tenant != tenant):
            raise NotFound(f"no escalation {escalation_id!r}")
        return _view(tx, row)
