"""What the agent reads: the ticket's title and body, and the bot note for an update.

The body is Markdown ordered by what an agent needs first: why the bot gave up (reason and
intent), what to ask, what the bot already looked at (an evidence table with links and scores),
then the full transcript. A bot note on an open ticket says only what changed since the previous
escalation of the conversation. Both end with a marker line naming the escalation, so a retried
delivery can tell that its note already reached the ticket.
"""

from __future__ import annotations

from collections.abc import Sequence

from ingestion import notes
from ingestion.escalations import EscalationRequest, Evidence, Message

REASON_LABELS = {
    "no_evidence": "No evidence: the bot found nothing to answer from",
    "conflict": "Conflict: the sources the bot found disagree",
    "low_confidence": "Low confidence: the bot's best answer was too uncertain",
    "missing_entitlement": "Missing entitlement: the customer's plan or rights need a human",
}
TITLE_LIMIT = 120


def marker(escalation_id: str) -> str:
    """The line that ties a ticket or a note to its escalation (`ingestion.notes` format)."""
    return notes.marker("escalation", escalation_id)


def ticket_title(request: EscalationRequest) -> str:
    """A short title: the intent (or the customer's first words) and the reason code."""
    subject = request.context.intent or _first_customer_text(request.transcript)
    title = f"{subject} [{request.reason}]"
    return title if len(title) <= TITLE_LIMIT else title[: TITLE_LIMIT - 1] + "…"


def ticket_body(request: EscalationRequest, escalation_id: str) -> str:
    """The ticket description an agent works from."""
    parts = [
        f"**Reason:** {REASON_LABELS[request.reason]}",
        f"**Intent:** {request.context.intent or '(not detected)'}",
        _customer_line(request),
    ]
    if request.context.summary:
        parts += ["", "## Summary", request.context.summary]
    parts += ["", "## Suggested questions", *_questions(request.suggested_questions)]
    parts += ["", "## Evidence the bot retrieved", *_evidence_table(request.evidence)]
    parts += ["", "## Transcript", *_transcript(request.transcript)]
    parts += ["", "---", marker(escalation_id)]
    return "\n".join(parts)


def note_text(
    current: EscalationRequest, previous: EscalationRequest | None, escalation_id: str
) -> str:
    """The bot note for a new escalation in a conversation whose ticket is open."""
    at = current.transcript[-1].at.isoformat()
    parts = [
        f"**The bot escalated this conversation again** (event {current.escalation_event_id}, {at})."
    ]
    if previous is None:
        parts += [f"**Reason:** {REASON_LABELS[current.reason]}"]
        parts += [f"**Intent:** {current.context.intent or '(not detected)'}"]
    else:
        parts += _changes(current, previous)
    new_messages = _new_messages(current.transcript, previous.transcript if previous else [])
    if new_messages:
        parts += ["", f"## New messages ({len(new_messages)})", *_transcript(new_messages)]
    old_docs = {e.doc_id for e in previous.evidence} if previous else set()
    new_evidence = [e for e in current.evidence if e.doc_id not in old_docs]
    if new_evidence:
        parts += ["", "## New evidence", *_evidence_table(new_evidence)]
    old_questions = set(previous.suggested_questions) if previous else set()
    questions = [q for q in current.suggested_questions if q not in old_questions]
    if questions:
        parts += ["", "## New suggested questions", *_questions(questions)]
    parts += ["", "---", marker(escalation_id)]
    return "\n".join(parts)


def _changes(current: EscalationRequest, previous: EscalationRequest) -> list[str]:
    lines = []
    if current.reason != previous.reason:
        lines.append(f"**Reason changed:** {previous.reason} → {current.reason}")
    else:
        lines.append(f"**Reason (unchanged):** {current.reason}")
    if current.context.intent != previous.context.intent:
        lines.append(
            f"**Intent changed:** {previous.context.intent or '(none)'} → "
            f"{current.context.intent or '(none)'}"
        )
    if current.context.summary and current.context.summary != previous.context.summary:
        lines += ["", "## Updated summary", current.context.summary]
    return lines


def _new_messages(current: Sequence[Message], previous: Sequence[Message]) -> list[Message]:
    seen = {(m.role, m.text, m.at) for m in previous}
    return [m for m in current if (m.role, m.text, m.at) not in seen]


def _first_customer_text(transcript: Sequence[Message]) -> str:
    for message in transcript:
        if message.role == "customer" and message.text.strip():
            return " ".join(message.text.split())[:80]
    return "Escalated conversation"


def _customer_line(request: EscalationRequest) -> str:
    c = request.customer
    who = " ".join(x for x in (c.name, f"<{c.email}>" if c.email else None) if x) or "(anonymous)"
    return (
        f"**Customer:** {who} · tenant {request.tenant or 'default'} · session {request.session_id}"
    )


def _questions(questions: Sequence[str]) -> list[str]:
    return [f"- {q}" for q in questions] or ["- (none suggested)"]


def _cell(text: str) -> str:
    return " ".join(text.replace("|", "\\|").split())


def _evidence_table(evidence: Sequence[Evidence]) -> list[str]:
    if not evidence:
        return ["(no documents were retrieved)"]
    rows = ["| # | document | type | score | ranks | retrieved |", "|---|---|---|---|---|---|"]
    for i, e in enumerate(sorted(evidence, key=lambda e: -e.score), start=1):
        title = _cell(e.title or e.doc_id)
        doc = f"[{title}]({e.link})" if e.link else title
        ranks = ", ".join(f"{k} {v}" for k, v in sorted(e.ranks.items())) or "–"
        rows.append(
            f"| {i} | {doc} | {_cell(e.type)} | {e.score:.3f} | {ranks} | "
            f"{e.retrieved_at.isoformat(timespec='seconds')} |"
        )
    return rows


def _transcript(messages: Sequence[Message]) -> list[str]:
    lines = []
    for m in messages:
        lines.append(f"**{m.role}** ({m.at.isoformat(timespec='seconds')}):")
        lines += [f"> {line}" if line else ">" for line in m.text.splitlines()] or [">"]
        lines.append("")
    return lines[:-1] if lines else lines
