"""Session outcomes: how each chatbot session ended, as the orchestrator reports it.

The orchestrator tells us whether the bot answered (``answered_by_bot``), the session escalated
(``escalated``) or the customer left (``abandoned``), and whether that is ``confirmed`` (the
customer said so, an agent took over) or ``assumed`` (the customer went quiet). The two are kept
apart everywhere, because counting assumed resolutions as resolved is how vendors inflate their
rates. ``served_case_ids`` names the case summaries the bot showed: a served case followed by an
escalation is a signal to review that case.

One row per (tenant, session): a later report replaces the earlier one (an assumed answer can become an
escalation when the customer comes back), and sending the same report again changes nothing.
"""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Callable
from dataclasses import dataclass
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from ingestion.errors import InvalidEscalation, NotFound
from ingestion.escalations import problems_of
from ingestion.jsonsafe import BoundedDatetime, parse_json
from ingestion.schema import SessionOutcome
from ingestion.settings import IngestionSettings
from ingestion.store import Store
from ingestion.tenancy import DEFAULT_TENANT, SESSION_ID_PATTERN, TENANT_PATTERN

Outcome = Literal["answered_by_bot", "escalated", "abandoned"]
Confirmation = Literal["confirmed", "assumed"]


class InvalidOutcome(InvalidEscalation):
    """A session outcome failed validation (a sibling of escalation payload errors: HTTP 422)."""


class OutcomeReport(BaseModel):
    """The body of ``POST /sessions/{session_id}/outcome`` (pydantic: it is an edge)."""

    model_config = ConfigDict(extra="forbid", frozen=True, str_strip_whitespace=True)

    outcome: Outcome
    confirmation: Confirmation
    tenant: str | None = Field(None, min_length=1, max_length=100, pattern=TENANT_PATTERN)
    served_case_ids: list[str] = Field(default_factory=list, max_length=100)
    reported_at: BoundedDatetime | None = None

    @field_validator("served_case_ids")
    @classmethod
    def _case_ids(cls, value: list[str]) -> list[str]:
        for index, case_id in enumerate(value):
            if not case_id.strip() or len(case_id) > 120 or "\x00" in case_id:
                raise ValueError(f"item {index} must be 1 to 120 characters")
        if len(set(value)) != len(value):
            raise ValueError("case ids repeat")
        return value


@dataclass(frozen=True, slots=True)
class OutcomeView:
    """A stored outcome; ``created`` is False when the call replaced or repeated a report."""

    session_id: str
    outcome: str
    confirmation: str
    tenant: str
    served_case_ids: tuple[str, ...]
    reported_at: dt.datetime
    created: bool = False

    def to_dict(self) -> dict[str, object]:
        return {
            "session_id": self.session_id,
            "outcome": self.outcome,
            "confirmation": self.confirmation,
            "tenant": self.tenant,
            "served_case_ids": list(self.served_case_ids),
            "reported_at": self.reported_at.isoformat(),
        }


def _view(row: SessionOutcome, *, created: bool = False) -> OutcomeView:
    return OutcomeView(
        session_id=row.session_id,
        outcome=row.outcome,
        confirmation=row.confirmation,
        tenant=row.tenant,
        served_case_ids=tuple(str(case_id) for case_id in row.served_case_ids),
        reported_at=row.reported_at,
        created=created,
    )


def parse_report(body: bytes) -> OutcomeReport:
    """A raw HTTP body as a report: UTF-8, safe JSON (`ingestion.jsonsafe`), then the model."""
    try:
        data = parse_json(body.decode("utf-8"))
    except UnicodeDecodeError as exc:
        raise InvalidOutcome([("body", f"invalid UTF-8 at byte {exc.start}")]) from None
    except ValueError as exc:
        raise InvalidOutcome([("body", str(exc))]) from None
    if not isinstance(data, dict):
        raise InvalidOutcome([("body", "expected a JSON object")])
    try:
        return OutcomeReport.model_validate(data)
    except ValidationError as exc:
        raise InvalidOutcome(problems_of(exc)) from None


def _check_session_id(session_id: str) -> None:
    if not session_id.strip() or len(session_id) > 200:
        raise InvalidOutcome([("session_id", "must be 1 to 200 characters")])
    if not re.match(SESSION_ID_PATTERN, session_id):
        raise InvalidOutcome([("session_id", "must not contain '/' or control characters")])


def record_outcome(
    store: Store,
    session_id: str,
    report: OutcomeReport,
    *,
    settings: IngestionSettings,
    clock: Callable[[], dt.datetime] = lambda: dt.datetime.now(dt.UTC),
) -> OutcomeView:
    """Store (or replace) the outcome of ``session_id`` (of the report's tenant) in one transaction."""
    _check_session_id(session_id)
    if settings.multi_tenant and report.tenant is None:
        raise InvalidOutcome([("tenant", "required: the service runs multi-tenant")])
    reported_at = (report.reported_at or clock()).astimezone(dt.UTC)
    try:
        with store.transaction() as session:
            return _upsert(session, session_id, report, reported_at, lock=not store.is_sqlite)
    except IntegrityError:
        # Two first reports of one session raced on PostgreSQL: the row exists now, so update it.
        with store.transaction() as session:
            return _upsert(session, session_id, report, reported_at, lock=not store.is_sqlite)


def _upsert(
    session: Session, session_id: str, report: OutcomeReport, at: dt.datetime, *, lock: bool
) -> OutcomeView:
    tenant = report.tenant or DEFAULT_TENANT
    row = session.get(SessionOutcome, (tenant, session_id), with_for_update=lock)
    created = row is None
    if row is None:
        row = SessionOutcome(tenant=tenant, session_id=session_id)
        session.add(row)
    row.outcome = report.outcome
    row.confirmation = report.confirmation
    row.served_case_ids = list(report.served_case_ids)
    row.reported_at = at
    session.flush()
    return _view(row, created=created)


def get_outcome(store: Store, session_id: str, *, tenant: str = DEFAULT_TENANT) -> OutcomeView:
    """The stored outcome of ``tenant``'s session; `NotFound` when none was reported."""
    with store.transaction() as session:
        row = session.get(SessionOutcome, (tenant, session_id))
        if row is None:
            raise NotFound("no outcome reported for this session")
        return _view(row)
