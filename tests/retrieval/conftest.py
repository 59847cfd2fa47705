"""Retrieval fixtures: one encoder per session, a fresh index per test on each engine."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

import retrieval
from retrieval.dense import load_encoder
from tests.retrieval.corpus import documents


@pytest.fixture(scope="session")
def settings(tmp_path_factory: pytest.TempPathFactory) -> retrieval.RetrievalSettings:
    """Test settings; the ONNX model is exported into a session folder and loaded once.

    Writers publish on close (or an explicit ``publish()``) so a test pays for one copy.
    """
    model_dir = tmp_path_factory.mktemp("models")
    s = retrieval.RetrievalSettings(
        model_dir=model_dir,
        filter_keys=["tenant", "product"],
        reload_interval=0.0,
        publish_interval=3600.0,
    )
    load_encoder(s.encoder, threads=s.encoder_threads, model_dir=s.model_dir).encode(["warm up"])
    return s


@pytest.fixture(params=["edge", "local"])
def location(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    """Embedded engine folder, and qdrant-client local mode as the server's test double."""
    return str(tmp_path / "index") if request.param == "edge" else ":memory:"


@pytest.fixture
def index(location: str, settings: retrieval.RetrievalSettings) -> Iterator[retrieval.Index]:
    """A fresh index holding the shared corpus, on each engine."""
    idx = retrieval.open_index(location, settings=settings)
    idx.upsert(documents())
    yield idx
    idx.close()
