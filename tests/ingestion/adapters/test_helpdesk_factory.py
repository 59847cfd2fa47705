"""`build_adapter`: settings pick and configure the adapter (no running system needed)."""

from __future__ import annotations

import pytest
from pydantic import SecretStr

from ingestion.adapters import HelpdeskAdapter, build_adapter
from ingestion.errors import CaseloopIngestionError
from ingestion.settings import IngestionSettings


def test_helpdesk_is_built_from_its_settings() -> None:
    settings = IngestionSettings(
        ticketing="helpdesk",
        helpdesk_url="http://127.0.0.1:9/",
        helpdesk_token=SecretStr("t0ken"),
        helpdesk_queue=4,
        ticketing_timeout=2.5,
    )
    adapter = build_adapter(settings)
    try:
        assert isinstance(adapter, HelpdeskAdapter)
        assert (adapter.base_url, adapter.queue) == ("http://127.0.0.1:9", 4)
        assert adapter.ticket_url(12) == "http://127.0.0.1:9/helpdesk/tickets/12/"
    finally:
        adapter.close()


def test_an_unknown_adapter_name_lists_the_choices() -> None:
    with pytest.raises(CaseloopIngestionError, match=r"unknown adapter 'zendesk'.*helpdesk"):
        build_adapter(IngestionSettings(ticketing="zendesk"))
