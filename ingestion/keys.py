"""API keys: who may call the service, for which tenant, with which scopes.

A key looks like ``clk_<prefix>_<secret>``. The store keeps the public ``prefix`` and a SHA-256
hash of the whole key, never the key: it is shown once, at creation. The secret has 192 random
bits, so a plain hash is enough (no slow KDF: nothing to brute-force), and the comparison is
constant-time. A key is bound to one tenant or to all of them (``*``, an operator key) and to
scopes (`SCOPES`).

`KeyRing` is what the HTTP service asks: it caches verified keys for a few seconds (so checking
costs no database round trip per request) and writes ``last_used_at`` at most once a minute per
key. A revoked key therefore stops working within ``cache_seconds``.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import hmac
import re
import secrets
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass

from sqlalchemy import select, update

from ingestion.clock import utcnow
from ingestion.errors import InvalidKey, NotFound
from ingestion.schema import ApiKey
from ingestion.store import Store
from ingestion.tenancy import ALL_TENANTS, TENANT_PATTERN

SCOPES = ("admin", "escalate", "messages:read", "outcomes:write")
_PREFIX = "clk_"


@dataclass(frozen=True, slots=True)
class Caller:
    """A verified key: its prefix, tenant (``*`` for all) and scopes."""

    prefix: str
    tenant: str
    scopes: frozenset[str]

    def allows(self, scope: str) -> bool:
        return scope in self.scopes or "admin" in self.scopes

    def may_act_for(self, tenant: str) -> bool:
        return self.tenant in (ALL_TENANTS, tenant)


@dataclass(frozen=True, slots=True)
class KeyInfo:
    """A stored key as `caseloop keys list` shows it (never the secret)."""

    prefix: str
    name: str
    tenant: str
    scopes: tuple[str, ...]
    created_at: dt.datetime
    last_used_at: dt.datetime | None
    revoked_at: dt.datetime | None


def _digest(key: str) -> str:
    return hashlib.sha256(key.encode()).hexdigest()


def _split(key: str) -> str | None:
    """The prefix of a well-formed key, or None."""
    if not key.startswith(_PREFIX) or len(key) > 100:
        return None
    prefix, _, secret = key[len(_PREFIX) :].partition("_")
    return prefix if len(prefix) == 12 and prefix.isalnum() and len(secret) >= 32 else None


def create_key(
    store: Store,
    *,
    tenant: str,
    scopes: list[str],
    name: str = "",
    clock: Callable[[], dt.datetime] = utcnow,
) -> tuple[str, KeyInfo]:
    """Create a key; returns (the key, shown only now, and what is stored about it)."""
    unknown = sorted(set(scopes) - set(SCOPES))
    if unknown or not scopes:
        raise InvalidKey(f"scopes must be among {', '.join(SCOPES)} (got {unknown or 'none'})")
    if tenant != ALL_TENANTS and not re.match(TENANT_PATTERN, tenant):
        raise InvalidKey("tenant must be 1 to 100 letters, digits, '.', '_' or '-' (or * for all)")
    prefix = secrets.token_hex(6)
    key = f"{_PREFIX}{prefix}_{secrets.token_urlsafe(24)}"
    row = ApiKey(
        prefix=prefix,
        key_hash=_digest(key),
        tenant=tenant,
        scopes=sorted(set(scopes)),
        name=name[:100],
        created_at=clock(),
    )
    with store.transaction() as tx:
        tx.add(row)
        tx.flush()
        return key, _info(row)


def _info(row: ApiKey) -> KeyInfo:
    return KeyInfo(
        prefix=row.prefix,
        name=row.name,
        tenant=row.tenant,
        scopes=tuple(str(scope) for scope in row.scopes),
        created_at=row.created_at,
        last_used_at=row.last_used_at,
        revoked_at=row.revoked_at,
    )


def list_keys(store: Store) -> list[KeyInfo]:
    """Every key, oldest first, revoked ones included."""
    with store.transaction() as tx:
        rows = tx.scalars(select(ApiKey).order_by(ApiKey.created_at, ApiKey.prefix)).all()
        return [_info(row) for row in rows]


def revoke_key(store: Store, prefix: str, *, clock: Callable[[], dt.datetime] = utcnow) -> KeyInfo:
    """Revoke the key with this prefix (idempotent); raises `NotFound`."""
    prefix = prefix.removeprefix(_PREFIX).split("_")[0]
    with store.transaction() as tx:
        row = tx.get(ApiKey, prefix)
        if row is None:
            raise NotFound(f"no key with prefix {prefix!r}")
        if row.revoked_at is None:
            row.revoked_at = clock()
        tx.flush()
        return _info(row)


class KeyRing:
    """Verifies presented keys against the store, with a short cache (thread-safe)."""

    def __init__(self, store: Store, *, cache_seconds: float = 5.0, touch_seconds: float = 60.0):
        self.store, self.cache_seconds, self.touch_seconds = store, cache_seconds, touch_seconds
        self._cache: dict[str, tuple[float, Caller | None]] = {}
        self._touched: dict[str, float] = {}
        self._lock = threading.Lock()

    def cached(self, key: str) -> tuple[bool, Caller | None]:
        """(True, caller) when ``key`` can be answered from memory alone, without store I/O."""
        now = time.monotonic()
        with self._lock:
            entry = self._cache.get(key)
            if entry is None or now - entry[0] > self.cache_seconds:
                return False, None
            caller = entry[1]
            if (
                caller is not None
                and now - self._touched.get(caller.prefix, -1e18) >= self.touch_seconds
            ):
                return False, None  # last_used_at is due: verify() writes it
            return True, caller

    def verify(self, key: str) -> Caller | None:
        """The caller behind ``key``, or None for an unknown, malformed or revoked key."""
        prefix = _split(key)
        if prefix is None:
            return None
        now = time.monotonic()
        with self._lock:
            cached = self._cache.get(key)
        if cached is None or now - cached[0] > self.cache_seconds:
            caller = self._load(prefix, key)
            with self._lock:
                if len(self._cache) > 10_000:
                    self._cache.clear()  # bounded: random wrong keys cannot grow it forever
                self._cache[key] = (now, caller)
        else:
            caller = cached[1]
        if caller is not None:
            self._touch(prefix, now)
        return caller

    def _load(self, prefix: str, key: str) -> Caller | None:
        with self.store.transaction() as tx:
            row = tx.get(ApiKey, prefix)
            if row is None or row.revoked_at is not None:
                return None
            if not hmac.compare_digest(row.key_hash, _digest(key)):
                return None
            return Caller(prefix, row.tenant, frozenset(str(s) for s in row.scopes))

    def _touch(self, prefix: str, now: float) -> None:
        with self._lock:
            if now - self._touched.get(prefix, -float("inf")) < self.touch_seconds:
                return
            self._touched[prefix] = now
        with self.store.transaction() as tx:
            tx.execute(update(ApiKey).where(ApiKey.prefix == prefix).values(last_used_at=utcnow()))
