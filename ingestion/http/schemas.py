"""What the service answers on success, as pydantic models: the document's 2xx schemas.

The routes build their answers from the frozen views (`EscalationView.to_dict`, `Message`,
`OutcomeView`); these models only *describe* those bodies in the OpenAPI document, so generated
clients are typed and the fuzz in `tests/ingestion/test_openapi.py` checks every real answer
against them (schemathesis' response-schema check). Error bodies share ``openapi.PROBLEM``.
"""

from __future__ import annotations

from typing import Literal

from pydantic import AwareDatetime, BaseModel, ConfigDict, Field

from ingestion.outcomes import Confirmation, Outcome


class _Answer(BaseModel):
    model_config = ConfigDict(extra="forbid")


class EscalationState(_Answer):
    """An escalation as callers see it: pending, delivered (ticket id and link) or dead."""

    id: str = Field(description="The idempotency key (UUIDv5 over tenant, session and event).")
    session_id: str
    escalation_event_id: str
    tenant: str
    kind: str = Field(description="create (a new ticket) or update (a note on the open one).")
    state: str = Field(description="pending, delivered or dead.")
    ticket_id: str | None
    ticket_url: str | None
    last_error: str | None = Field(description="Why delivery is failing or failed, if it is.")
    created_at: AwareDatetime
    delivered_at: AwareDatetime | None


class AgentMessage(_Answer):
    """One customer-visible agent reply (never an internal note)."""

    id: str
    session_id: str
    seq: int = Field(description="Position in the session, from 1, gap-free.")
    body: str
    author: str | None
    created_at: str = Field(description="When the agent wrote it (ISO 8601, UTC).")
    ticket_source: str
    ticket_id: str


class MessagePage(_Answer):
    """Replies after the cursor, oldest first, and the cursor for the next call."""

    session_id: str
    messages: list[AgentMessage]
    next_after: int = Field(
        description="The seq to pass as ``after`` next time; unchanged when nothing is newer."
    )


class OutcomeState(_Answer):
    """How a session ended, as last reported."""

    session_id: str
    outcome: Outcome
    confirmation: Confirmation
    tenant: str
    served_case_ids: list[str]
    reported_at: AwareDatetime


class WebhookAck(_Answer):
    """A delivery stored (``accepted``, processed after the answer) or seen before (``duplicate``)."""

    status: Literal["accepted", "duplicate"]
    delivery_id: str
