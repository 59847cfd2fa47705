"""The verdict keeps its promise out of sample on a bundled set, with and without labels.

The bundled BANKING77 slice (`evaluation/data/banking77/train-sample.csv`, 20 intents × 30
messages, CC BY 4.0): 4 intents (seeded) are held out of the index, so their queries have no
right answer; the other intents' first 15 messages are cases, the rest queries. The policy is
calibrated on one seeded half of the queries and judged on the other half.
"""

from __future__ import annotations

import csv
import random
from pathlib import Path

import pytest

import retrieval
from retrieval.calibration import binomial_tail

SLICE = Path(__file__).parents[2] / "evaluation" / "data" / "banking77" / "train-sample.csv"
TARGET = 0.9


def _split(regime: str) -> tuple[list[retrieval.CaseDocument], list[tuple[str, str, bool]]]:
    with SLICE.open(newline="") as handle:
        rows = [(r["text"], r["category"]) for r in csv.DictReader(handle)]
    rng = random.Random(0)
    held_out = set(rng.sample(sorted({intent for _, intent in rows}), 4))
    seen: dict[str, int] = {}
    cases, queries = [], []
    for text, intent in rows:
        seen[intent] = seen.get(intent, 0) + 1
        if intent in held_out or seen[intent] > 15:
            queries.append((text, intent, intent in held_out))
            continue
        tags = [intent] if regime == "tags" else []
        metadata = {"intent": intent} | ({"resolution": intent} if regime == "resolution" else {})
        cases.append(
            retrieval.CaseDocument(f"{intent}-{seen[intent]}", text, intent, tags, metadata)
        )
    rng.shuffle(queries)
    return cases, queries


def _right(verdict: retrieval.Assessment, intent: str) -> bool:
    return bool(verdict.hits) and verdict.hits[0].metadata["intent"] == intent


@pytest.mark.parametrize("regime", ["resolution", "tags", "none"])
def test_precision_and_the_no_match_guard_hold_on_held_out_queries(
    regime: str, tmp_path: Path, settings: retrieval.RetrievalSettings
) -> None:
    cases, queries = _split(regime)
    half = len(queries) // 2
    with retrieval.open_index(tmp_path / "index", settings=settings) as index:
        index.upsert(cases)
        fit = []
        for text, intent, no_match in queries[:half]:
            verdict = index.assess(text)
            fit.append(
                retrieval.CalibrationSample(verdict.figures, _right(verdict, intent), no_match)
            )
        policy = retrieval.calibrate(fit, TARGET)
        assert policy.no_match_samples == sum(no_match for *_, no_match in queries[:half])
        judged = [(index.assess(text, policy=policy), intent, no_match)
                  for text, intent, no_match in queries[half:]]  # fmt: skip
    answers = [_right(v, intent) for v, intent, _ in judged if v.action == "answer"]
    assert len(answers) >= 40, "the promise is kept by answering, not by escalating everything"
    assert sum(answers) / len(answers) >= TARGET
    no_match = [v for v, _, nm in judged if nm]
    leaked = sum(v.action == "answer" for v in no_match)
    # The guard promises ≥ 95% escalated: the leaks must be plausible under a 5% rate.
    assert binomial_tail(leaked, len(no_match), 0.05) > 0.05, (leaked, len(no_match))
