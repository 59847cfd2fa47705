"""`POST /sessions/{session_id}/outcome` and `GET /sessions/{session_id}/outcome`.

The orchestrator reports how a session ended (see `ingestion.outcomes`). The first report of a
session answers 201, a later one (replacing or repeating it) 200. Validation errors answer 422
with the field and the problem.
"""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Depends, HTTPException, Path, Query, Request, Response
from fastapi.concurrency import run_in_threadpool

from ingestion.errors import InvalidEscalation, NotFound
from ingestion.http.auth import AUTH_RESPONSES, WriteOutcomes, tenant_of
from ingestion.http.body import read_limited
from ingestion.http.deps import get_settings, get_store
from ingestion.http.responses import SafeJSONResponse
from ingestion.http.schemas import OutcomeState
from ingestion.outcomes import get_outcome, parse_report, record_outcome
from ingestion.settings import IngestionSettings
from ingestion.store import Store
from ingestion.tenancy import ALL_TENANTS, SESSION_ID_PATTERN, TENANT_PATTERN

router = APIRouter(tags=["outcomes"])

SessionId = Annotated[str, Path(min_length=1, max_length=200, pattern=SESSION_ID_PATTERN)]
Tenant = Annotated[str | None, Query(max_length=100, pattern=TENANT_PATTERN)]


def _path(field: str) -> list[str]:
    return [] if field == "body" else field.replace("[", ".").replace("]", "").split(".")


@router.post(
    "/sessions/{session_id}/outcome",
    status_code=201,
    openapi_extra={
        "requestBody": {
            "required": True,
            "content": {"application/json": {"schema": {}}},  # filled by ingestion.http.openapi
        }
    },
    responses={
        **AUTH_RESPONSES,
        200: {"description": "Replaced or repeated an earlier report.", "model": OutcomeState},
        201: {"description": "Recorded.", "model": OutcomeState},
        413: {"description": "The body is over CASELOOP_MAX_PAYLOAD_BYTES."},
        422: {"description": "Invalid report (one entry per problem)."},
    },
)
async def post_outcome(
    session_id: SessionId,
    request: Request,
    store: Annotated[Store, Depends(get_store)],
    settings: Annotated[IngestionSettings, Depends(get_settings)],
    caller: WriteOutcomes,
) -> Response:
    """Record how the session ended: answered_by_bot | escalated | abandoned, confirmed | assumed."""
    body = await read_limited(request, settings.max_payload_bytes)
    if body is None:
        detail = [{"loc": ["body"], "msg": f"over the limit of {settings.max_payload_bytes} bytes"}]
        return SafeJSONResponse({"detail": detail}, status_code=413)
    try:
        report = parse_report(body)
        if report.tenant is None and caller.tenant != ALL_TENANTS:
            report = report.model_copy(update={"tenant": caller.tenant})
        if report.tenant is not None:
            tenant_of(caller, report.tenant, settings)  # 403 for another tenant's name
        view = await run_in_threadpool(record_outcome, store, session_id, report, settings=settings)
    except InvalidEscalation as exc:
        detail = [{"loc": ["body", *_path(field)], "msg": msg} for field, msg in exc.problems]
        return SafeJSONResponse({"detail": detail}, status_code=422)
    return SafeJSONResponse(view.to_dict(), status_code=201 if view.created else 200)


@router.get(
    "/sessions/{session_id}/outcome",
    response_model=None,  # the body is the view's own dict; its schema: responses[200]
    responses={
        200: {"description": "The outcome.", "model": OutcomeState},
        **AUTH_RESPONSES,
        404: {"description": "No outcome reported for the session."},
    },
)
def read_outcome(
    session_id: SessionId,
    store: Annotated[Store, Depends(get_store)],
    settings: Annotated[IngestionSettings, Depends(get_settings)],
    caller: WriteOutcomes,
    tenant: Tenant = None,
) -> dict[str, Any]:
    """The outcome last reported for the session (404 when none was)."""
    scope = tenant_of(caller, tenant, settings)
    try:
        return get_outcome(store, session_id, tenant=scope).to_dict()
    except NotFound as exc:
        raise HTTPException(status_code=404, detail=str(exc)) from exc
