"""Pull what changed in the ticketing system since the learning window opened.

Webhooks and polling keep the mirror current, but learning acts on it in a way customers see (an
answer the bot will serve), so it first pulls every ticket updated since the window start
(``list_updated_since``, paged) through the real update applier: a missed resolve or reopen is
caught, and the canonical status is known (``duplicate`` is mirrored as ``closed``).
"""

from __future__ import annotations

import datetime as dt

from ingestion.applier import apply_snapshot
from ingestion.settings import IngestionSettings
from ingestion.store import Store
from ingestion.ticketing import TicketingAdapter

EPOCH = dt.datetime(1970, 1, 1, tzinfo=dt.UTC)


def pull_updates(
    store: Store,
    adapter: TicketingAdapter,
    settings: IngestionSettings,
    since: dt.datetime | None,
) -> dict[int, str]:
    """Apply every ticket updated since ``since``; canonical statuses by mirror ticket id.

    Tickets caseloop did not open are ignored by the applier. Ticketing errors propagate
    (`TicketingUnavailable` is worth a retry; applying twice is harmless).
    """
    statuses: dict[int, str] = {}
    cursor: tuple[dt.datetime, str | None] = (since or EPOCH, None)
    size = max(1, settings.sync_page_size)
    while True:
        page = adapter.list_updated_since(cursor[0], cursor[1], size)
        for remote in page:
            result = apply_snapshot(
                store, adapter.source, remote, cause="learning", settings=settings
            )
            if result.known and result.ticket_id is not None:
                statuses[result.ticket_id] = remote.status
        last = page[-1] if page else None
        if len(page) < size or last is None or last.updated_at is None:
            return statuses
        following = (last.updated_at, last.id)
        if following == cursor:  # a full page of one instant and id: nothing further to read
            return statuses
        cursor = following
