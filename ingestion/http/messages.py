"""`GET /sessions/{session_id}/messages?after=…`: the pull side of the channel to the orchestrator.

``after`` is a seq number or a message id (the last one the orchestrator has); the answer lists
the session's next messages in order, and ``next_after`` is what to send next time. Message ids
are stable, so the orchestrator can also dedupe pushed and pulled copies of one message.
"""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Depends, HTTPException, Path, Query

from ingestion.errors import NotFound
from ingestion.http.auth import AUTH_RESPONSES, ReadMessages, tenant_of
from ingestion.http.deps import get_settings, get_store
from ingestion.http.schemas import MessagePage
from ingestion.messages import page_messages
from ingestion.settings import IngestionSettings
from ingestion.store import Store
from ingestion.tenancy import SESSION_ID_PATTERN, TENANT_PATTERN

router = APIRouter(tags=["messages"])

SessionId = Annotated[str, Path(min_length=1, max_length=200, pattern=SESSION_ID_PATTERN)]
Tenant = Annotated[
    str | None,
    Query(
        max_length=100,
        pattern=TENANT_PATTERN,
        description="The session's tenant; needed only with an all-tenants key, multi-tenant.",
    ),
]
After = Annotated[
    str | None,
    Query(
        max_length=36,
        pattern=r"^(\d{1,9}|[0-9a-fA-F-]{36})$",
        description="A seq number or a message id; messages after it are returned.",
    ),
]


@router.get(
    "/sessions/{session_id}/messages",
    response_model=None,  # the body is the view's own dict; its schema: responses[200]
    responses={
        200: {"description": "The page of replies.", "model": MessagePage},
        **AUTH_RESPONSES,
        404: {"description": "``after`` is not a message of the session."},
    },
)
def get_messages(
    session_id: SessionId,
    store: Annotated[Store, Depends(get_store)],
    settings: Annotated[IngestionSettings, Depends(get_settings)],
    caller: ReadMessages,
    tenant: Tenant = None,
    after: After = None,
    limit: Annotated[int | None, Query(ge=1, description="At most this many.")] = None,
) -> dict[str, Any]:
    """Agent replies forwarded to this session after ``after``, oldest first."""
    count = min(limit or settings.messages_page_limit, settings.messages_page_limit)
    try:
        scope = tenant_of(caller, tenant, settings)
        messages, next_after = page_messages(
            store, session_id, after=after, limit=count, tenant=scope
        )
    except NotFound as exc:
        raise HTTPException(
            status_code=404, detail=[{"loc": ["query", "after"], "msg": str(exc)}]
        ) from exc
    return {
        "session_id": session_id,
        "messages": [m.to_dict() for m in messages],
        "next_after": next_after,
    }
