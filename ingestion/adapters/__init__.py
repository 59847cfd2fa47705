"""Ticketing adapters: one module per system, all speaking `ingestion.ticketing.TicketingAdapter`.

`build_adapter(settings)` picks one from ``settings.ticketing``. Each adapter module other than
``helpdesk`` exposes ``from_settings(settings) -> TicketingAdapter`` and is imported only when
chosen, so an unused system costs nothing at start-up.
"""

from __future__ import annotations

import importlib
from typing import cast

from ingestion.adapters.helpdesk import HelpdeskAdapter
from ingestion.adapters.http import TicketNotFound
from ingestion.errors import CaseloopIngestionError
from ingestion.settings import IngestionSettings
from ingestion.ticketing import TicketingAdapter

__all__ = ["HelpdeskAdapter", "TicketNotFound", "build_adapter"]

#: Adapter names accepted in ``CASELOOP_TICKETING``, each a module of this package.
KNOWN_ADAPTERS = ("generic", "helpdesk", "rt")


def build_adapter(settings: IngestionSettings) -> TicketingAdapter:
    """The adapter ``settings.ticketing`` names, configured from ``settings``."""
    name = settings.ticketing.strip().lower()
    if name == "helpdesk":
        return HelpdeskAdapter(
            settings.helpdesk_url,
            settings.helpdesk_token.get_secret_value(),
            queue=settings.helpdesk_queue,
            timeout=settings.ticketing_timeout,
        )
    if name not in KNOWN_ADAPTERS:
        raise CaseloopIngestionError(
            f"ticketing: unknown adapter {settings.ticketing!r}; "
            f"choose one of {', '.join(KNOWN_ADAPTERS)}"
        )
    try:
        module = importlib.import_module(f"ingestion.adapters.{name}")
    except ModuleNotFoundError as exc:
        raise CaseloopIngestionError(
            f"ticketing: the {name!r} adapter is not installed in this build"
        ) from exc
    return cast(TicketingAdapter, module.from_settings(settings))
