"""What the agent reads: the ticket's title and body, and the bot note for an update.

The body is Markdown ordered by what an agent needs first: why the bot gave up (reason and
intent), what to ask, what the bot already looked at (a numbered evidence list with links and
scores), then the full transcript. It is written to read as plain text too (Request Tracker shows
it as sent): no tables, links as `<https://…>`.

Every text that came from outside (customer, bot, retrieved titles) is made inert before it reaches
the ticketing system's renderer: `<` becomes `&lt;` and an entity-like `&` becomes `&amp;`, so raw
HTML shows as text; `[` and `]` are backslash-escaped, so no Markdown link can be formed; and
only http(s) URLs become links (a `javascript:` or `data:` evidence link is shown as "link
withheld"). A bot note on an open ticket says only what changed since the previous
escalation of the conversation. Both end with a marker line naming the escalation, so a retried
delivery can tell that its note already reached the ticket.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from urllib.parse import urlsplit

from ingestion import notes
from ingestion.escalations import EscalationRequest, Evidence, Message

REASON_LABELS = {
    "no_evidence": "No evidence: the bot found nothing to answer from",
    "conflict": "Conflict: the sources the bot found disagree",
    "low_confidence": "Low confidence: the bot's best answer was too uncertain",
    "missing_entitlement": "Missing entitlement: the customer's plan or rights need a human",
}
TITLE_LIMIT = 120
LINK_SCHEMES = ("http", "https")
_ENTITY_AMPERSAND = re.compile(r"&(?=#?\w+;)")
_URL_UNSAFE = re.compile(r"[\s<>\"'`\\]")


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
        f"**Intent:** {inert(request.context.intent or '(not detected)')}",
        _customer_line(request),
    ]
    if request.context.summary:
        parts += ["", "## Summary", inert(request.context.summary)]
    parts += ["", "## Suggested questions", *_questions(request.suggested_questions)]
    parts += ["", "## Evidence the bot retrieved", *_evidence_list(request.evidence)]
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
        parts += [f"**Intent:** {inert(current.context.intent or '(not detected)')}"]
    else:
        parts += _changes(current, previous)
    new_messages = _new_messages(current.transcript, previous.transcript if previous else [])
    if new_messages:
        parts += ["", f"## New messages ({len(new_messages)})", *_transcript(new_messages)]
    old_docs = {e.doc_id for e in previous.evidence} if previous else set()
    new_evidence = [e for e in current.evidence if e.doc_id not in old_docs]
    if new_evidence:
        parts += ["", "## New evidence", *_evidence_list(new_evidence)]
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
            f"**Intent changed:** {inert(previous.context.intent or '(none)')} → "
            f"{inert(current.context.intent or '(none)')}"
        )
    if current.context.summary and current.context.summary != previous.context.summary:
        lines += ["", "## Updated summary", inert(current.context.summary)]
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
    # The e-mail in parentheses, not <angle brackets>: Markdown would make those a mailto link.
    who = " ".join(x for x in (c.name, f"({c.email})" if c.email else None) if x) or "(anonymous)"
    where = f"tenant {request.tenant or 'default'} · session {request.session_id}"
    return f"**Customer:** {inert(who)} · {inert(where)}"


def _questions(questions: Sequence[str]) -> list[str]:
    return [f"- {inert(q)}" for q in questions] or ["- (none suggested)"]


def inert(text: str) -> str:
    """``text`` that no Markdown or HTML renderer turns into markup or a link."""
    text = _ENTITY_AMPERSAND.sub("&amp;", text).replace("<", "&lt;")
    return text.replace("[", "\\[").replace("]", "\\]")


def safe_link(url: str | None) -> str | None:
    """``<url>`` (an autolink in Markdown, the usual form in plain text) for http(s) URLs only."""
    if not url or _URL_UNSAFE.search(url):
        return None
    try:
        parts = urlsplit(url)
    except ValueError:
        return None
    return f"<{url}>" if parts.scheme.lower() in LINK_SCHEMES and parts.netloc else None


def _evidence_list(evidence: Sequence[Evidence]) -> list[str]:
    """One numbered line per document, best first: title, link, type, score, ranks, time."""
    if not evidence:
        return ["(no documents were retrieved)"]
    lines = []
    for i, e in enumerate(sorted(evidence, key=lambda e: -e.score), start=1):
        title = inert(" ".join((e.title or e.doc_id).split()))
        link = safe_link(e.link) or ("(link withheld: not http or https)" if e.link else None)
        # "rank 3", not "#3": django-helpdesk links every #N to ticket N.
        ranks = ", ".join(f"{k} rank {v}" for k, v in sorted(e.ranks.items()))
        facts = [inert(e.type), f"score {e.score:.3f}", *([ranks] if ranks else [])]
        facts.append(f"retrieved {e.retrieved_at.isoformat(timespec='seconds')}")
        lines.append(" ".join(x for x in (f"{i}. {title}", link, f"({'; '.join(facts)})") if x))
    return lines


def _transcript(messages: Sequence[Message]) -> list[str]:
    lines = []
    for m in messages:
        lines.append(f"**{m.role}** ({m.at.isoformat(timespec='seconds')}):")
        lines += [f"> {inert(line)}" if line else ">" for line in m.text.splitlines()] or [">"]
        lines.append("")
    return lines[:-1] if lines else lines
