"""Pull what changed in the ticketing system since the learning window opened.

Webhooks and polling keep the mirror current, but learning acts on it in a way customers see (an
answer the bot will serve), so it first pulls every ticket updated since the window start
(``list_updated_since``, paged) through the real update applier: a missed resolve or reopen is
caught, and the canonical status is known (``duplicate`` is mirrored as ``closed``).

With ``learning_source`` ``queue`` or ``all``, a resolved ticket caseloop did not open is adopted
(`adopt_snapshot`) for the tenant ``learning_tenant``: ``queue`` takes the tickets of the
adapter's configured queue, ``all`` every ticket the adapter lists. A ticket carrying caseloop's
conversation marker that this store does not know was escalated through another store and is
left to it.
"""

from __future__ import annotations

import datetime as dt

from ingestion.applier import adopt_snapshot, apply_snapshot
from ingestion.settings import IngestionSettings
from ingestion.status import RESOLVED_STATUSES
from ingestion.store import Store
from ingestion.ticketing import RemoteTicket, TicketingAdapter

EPOCH = dt.datetime(1970, 1, 1, tzinfo=dt.UTC)


def pull_updates(
    store: Store,
    adapter: TicketingAdapter,
    settings: IngestionSettings,
    since: dt.datetime | None,
) -> dict[int, str]:
    """Apply every ticket updated since ``since``; canonical statuses by mirror ticket id.

    Tickets caseloop did not open are adopted when `adoptable`. Ticketing errors propagate
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
            if not result.known and adoptable(remote, settings):
                result = adopt_snapshot(
                    store,
                    adapter.source,
                    remote,
                    tenant=settings.learning_tenant,
                    settings=settings,
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


def adoptable(remote: RemoteTicket, settings: IngestionSettings) -> bool:
    """Whether learning adopts this unknown ticket under ``settings.learning_source``."""
    scope = settings.learning_source
    if scope == "escalated" or remote.external_conversation_id is not None:
        return False
    return remote.status in RESOLVED_STATUSES and (scope == "all" or remote.in_queue)
