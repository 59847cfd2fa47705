"""Tenants: the names, and how a session is told apart from another tenant's session.

A session id is unique only within its tenant: two tenants may both have a session ``s-1``. So
every store lookup by session filters on the tenant too, the idempotency key includes it (for
any tenant but ``default``, whose keys keep their original form), and the conversation id sent to
the ticketing system is qualified as ``<tenant>/<session>`` (session ids may not contain ``/``,
tenant names are restricted to `TENANT_PATTERN`, so the two parts never blur).
"""

from __future__ import annotations

DEFAULT_TENANT = "default"
ALL_TENANTS = "*"
TENANT_PATTERN = r"^[A-Za-z0-9][A-Za-z0-9._-]{0,99}$"
#: Session ids: printable, no ``/`` (a path segment) and no control characters.
SESSION_ID_PATTERN = r"^[^/\x00-\x1f\x7f]+$"


def qualified(tenant: str | None, name: str) -> str:
    """``name`` as it is known outside caseloop: unchanged for the default tenant."""
    tenant = tenant or DEFAULT_TENANT
    return name if tenant == DEFAULT_TENANT else f"{tenant}/{name}"


def split_qualified(name: str) -> tuple[str, str]:
    """(tenant, name) of a `qualified` name."""
    tenant, separator, rest = name.partition("/")
    return (tenant, rest) if separator else (DEFAULT_TENANT, name)
