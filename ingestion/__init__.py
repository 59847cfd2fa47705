"""caseloop's ingestion side: escalations in, tickets out, ticket updates back.

Escalations go out through a transactional outbox (`escalate`, `Relay`); ticket updates come back
by webhook (`InboxWorker`) or polling (`SyncWorker`) into one applier (`apply_snapshot`), and agent
replies reach the orchestrator through the `Pusher` (push) or `list_messages` (pull).

The public API is re-exported here; implementation lives in one module per concept.
"""

from ingestion.applier import ApplyResult, apply_snapshot
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
from ingestion.inbox import InboxReport, InboxWorker
from ingestion.messages import list_messages
from ingestion.pusher import Pusher
from ingestion.relay import Relay, RelayReport
from ingestion.settings import IngestionSettings
from ingestion.store import Store, open_store
from ingestion.sync import SyncReport, SyncWorker

__all__ = [
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
