"""Converters write the evaluation format from the bundled slices; splits are seeded and leak-free."""

from __future__ import annotations

import csv
from pathlib import Path

import pytest

from evaluation.converters.banking77 import convert_banking77
from evaluation.converters.bitext import convert_bitext
from evaluation.converters.intent_split import SplitPlan
from evaluation.converters.semeval import convert_semeval
from evaluation.dataset import Dataset, load_dataset, write_dataset
from evaluation.errors import ConversionError


def _intent(data: Dataset, case_id: str) -> object:
    return data.case(case_id).metadata["intent"]


def test_banking77_split_is_reproducible_and_holds_intents_out(data_dir: Path) -> None:
    plan = SplitPlan(prefix="b-", held_out_count=4, max_queries=150, seed=3)
    data = convert_banking77(data_dir / "banking77" / "train-sample.csv", plan)
    assert data == convert_banking77(data_dir / "banking77" / "train-sample.csv", plan)
    case_intents = {c.metadata["intent"] for c in data.cases}
    assert len(case_intents) == 16  # 20 intents in the slice, 4 held out
    no_match = [q for q in data.queries if not q.relevant]
    assert no_match, "held-out intents must give queries that must escalate"
    assert len(data.queries) == 150
    texts = {row["text"]: row["category"] for row in csv.DictReader(
        (data_dir / "banking77" / "train-sample.csv").open(encoding="utf-8"))}  # fmt: skip
    for query in data.queries:
        intent = texts[query.text]
        assert all(_intent(data, cid) == intent for cid in query.relevant)
        assert (intent in case_intents) == bool(query.relevant)
    warm_end = min(q.asked_at for q in data.queries if q.asked_at)
    assert (
        sum(1 for c in data.cases if c.resolved_at and c.resolved_at < warm_end) >= 0.3 * 600 * 0.8
    )


def test_banking77_explicit_held_out_and_bad_plans(data_dir: Path) -> None:
    path = data_dir / "banking77" / "train-sample.csv"
    with pytest.raises(ConversionError, match="held_out: unknown intents"):
        convert_banking77(path, SplitPlan(held_out=("no_such_intent",)))
    with pytest.raises(ConversionError, match="warmup"):
        convert_banking77(path, SplitPlan(warmup=1.5))
    with pytest.raises(ConversionError, match="leaves no intent"):
        convert_banking77(path, SplitPlan(held_out_count=20))


def test_banking77_rejects_wrong_columns(tmp_path: Path) -> None:
    bad = tmp_path / "bad.csv"
    bad.write_text("sentence,label\nhi,x\n", encoding="utf-8")
    with pytest.raises(ConversionError, match="needs the columns text and category"):
        convert_banking77(bad)


def test_bitext_keeps_responses_and_holds_out_human_agent_requests(data_dir: Path) -> None:
    data = convert_bitext(
        data_dir / "bitext" / "sample.csv", SplitPlan(prefix="x-", held_out_count=2)
    )
    assert all(case.resolution for case in data.cases)
    assert "contact_human_agent" not in {c.metadata["intent"] for c in data.cases}
    assert any(not q.relevant for q in data.queries)


def test_semeval_matches_the_official_gold_file(semeval_sample) -> None:
    data, gold = semeval_sample
    assert len(data.queries) == 10
    assert len(data.cases) == 100
    for query in data.queries:
        candidates = [c for c in data.cases if c.metadata["orgq"] == query.query_id]
        assert len(candidates) == 10
        assert query.filters == {"orgq": query.query_id}
        ranked = sorted(candidates, key=lambda c: c.metadata["ir_rank"])
        labels = [c.case_id in query.relevant for c in ranked]
        assert labels == [label for _, label in sorted(gold[query.query_id])]


def test_converted_files_load_back(tmp_path: Path, data_dir: Path) -> None:
    data = convert_semeval(data_dir / "semeval2016" / "dev-sample.xml")
    assert load_dataset(*write_dataset(data, tmp_path)) == data
    with pytest.raises(ConversionError, match="cannot be parsed"):
        convert_semeval(tmp_path / "cases.jsonl")


def test_resolution_codes_give_each_case_its_intent(data_dir: Path) -> None:
    source = data_dir / "banking77" / "train-sample.csv"
    plain = convert_banking77(source, SplitPlan(prefix="b-", held_out_count=4, max_queries=50))
    coded = convert_banking77(
        source, SplitPlan(prefix="b-", held_out_count=4, max_queries=50, resolution_codes=True)
    )
    assert [c.case_id for c in coded.cases] == [c.case_id for c in plain.cases]
    assert coded.queries == plain.queries
    assert all(c.metadata["resolution"] == c.metadata["intent"] for c in coded.cases)
    assert not any("resolution" in c.metadata for c in plain.cases)
