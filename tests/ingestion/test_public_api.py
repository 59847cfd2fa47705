"""The ingestion package's public API is small, sorted and pinned."""

from __future__ import annotations

import ingestion

EXPECTED = [
    "ApplyResult",
    "CaseloopIngestionError",
    "EscalationRequest",
    "EscalationView",
    "IdempotencyConflict",
    "InboxReport",
    "InboxWorker",
    "IngestionSettings",
    "InvalidEscalation",
    "NotFound",
    "PayloadTooLarge",
    "Pusher",
    "Relay",
    "RelayReport",
    "Store",
    "StoreError",
    "SyncReport",
    "SyncWorker",
    "TicketingError",
    "TicketingRejected",
    "TicketingUnavailable",
    "apply_snapshot",
    "escalate",
    "escalation_key",
    "get_escalation",
    "list_messages",
    "open_store",
    "parse_escalation",
]


def test_all_is_pinned_and_sorted() -> None:
    assert ingestion.__all__ == EXPECTED
    assert sorted(ingestion.__all__) == ingestion.__all__


def test_every_name_resolves_and_is_documented() -> None:
    for name in ingestion.__all__:
        obj = getattr(ingestion, name)
        assert (obj.__doc__ or "").strip(), f"ingestion.{name} has no docstring"


def test_errors_share_one_root() -> None:
    for name in (
        "IdempotencyConflict",
        "InvalidEscalation",
        "NotFound",
        "PayloadTooLarge",
        "StoreError",
        "TicketingUnavailable",
    ):
        assert issubclass(getattr(ingestion, name), ingestion.CaseloopIngestionError)
