"""`POST /webhooks/{source}`: verify, store raw, acknowledge; the inbox worker does the rest.

Two kinds of sender:

* Standard Webhooks (source ``ticketing``, the adapter's own name such as ``rt``, and
  ``webhook_sources``): signed with one of ``webhook_secrets``; the body is a hint
  ``{"type": …, "data": {"ticket_id": …}}``.
* django-helpdesk's built-in webhooks (source ``helpdesk`` with ``?token=…``, or the token in an
  ``X-Caseloop-Token`` header): unsigned, so they are accepted only with the secret
  ``helpdesk_webhook_token``; the body (``{"ticket": {…}, "followup_id": …}``) is used only for the
  ticket id: the worker re-reads the ticket.

Delivery ids longer than `MAX_DELIVERY_ID` are kept as ``sha256:<hex of the whole id>``, so two
different long ids never collide. Rejections (anyone can send them: a bad signature to a known
source costs the sender as little as an unknown source) are counted in memory and written at most
every ``webhook_rejection_flush_seconds``: no database write per rejected request.

Answers: 202 stored, 200 duplicate (acknowledged and dropped), 400/401/404/413 for typed
rejections (counted in ``webhook_rejections``, logged without secret or body), 500 when a
configured secret is malformed (the sender retries while the operator fixes it), and 429 with
Retry-After when more than ``webhook_max_pending`` deliveries wait for the worker.
"""

from __future__ import annotations

import collections
import hashlib
import hmac
import logging
import threading
import time
from typing import Annotated, Any

from fastapi import APIRouter, Query, Request
from fastapi.responses import JSONResponse
from pydantic import BaseModel, ConfigDict, Field, StrictInt, ValidationError
from starlette.concurrency import run_in_threadpool

from ingestion import inbox
from ingestion.errors import WebhookRejected
from ingestion.http.body import read_limited
from ingestion.http.schemas import WebhookAck
from ingestion.settings import IngestionSettings
from ingestion.signatures import verify
from ingestion.store import Store

log = logging.getLogger(__name__)
router = APIRouter(tags=["webhooks"])

HELPDESK = "helpdesk"
TICKETING = "ticketing"  # the configured adapter, whatever its name
TOKEN_HEADER = "x-caseloop-token"
#: Headers never written to the inbox: they carry credentials.
UNSTORED_HEADERS = frozenset({TOKEN_HEADER, "authorization", "cookie", "proxy-authorization"})
MAX_DELIVERY_ID = 200
UNKNOWN_SOURCE = "(unknown)"  # counters of unknown sources share one row: names are untrusted
STATUS = {
    "missing_header": 400,
    "bad_timestamp": 400,
    "too_old": 400,
    "too_new": 400,
    "malformed_body": 400,
    "bad_signature": 401,
    "bad_token": 401,
    "unknown_source": 404,
    "oversized": 413,
    "bad_secret_format": 500,
}
TicketId = Annotated[str, Field(min_length=1, max_length=100, pattern=r"^[A-Za-z0-9._:-]+$")]


class _HintData(BaseModel):
    model_config = ConfigDict(extra="allow")
    ticket_id: TicketId | StrictInt


class TicketHint(BaseModel):
    """A Standard Webhooks body: which ticket changed (the worker re-reads it)."""

    model_config = ConfigDict(extra="allow")
    type: str = Field(min_length=1, max_length=100)
    data: _HintData


class _HelpdeskTicket(BaseModel):
    model_config = ConfigDict(extra="allow")
    id: StrictInt


class HelpdeskHint(BaseModel):
    """django-helpdesk's new-ticket / follow-up webhook body (only the ids are used)."""

    model_config = ConfigDict(extra="allow")
    ticket: _HelpdeskTicket
    followup_id: StrictInt | None = None


def _parse(model: type[BaseModel], body: bytes) -> Any:
    try:
        return model.model_validate_json(body)
    except ValidationError as exc:
        first = exc.errors()[0]
        where = ".".join(str(part) for part in first["loc"]) or "body"
        # The message names the field and problem only: no input values (they are the body).
        raise WebhookRejected("malformed_body", f"{where}: {first['msg']}") from None


def standard_delivery(headers: Any, body: bytes, settings: IngestionSettings) -> tuple[str, str]:
    """Verify a Standard Webhooks delivery; its (delivery id, announced ticket id)."""
    secrets = [secret.get_secret_value() for secret in settings.webhook_secrets]
    verified = verify(
        headers,
        body,
        secrets,
        now=time.time(),
        tolerance_seconds=settings.webhook_tolerance_seconds,
    )
    hint: TicketHint = _parse(TicketHint, body)
    return verified.delivery_id, str(hint.data.ticket_id)


def helpdesk_delivery(token: str, body: bytes, settings: IngestionSettings) -> tuple[str, str]:
    """Check the URL secret of a django-helpdesk webhook; its (delivery id, ticket id)."""
    expected = settings.helpdesk_webhook_token.get_secret_value()
    if not expected:
        raise WebhookRejected("bad_token", "helpdesk_webhook_token is not configured")
    if not hmac.compare_digest(token.encode(), expected.encode()):
        raise WebhookRejected("bad_token", "the URL token does not match")
    hint: HelpdeskHint = _parse(HelpdeskHint, body)
    if hint.followup_id is not None:
        return f"followup-{hint.followup_id}", str(hint.ticket.id)
    # A new-ticket webhook has no id of its own; the helpdesk never retries, so the body is one.
    return f"ticket-{hint.ticket.id}-{hashlib.sha256(body).hexdigest()[:24]}", str(hint.ticket.id)


class BackPressure:
    """Whether the inbox is over its limit; the pending count is re-read at most once a second."""

    def __init__(self, store: Store, limit: int, ttl: float = 1.0) -> None:
        self.store, self.limit, self.ttl = store, limit, ttl
        self._checked = -float("inf")
        self._over = False
        self._lock = threading.Lock()

    def over_limit(self) -> bool:
        with self._lock:
            now = time.monotonic()
            if now - self._checked >= self.ttl:
                self._over = inbox.pending_count(self.store) >= self.limit
                self._checked = now
            return self._over


def _back_pressure(request: Request, store: Store, settings: IngestionSettings) -> BackPressure:
    state = request.app.state
    if getattr(state, "webhook_back_pressure", None) is None:
        state.webhook_back_pressure = BackPressure(store, settings.webhook_max_pending)
    pressure: BackPressure = state.webhook_back_pressure
    return pressure


def delivery_key(delivery_id: str) -> str:
    """The stored delivery id: the id itself, or a hash of the whole id when it is too long."""
    if len(delivery_id) <= MAX_DELIVERY_ID:
        return delivery_id
    return f"sha256:{hashlib.sha256(delivery_id.encode('utf-8', 'surrogatepass')).hexdigest()}"


class RejectionTally:
    """Counts rejections in memory and writes them together, at most every ``interval`` seconds."""

    def __init__(self, store: Store, interval: float) -> None:
        self.store, self.interval = store, interval
        self._pending: collections.Counter[tuple[str, str]] = collections.Counter()
        self._flushed = time.monotonic()
        self._lock = threading.Lock()

    def add(self, source: str, reason: str) -> None:
        with self._lock:
            self._pending[(source, reason)] += 1
            due = time.monotonic() - self._flushed >= self.interval
        if due:
            self.flush()

    def flush(self) -> None:
        with self._lock:
            pending, self._pending = self._pending, collections.Counter()
            self._flushed = time.monotonic()
        for (source, reason), count in pending.items():
            inbox.record_rejection(self.store, source=source, reason=reason, count=count)


def _reject(source: str, exc: WebhookRejected, tally: RejectionTally) -> JSONResponse:
    tally.add(source, exc.reason)
    log.warning("webhook rejected: source=%s reason=%s (%s)", source, exc.reason, exc)
    return JSONResponse(
        {"error": exc.reason, "detail": str(exc)}, status_code=STATUS.get(exc.reason, 400)
    )


@router.post(
    "/webhooks/{source}",
    status_code=202,
    response_model=None,
    responses={
        200: {
            "description": "A duplicate delivery: acknowledged and dropped.",
            "model": WebhookAck,
        },
        202: {"description": "Stored; processed after this answer.", "model": WebhookAck},
        400: {"description": "Missing or malformed signature headers, stale time, bad body."},
        401: {"description": "Bad signature or token."},
        404: {"description": "No receiver for this source."},
        413: {"description": "Body over CASELOOP_WEBHOOK_MAX_BODY_BYTES."},
        429: {"description": "Too many deliveries wait; Retry-After says when to retry."},
        500: {"description": "A configured webhook secret is malformed (the sender retries)."},
    },
)
async def receive_webhook(
    source: str,
    request: Request,
    token: Annotated[str | None, Query(max_length=200)] = None,
) -> JSONResponse:
    """Verify a delivery, store it raw and acknowledge it (processing happens after the 2xx)."""
    settings: IngestionSettings = request.app.state.settings
    store: Store = request.app.state.store
    token = request.headers.get(TOKEN_HEADER, token)
    known = {TICKETING, settings.ticketing, *settings.webhook_sources}
    native = source == HELPDESK and token is not None
    counted_as = source if native or source in known else UNKNOWN_SOURCE
    try:
        if counted_as == UNKNOWN_SOURCE:
            raise WebhookRejected("unknown_source", "no receiver for this source")
        body = await read_limited(request, settings.webhook_max_body_bytes)
        if body is None:
            limit = settings.webhook_max_body_bytes
            raise WebhookRejected("oversized", f"body exceeds {limit} bytes")
        if native:
            delivery_id, ticket_id = helpdesk_delivery(token or "", body, settings)
        else:
            delivery_id, ticket_id = standard_delivery(request.headers, body, settings)
    except WebhookRejected as exc:
        tally: RejectionTally = request.app.state.webhook_rejections
        # in a thread: the tally writes to the store when its flush is due
        return await run_in_threadpool(_reject, counted_as, exc, tally)
    return await run_in_threadpool(
        _store, request, store, settings, source, delivery_id, ticket_id, body
    )


def _store(
    request: Request,
    store: Store,
    settings: IngestionSettings,
    source: str,
    delivery_id: str,
    ticket_id: str,
    body: bytes,
) -> JSONResponse:
    if _back_pressure(request, store, settings).over_limit():
        retry = str(settings.webhook_retry_after_seconds)
        return JSONResponse(
            {"error": "backpressure", "detail": "too many deliveries wait; retry later"},
            status_code=429,
            headers={"Retry-After": retry},
        )
    outcome = inbox.store_delivery(
        store,
        source=source,
        delivery_id=delivery_key(delivery_id),
        ticket_external_id=ticket_id,
        headers={k: v for k, v in request.headers.items() if k.lower() not in UNSTORED_HEADERS},
        body=body,
    )
    if outcome == "duplicate":
        inbox.record_rejection(store, source=source, reason="duplicate")
        return JSONResponse({"status": "duplicate", "delivery_id": delivery_id}, status_code=200)
    return JSONResponse({"status": "accepted", "delivery_id": delivery_id}, status_code=202)
