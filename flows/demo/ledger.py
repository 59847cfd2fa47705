"""What happened to every conversation, and the day-by-day figures derived from it.

The chatbot, the agents and the nightly learning each write what they did into the ledger; the
table, the report and the invariant checks read only from here (and from the store, for the
cross-checks in `flows.demo.invariants`).
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from typing import Literal

Action = Literal["answered", "escalated"]


@dataclass(slots=True)
class Outcome:
    """One conversation: what the bot did, and what came back to the customer."""

    conversation_id: str
    session_id: str
    day: int
    intent: str
    action: Action
    reason: str | None = None
    served_case_id: str | None = None
    served_intent: str | None = None
    escalation_id: str | None = None
    ticket_id: str | None = None
    replies: list[str] = field(default_factory=list)
    note_sent: str | None = None
    novel: bool = False  # no case of this intent had been learned when the customer asked

    @property
    def correct(self) -> bool | None:
        """For an answer: did the case served come from a conversation with the same intent?"""
        if self.action != "answered":
            return None
        return self.served_intent == self.intent


@dataclass(frozen=True, slots=True)
class DayStats:
    """One row of the day-by-day table."""

    day: int
    conversations: int
    answered_right: int
    answered_wrong: int
    escalations: int
    tickets_created: int
    replies_forwarded: int
    notes_forwarded: int
    cases_learned: int
    novel_escalations: int = 0
    reasons: tuple[tuple[str, int], ...] = ()

    @property
    def escalation_rate(self) -> float:
        return self.escalations / self.conversations if self.conversations else 0.0


@dataclass(slots=True)
class Ledger:
    """Outcomes by session id, tickets seen by the agents, cases learned each night."""

    outcomes: dict[str, Outcome] = field(default_factory=dict)
    tickets_by_day: dict[int, set[str]] = field(default_factory=dict)
    learned_by_day: dict[int, int] = field(default_factory=dict)
    case_intents: dict[str, str] = field(default_factory=dict)

    def record(self, outcome: Outcome) -> None:
        self.outcomes[outcome.session_id] = outcome

    def day(self, day: int) -> list[Outcome]:
        return [o for o in self.outcomes.values() if o.day == day]

    def _notes(self) -> set[str]:
        return {o.note_sent for o in self.outcomes.values() if o.note_sent}

    def notes_forwarded(self, outcomes: list[Outcome]) -> int:
        """Messages that reached a customer and carry the text of an internal note."""
        notes = self._notes()
        return sum(1 for o in outcomes for body in o.replies if _is_note(body, notes))

    def stats(self, day: int) -> DayStats:
        rows = self.day(day)
        notes = self._notes()
        escalated = [o for o in rows if o.action == "escalated"]
        messages = sum(len(o.replies) for o in rows)
        leaked = sum(1 for o in rows for body in o.replies if _is_note(body, notes))
        return DayStats(
            day=day,
            conversations=len(rows),
            answered_right=sum(1 for o in rows if o.correct is True),
            answered_wrong=sum(1 for o in rows if o.correct is False),
            escalations=sum(1 for o in rows if o.action == "escalated"),
            tickets_created=len(self.tickets_by_day.get(day, set())),
            replies_forwarded=messages - leaked,
            notes_forwarded=leaked,
            cases_learned=self.learned_by_day.get(day, 0),
            novel_escalations=sum(1 for o in rows if o.action == "escalated" and o.novel),
            reasons=tuple(sorted(Counter(o.reason or "-" for o in escalated).items())),
        )

    def table(self) -> list[DayStats]:
        return [self.stats(day) for day in sorted({o.day for o in self.outcomes.values()})]


def _is_note(body: str, notes: set[str]) -> bool:
    text = body.strip()
    return any(note.strip() and note.strip() in text for note in notes)
