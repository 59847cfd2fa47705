"""`POST /escalations` and `GET /escalations/{id}`.

The body is read raw so that every rejection can name its cause: over the size limit → 413;
invalid UTF-8, malformed JSON, or a field that fails validation → 422 with one entry per
problem (``loc``, ``field``, ``msg``). A new escalation answers 201 with a ``Location``; the same
event sent again answers 200 with the existing escalation; the same idempotency key with a
different payload answers 422, as the IETF Idempotency-Key draft prescribes for a reused key.
(The draft's 409 is for a request still in flight: here the first request's transaction holds
the key, so a concurrent duplicate waits for it and then gets the 200 replay instead.)
"""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Depends, HTTPException, Path, Request, Response
from fastapi.concurrency import run_in_threadpool

from ingestion.errors import IdempotencyConflict, InvalidEscalation, NotFound
from ingestion.escalations import (
    PayloadTooLarge,
    escalate,
    get_escalation,
    parse_escalation,
)
from ingestion.http.auth import AUTH_RESPONSES, Escalate, tenant_of, visible_to
from ingestion.http.body import read_limited
from ingestion.http.deps import get_settings, get_store
from ingestion.http.responses import SafeJSONResponse, problem
from ingestion.http.schemas import EscalationState
from ingestion.settings import IngestionSettings
from ingestion.store import Store
from ingestion.tenancy import ALL_TENANTS, SESSION_ID_PATTERN

router = APIRouter(tags=["escalations"])

_VIEW_EXAMPLE = {
    "id": "0b7c…",
    "session_id": "sess-1",
    "state": "delivered",
    "ticket_id": "42",
    "ticket_url": "http://helpdesk/tickets/42/",
}


@router.post(
    "/escalations",
    status_code=201,
    openapi_extra={
        "requestBody": {
            "required": True,
            "content": {"application/json": {"schema": {}}},  # filled by ingestion.http.openapi
        }
    },
    responses={
        200: {
            "description": "The same event was already accepted: the existing escalation.",
            "model": EscalationState,
        },
        201: {
            "description": "Accepted: queued for delivery.",
            "model": EscalationState,
            "content": {"application/json": {"example": _VIEW_EXAMPLE}},
        },
        **AUTH_RESPONSES,
        413: {"description": "The body is over CASELOOP_MAX_PAYLOAD_BYTES."},
        422: {
            "description": "Invalid payload, or the idempotency key reused with another payload."
        },
    },
)
async def post_escalation(
    request: Request,
    caller: Escalate,
    store: Annotated[Store, Depends(get_store)],
    settings: Annotated[IngestionSettings, Depends(get_settings)],
) -> Response:
    """Hand a conversation to a human: the escalation and its outbox row commit together."""
    body = await read_limited(request, settings.max_payload_bytes)
    try:
        if body is None:
            raise PayloadTooLarge(
                [("body", f"over the limit of {settings.max_payload_bytes} bytes")]
            )
        own = None if caller.tenant == ALL_TENANTS else caller.tenant
        parsed = parse_escalation(body, settings=settings, tenant=own)
        tenant_of(caller, parsed.tenant, settings)  # 403 for another tenant's name
        view = await run_in_threadpool(escalate, store, parsed, settings=settings)
    except PayloadTooLarge as exc:
        return problem(413, "payload too large", exc.problems)
    except InvalidEscalation as exc:
        return problem(422, "invalid escalation", exc.problems)
    except IdempotencyConflict as exc:
        return problem(422, "idempotency key reused with a different payload", [("body", str(exc))])
    status = 200 if view.replayed else 201
    headers = {"Location": f"/escalations/{view.id}"}
    return SafeJSONResponse(view.to_dict(), status_code=status, headers=headers)


@router.get(
    "/escalations/{escalation_id}",
    response_model=None,  # the body is the view's own dict; its schema: responses[200]
    responses={
        200: {"description": "The escalation.", "model": EscalationState},
        **AUTH_RESPONSES,
        404: {"description": "No such escalation (for this key)."},
    },
)
def read_escalation(
    escalation_id: Annotated[str, Path(min_length=1, max_length=64, pattern=SESSION_ID_PATTERN)],
    store: Annotated[Store, Depends(get_store)],
    caller: Escalate,
) -> dict[str, Any]:
    """State of an escalation: pending, delivered (ticket id and link) or dead (last error)."""
    try:
        return get_escalation(store, escalation_id, tenant=visible_to(caller)).to_dict()
    except NotFound as exc:
        raise HTTPException(status_code=404, detail=str(exc)) from exc
