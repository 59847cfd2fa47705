"""Retrieval's edges (issue 10): every failure a RetrievalError, a damaged folder never recreated."""

from __future__ import annotations

from pathlib import Path

import pytest

import retrieval
from tests.retrieval.corpus import documents


@pytest.fixture
def folder(tmp_path: Path, settings: retrieval.RetrievalSettings) -> Path:
    where = tmp_path / "index"
    with retrieval.open_index(where, settings=settings) as index:
        index.upsert(documents())
    return where


def test_bad_queries_and_filters_are_retrieval_errors(
    folder: Path, settings: retrieval.RetrievalSettings
) -> None:
    with retrieval.open_index(folder, settings=settings, create=False) as index:
        with pytest.raises(retrieval.InvalidQuery, match="surrogate"):
            index.search("refund \ud800")
        with pytest.raises(retrieval.InvalidFilter, match="mapping"):
            index.search("refund", filters="tenant")  # type: ignore[arg-type]
        assert index.search("charged twice", k=1)[0].case_id == "T-5"


@pytest.mark.parametrize(
    "damage",
    [b"\xff\xfe\x00binary", b"../../etc\n", b""],
    ids=["binary", "traversal", "empty"],
)
def test_unreadable_pointer_is_index_corrupt(
    folder: Path, settings: retrieval.RetrievalSettings, damage: bytes
) -> None:
    (folder / "CURRENT").write_bytes(damage)
    with pytest.raises(retrieval.IndexCorrupt):
        retrieval.open_index(folder, settings=settings, create=False).search("refund")


def test_generations_without_pointer_are_not_replaced_by_an_empty_index(
    folder: Path, settings: retrieval.RetrievalSettings
) -> None:
    pointer = (folder / "CURRENT").read_text()
    (folder / "CURRENT").unlink()
    generations = sorted(p.name for p in (folder / "generations").iterdir())
    with pytest.raises(retrieval.IndexCorrupt, match="restore"):
        retrieval.open_index(folder, settings=settings)  # create=True by default
    assert not (folder / "CURRENT").exists()
    assert sorted(p.name for p in (folder / "generations").iterdir()) == generations
    (folder / "CURRENT").write_text(pointer)  # the documented repair
    with retrieval.open_index(folder, settings=settings, create=False) as index:
        assert index.count() == len(documents())


def test_a_file_where_the_folder_should_be(
    tmp_path: Path, settings: retrieval.RetrievalSettings
) -> None:
    path = tmp_path / "index"
    path.write_text("not a folder")
    with pytest.raises(retrieval.RetrievalError, match="not an index folder"):
        retrieval.open_index(path, settings=settings)
    assert path.read_text() == "not a folder"
