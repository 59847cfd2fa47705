"""The embedded engine for many readers and one writer: immutable generations behind a pointer.

Qdrant's embedded engine gives one process one shard; caseloop needs the orchestrator's
processes to keep answering while the nightly flow writes. The folder therefore holds::

    CURRENT                 name of the published generation (replaced atomically)
    writer.lock             held (flock) by the one writer process
    work/                   the writer's private shard + manifest.json (+ READY once complete)
    generations/gen-000042/ published, never written again: shard/ + manifest.json

Readers load the generation named by ``CURRENT`` (shards have no write-ahead log, hence no
folder lock, and a published generation is never written, so any number of processes map it at
once) and re-read the pointer at most every ``reload_interval`` seconds, switching on the next
search after a publish. The writer takes ``writer.lock``, writes into ``work/`` (starting from
the newest generation), and publishes by optimising, copying ``work/`` to a new generation and
replacing ``CURRENT``. It publishes on its first write, then at most every ``publish_interval``
seconds, and on :meth:`close`. A retracted case is gone from a reader at its first search
``reload_interval`` seconds after that publish. Old generations beyond ``keep_generations`` are
deleted; a reader that still maps one keeps its open files (POSIX unlink semantics).
Each generation's manifest records its point count and segment file sizes at publish; a load
that finds otherwise raises :class:`IndexCorrupt` instead of serving a damaged shard.
"""

from __future__ import annotations

import fcntl
import json
import os
import re
import shutil
import threading
import time
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from pathlib import Path
from typing import IO, Any

from retrieval.engine import Probe, Ranked, StoredPoint
from retrieval.errors import EngineError, IndexBusy, IndexCorrupt, IndexMissing
from retrieval.shard import Shard

_POINTER = "CURRENT"
_PREFIX = "gen-"
_NAME = re.compile(rf"^{_PREFIX}\d{{6,}}$")
_CHECK = "integrity"  # manifest entry written at publish: point count and the shard's file sizes


def _files(shard: Path) -> dict[str, int]:
    # Only the segments' data files: the engine rewrites edge_config.json and replays and deletes
    # journals on the first load of a published generation, legitimately, for every later reader.
    return {
        str(p.relative_to(shard)): p.stat().st_size
        for p in sorted((shard / "segments").rglob("*"))
        if p.is_file() and "journal" not in p.name
    }


def _damage(folder: Path, recorded: Mapping[str, Any]) -> str | None:
    """What differs between the generation's shard files and the sizes recorded at publish."""
    found = _files(folder / "shard")
    for name, size in sorted(dict(recorded.get("files", {})).items()):
        if name not in found:
            return f"shard file {name} is missing"
        if found[name] != size:
            return f"shard file {name} is {found[name]} bytes, {size} when published"
    return None


def _verified(folder: Path, manifest: dict[str, Any]) -> Shard:
    """Load the generation's shard, refusing it if it differs from its manifest's record.

    Only names and sizes are compared (no hashing), so a load stays cheap at any index size.
    Manifests written before the record existed load unchecked.
    """
    recorded = manifest.pop(_CHECK, None)
    where = f"index generation {folder.name}"
    if isinstance(recorded, Mapping) and (damage := _damage(folder, recorded)):
        raise IndexCorrupt(f"{where} is damaged: {damage}")
    shard = Shard.load(folder / "shard")
    if isinstance(recorded, Mapping) and (count := shard.count()) != recorded.get("points"):
        shard.close()
        raise IndexCorrupt(
            f"{where} is damaged: {count} points, {recorded.get('points')} when published"
        )
    return shard


def _write_json(path: Path, data: Mapping[str, Any]) -> None:
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    tmp.write_text(json.dumps(data, indent=1, sort_keys=True))
    os.replace(tmp, path)


def _read_json(path: Path) -> dict[str, Any]:
    try:
        data = json.loads(path.read_text())
    except (OSError, ValueError) as exc:
        raise EngineError(f"index manifest {path.name} unreadable: {exc}") from exc
    if not isinstance(data, dict):
        raise EngineError(f"index manifest {path.name}: not a JSON object")
    return data


class GenerationEngine:
    """An :class:`~retrieval.engine.Engine` over a folder of published generations."""

    def __init__(
        self,
        root: Path,
        *,
        initial_manifest: Mapping[str, Any],
        filter_keys: Sequence[str],
        create: bool = True,
        reload_interval: float = 2.0,
        publish_interval: float = 10.0,
        keep_generations: int = 3,
        search_threads: int = 1,
        dimension: int = 384,
    ) -> None:
        self.root = root
        self._dimension = dimension
        self._filter_keys = list(filter_keys)
        self._reload_interval = reload_interval
        self._publish_interval = publish_interval
        self._keep = keep_generations
        self._search_threads = search_threads
        self._generation: str | None = None
        self._reader: Shard | None = None
        self._reader_manifest: dict[str, Any] = {}
        self._checked_at = 0.0
        self._swap = threading.Lock()
        self._retired: Shard | None = None
        self._lock: IO[str] | None = None
        self._work: Shard | None = None
        self._work_manifest: dict[str, Any] = {}
        self._dirty = False
        self._published_at = 0.0
        if root.exists() and not root.is_dir():
            raise IndexCorrupt(f"{root} is a file, not an index folder")
        if not (root / _POINTER).exists():
            if any((root / "generations").glob(f"{_PREFIX}[0-9]*")):
                # Creating here would publish an empty index over intact generations.
                raise IndexCorrupt(
                    f"{root} holds generations but no {_POINTER} pointer: restore it (the name "
                    "of the newest generations/gen-* folder) instead of creating a new index"
                )
            if not create:
                raise IndexMissing(f"no index at {root} (no {_POINTER} pointer)")
            self._create(initial_manifest)

    # -- reading -------------------------------------------------------------------------
    def _pointer(self) -> str:
        try:
            name = (self.root / _POINTER).read_bytes().decode("ascii").strip()
        except FileNotFoundError as exc:
            raise IndexMissing(f"no index at {self.root} (no {_POINTER} pointer)") from exc
        except (OSError, UnicodeDecodeError) as exc:
            raise IndexCorrupt(f"{self.root / _POINTER} is unreadable: {exc}") from exc
        if not _NAME.match(name):
            raise IndexCorrupt(f"{self.root / _POINTER} does not name a generation")
        return name

    def refresh(self, *, force: bool = False) -> None:
        """Switch to the newest published generation if the pointer moved."""
        now = time.monotonic()
        if (
            not force
            and self._reader is not None
            and now - self._checked_at < self._reload_interval
        ):
            return
        self._checked_at = now
        for attempt in range(3):
            name = self._pointer()
            if name == self._generation:
                return
            folder = self.root / "generations" / name
            try:
                manifest = _read_json(folder / "manifest.json")
                shard = _verified(folder, manifest)
            except EngineError:
                if attempt == 2:  # the pointer moved on and the old one was collected; retry
                    raise
                continue
            # The replaced shard is closed one switch later, not now: a search on another thread
            # may still be using it.
            if self._retired is not None:
                self._retired.close()
            self._retired, self._reader = self._reader, shard
            self._generation, self._reader_manifest = name, manifest
            return

    def _serving(self) -> Shard:
        if self._work is not None:
            return self._work
        self.refresh()
        assert self._reader is not None
        return self._reader

    def query(self, probe: Probe) -> Ranked:
        return self._serving().query(probe)

    def payloads(self, point_ids: Sequence[str]) -> dict[str, dict[str, Any]]:
        return self._serving().payloads(point_ids)

    def count(self) -> int:
        return self._serving().count()

    def manifest(self) -> dict[str, Any] | None:
        if self._work is not None:
            return dict(self._work_manifest)
        self.refresh()
        return dict(self._reader_manifest)

    @property
    def generation(self) -> str | None:
        """Name of the generation this process reads (None while it is the writer)."""
        return None if self._work is not None else self._generation

    # -- writing -------------------------------------------------------------------------
    def upsert(self, points: Sequence[StoredPoint]) -> None:
        self._write(lambda shard: shard.upsert(points))

    def delete(self, point_ids: Sequence[str]) -> None:
        self._write(lambda shard: shard.delete(point_ids))

    def save_manifest(self, manifest: Mapping[str, Any]) -> None:
        self._become_writer()
        self._work_manifest = dict(manifest)
        _write_json(self.root / "work" / "manifest.json", self._work_manifest)
        self._dirty = True
        self.publish()

    def scan(self, batch: int) -> Iterator[list[dict[str, Any]]]:
        """Every point's payload, read from the writer's shard (this process becomes the writer)."""
        return self._become_writer().scan(batch)

    def rebuild(
        self, manifest: Mapping[str, Any], batches: Iterable[Sequence[StoredPoint]], dimension: int
    ) -> None:
        """Write every point into a fresh shard and publish it as one new generation.

        Readers keep the previous generation until the publish, then switch to the whole new one:
        they never see a mix. ``batches`` may read the current shard while the new one fills.
        """
        self._become_writer()
        fresh = self.root / "rebuild"
        shutil.rmtree(fresh, ignore_errors=True)
        fresh.mkdir()
        keys = list(manifest.get("filter_keys", self._filter_keys))
        shard = Shard.create(fresh / "shard", keys, self._search_threads, dimension)
        try:
            for points in batches:
                shard.upsert(points)
                shard.flush()
        finally:
            shard.close()
        _write_json(fresh / "manifest.json", manifest)
        (fresh / "READY").touch()
        assert self._work is not None
        self._work.close()
        self._work = None
        # A crash from here on leaves work/ without READY: the next writer starts again from the
        # newest published generation, and rebuild/ is cleared by the next rebuild.
        (self.root / "work" / "READY").unlink()
        shutil.rmtree(self.root / "work")
        os.replace(fresh, self.root / "work")
        self._work = Shard.load(self.root / "work" / "shard")
        self._work_manifest = dict(manifest)
        self._dirty = True
        self.publish()

    def _write(self, change: Callable[[Shard], None]) -> None:
        work = self._become_writer()
        change(work)
        work.flush()
        self._dirty = True
        if time.monotonic() - self._published_at >= self._publish_interval:
            self.publish()

    def _take_lock(self, *, wait: bool) -> None:
        self.root.mkdir(parents=True, exist_ok=True)
        handle = open(self.root / "writer.lock", "a+")  # noqa: SIM115 - held until close()
        try:
            fcntl.flock(handle, fcntl.LOCK_EX | (0 if wait else fcntl.LOCK_NB))
        except BlockingIOError as exc:
            handle.close()
            raise IndexBusy(f"another process is writing the index at {self.root}") from exc
        self._lock = handle

    def _release_lock(self) -> None:
        if self._lock is not None:
            self._lock.close()  # closing the file drops the flock
            self._lock = None

    def _become_writer(self) -> Shard:
        if self._work is not None:
            return self._work
        self._take_lock(wait=False)
        try:
            work = self.root / "work"
            if not (work / "READY").exists():
                shutil.rmtree(work, ignore_errors=True)
                source = self.root / "generations" / self._pointer()
                _verified(source, _read_json(source / "manifest.json")).close()
                shutil.copytree(source, work)
                (work / "READY").touch()
            self._work_manifest = _read_json(work / "manifest.json")
            self._work_manifest.pop(_CHECK, None)
            self._work = Shard.load(work / "shard")
        except BaseException:
            self._release_lock()
            raise
        if self._reader is not None:  # the writer serves its own searches from work/
            if self._retired is not None:
                self._retired.close()
            self._retired, self._reader, self._generation = self._reader, None, None
        return self._work

    def _create(self, manifest: Mapping[str, Any]) -> None:
        self._take_lock(wait=True)
        try:
            if (self.root / _POINTER).exists():  # another process created it meanwhile
                return
            work = self.root / "work"
            shutil.rmtree(work, ignore_errors=True)
            work.mkdir(parents=True)
            self._work = Shard.create(
                work / "shard", self._filter_keys, self._search_threads, self._dimension
            )
            self._work_manifest = dict(manifest)
            _write_json(work / "manifest.json", self._work_manifest)
            (work / "READY").touch()
            self._dirty = True
            self.publish()
            self._work.close()
            self._work = None
        finally:
            self._release_lock()

    def publish(self) -> None:
        """Optimise the writer's shard and make it the current generation."""
        if self._work is None or not self._dirty:
            return
        self._work.optimize()
        self._work.flush()
        folder = self.root / "generations"
        folder.mkdir(exist_ok=True)
        numbers = [int(p.name[len(_PREFIX) :]) for p in folder.glob(f"{_PREFIX}[0-9]*")]
        name = f"{_PREFIX}{max(numbers, default=0) + 1:06d}"
        tmp = folder / f".{name}.{os.getpid()}.tmp"
        shutil.rmtree(tmp, ignore_errors=True)
        shutil.copytree(self.root / "work", tmp, ignore=shutil.ignore_patterns("READY"))
        record = {"points": self._work.count(), "files": _files(tmp / "shard")}
        _write_json(tmp / "manifest.json", {**self._work_manifest, _CHECK: record})
        os.replace(tmp, folder / name)
        pointer = self.root / f".{_POINTER}.{os.getpid()}.tmp"
        pointer.write_text(name + "\n")
        os.replace(pointer, self.root / _POINTER)
        self._dirty = False
        self._published_at = time.monotonic()
        self._collect(folder, keep=sorted([*numbers, int(name[len(_PREFIX) :])])[-self._keep :])

    def _collect(self, folder: Path, keep: list[int]) -> None:
        for path in folder.iterdir():
            if path.name.startswith(_PREFIX) and int(path.name[len(_PREFIX) :]) not in keep:
                shutil.rmtree(path, ignore_errors=True)

    def close(self) -> None:
        """Publish pending writes, close the shards and give up the writer lock."""
        try:
            self.publish()
        finally:
            for shard in (self._work, self._reader, self._retired):
                if shard is not None:
                    shard.close()
            self._work = self._reader = self._retired = None
            self._generation = None
            self._release_lock()
