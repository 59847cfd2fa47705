"""Learning from tickets opened directly in a real django-helpdesk (``CASELOOP_LEARNING_SOURCE``).

Each test runs its own helpdesk (the session's one holds other tests' tickets): tickets are
created through the helpdesk's API as a customer's e-mail would open them, answered and resolved
there; `learn` pulls, adopts and learns them, retracts them on reopen, and never forwards a reply.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Literal

import httpx
import pytest
from sqlalchemy import func, select

import retrieval
from flows.helpdesk import HelpdeskServer
from ingestion.adapters import HelpdeskAdapter
from ingestion.cases import AdapterTicketing, CaseIndex, LearningReport, learn
from ingestion.errors import SettingsError
from ingestion.schema import CaseSummary, OutgoingMessage, Ticket
from ingestion.settings import IngestionSettings
from ingestion.store import Store
from retrieval import RetrievalSettings
from tests.ingestion.cases.counting import CountingIndex
from tests.support.loopback import free_port

pytestmark = pytest.mark.helpdesk

LearningSource = Literal["escalated", "queue", "all"]


@pytest.fixture
def own_helpdesk(tmp_path: Path) -> Iterator[HelpdeskServer]:
    with HelpdeskServer(tmp_path / "helpdesk", free_port()) as server:
        yield server


def _direct_ticket(server: HelpdeskServer, title: str, description: str) -> str:
    """A ticket as the helpdesk's own intake makes it: no caseloop marker, no escalation."""
    answer = httpx.post(
        f"{server.api_url}tickets/",
        headers={"Authorization": f"Token {server.token}"},
        json={
            "queue": server.queue_id,
            "title": title,
            "description": description,
            "submitter_email": "lena.fischer@example.org",
            "priority": 3,
        },
        timeout=30,
    )
    answer.raise_for_status()
    return str(answer.json()["id"])


def _resolved(server: HelpdeskServer, adapter: HelpdeskAdapter) -> str:
    ticket = _direct_ticket(
        server,
        "Invoice shows the wrong VAT rate",
        "Hello, this is Lena Fischer (lena.fischer@example.org). My March invoice charges 19% "
        "VAT although my company is registered for reverse charge.",
    )
    adapter.add_comment(
        ticket, "We added your VAT id to the account and reissued the invoice.", public=True
    )
    adapter.set_status(ticket, "resolved")
    return ticket


def _learn(
    store: Store,
    adapter: HelpdeskAdapter,
    index: CaseIndex,
    source: LearningSource,
    tenant: str = "default",
) -> LearningReport:
    settings = IngestionSettings(learning_source=source, learning_tenant=tenant)
    return learn(store, AdapterTicketing(store, adapter, settings), index, settings)


def test_a_ticket_opened_in_the_helpdesk_is_learned_and_retracted_on_reopen(
    sqlite_store: Store, own_helpdesk: HelpdeskServer, index: CountingIndex
) -> None:
    store = sqlite_store
    with HelpdeskAdapter(own_helpdesk.url, own_helpdesk.token, queue=own_helpdesk.queue_id) as hd:
        ticket = _resolved(own_helpdesk, hd)
        still_open = _direct_ticket(own_helpdesk, "Export is slow", "The CSV export takes hours.")
        case_id = f"helpdesk:{ticket}"

        first = _learn(store, hd, index, "queue")
        assert [o.case_id for o in first.created] == [case_id]
        hit = index.inner.search("VAT reverse charge invoice", k=1)[0]
        assert hit.case_id == case_id
        assert "reissued" in hit.summary
        assert "Lena" not in hit.summary
        assert "lena.fischer" not in hit.summary
        with store.transaction() as tx:
            row = tx.scalars(select(Ticket).where(Ticket.external_id == ticket)).one()
            assert (row.origin, row.status) == ("ticketing", "resolved")
            assert tx.scalars(select(Ticket).where(Ticket.external_id == still_open)).all() == []
            # no conversation: the agent's public reply is never forwarded to anyone
            assert tx.scalar(select(func.count()).select_from(OutgoingMessage)) == 0

        again = _learn(store, hd, index, "queue")
        assert (again.learned, len(again.skipped)) == (0, 1)

        hd.set_status(ticket, "reopened")
        reopened = _learn(store, hd, index, "queue")
        assert [(o.case_id, o.reason) for o in reopened.retracted] == [(case_id, "reopened")]
        assert index.inner.count() == 0
        with store.transaction() as tx:
            states = tx.scalars(select(CaseSummary.state).where(CaseSummary.case_id == case_id))
            assert list(states) == ["withdrawn"]


def test_escalated_scope_learns_nothing_caseloop_did_not_open(
    sqlite_store: Store, own_helpdesk: HelpdeskServer, index: CountingIndex
) -> None:
    with HelpdeskAdapter(own_helpdesk.url, own_helpdesk.token, queue=own_helpdesk.queue_id) as hd:
        _resolved(own_helpdesk, hd)
        report = _learn(sqlite_store, hd, index, "escalated")
    assert (report.learned, report.skipped, report.failed) == (0, [], [])
    assert index.inner.count() == 0
    with sqlite_store.transaction() as tx:
        assert tx.scalar(select(func.count()).select_from(Ticket)) == 0


def test_queue_scope_keeps_to_the_configured_queue_and_all_does_not(
    sqlite_store: Store, own_helpdesk: HelpdeskServer, index: CountingIndex
) -> None:
    server = own_helpdesk
    with HelpdeskAdapter(server.url, server.token, queue=server.queue_id) as hd:
        ticket = _resolved(server, hd)
    # An adapter configured for another queue: the ticket is outside its ``queue`` scope.
    with HelpdeskAdapter(server.url, server.token, queue=server.queue_id + 1) as other:
        assert _learn(sqlite_store, other, index, "queue").learned == 0
        everything = _learn(sqlite_store, other, index, "all")
    assert [o.case_id for o in everything.created] == [f"helpdesk:{ticket}"]
    assert index.inner.count() == 1


def test_adopted_tickets_are_learned_for_the_configured_tenant_only(
    sqlite_store: Store, own_helpdesk: HelpdeskServer, tmp_path: Path
) -> None:
    isolated = RetrievalSettings(multi_tenant=True)
    with (
        HelpdeskAdapter(own_helpdesk.url, own_helpdesk.token, queue=own_helpdesk.queue_id) as hd,
        retrieval.open_index(tmp_path / "tenants", settings=isolated) as index,
    ):
        ticket = _resolved(own_helpdesk, hd)
        report = _learn(sqlite_store, hd, index, "queue", tenant="acme")
        assert [o.case_id for o in report.created] == [f"helpdesk:{ticket}"]
        query = "VAT reverse charge invoice"
        [hit] = index.search(query, k=3, filters={"tenant": "acme"})
        assert hit.metadata["tenant"] == "acme"
        for other in ("default", "globex"):
            assert index.search(query, k=3, filters={"tenant": other}) == []
    with sqlite_store.transaction() as tx:
        row = tx.scalars(select(Ticket).where(Ticket.external_id == ticket)).one()
        assert (row.origin, row.tenant) == ("ticketing", "acme")


def test_learning_tenant_is_validated(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("CASELOOP_LEARNING_TENANT", "acme/eu")
    with pytest.raises(SettingsError) as refused:
        IngestionSettings.load()
    assert str(refused.value).startswith("CASELOOP_LEARNING_TENANT")
    assert "\n" not in str(refused.value)


def test_learning_source_is_validated() -> None:
    with pytest.raises(ValueError, match="learning_source"):
        IngestionSettings(learning_source="everything")  # type: ignore[arg-type]
    assert IngestionSettings().learning_source == "queue"
