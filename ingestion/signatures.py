"""Webhook signatures: Standard Webhooks (verify and sign) and GitHub-style ``sha256=`` HMACs.

Standard Webhooks (https://www.standardwebhooks.com): a delivery carries ``webhook-id``,
``webhook-timestamp`` (Unix seconds) and ``webhook-signature`` (a space-separated list of
``v1,<base64 HMAC-SHA256>``, so a sender can sign with an old and a new secret while they
rotate). The signed content is ``{id}.{timestamp}.{raw body}``: the raw bytes, never re-serialised
JSON. Secrets are ``whsec_`` followed by base64 key bytes. Timestamps more than the tolerance in
the past *or in the future* are refused, and signatures are compared in constant time.

Every refusal raises `WebhookRejected` with one of the typed `REJECTION_REASONS`; its message
names the header or problem and never contains a secret or the body.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
from collections.abc import Iterable, Mapping
from dataclasses import dataclass

from ingestion.errors import WebhookRejected

#: Why a delivery was refused (counted per source in ``webhook_rejections``).
REJECTION_REASONS = (
    "missing_header",  # a Standard Webhooks header is absent
    "bad_timestamp",  # webhook-timestamp is not an integer
    "too_old",  # older than the tolerance
    "too_new",  # further in the future than the tolerance
    "bad_signature",  # no signature matches any configured secret
    "bad_secret_format",  # a configured secret is not whsec_<base64> (operator error)
    "bad_token",  # the URL secret of an unsigned (native) webhook is wrong or missing
    "malformed_body",  # not JSON, or no ticket id in it
    "oversized",  # body larger than webhook_max_body_bytes
    "unknown_source",  # no receiver for this source
)

SECRET_PREFIX = "whsec_"
SIGNATURE_VERSION = "v1"


@dataclass(frozen=True, slots=True)
class VerifiedDelivery:
    """The identity of a delivery whose signature and timestamp checked out."""

    delivery_id: str
    timestamp: int


def decode_secret(secret: str) -> bytes:
    """The key bytes of a ``whsec_…`` secret (the prefix is optional, as in the reference)."""
    raw = secret.removeprefix(SECRET_PREFIX)
    try:
        key = base64.b64decode(raw, validate=True)
    except (binascii.Error, ValueError) as exc:
        raise WebhookRejected(
            "bad_secret_format", "a configured secret is not whsec_<base64>"
        ) from exc
    if not key:
        raise WebhookRejected("bad_secret_format", "a configured secret is empty")
    return key


def sign(secret: str, delivery_id: str, timestamp: int, body: bytes) -> str:
    """The ``v1,<base64>`` signature of ``body`` for this id and timestamp."""
    content = f"{delivery_id}.{timestamp}.".encode() + body
    digest = hmac.new(decode_secret(secret), content, hashlib.sha256).digest()
    return f"{SIGNATURE_VERSION},{base64.b64encode(digest).decode()}"


def signed_headers(secret: str, delivery_id: str, timestamp: int, body: bytes) -> dict[str, str]:
    """The three Standard Webhooks headers for a delivery we send (pushes to the orchestrator)."""
    return {
        "webhook-id": delivery_id,
        "webhook-timestamp": str(timestamp),
        "webhook-signature": sign(secret, delivery_id, timestamp, body),
    }


def _header(headers: Mapping[str, str], name: str) -> str:
    value = headers.get(name)
    if value is None or not value.strip():
        raise WebhookRejected("missing_header", f"header {name} is missing")
    return value.strip()


def verify(
    headers: Mapping[str, str],
    body: bytes,
    secrets: Iterable[str],
    *,
    now: float,
    tolerance_seconds: int = 300,
) -> VerifiedDelivery:
    """Check a Standard Webhooks delivery; return its id and timestamp or raise `WebhookRejected`.

    ``headers`` must be case-insensitive or lower-cased. ``now`` is Unix seconds. Any one of
    ``secrets`` may match any one of the signatures in the header.
    """
    delivery_id = _header(headers, "webhook-id")
    raw_timestamp = _header(headers, "webhook-timestamp")
    signature_header = _header(headers, "webhook-signature")
    try:
        timestamp = int(raw_timestamp)
    except ValueError:
        raise WebhookRejected("bad_timestamp", "webhook-timestamp is not an integer") from None
    if timestamp < now - tolerance_seconds:
        raise WebhookRejected("too_old", f"webhook-timestamp is more than {tolerance_seconds}s old")
    if timestamp > now + tolerance_seconds:
        raise WebhookRejected(
            "too_new", f"webhook-timestamp is more than {tolerance_seconds}s in the future"
        )
    keys = [decode_secret(secret) for secret in secrets]
    if not keys:
        raise WebhookRejected("bad_signature", "no secret is configured for this source")
    content = f"{delivery_id}.{timestamp}.".encode() + body
    expected = [hmac.new(key, content, hashlib.sha256).digest() for key in keys]
    for candidate in signature_header.split():
        version, _, encoded = candidate.partition(",")
        if version != SIGNATURE_VERSION:
            continue  # unknown schemes are skipped, as the spec asks
        try:
            given = base64.b64decode(encoded, validate=True)
        except (binascii.Error, ValueError):
            continue
        # Check every secret without an early exit so timing does not tell which one matched.
        matched = False
        for digest in expected:
            matched |= hmac.compare_digest(digest, given)
        if matched:
            return VerifiedDelivery(delivery_id=delivery_id, timestamp=timestamp)
    raise WebhookRejected("bad_signature", "no v1 signature matches a configured secret")


def hmac_sha256_signature(secret: str, body: bytes) -> str:
    """A GitHub-style ``sha256=<hex>`` signature of ``body`` with a plain-text secret."""
    return "sha256=" + hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()


def verify_hmac_sha256_signature(secret: str, body: bytes, header: str | None) -> None:
    """Check a ``sha256=<hex>`` signature header in constant time; raise `WebhookRejected`."""
    if not header:
        raise WebhookRejected("missing_header", "signature header is missing")
    if not hmac.compare_digest(hmac_sha256_signature(secret, body).encode(), header.encode()):
        raise WebhookRejected("bad_signature", "sha256 signature does not match")
