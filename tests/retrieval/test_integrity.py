"""A damaged generation is refused (issue 10 item 6): its manifest records the point count and the
shard's file sizes at publish; a load that finds something else raises IndexCorrupt."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

import retrieval

CASES = 30


def _cases(prefix: str = "C") -> list[retrieval.CaseDocument]:
    return [
        retrieval.CaseDocument(
            f"{prefix}-{n}", f"case {n} about order {n * 7} and refund {n}", f"resolved {n}"
        )
        for n in range(CASES)
    ]


@pytest.fixture
def folder(tmp_path: Path, settings: retrieval.RetrievalSettings) -> Path:
    where = tmp_path / "index"
    with retrieval.open_index(where, settings=settings) as index:
        index.upsert(_cases())
    return where


def _generation(folder: Path) -> Path:
    return folder / "generations" / (folder / "CURRENT").read_text().strip()


def _id_tracker(folder: Path) -> Path:
    trackers = sorted(_generation(folder).glob("shard/**/*id_tracker*"))
    files = [p for p in trackers if p.is_file() and p.stat().st_size > 0]
    assert files, sorted(str(p) for p in _generation(folder).rglob("*"))
    return max(files, key=lambda p: p.stat().st_size)


def test_truncated_id_tracker_is_index_corrupt(
    folder: Path, settings: retrieval.RetrievalSettings
) -> None:
    tracker = _id_tracker(folder)
    tracker.write_bytes(tracker.read_bytes()[: tracker.stat().st_size // 3])
    name = _generation(folder).name
    with pytest.raises(retrieval.IndexCorrupt, match=rf"{name}.*{tracker.name}"):
        retrieval.open_index(folder, settings=settings, create=False).count()


def test_point_count_differing_from_the_manifest_is_index_corrupt(
    folder: Path, settings: retrieval.RetrievalSettings
) -> None:
    path = _generation(folder) / "manifest.json"
    manifest = json.loads(path.read_text())
    assert manifest["integrity"]["points"] == CASES
    manifest["integrity"]["points"] = CASES + 1
    path.write_text(json.dumps(manifest))
    with pytest.raises(retrieval.IndexCorrupt, match=rf"{CASES} points, {CASES + 1} when"):
        retrieval.open_index(folder, settings=settings, create=False).count()


def test_intact_index_loads_and_reloads_after_a_publish(
    folder: Path, settings: retrieval.RetrievalSettings
) -> None:
    with retrieval.open_index(folder, settings=settings, create=False) as reader:
        assert reader.count() == CASES
        with retrieval.open_index(folder, settings=settings, create=False) as writer:
            writer.upsert(_cases("D"))
            writer.publish()
        assert reader.count() == 2 * CASES
    with retrieval.open_index(folder, settings=settings, create=False) as again:
        assert again.count() == 2 * CASES


def test_manifest_without_the_record_still_loads(
    folder: Path, settings: retrieval.RetrievalSettings
) -> None:
    path = _generation(folder) / "manifest.json"
    manifest = json.loads(path.read_text())
    del manifest["integrity"]
    path.write_text(json.dumps(manifest))
    with retrieval.open_index(folder, settings=settings, create=False) as index:
        assert index.count() == CASES
        index.upsert(_cases("D"))
    assert "integrity" in json.loads((_generation(folder) / "manifest.json").read_text())
