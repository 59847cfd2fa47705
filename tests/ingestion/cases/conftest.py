"""Fixtures of the learning tests: a real embedded retrieval index, counted at its write API."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

import retrieval
from ingestion.cases.redact import Redactor, build_redactor
from ingestion.settings import IngestionSettings
from tests.ingestion.cases.counting import CountingIndex


@pytest.fixture
def index(tmp_path: Path) -> Iterator[CountingIndex]:
    """An embedded (qdrant-edge) index in a temporary folder."""
    with retrieval.open_index(tmp_path / "index") as opened:
        yield CountingIndex(opened)


@pytest.fixture(scope="session")
def entity_redactor() -> Redactor:
    """The redactor with the named-entity model (loaded once per test session)."""
    return build_redactor(IngestionSettings())
