"""API keys for tests that call the HTTP service (every route but health and webhooks needs one)."""

from __future__ import annotations

from ingestion.keys import SCOPES, create_key
from ingestion.store import Store
from ingestion.tenancy import ALL_TENANTS


def bearer(
    store: Store, *, tenant: str = ALL_TENANTS, scopes: tuple[str, ...] = SCOPES
) -> dict[str, str]:
    """An ``Authorization`` header with a new key of ``tenant`` and ``scopes``."""
    key, _ = create_key(store, tenant=tenant, scopes=list(scopes), name="test")
    return {"Authorization": f"Bearer {key}"}
