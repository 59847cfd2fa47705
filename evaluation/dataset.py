"""The evaluation data format (`cases.jsonl`, `queries.jsonl`): records, loaders and writers.

The format is described in `docs/evaluation.md`. Loading validates every line with pydantic at
the edge and turns it into a frozen record; the first bad line stops the load with a `DataError`
naming the file, the line number, the field and the problem. Nothing is skipped silently: only
blank lines (which hold no record) are passed over. Files ending in ``.gz`` are read and
written compressed.
"""

from __future__ import annotations

import datetime as dt
import gzip
import io
import json
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Any, Literal, TypeVar

from pydantic import BaseModel, ConfigDict, StrictStr, ValidationError, field_validator

from evaluation.errors import DataError

Scalar = str | int | float | bool


@dataclass(frozen=True, slots=True)
class Case:
    """A resolved case: what the customer had and how it was solved."""

    case_id: str
    problem: str
    resolution: str = ""
    resolved_at: dt.datetime | None = None
    tags: tuple[str, ...] = ()
    metadata: Mapping[str, Scalar] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class Query:
    """A new customer question, the cases that solve it (empty: it must escalate), when and where."""

    query_id: str
    text: str
    relevant: frozenset[str]
    asked_at: dt.datetime | None = None
    filters: Mapping[str, Scalar] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class Dataset:
    """Cases and the queries asked against them, checked against each other."""

    cases: tuple[Case, ...]
    queries: tuple[Query, ...]

    def case(self, case_id: str) -> Case:
        for case in self.cases:
            if case.case_id == case_id:
                return case
        raise KeyError(case_id)


def _flat(value: dict[str, Any]) -> dict[str, Any]:
    for key, item in value.items():
        if not isinstance(item, str | int | float | bool) or item != item:  # NaN != NaN
            raise ValueError(f"{key!r} must be a string, number or boolean")
    return value


def _aware(value: dt.datetime | None) -> dt.datetime | None:
    if value is not None and value.tzinfo is None:
        raise ValueError("needs a time zone (e.g. 2026-03-02T10:15:00Z)")
    return value.astimezone(dt.UTC) if value is not None else None


class _CaseRecord(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    case_id: StrictStr
    problem: StrictStr
    resolution: StrictStr = ""
    resolved_at: dt.datetime | None = None
    tags: list[StrictStr] = []
    metadata: dict[str, Any] = {}

    _zone = field_validator("resolved_at")(_aware)
    _scalars = field_validator("metadata")(_flat)

    @field_validator("case_id", "problem")
    @classmethod
    def _not_blank(cls, value: str) -> str:
        if not value.strip():
            raise ValueError("must not be empty")
        return value


class _QueryRecord(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    query_id: StrictStr
    text: StrictStr
    relevant: list[StrictStr]
    asked_at: dt.datetime | None = None
    filters: dict[str, Any] = {}

    _zone = field_validator("asked_at")(_aware)
    _scalars = field_validator("filters")(_flat)

    @field_validator("query_id", "text")
    @classmethod
    def _not_blank(cls, value: str) -> str:
        if not value.strip():
            raise ValueError("must not be empty")
        return value


_Record = TypeVar("_Record", bound=BaseModel)


def _open(path: Path, mode: Literal["r", "w"]) -> IO[str]:
    if path.suffix == ".gz":
        return io.TextIOWrapper(gzip.GzipFile(path, mode), encoding="utf-8")
    return path.open(mode, encoding="utf-8")


def _records(path: Path, model: type[_Record]) -> Iterator[tuple[int, _Record]]:
    try:
        handle = _open(path, "r")
    except OSError as exc:
        raise DataError(path, 0, "file", f"cannot be read: {exc.strerror or exc}") from exc
    with handle:
        for number, line in enumerate(handle, start=1):
            if not line.strip():
                continue
            try:
                raw = json.loads(line)
            except json.JSONDecodeError as exc:
                raise DataError(path, number, "line", f"not valid JSON: {exc.msg}") from exc
            if not isinstance(raw, dict):
                raise DataError(path, number, "line", "must be a JSON object")
            try:
                yield number, model.model_validate(raw)
            except ValidationError as exc:
                first = exc.errors()[0]
                where = ".".join(str(part) for part in first["loc"]) or "line"
                raise DataError(path, number, where, first["msg"]) from exc


def load_cases(path: Path | str) -> tuple[Case, ...]:
    """Read a cases file; case ids must be unique."""
    path = Path(path)
    seen: dict[str, int] = {}
    cases = []
    for number, record in _records(path, _CaseRecord):
        if record.case_id in seen:
            raise DataError(
                path, number, "case_id", f"{record.case_id!r} repeats line {seen[record.case_id]}"
            )
        seen[record.case_id] = number
        cases.append(
            Case(
                case_id=record.case_id,
                problem=record.problem,
                resolution=record.resolution,
                resolved_at=record.resolved_at,
                tags=tuple(record.tags),
                metadata=dict(record.metadata),
            )
        )
    return tuple(cases)


def load_queries(path: Path | str, case_ids: Iterable[str] | None = None) -> tuple[Query, ...]:
    """Read a queries file; with ``case_ids``, every relevant id must name one of those cases."""
    path = Path(path)
    known = set(case_ids) if case_ids is not None else None
    seen: dict[str, int] = {}
    queries = []
    for number, record in _records(path, _QueryRecord):
        if record.query_id in seen:
            raise DataError(
                path,
                number,
                "query_id",
                f"{record.query_id!r} repeats line {seen[record.query_id]}",
            )
        seen[record.query_id] = number
        unknown = sorted(set(record.relevant) - known) if known is not None else []
        if unknown:
            raise DataError(path, number, "relevant", f"unknown case ids {unknown[:5]}")
        queries.append(
            Query(
                query_id=record.query_id,
                text=record.text,
                relevant=frozenset(record.relevant),
                asked_at=record.asked_at,
                filters=dict(record.filters),
            )
        )
    return tuple(queries)


def load_dataset(cases: Path | str, queries: Path | str) -> Dataset:
    """Read both files and check that the queries' relevant ids name known cases."""
    loaded = load_cases(cases)
    return Dataset(loaded, load_queries(queries, (case.case_id for case in loaded)))


def _iso(value: dt.datetime | None) -> str | None:
    return value.astimezone(dt.UTC).isoformat().replace("+00:00", "Z") if value else None


def case_record(case: Case) -> dict[str, Any]:
    """The JSON object of one cases.jsonl line (optional fields left out when empty)."""
    record: dict[str, Any] = {"case_id": case.case_id, "problem": case.problem}
    if case.resolution:
        record["resolution"] = case.resolution
    if case.resolved_at:
        record["resolved_at"] = _iso(case.resolved_at)
    if case.tags:
        record["tags"] = list(case.tags)
    if case.metadata:
        record["metadata"] = dict(case.metadata)
    return record


def query_record(query: Query) -> dict[str, Any]:
    """The JSON object of one queries.jsonl line (relevant ids sorted for stable files)."""
    record: dict[str, Any] = {
        "query_id": query.query_id,
        "text": query.text,
        "relevant": sorted(query.relevant),
    }
    if query.asked_at:
        record["asked_at"] = _iso(query.asked_at)
    if query.filters:
        record["filters"] = dict(query.filters)
    return record


def write_jsonl(path: Path | str, records: Iterable[Mapping[str, Any]]) -> int:
    """Write one JSON object a line (creating parent folders); returns the number of lines."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    count = 0
    with _open(path, "w") as handle:
        for record in records:
            handle.write(json.dumps(record, ensure_ascii=False) + "\n")
            count += 1
    return count


def write_dataset(dataset: Dataset, folder: Path | str) -> tuple[Path, Path]:
    """Write ``cases.jsonl`` and ``queries.jsonl`` into ``folder``."""
    folder = Path(folder)
    cases, queries = folder / "cases.jsonl", folder / "queries.jsonl"
    write_jsonl(cases, (case_record(case) for case in dataset.cases))
    write_jsonl(queries, (query_record(query) for query in dataset.queries))
    return cases, queries
