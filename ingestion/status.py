"""The ticket status machine of the mirror, and how a snapshot's staleness is decided.

Mirror statuses (``tickets.status``)::

    open ──relay──► escalated ──► resolved ──► closed
                       ▲   │         │  ▲         │
                       │   └──► closed  │         │
                       │             ▼  │         ▼
                       └──────── reopened ◄───────┘        (any) ──► deleted

``open`` exists only before the ticket does (the relay writes ``escalated`` when it creates it).
This module is the only home of the status vocabulary: the mapping, the groups other modules ask
about (`OPEN_STATUSES`, `RESOLVED_STATUSES`, `FINAL_STATUSES`, `WITHDRAWING`), the ranks and the
transitions. Adapters report a canonical `TicketStatus`; `mirror_status` maps it without looking at history,
so that the result of applying a snapshot never depends on what was applied before it (this is
what makes the applier order-independent). Ticketing systems do not enforce transitions
(django-helpdesk accepts Closed → Open), so the remote system is the truth: every change is
applied and recorded as an event, and `is_expected` only flags unusual ones for the log.

Staleness: each snapshot has a version, `SnapshotVersion` = (remote ``updated_at``, status rank).
A snapshot changes the stored status only when its version is strictly greater than the stored
one (``tickets.remote_updated_at`` and the stored status). Versions form a total order, so the
stored status is the maximum over every snapshot ever applied, whatever their arrival order, and
re-applying a snapshot changes nothing. When two snapshots carry the same ``updated_at`` but
different statuses (a system that changes status without touching its timestamp), the rank
breaks the tie deterministically towards the later stage of the life cycle.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from typing import Final, Literal

from ingestion.ticketing import TicketStatus

MirrorStatus = Literal["open", "escalated", "reopened", "resolved", "closed", "deleted"]

_FROM_REMOTE: Final[dict[str, MirrorStatus]] = {
    "open": "escalated",
    "pending": "escalated",  # waiting on someone is still an escalated, unresolved ticket
    "reopened": "reopened",
    "resolved": "resolved",
    "closed": "closed",
    "duplicate": "closed",
    "deleted": "deleted",
}

#: A conversation's ticket counts as open (a new escalation becomes a note on it, not a ticket).
OPEN_STATUSES: Final[tuple[MirrorStatus, ...]] = ("open", "escalated", "reopened")
#: A ticket agents have answered and finished: what learning learns from.
RESOLVED_STATUSES: Final[tuple[MirrorStatus, ...]] = ("resolved", "closed")
#: Where the life cycle ends: the consistency checks stop watching these tickets.
FINAL_STATUSES: Final[tuple[MirrorStatus, ...]] = ("closed", "deleted")
#: Remote statuses (canonical or raw) that take a learned case back out of the index.
WITHDRAWING: Final[tuple[str, ...]] = ("deleted", "duplicate")

#: Tie-break order for equal timestamps: later life-cycle stages win.
RANK: Final[dict[str, int]] = {
    "open": 0,
    "escalated": 1,
    "reopened": 2,
    "resolved": 3,
    "closed": 4,
    "deleted": 5,
}

EXPECTED_TRANSITIONS: Final[frozenset[tuple[str, str]]] = frozenset(
    {
        ("open", "escalated"),
        ("escalated", "resolved"),
        ("escalated", "closed"),
        ("reopened", "resolved"),
        ("reopened", "closed"),
        ("resolved", "closed"),
        ("resolved", "reopened"),
        ("closed", "reopened"),
    }
    | {(status, "deleted") for status in RANK if status != "deleted"}
)

_EPOCH = dt.datetime(1970, 1, 1, tzinfo=dt.UTC)


def mirror_status(remote: TicketStatus | str) -> MirrorStatus:
    """The mirror status for a canonical remote status (unknown values stay ``escalated``)."""
    return _FROM_REMOTE.get(remote, "escalated")


def is_expected(from_status: str | None, to_status: str) -> bool:
    """Whether a transition is one the life cycle foresees (others are applied and logged)."""
    return from_status is None or (from_status, to_status) in EXPECTED_TRANSITIONS


@dataclass(frozen=True, slots=True, order=True)
class SnapshotVersion:
    """The total order of snapshots of one ticket: remote time first, then status rank."""

    updated_at: dt.datetime
    rank: int

    @classmethod
    def of(cls, updated_at: dt.datetime | None, status: str) -> SnapshotVersion:
        """The version of a snapshot (or of the stored mirror); a missing time sorts first."""
        return cls(updated_at or _EPOCH, RANK.get(status, 0))


@dataclass(frozen=True, slots=True)
class Transition:
    """A status change the applier records in ``ticket_events`` (``None``: the ticket is new)."""

    from_status: str | None
    to_status: MirrorStatus


def opened(remote_status: TicketStatus | str | None) -> Transition:
    """The first transition of a ticket caseloop opened or adopted (unknown status: escalated)."""
    return Transition(from_status=None, to_status=mirror_status(remote_status or "open"))


def decide(
    stored_status: str,
    stored_updated_at: dt.datetime | None,
    remote_status: TicketStatus | str,
    remote_updated_at: dt.datetime | None,
) -> tuple[Transition | None, bool]:
    """Whether a snapshot moves the stored status: ``(transition or None, snapshot_is_newer)``.

    ``snapshot_is_newer`` says whether the stored version must advance (even without a status
    change, the newer remote time is remembered so that older snapshots are recognised later).
    """
    target = mirror_status(remote_status)
    stored = SnapshotVersion.of(stored_updated_at, stored_status)
    incoming = SnapshotVersion.of(remote_updated_at, target)
    if incoming <= stored:
        return None, False
    if target == stored_status:
        return None, True
    return Transition(from_status=stored_status, to_status=target), True
