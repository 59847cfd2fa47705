"""Many readers, one writer on the embedded engine: generations swapped under live readers."""

from __future__ import annotations

import json
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest

import retrieval
from tests.retrieval.corpus import documents

READER = Path(__file__).with_name("reader_process.py")
GIFT = retrieval.CaseDocument(
    "T-7", "Refund for a gift card I never used", "Gift card refunded", ["refund"]
)


class Reader:
    """A real reader process; its report lines are collected on a thread."""

    def __init__(self, folder: Path, model_dir: Path, stop: Path) -> None:
        self.lines: list[dict[str, object]] = []
        self.proc = subprocess.Popen(
            [sys.executable, str(READER), str(folder), str(model_dir), str(stop)],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            cwd=Path(__file__).parents[2],
        )
        self._thread = threading.Thread(target=self._collect, daemon=True)
        self._thread.start()

    def _collect(self) -> None:
        assert self.proc.stdout is not None
        for raw in self.proc.stdout:
            self.lines.append(json.loads(raw))

    def wait_for(self, predicate: object, timeout: float = 60.0) -> dict[str, object]:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            for line in list(self.lines):
                if "ids" in line and predicate(line["ids"]):  # type: ignore[operator]
                    return line
            if self.proc.poll() is not None:
                break
            time.sleep(0.05)
        stderr = (
            self.proc.stderr.read() if self.proc.poll() is not None and self.proc.stderr else ""
        )
        pytest.fail(f"reader never saw the expected state; last lines {self.lines[-3:]} {stderr}")


def test_reader_keeps_answering_while_the_writer_publishes(
    tmp_path: Path, settings: retrieval.RetrievalSettings
) -> None:
    folder, stop = tmp_path / "index", tmp_path / "stop"
    writer = retrieval.open_index(folder, settings=settings)
    writer.upsert(documents())
    writer.publish()
    reader = Reader(folder, settings.model_dir, stop)
    try:
        before = reader.wait_for(lambda ids: "T-1" in ids)
        writer.retract(["T-1"])
        writer.upsert([GIFT])
        assert "T-1" not in {h.case_id for h in writer.search("refund shoes", k=10)}  # own writes
        published = time.time()
        writer.publish()
        after = reader.wait_for(lambda ids: "T-1" not in ids and "T-7" in ids)
        assert after["generation"] != before["generation"]
        assert float(after["t"]) - published < 10.0  # the contract says a minute; 0.2 s polling
        later: list[dict[str, object]] = []
        deadline = time.monotonic() + 10.0  # it answers every 0.2 s; on a loaded machine later
        while not later and time.monotonic() < deadline:
            time.sleep(0.2)
            later = [line for line in reader.lines if float(line["t"]) > float(after["t"])]
        assert later, "the reader went on answering"
        assert all("T-1" not in line["ids"] for line in later)  # type: ignore[operator]
    finally:
        stop.touch()
        reader.proc.wait(timeout=30)
        writer.close()
    assert not [line for line in reader.lines if "error" in line]
    assert reader.proc.returncode == 0
    gaps = [b["t"] - a["t"] for a, b in zip(reader.lines, reader.lines[1:], strict=False)]  # type: ignore[operator]
    assert max(gaps) < 5.0  # never stalled for long while generations changed


def test_second_writer_is_refused_while_the_first_writes(
    tmp_path: Path, settings: retrieval.RetrievalSettings
) -> None:
    first = retrieval.open_index(tmp_path / "index", settings=settings)
    second = retrieval.open_index(tmp_path / "index", settings=settings)
    try:
        first.upsert(documents())
        with pytest.raises(retrieval.IndexBusy, match="another process is writing"):
            second.upsert(documents())
        assert second.count() == 0  # a reader sees the last published generation (empty)
    finally:
        first.close()
    second.upsert([GIFT])  # the lock is free once the first writer closed
    second.close()
    with retrieval.open_index(tmp_path / "index", settings=settings) as third:
        assert third.count() == 7


def test_incompatible_index_is_refused(
    tmp_path: Path, settings: retrieval.RetrievalSettings
) -> None:
    for location in (str(tmp_path / "edge"), f"local:{tmp_path / 'local'}"):
        with retrieval.open_index(location, settings=settings) as index:
            manifest = index.engine.manifest() or {}
            index.engine.save_manifest({**manifest, "schema_version": 99})
        with pytest.raises(retrieval.IndexIncompatible, match="schema_version is 99"):
            retrieval.open_index(location, settings=settings)


def test_old_generations_are_collected(
    tmp_path: Path, settings: retrieval.RetrievalSettings
) -> None:
    with retrieval.open_index(tmp_path / "index", settings=settings) as index:
        for doc in documents()[:5]:
            index.upsert([doc])
            index.publish()
    names = sorted(p.name for p in (tmp_path / "index" / "generations").iterdir())
    assert len(names) == settings.keep_generations
    assert (tmp_path / "index" / "CURRENT").read_text().strip() == names[-1]
