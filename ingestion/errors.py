"""The ingestion package's exceptions: one root, translated at every boundary.

    CaseloopIngestionError
    ├── StoreError                    the operational store failed or is misconfigured
    ├── SettingsError                 a CASELOOP_* setting is malformed (one line: name, expectation)
    ├── InvalidEscalation             a payload failed validation (carries field-level problems)
    │   └── InvalidOutcome            a session outcome failed validation (ingestion.outcomes)
    ├── IdempotencyConflict           same idempotency key, different payload (HTTP 422)
    ├── NotFound                      an escalation, session or ticket that does not exist
    ├── InvalidKey                    an API key request that cannot be honoured (ingestion.keys)
    ├── WebhookRejected               a delivery refused, with a typed reason
    └── TicketingError                the ticketing system refused or failed
        ├── TicketingUnavailable      retryable: timeouts, connection errors, 5xx, 429
        └── TicketingRejected         permanent: validation errors, 4xx other than 429
            └── TicketNotFound        404 (defined in ingestion.adapters.http)

No library exception (sqlite3, psycopg, httpx) leaves a public function of this package.
"""

from __future__ import annotations


class CaseloopIngestionError(Exception):
    """Root of every error raised by the ingestion package."""


class StoreError(CaseloopIngestionError):
    """The operational store failed or is misconfigured."""


class SettingsError(CaseloopIngestionError):
    """A setting is malformed; the message names the variable and what it expects."""


class InvalidEscalation(CaseloopIngestionError):
    """An escalation payload failed validation; ``problems`` lists (field, message) pairs."""

    def __init__(self, problems: list[tuple[str, str]]) -> None:
        self.problems = problems
        super().__init__("; ".join(f"{field}: {message}" for field, message in problems))


class IdempotencyConflict(CaseloopIngestionError):
    """The idempotency key was seen before with a different payload."""


class NotFound(CaseloopIngestionError):
    """The requested record does not exist."""


class InvalidKey(CaseloopIngestionError):
    """An API key could not be created as asked (unknown scope, bad tenant)."""


class InvalidErasure(CaseloopIngestionError):
    """An erasure request names no customer that could be looked up (not an e-mail address)."""


class WebhookRejected(CaseloopIngestionError):
    """A webhook delivery was refused; ``reason`` is one of the typed rejection reasons."""

    def __init__(self, reason: str, message: str) -> None:
        self.reason = reason
        super().__init__(f"{reason}: {message}")


class TicketingError(CaseloopIngestionError):
    """The ticketing system refused or failed a call."""


class TicketingUnavailable(TicketingError):
    """A retryable failure; ``retry_after`` (seconds) when the system said how long to wait."""

    def __init__(self, message: str, *, retry_after: float | None = None) -> None:
        self.retry_after = retry_after
        super().__init__(message)


class TicketingRejected(TicketingError):
    """A permanent failure: retrying the same call cannot succeed."""
