"""The loop's promises, checked after a run against the ledger and the store.

- every escalated conversation has exactly one ticket, and every ticket one escalated conversation;
- every agent's public reply reached its conversation exactly once;
- no internal note reached a conversation (neither in the messages read over HTTP nor among the
  store's outgoing messages).
"""

from __future__ import annotations

from collections import Counter

from sqlalchemy import select

from flows.demo.ledger import Ledger
from ingestion.schema import OutgoingMessage, Ticket, TicketComment
from ingestion.store import Store


def problems(ledger: Ledger, store: Store, replies: dict[str, str]) -> list[str]:
    """Every broken promise, in words; empty when the loop behaved. ``replies``: session → text."""
    found: list[str] = []
    found += _tickets_match_escalations(ledger, store)
    found += _replies_once(ledger, replies)
    found += _no_internal_note(ledger, store)
    return found


def _tickets_match_escalations(ledger: Ledger, store: Store) -> list[str]:
    escalated = {o.session_id for o in ledger.outcomes.values() if o.action == "escalated"}
    with store.transaction() as tx:
        sessions = Counter(tx.scalars(select(Ticket.session_id)).all())
    out = [f"conversation {s} has {n} tickets" for s, n in sorted(sessions.items()) if n > 1]
    missing = sorted(escalated - set(sessions))
    extra = sorted(set(sessions) - escalated)
    if missing:
        out.append(f"{len(missing)} escalated conversations have no ticket, e.g. {missing[0]}")
    if extra:
        out.append(f"{len(extra)} tickets belong to no escalated conversation, e.g. {extra[0]}")
    return out


def _replies_once(ledger: Ledger, replies: dict[str, str]) -> list[str]:
    out = []
    for outcome in ledger.outcomes.values():
        if outcome.action != "escalated":
            continue
        expected = _normal(replies[outcome.session_id])
        count = sum(1 for body in outcome.replies if _normal(body) == expected)
        if count != 1:
            out.append(
                f"conversation {outcome.session_id}: the agent's reply arrived {count} times"
            )
    return out


def _no_internal_note(ledger: Ledger, store: Store) -> list[str]:
    out = []
    leaked = ledger.notes_forwarded(list(ledger.outcomes.values()))
    if leaked:
        out.append(f"{leaked} internal notes reached customers over GET /sessions/{{id}}/messages")
    with store.transaction() as tx:
        internal = tx.scalar(
            select(OutgoingMessage.id)
            .join(TicketComment, TicketComment.id == OutgoingMessage.comment_id)
            .where(TicketComment.visibility != "public")
            .limit(1)
        )
    if internal is not None:
        out.append(f"outgoing message {internal} was made from an internal comment")
    return out


def _normal(text: str) -> str:
    return " ".join(text.split())
