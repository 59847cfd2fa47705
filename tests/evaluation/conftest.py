"""Fixtures of the evaluation tests: the bundled data slices (see `evaluation/data/README.md`)."""

from __future__ import annotations

from collections import defaultdict
from pathlib import Path

import pytest

from evaluation.converters.semeval import convert_semeval
from evaluation.dataset import Dataset

DATA = Path(__file__).resolve().parents[2] / "evaluation" / "data"


@pytest.fixture(scope="session")
def data_dir() -> Path:
    return DATA


@pytest.fixture(scope="session")
def semeval_sample() -> tuple[Dataset, dict[str, list[tuple[int, bool]]]]:
    """The SemEval dev slice as a data set, and its official gold file: query → (rank, relevant)."""
    gold: dict[str, list[tuple[int, bool]]] = defaultdict(list)
    relevancy = DATA / "semeval2016" / "dev-sample.xml.subtaskB.relevancy"
    for line in relevancy.read_text(encoding="utf-8").splitlines():
        orgq, _relq, rank, _score, label = line.split("\t")
        gold[orgq].append((int(rank), label == "true"))
    return convert_semeval(DATA / "semeval2016" / "dev-sample.xml"), dict(gold)
