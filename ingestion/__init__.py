"""caseloop's ingestion side: escalations in, tickets out, through a transactional outbox.

The public API is re-exported here; implementation lives in one module per concept.
"""

from ingestion.errors import (
    CaseloopIngestionError,
    IdempotencyConflict,
    InvalidEscalation,
    NotFound,
    StoreError,
    TicketingError,
    TicketingRejected,
    TicketingUnavailable,
)
from ingestion.escalations import (
    EscalationRequest,
    EscalationView,
    PayloadTooLarge,
    escalate,
    escalation_key,
    get_escalation,
    parse_escalation,
)
from ingestion.relay import Relay, RelayReport
from ingestion.settings import IngestionSettings
from ingestion.store import Store, open_store

__all__ = [
    "CaseloopIngestionError",
    "EscalationRequest",
    "EscalationView",
    "IdempotencyConflict",
    "IngestionSettings",
    "InvalidEscalation",
    "NotFound",
    "PayloadTooLarge",
    "Relay",
    "RelayReport",
    "Store",
    "StoreError",
    "TicketingError",
    "TicketingRejected",
    "TicketingUnavailable",
    "escalate",
    "escalation_key",
    "get_escalation",
    "open_store",
    "parse_escalation",
]
