"""The personal-data corpus through `learn` against the real django-helpdesk: zero leaks.

Each person's message is escalated, the real relay opens the helpdesk ticket, an agent answers in
the helpdesk with the customer's data quoted back, the ticket is resolved there, and `learn`
pulls and learns. Nothing of any category the docs claim may reach the summaries, the tags, the
shared tag vocabulary, the run report or the index payloads.
"""

from __future__ import annotations

import datetime as dt
import json
import uuid

import pytest
from sqlalchemy import select

from ingestion.adapters import HelpdeskAdapter
from ingestion.cases import AdapterTicketing, learn
from ingestion.escalations import EscalationRequest, escalate
from ingestion.relay import Relay
from ingestion.schema import CaseSummary, TagVocabulary, Ticket
from ingestion.settings import IngestionSettings
from ingestion.store import Store
from tests.ingestion.cases.counting import CountingIndex
from tests.ingestion.cases.pii import Person, leaks_by_kind, people

pytestmark = pytest.mark.helpdesk


def _open(store: Store, adapter: HelpdeskAdapter, person: Person) -> str:
    session = f"pii-{uuid.uuid4().hex[:10]}"
    now = dt.datetime.now(dt.UTC).isoformat()
    request = EscalationRequest.model_validate(
        {
            "session_id": session,
            "escalation_event_id": "e1",
            "customer": {"name": person.name, "email": person.email},
            "transcript": [{"role": "customer", "text": person.message(), "at": now}],
            "context": {"summary": "Customer cannot sign in", "intent": "login_problem"},
            "reason": "no_evidence",
        }
    )
    escalate(store, request, settings=IngestionSettings())
    Relay(store, adapter, IngestionSettings()).drain()
    with store.transaction() as tx:
        return tx.scalars(select(Ticket.external_id).where(Ticket.session_id == session)).one()


def _answer(person: Person) -> str:
    return (
        f"Hi {person.first}, we reset the login for {person.email} and refunded card "
        f"{person.card}. Never share your password {person.password} or PIN {person.pin} "
        f"again; we revoked {person.api_key}. {person.other_name} was told, and the letter "
        f"goes to {person.address}. We will call {person.phone} if it fails again."
    )


def test_generated_personal_data_never_leaves_the_helpdesk_unredacted(
    sqlite_store: Store, helpdesk_adapter: HelpdeskAdapter, index: CountingIndex
) -> None:
    store, adapter = sqlite_store, helpdesk_adapter
    corpus = people(14, seed=77)
    tickets = {}
    for person in corpus:
        ticket = _open(store, adapter, person)
        adapter.add_comment(ticket, _answer(person), public=True)
        adapter.set_status(ticket, "resolved")
        tickets[f"helpdesk:{ticket}"] = person
    settings = IngestionSettings()
    report = learn(store, AdapterTicketing(store, adapter, settings), index, settings)
    assert {o.case_id for o in report.created} == set(tickets)

    with store.transaction() as tx:
        rows = {r.case_id: r for r in tx.scalars(select(CaseSummary))}
        vocabulary = " | ".join(tx.scalars(select(TagVocabulary.tag)))
    shared = {
        "vocabulary": vocabulary,
        "report": json.dumps(report.to_dict(), default=str) + report.markdown(),
    }
    leaked: dict[str, list[str]] = {}
    bare: set[tuple[str, str]] = set()
    for case_id, person in tickets.items():
        row = rows[case_id]
        hit = next(h for h in index.inner.search(row.problem[:300], k=50) if h.case_id == case_id)
        places = {
            "summary": f"{row.problem}\n{row.resolution}\n{row.summary}",
            "tags": " | ".join(row.tags),
            "index": json.dumps([hit.summary, list(hit.tags), dict(hit.metadata)]),
            **shared,
        }
        for where, text in places.items():
            for kind, values in leaks_by_kind(person, text).items():
                if kind == "BARE_NAME" and where in {"summary", "index"}:
                    bare.update((case_id, v) for v in values)  # the model's miss rate, measured
                else:
                    leaked.setdefault(f"{case_id} {where} {kind}", []).extend(values)
    assert leaked == {}
    assert len(bare) <= 0.25 * sum(len(p.by_kind()["BARE_NAME"]) for p in corpus)
