"""The ticket an agent opens: reason and intent first, questions, evidence, then the transcript."""

from __future__ import annotations

import re

from ingestion import EscalationRequest
from ingestion.ticket_body import marker, note_text, safe_link, ticket_body, ticket_title
from tests.support.fake_ticketing import escalation_payload, later_event


def request(payload: dict[str, object]) -> EscalationRequest:
    return EscalationRequest.model_validate(payload)


def test_sections_in_the_order_an_agent_needs_them() -> None:
    body = ticket_body(request(escalation_payload()), "key-1")
    lines = body.splitlines()
    assert lines[0] == "**Reason:** No evidence: the bot found nothing to answer from"
    assert lines[1] == "**Intent:** billing.vat"
    assert lines[2] == "**Customer:** Ada Lovelace (ada@example.com) · tenant acme · session sess-1"
    order = [
        body.index(h)
        for h in ("## Summary", "## Suggested questions", "## Evidence", "## Transcript")
    ]
    assert order == sorted(order)
    assert "- Which invoice number?" in lines
    assert (
        "1. How VAT is calculated <https://kb.example.com/12> (article; score 0.410; "
        "bm25 rank 3, dense rank 1; retrieved 2026-03-02T09:00:04+00:00)"
    ) in lines
    assert "|" not in body
    assert "> My invoice shows VAT twice." in lines
    assert lines[-1] == marker("key-1") == "caseloop-escalation: key-1"


def test_evidence_sorted_by_score_as_a_numbered_list() -> None:
    evidence = [
        {
            "doc_id": "a",
            "type": "case",
            "title": "low | one",
            "score": 0.1,
            "retrieved_at": "2026-03-02T09:00:00Z",
        },
        {
            "doc_id": "b",
            "type": "case",
            "title": "high",
            "score": 0.9,
            "retrieved_at": "2026-03-02T09:00:00Z",
        },
    ]
    body = ticket_body(request(escalation_payload(evidence=evidence)), "k")
    assert body.index("1. high (case; score 0.900;") < body.index(
        "2. low | one (case; score 0.100;"
    )


def test_empty_sections_say_so() -> None:
    payload = escalation_payload(evidence=[], suggested_questions=[], context={})
    body = ticket_body(request(payload), "k")
    assert "**Intent:** (not detected)" in body
    assert "(no documents were retrieved)" in body
    assert "- (none suggested)" in body


def test_title_from_intent_or_first_customer_words() -> None:
    assert ticket_title(request(escalation_payload())) == "billing.vat [no_evidence]"
    no_intent = request(escalation_payload(context={"summary": "s"}))
    assert ticket_title(no_intent) == "My invoice shows VAT twice. [no_evidence]"
    long = request(escalation_payload(context={"intent": "x" * 200}))
    assert len(ticket_title(long)) == 120


def test_note_lists_only_what_changed() -> None:
    first = escalation_payload()
    evidence = [
        *first["evidence"],
        {
            "doc_id": "kb-99",
            "type": "case",
            "title": "Double VAT refund",
            "score": 0.7,
            "retrieved_at": "2026-03-02T09:05:00Z",
        },
    ]
    second = later_event(
        first,
        "ev-2",
        "It happened again on 1043.",
        reason="conflict",
        context={"summary": "Now two invoices.", "intent": "billing.refund"},
        evidence=evidence,
        suggested_questions=["Which invoice number?", "Refund or credit note?"],
    )
    note = note_text(request(second), request(first), "key-2")
    assert "**Reason changed:** no_evidence → conflict" in note
    assert "**Intent changed:** billing.vat → billing.refund" in note
    assert "## New messages (1)" in note
    assert "> It happened again on 1043." in note
    assert "My invoice shows VAT twice." not in note
    assert "Double VAT refund" in note
    assert "How VAT is calculated" not in note
    assert "- Refund or credit note?" in note
    assert "- Which invoice number?" not in note
    assert note.endswith("caseloop-escalation: key-2")


def test_note_without_previous_escalation_is_complete() -> None:
    note = note_text(request(escalation_payload()), None, "k")
    assert "**Reason:** No evidence" in note
    assert "## New messages (2)" in note


def test_outside_text_cannot_become_html_or_a_link() -> None:
    hostile = '<script>alert(1)</script> [click](javascript:alert(1)) &amp; <a href="x">'
    evidence = [
        {
            "doc_id": "d",
            "type": "case",
            "title": "<b>bold</b> [t](javascript:x)",
            "link": "javascript:alert(document.cookie)",
            "score": 0.5,
            "retrieved_at": "2026-03-02T09:00:00Z",
        },
        {
            "doc_id": "e",
            "type": "case",
            "title": "fine",
            "link": "https://kb.example.com/e?a=1",
            "score": 0.4,
            "retrieved_at": "2026-03-02T09:00:00Z",
        },
    ]
    transcript = [{"role": "customer", "text": hostile, "at": "2026-03-02T09:00:00Z"}]
    payload = escalation_payload(evidence=evidence, transcript=transcript)
    payload["context"] = {"intent": "x", "summary": hostile}
    body = ticket_body(request(payload), "k")
    assert "<script" not in body
    assert "<a " not in body
    assert "<b>" not in body
    assert re.search(r"(?<!\\)\]\(", body) is None  # no `](` that Markdown reads as a link
    assert "&lt;script>alert(1)&lt;/script> \\[click\\](javascript:alert(1)) &amp;amp;" in body
    assert "1. &lt;b>bold&lt;/b> \\[t\\](javascript:x) (link withheld: not http or https)" in body
    assert "2. fine <https://kb.example.com/e?a=1> (case;" in body


def test_only_http_and_https_urls_become_links() -> None:
    for url in ("https://kb.example.com/a", "http://kb.example.com/b?x=1#y"):
        assert safe_link(url) == f"<{url}>"
    for url in (
        "javascript:alert(1)",
        "JavaScript:alert(1)",
        "data:text/html,<b>",
        "vbscript:x",
        "https://kb.example.com/a b",
        "https://kb.example.com/a>b",
        "//kb.example.com/a",
        "https:///nohost",
        "",
        None,
    ):
        assert safe_link(url) is None, url
