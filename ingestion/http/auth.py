"""Bearer API keys on every route but health and the webhooks (those are signed or tokened).

``Authorization: Bearer <key>``: no key, a malformed, unknown or revoked one → 401 with
``WWW-Authenticate: Bearer``; a key without the route's scope → 403. A request that names
another tenant than its key's → 403 (the caller named it; nothing is revealed). A tenant's
object looked up by id or session with another tenant's key is a plain 404 (see `ingestion.tenancy`).

``CASELOOP_REQUIRE_API_KEYS=false`` turns checking off (a trusted loopback, the benchmark's
baseline): every caller is then an operator with every scope.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Annotated, cast

from fastapi import Depends, HTTPException, Request
from fastapi.concurrency import run_in_threadpool

from ingestion.keys import SCOPES, Caller, KeyRing
from ingestion.settings import IngestionSettings
from ingestion.tenancy import ALL_TENANTS, DEFAULT_TENANT

UNCHECKED = Caller(prefix="-", tenant=ALL_TENANTS, scopes=frozenset(SCOPES))
UNAUTHORIZED = {"WWW-Authenticate": 'Bearer realm="caseloop"'}
#: The 401/403 answers every guarded route may give (for the OpenAPI document).
AUTH_RESPONSES: dict[int | str, dict[str, str]] = {
    401: {"description": "No API key, or an unknown, malformed or revoked one."},
    403: {"description": "The key lacks the scope, or names another tenant."},
}


def _bearer(request: Request) -> str | None:
    scheme, _, value = request.headers.get("authorization", "").partition(" ")
    return value.strip() if scheme.lower() == "bearer" and value.strip() else None


def require(scope: str) -> Callable[[Request], Awaitable[Caller]]:
    """A dependency that admits only callers whose key has ``scope`` (or ``admin``)."""

    async def check(request: Request) -> Caller:
        settings = cast(IngestionSettings, request.app.state.settings)
        if not settings.require_api_keys:
            return UNCHECKED
        key = _bearer(request)
        keyring = cast(KeyRing, request.app.state.keyring)
        caller = None
        if key:
            # From memory on the event loop; the store (every few seconds per key) in a thread.
            hit, caller = keyring.cached(key)
            if not hit:
                caller = await run_in_threadpool(keyring.verify, key)
        if caller is None:
            raise HTTPException(401, "a valid API key is required", headers=UNAUTHORIZED)
        if not caller.allows(scope):
            raise HTTPException(403, f"this key lacks the {scope!r} scope")
        return caller

    return check


Escalate = Annotated[Caller, Depends(require("escalate"))]
ReadMessages = Annotated[Caller, Depends(require("messages:read"))]
WriteOutcomes = Annotated[Caller, Depends(require("outcomes:write"))]


def tenant_of(caller: Caller, named: str | None, settings: IngestionSettings) -> str:
    """The tenant a request acts for: the one it names (if its key may), else the key's own."""
    if named is not None:
        if not caller.may_act_for(named):
            raise HTTPException(403, "this key is not for that tenant")
        return named
    if caller.tenant != ALL_TENANTS:
        return caller.tenant
    if settings.multi_tenant:
        raise HTTPException(
            422, [{"loc": ["query", "tenant"], "msg": "required: the service runs multi-tenant"}]
        )
    return DEFAULT_TENANT


def visible_to(caller: Caller) -> str | None:
    """The only tenant whose objects the caller may see by id (None: every tenant)."""
    return None if caller.tenant == ALL_TENANTS else caller.tenant
