"""The ticket an agent opens: reason and intent first, questions, evidence, then the transcript."""

from __future__ import annotations

from ingestion import EscalationRequest
from ingestion.ticket_body import marker, note_text, ticket_body, ticket_title
from tests.support.fake_ticketing import escalation_payload, later_event


def request(payload: dict[str, object]) -> EscalationRequest:
    return EscalationRequest.model_validate(payload)


def test_sections_in_the_order_an_agent_needs_them() -> None:
    body = ticket_body(request(escalation_payload()), "key-1")
    lines = body.splitlines()
    assert lines[0] == "**Reason:** No evidence: the bot found nothing to answer from"
    assert lines[1] == "**Intent:** billing.vat"
    assert lines[2] == "**Customer:** Ada Lovelace <ada@example.com> · tenant acme · session sess-1"
    order = [
        body.index(h)
        for h in ("## Summary", "## Suggested questions", "## Evidence", "## Transcript")
    ]
    assert order == sorted(order)
    assert "- Which invoice number?" in lines
    assert (
        "| 1 | [How VAT is calculated](https://kb.example.com/12) | article | 0.410 | bm25 3, dense 1 | 2026-03-02T09:00:04+00:00 |"
        in lines
    )
    assert "> My invoice shows VAT twice." in lines
    assert lines[-1] == marker("key-1") == "caseloop-escalation: key-1"


def test_evidence_sorted_by_score_and_pipes_escaped() -> None:
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
    assert body.index("| 1 | high |") < body.index("| 2 | low \\| one |")


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
