"""Locations pick the engine; a server that is down gives a clear EngineError."""

from __future__ import annotations

import socket
from pathlib import Path

import pytest

import retrieval
from retrieval.generations import GenerationEngine
from retrieval.server import ServerEngine
from tests.retrieval.corpus import documents


def test_folder_is_embedded_and_local_path_persists(
    tmp_path: Path, settings: retrieval.RetrievalSettings
) -> None:
    with retrieval.open_index(tmp_path / "edge", settings=settings) as edge:
        assert isinstance(edge.engine, GenerationEngine)
    local = f"local:{tmp_path / 'local'}"
    with retrieval.open_index(local, settings=settings) as index:
        assert isinstance(index.engine, ServerEngine)
        index.upsert(documents())
    with retrieval.open_index(local, settings=settings, create=False) as again:
        assert again.count() == 6
        assert again.search("charged twice", k=1)[0].case_id == "T-5"


def test_unreachable_server_is_an_engine_error(settings: retrieval.RetrievalSettings) -> None:
    with socket.socket() as s:  # a port nobody listens on
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    quick = settings.model_copy(update={"timeout": 2.0})
    with pytest.raises(retrieval.EngineError, match="Qdrant server: opening collection"):
        retrieval.open_index(f"http://127.0.0.1:{port}", settings=quick)


def test_missing_collection_without_create(settings: retrieval.RetrievalSettings) -> None:
    with pytest.raises(retrieval.IndexMissing, match="no collection 'case_summaries'"):
        retrieval.open_index(":memory:", settings=settings, create=False)
