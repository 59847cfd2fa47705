"""Learning from tickets resolved in a real django-helpdesk, through the relay and the flow."""

from __future__ import annotations

import datetime as dt
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import select

import retrieval
from flows.helpdesk import HelpdeskServer
from flows.learning import nightly_learning
from ingestion.adapters import HelpdeskAdapter
from ingestion.escalations import EscalationRequest, escalate
from ingestion.relay import Relay
from ingestion.schema import CaseSummary, Ticket
from ingestion.settings import IngestionSettings
from ingestion.store import Store
from tests.ingestion.cases.counting import CountingIndex

pytestmark = [pytest.mark.helpdesk, pytest.mark.usefixtures("prefect_harness")]


@pytest.fixture
def index(tmp_path: Path) -> Iterator[CountingIndex]:
    with retrieval.open_index(tmp_path / "index") as opened:
        yield CountingIndex(opened)


def open_ticket(store: Store, adapter: HelpdeskAdapter, message: str, *, event: str = "e1") -> str:
    """Escalate a conversation and let the real relay create its helpdesk ticket."""
    session = f"learn-{uuid.uuid4().hex[:10]}"
    now = dt.datetime.now(dt.UTC).isoformat()
    request = EscalationRequest.model_validate(
        {
            "session_id": session,
            "escalation_event_id": event,
            "tenant": "acme",
            "customer": {"name": "Grace Hopper", "email": "grace@navy.example"},
            "transcript": [{"role": "customer", "text": message, "at": now}],
            "context": {"summary": "Customer cannot sign in", "intent": "login_problem"},
            "reason": "no_evidence",
        }
    )
    settings = IngestionSettings()
    escalate(store, request, settings=settings)
    Relay(store, adapter, settings).drain()
    with store.transaction() as tx:
        return tx.scalars(select(Ticket.external_id).where(Ticket.session_id == session)).one()


def _versions(store: Store, case_id: str) -> list[tuple[int, str]]:
    with store.transaction() as tx:
        rows = tx.scalars(select(CaseSummary).where(CaseSummary.case_id == case_id))
        return sorted((r.version, r.state) for r in rows)


def test_resolve_reopen_resolve_in_the_real_helpdesk(
    sqlite_store: Store, helpdesk_adapter: HelpdeskAdapter, index: CountingIndex
) -> None:
    store, adapter = sqlite_store, helpdesk_adapter
    settings = IngestionSettings(learning_write_note=True)
    ticket = open_ticket(
        store, adapter, "Grace Hopper here: my 2FA codes are rejected since Monday"
    )
    waiting = open_ticket(store, adapter, "The export button does nothing")
    case_id = f"helpdesk:{ticket}"

    adapter.add_comment(
        ticket, "Your phone clock was off. Enable automatic time and the codes work.", public=True
    )
    adapter.set_status(ticket, "resolved")
    first = nightly_learning(settings=settings, store=store, adapter=adapter, index=index)
    assert [o.case_id for o in first.created] == [case_id]
    assert _versions(store, f"helpdesk:{waiting}") == []  # still open: nothing to learn
    assert first.notes_written == 1
    hit = index.inner.search("two factor codes rejected", k=1)[0]
    assert hit.case_id == case_id
    assert "Grace" not in hit.summary
    assert "Hopper" not in hit.summary

    writes = index.writes
    again = nightly_learning(settings=settings, store=store, adapter=adapter, index=index)
    assert (again.learned, again.notes_written, index.writes) == (0, 0, writes)
    notes = [c for c in adapter.get_ticket(ticket).comments if "Resolution summary" in c.body]
    assert len(notes) == 1
    assert notes[0].visibility == "internal"

    adapter.set_status(ticket, "reopened")  # nobody told caseloop: the flow's refresh finds out
    reopened = nightly_learning(settings=settings, store=store, adapter=adapter, index=index)
    assert [(o.case_id, o.reason) for o in reopened.retracted] == [(case_id, "reopened")]
    assert index.inner.count() == 0

    adapter.add_comment(
        ticket, "Second fix: we reset your 2FA secret; scan the new QR code.", public=True
    )
    adapter.set_status(ticket, "resolved")
    second = nightly_learning(settings=settings, store=store, adapter=adapter, index=index)
    assert [(o.case_id, o.version) for o in second.updated] == [(case_id, 2)]
    assert _versions(store, case_id) == [(1, "withdrawn"), (2, "active")]
    hit = index.inner.search("two factor codes rejected", k=1)[0]
    assert (hit.case_id, hit.metadata["version"]) == (case_id, 2)


def test_ticketing_failures_are_retried_under_the_concurrency_limit(
    sqlite_store: Store, helpdesk: HelpdeskServer, index: CountingIndex
) -> None:
    from prefect.client.orchestration import get_client

    from flows.learning import TICKETING_LIMIT
    from tests.support.fault_proxy import FaultProxy

    store = sqlite_store
    with FaultProxy(helpdesk.url, methods=frozenset({"GET"})) as proxy:
        adapter = HelpdeskAdapter(proxy.url, helpdesk.token, queue=helpdesk.queue_id)
        ticket = open_ticket(store, adapter, "The invoice PDF is empty")
        adapter.add_comment(ticket, "Regenerated the PDF; download it again.", public=True)
        adapter.set_status(ticket, "resolved")
        proxy.plan("500")  # the pull's first read fails: the task retries after 1 s
        settings = IngestionSettings(learning_ticketing_concurrency=2)
        report = nightly_learning(settings=settings, store=store, adapter=adapter, index=index)
        adapter.close()
    assert proxy.injected["500"] == 1
    assert [o.case_id for o in report.created] == [f"helpdesk:{ticket}"]
    with get_client(sync_client=True) as client:
        assert client.read_global_concurrency_limit_by_name(TICKETING_LIMIT).limit == 2
