"""`GET /healthz`: the service is up and its store answers."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends
from sqlalchemy import text

from ingestion.http.deps import get_store
from ingestion.store import Store

router = APIRouter(tags=["health"])


@router.get("/healthz")
def healthz(store: Annotated[Store, Depends(get_store)]) -> dict[str, str]:
    """Liveness and store reachability."""
    with store.engine.connect() as conn:
        conn.execute(text("SELECT 1"))
    return {"status": "ok"}
