"""In-batch negatives without false negatives: how `retrieval.finetune` groups its pairs."""

from __future__ import annotations

import itertools

import pytest

from retrieval.errors import EncoderError
from retrieval.finetune import TrainingPair, TuningParams, batches


def _pairs() -> list[TrainingPair]:
    """60 questions about 6 problems (one case each), and 2 about one problem with two cases."""
    out = [
        TrainingPair(
            f"question {n} about {p}", f"case-{p}", f"{p} problem", frozenset({f"case-{p}"})
        )
        for n in range(10)
        for p in "abcdef"
    ]
    both = frozenset({"case-g1", "case-g2"})
    out += [
        TrainingPair("g question one", "case-g1", "g problem, first case", both),
        TrainingPair("g question two", "case-g2", "g problem, second case", both),
    ]
    return out


def test_no_batch_holds_a_case_relevant_to_another_question_of_it() -> None:
    pairs = _pairs()
    grouped = batches(pairs, size=4, seed=0)
    assert all(2 <= len(b) <= 4 for b in grouped)
    for batch in grouped:
        for a, b in itertools.combinations(batch, 2):
            assert a.case_id not in b.relevant
            assert b.case_id not in a.relevant
    kept = [p for b in grouped for p in b]
    assert len(kept) == len(set(kept))  # no pair twice
    for dropped in set(pairs) - set(kept):  # only a pair that fits in no batch (alone: no negative)
        assert all(len(b) == 4 or any(dropped.relevant & {o.case_id} for o in b) for b in grouped)
    assert len(kept) > 0.9 * len(pairs)


def test_batches_are_shuffled_by_the_seed_and_repeatable() -> None:
    pairs = _pairs()
    assert batches(pairs, 8, seed=1) == batches(pairs, 8, seed=1)
    assert batches(pairs, 8, seed=1) != batches(pairs, 8, seed=2)


def test_pairs_all_about_one_problem_make_no_batch() -> None:
    same = [TrainingPair(f"q{n}", "case-a", "a", frozenset({"case-a"})) for n in range(5)]
    assert batches(same, 4, seed=0) == []


@pytest.mark.parametrize(
    "params",
    [TuningParams(epochs=0), TuningParams(batch_size=1), TuningParams(learning_rate=1.5)],
)
def test_impossible_parameters_are_refused(params: TuningParams) -> None:
    with pytest.raises(EncoderError, match="tuning"):
        params.check()
