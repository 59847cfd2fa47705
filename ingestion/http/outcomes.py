"""`POST /sessions/{session_id}/outcome` and `GET /sessions/{session_id}/outcome`.

The orchestrator reports how a session ended (see `ingestion.outcomes`). The first report of a
session answers 201, a later one (replacing or repeating it) 200. Validation errors answer 422
with the field and the problem.
"""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Depends, HTTPException, Path, Query, Response

from ingestion.errors import InvalidEscalation, NotFound
from ingestion.http.auth import AUTH_RESPONSES, WriteOutcomes, tenant_of
from ingestion.http.deps import get_settings, get_store
from ingestion.outcomes import OutcomeReport, get_outcome, record_outcome
from ingestion.settings import IngestionSettings
from ingestion.store import Store
from ingestion.tenancy import ALL_TENANTS, SESSION_ID_PATTERN, TENANT_PATTERN

router = APIRouter(tags=["outcomes"])

SessionId = Annotated[str, Path(min_length=1, max_length=200, pattern=SESSION_ID_PATTERN)]
Tenant = Annotated[str | None, Query(max_length=100, pattern=TENANT_PATTERN)]


@router.post(
    "/sessions/{session_id}/outcome",
    status_code=201,
    responses={**AUTH_RESPONSES, 200: {"description": "Replaced or repeated an earlier report."}},
)
def post_outcome(
    session_id: SessionId,
    report: OutcomeReport,
    response: Response,
    store: Annotated[Store, Depends(get_store)],
    settings: Annotated[IngestionSettings, Depends(get_settings)],
    caller: WriteOutcomes,
) -> dict[str, Any]:
    """Record how the session ended: answered_by_bot | escalated | abandoned, confirmed | assumed."""
    if report.tenant is None and caller.tenant != ALL_TENANTS:
        report = report.model_copy(update={"tenant": caller.tenant})
    if report.tenant is not None:
        tenant_of(caller, report.tenant, settings)  # 403 for another tenant's name
    try:
        view = record_outcome(store, session_id, report, settings=settings)
    except InvalidEscalation as exc:
        detail = [{"loc": ["body", field], "msg": msg} for field, msg in exc.problems]
        raise HTTPException(status_code=422, detail=detail) from exc
    if not view.created:
        response.status_code = 200
    return view.to_dict()


@router.get(
    "/sessions/{session_id}/outcome",
    responses={**AUTH_RESPONSES, 404: {"description": "No outcome reported for the session."}},
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
