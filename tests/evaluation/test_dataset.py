"""Loading the JSON Lines format: good files round-trip, bad lines name line, field and problem."""

from __future__ import annotations

import datetime as dt
import json
from pathlib import Path

import pytest

from evaluation.dataset import (
    Case,
    Dataset,
    Query,
    load_cases,
    load_dataset,
    load_queries,
    write_dataset,
)
from evaluation.errors import DataError

CASE = {
    "case_id": "T-1042",
    "problem": "Card still not arrived after two weeks",
    "resolution": "Reissued the card",
    "resolved_at": "2026-03-02T10:15:00Z",
    "tags": ["card delivery"],
    "metadata": {"tenant": "acme", "priority": 2, "vip": True},
}
QUERY = {
    "query_id": "q-7",
    "text": "my new card hasn't come yet",
    "relevant": ["T-1042"],
    "asked_at": "2026-03-05T08:00:00+01:00",
    "filters": {"tenant": "acme"},
}


def _write(path: Path, *records: object) -> Path:
    path.write_text("".join(json.dumps(r) + "\n" for r in records), encoding="utf-8")
    return path


def test_the_documented_example_loads(tmp_path: Path) -> None:
    data = load_dataset(
        _write(tmp_path / "cases.jsonl", CASE), _write(tmp_path / "queries.jsonl", QUERY)
    )
    (case,) = data.cases
    (query,) = data.queries
    assert case.resolved_at == dt.datetime(2026, 3, 2, 10, 15, tzinfo=dt.UTC)
    assert case.metadata == {"tenant": "acme", "priority": 2, "vip": True}
    assert query.asked_at == dt.datetime(2026, 3, 5, 7, 0, tzinfo=dt.UTC)  # normalised to UTC
    assert query.relevant == frozenset({"T-1042"})
    assert query.filters == {"tenant": "acme"}


def test_round_trip_through_the_writer(tmp_path: Path) -> None:
    data = Dataset(
        cases=(Case("a", "p", resolved_at=dt.datetime(2026, 1, 1, tzinfo=dt.UTC), tags=("x",)),),
        queries=(Query("q", "t", frozenset({"a"}), filters={"tenant": "acme"}),),
    )
    cases, queries = write_dataset(data, tmp_path / "out")
    assert load_dataset(cases, queries) == data
    gz_cases, _ = write_dataset(data, tmp_path / "gz")
    assert cases.read_text(encoding="utf-8").startswith('{"case_id": "a"')
    assert gz_cases.name == "cases.jsonl"


@pytest.mark.parametrize(
    ("record", "field", "problem"),
    [
        ({"problem": "x"}, "case_id", "Field required"),
        ({"case_id": "a", "problem": "  "}, "problem", "must not be empty"),
        ({"case_id": 7, "problem": "x"}, "case_id", "valid string"),
        ({"case_id": "a", "problem": "x", "resolved_at": "2026-03-02T10:15:00"}, "resolved_at", "time zone"),
        ({"case_id": "a", "problem": "x", "resolved_at": "yesterday"}, "resolved_at", "datetime"),
        ({"case_id": "a", "problem": "x", "tags": "billing"}, "tags", "valid list"),
        ({"case_id": "a", "problem": "x", "metadata": {"k": [1]}}, "metadata", "'k' must be a string"),
        ({"case_id": "a", "problem": "x", "relevant": []}, "relevant", "Extra inputs"),
    ],
)  # fmt: skip
def test_bad_case_lines_name_line_field_and_problem(
    tmp_path: Path, record: dict[str, object], field: str, problem: str
) -> None:
    path = _write(tmp_path / "cases.jsonl", CASE, record)
    with pytest.raises(DataError) as info:
        load_cases(path)
    assert (info.value.line, info.value.field) == (2, field)
    assert problem in info.value.problem
    assert str(info.value).startswith(f"{path}:2: {field}")


def test_broken_json_duplicates_and_unknown_relevant_ids(tmp_path: Path) -> None:
    broken = tmp_path / "broken.jsonl"
    broken.write_text(json.dumps(CASE) + "\n\n{not json\n", encoding="utf-8")
    with pytest.raises(DataError, match=r"broken.jsonl:3: line: not valid JSON"):
        load_cases(broken)
    with pytest.raises(DataError, match=r":2: case_id: 'T-1042' repeats line 1"):
        load_cases(_write(tmp_path / "dup.jsonl", CASE, CASE))
    with pytest.raises(DataError, match=r":1: line: must be a JSON object"):
        load_cases(_write(tmp_path / "list.jsonl", [CASE]))
    unknown = dict(QUERY, relevant=["T-1042", "T-9"])
    with pytest.raises(DataError, match=r"queries.jsonl:1: relevant: unknown case ids \['T-9'\]"):
        load_queries(_write(tmp_path / "queries.jsonl", unknown), ["T-1042"])
    with pytest.raises(DataError, match=r":1: relevant: Field required"):
        load_queries(_write(tmp_path / "q2.jsonl", {"query_id": "q", "text": "t"}))
    with pytest.raises(DataError, match=r"missing.jsonl:0: file: cannot be read"):
        load_cases(tmp_path / "missing.jsonl")


def test_empty_relevant_list_means_escalate(tmp_path: Path) -> None:
    (query,) = load_queries(_write(tmp_path / "q.jsonl", dict(QUERY, relevant=[])))
    assert query.relevant == frozenset()
