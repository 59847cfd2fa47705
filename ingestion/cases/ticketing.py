"""How learning reaches the ticketing system: pull what changed, write the notes back.

`learn` takes a `CaseTicketing`, or None to learn from the store alone. `AdapterTicketing` makes
the calls directly through an adapter (``caseloop learn``); the Prefect flow passes its own, whose
calls are retried tasks under a shared concurrency limit (`flows.learning`).
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Protocol

from ingestion.cases.note import write_notes
from ingestion.cases.refresh import pull_updates
from ingestion.settings import IngestionSettings
from ingestion.store import Store
from ingestion.ticketing import TicketingAdapter


class CaseTicketing(Protocol):
    """The two things learning asks of the ticketing system."""

    def pull(self, since: dt.datetime | None) -> Mapping[int, str]:
        """Apply what changed since ``since``; canonical statuses by mirror ticket id."""
        ...

    def write_notes(self, case_ids: Sequence[str]) -> int:
        """Write the "Resolution summary" notes of these cases; how many were written."""
        ...


@dataclass(frozen=True, slots=True)
class AdapterTicketing:
    """`CaseTicketing` straight through an adapter; ``refresh=False`` skips the pull."""

    store: Store
    adapter: TicketingAdapter
    settings: IngestionSettings
    refresh: bool = True

    def pull(self, since: dt.datetime | None) -> Mapping[int, str]:
        """`pull_updates` (nothing when ``refresh`` is off)."""
        return self.pull_now(since) if self.refresh else {}

    def pull_now(self, since: dt.datetime | None) -> Mapping[int, str]:
        """The pull itself (a subclass may run it another way, e.g. as a retried task)."""
        return pull_updates(self.store, self.adapter, self.settings, since)

    def write_notes(self, case_ids: Sequence[str]) -> int:
        """`write_notes`: a ticket that fails is skipped (the next run retries it)."""
        return write_notes(self.store, self.adapter, case_ids)
