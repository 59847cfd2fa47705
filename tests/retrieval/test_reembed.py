"""Switching an index to another encoder: one new generation, readers follow or refuse."""

from __future__ import annotations

from pathlib import Path

import pytest

import retrieval
from retrieval.model import resolve_model
from tests.retrieval.corpus import documents
from tests.retrieval.tiny_model import DIMENSION, tiny_model


@pytest.fixture(scope="module")
def tiny(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tiny_model(tmp_path_factory.mktemp("tiny"))


def _generations(folder: Path) -> list[str]:
    return sorted(p.name for p in (folder / "generations").iterdir())


def test_reembed_publishes_one_generation_that_readers_follow(
    tmp_path: Path, tiny: Path, settings: retrieval.RetrievalSettings
) -> None:
    folder = tmp_path / "index"
    follow = retrieval.RetrievalSettings(
        model_dir=settings.model_dir, filter_keys=["tenant", "product"], reload_interval=0.0
    )
    strict = follow.model_copy(update={"model": "packaged", "encoder": settings.encoder})
    with retrieval.open_index(folder, settings=settings) as writer:
        writer.upsert(documents())
    before = _generations(folder)
    follower = retrieval.open_index(folder, settings=follow, create=False)
    pinned = retrieval.open_index(folder, settings=strict, create=False)
    query = documents()[3].text
    assert follower.search(query, k=1)[0].case_id == documents()[3].case_id
    with retrieval.open_index(folder, settings=settings) as writer:
        seen: list[tuple[int, int]] = []
        choice = writer.reembed(
            tiny, "torch", progress=lambda done, total: seen.append((done, total))
        )
        assert writer.encoder_choice == choice
        assert writer.search(query, k=1)  # the writer embeds its queries with the new model
    assert seen[-1] == (len(documents()), len(documents()))
    after = _generations(folder)
    assert len(set(after) - set(before)) == 1  # one publish: readers never saw a mix
    manifest = follower.engine.manifest() or {}
    assert manifest["encoder"]["fingerprint"] == resolve_model(tiny).fingerprint
    assert manifest["dimension"] == DIMENSION
    assert follower.count() == len(documents())
    assert follower.search(query, k=1)[0].case_id == documents()[3].case_id  # exact text
    assert follower.encoder_choice.model.dimension == DIMENSION
    with pytest.raises(retrieval.EncoderMismatch):
        pinned.search(query, k=1)
    follower.close()
    pinned.close()


def test_a_failed_reembed_leaves_the_index_as_it_was(
    tmp_path: Path, settings: retrieval.RetrievalSettings
) -> None:
    folder = tmp_path / "index"
    with retrieval.open_index(folder, settings=settings) as writer:
        writer.upsert(documents())
    before = _generations(folder)
    with retrieval.open_index(folder, settings=settings) as writer:
        with pytest.raises(retrieval.EncoderError, match="unknown backend"):
            writer.reembed(backend="gpu")
        with pytest.raises(retrieval.EncoderError, match="is not a folder"):
            writer.reembed(tmp_path / "nowhere")
    assert _generations(folder) == before
    with retrieval.open_index(folder, settings=settings, create=False) as reader:
        assert reader.encoder_choice.backend == settings.encoder
        assert reader.count() == len(documents())


def test_a_server_collection_is_reembedded_in_place_at_the_same_size(
    settings: retrieval.RetrievalSettings, tiny: Path
) -> None:
    with retrieval.open_index(":memory:", settings=settings) as index:
        index.upsert(documents())
        choice = index.reembed(backend="onnx-fp32")
        assert (index.engine.manifest() or {})["encoder"]["backend"] == "onnx-fp32"
        assert choice.backend == "onnx-fp32"
        assert index.count() == len(documents())
        with pytest.raises(retrieval.EngineError, match="needs a new collection"):
            index.reembed(tiny)
        assert (index.engine.manifest() or {})["encoder"]["backend"] == "onnx-fp32"
