"""What an agent sees on the real helpdesk's ticket page (staff UI, logged in as its admin).

The escalation body reads once (no second copy in the "Ticket Opened" follow-up), the evidence is
a list with working http(s) links, hostile text from the chat shows as text, and the
machine-readable payload sits in one code block at the bottom where the relay still finds it.
"""

from __future__ import annotations

import html
import json
import re

import httpx
import pytest

from flows.helpdesk import HelpdeskServer
from ingestion import EscalationRequest
from ingestion.adapters.helpdesk import OPENING_NOTE, HelpdeskAdapter
from ingestion.ticket_body import ticket_body, ticket_title
from tests.ingestion.adapters.contract import new_ticket
from tests.support.fake_ticketing import escalation_payload

pytestmark = pytest.mark.helpdesk

HOSTILE = '<script>alert(1)</script> [click me](javascript:alert(2)) <img src=x onerror="alert(3)">'


def _escalation() -> EscalationRequest:
    evidence = [
        *escalation_payload()["evidence"],
        {
            "doc_id": "kb-bad",
            "type": "case",
            "title": "Looks like a KB page",
            "link": "javascript:alert(4)",
            "score": 0.2,
            "retrieved_at": "2026-03-02T09:00:04Z",
        },
    ]
    payload = escalation_payload(evidence=evidence)
    payload["transcript"][0]["text"] = f"My invoice shows VAT twice. {HOSTILE}"
    return EscalationRequest.model_validate(payload)


def _ticket_page(staff_web: httpx.Client, ticket_id: str) -> str:
    page = staff_web.get(f"/helpdesk/tickets/{ticket_id}/")
    assert page.status_code == 200
    return page.text


def _raw_ticket(helpdesk: HelpdeskServer, ticket_id: str) -> dict:  # type: ignore[type-arg]
    headers = {"Authorization": f"Token {helpdesk.token}"}
    response = httpx.get(f"{helpdesk.api_url}tickets/{ticket_id}/", headers=headers)
    response.raise_for_status()
    return response.json()  # type: ignore[no-any-return]


def _description(helpdesk: HelpdeskServer, ticket_id: str) -> str:
    return str(_raw_ticket(helpdesk, ticket_id)["description"])


def test_the_ticket_page_reads_once_as_a_list_with_only_safe_links(
    helpdesk: HelpdeskServer, helpdesk_adapter: HelpdeskAdapter, staff_web: httpx.Client
) -> None:
    request = _escalation()
    ticket = new_ticket(
        title=ticket_title(request),
        body=ticket_body(request, "key-page"),
        payload=request.model_dump(mode="json"),
    )
    created = helpdesk_adapter.create_ticket(ticket)
    page = _ticket_page(staff_web, created.id)

    block = re.search(r'<code class="language-caseloop-escalation">(.*?)</code>', page, re.DOTALL)
    assert block is not None
    readable = page.replace(block.group(1), "")
    assert readable.count("My invoice shows VAT twice.") == 1  # no second copy in a follow-up
    assert html.escape(OPENING_NOTE, quote=False) in page
    evidence = re.search(r"Evidence the bot retrieved</h2>\s*<ol>(.*?)</ol>", page, re.DOTALL)
    assert evidence is not None
    items = re.findall(r"<li>(.*?)</li>", evidence.group(1), re.DOTALL)
    assert len(items) == 2
    assert '<a href="https://kb.example.com/12">https://kb.example.com/12</a>' in items[0]
    assert "How VAT is calculated" in items[0]
    assert "bm25 rank 3, dense rank 1" in items[0]
    assert "ticket_link" not in items[0]  # no "#1" for the helpdesk to turn into a ticket link
    assert "<a " not in items[1]
    assert "link withheld" in items[1]
    assert "| 1 |" not in page

    assert "<script>alert(1)" not in page
    assert "<img src=x" not in page
    assert not re.search(r"""href=["']?\s*javascript:""", page, re.IGNORECASE)
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in page
    assert "[click me](" in page  # the customer's text stays text (the helpdesk drops the scheme)

    shown = json.loads(html.unescape(block.group(1)))  # the page drops `javascript:` in it too
    assert shown["escalation_event_id"] == ticket.payload["escalation_event_id"]
    stored = re.search(r"```caseloop-escalation\n(.*)\n```", _description(helpdesk, created.id))
    assert stored is not None
    assert json.loads(stored.group(1)) == ticket.payload  # what a parser reads, exactly
    assert page.index("Evidence the bot retrieved") < block.start()
    found = helpdesk_adapter.find_by_conversation(ticket.external_conversation_id)
    assert found is not None
    assert found.id == created.id


def test_the_opening_follow_up_is_internal_in_the_helpdesk_itself(
    helpdesk: HelpdeskServer, helpdesk_adapter: HelpdeskAdapter
) -> None:
    created = helpdesk_adapter.create_ticket(new_ticket())
    raw = _raw_ticket(helpdesk, created.id)
    (opening,) = raw["followup_set"]
    assert (opening["comment"], opening["public"]) == (OPENING_NOTE, False)
    assert raw["description"].count("where is my refund?") == 1
