"""The escalation replay: queries in ``asked_at`` order, each seeing only cases resolved before it.

Every query of the data set is a conversation that escalated before case summaries existed.
The replay walks time forward: before each query it upserts the cases resolved strictly before
``asked_at`` (cases without ``resolved_at`` are there from the start; queries without
``asked_at`` come last and see every case), then asks the retrieval module for its verdict.
Nothing from the future can leak into a query's answer because it is not in the index yet.

A step records the verdict, whether the top hit is relevant, whether any relevant case was
visible at all (if not, the query is a *no-match*: escalating is the only right action), the
policy-independent figures (the inputs of calibration) and each retriever's own top-1 hit with
its score (the baselines).
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass

import retrieval
from evaluation.casebase import CaseBase, search_filters
from evaluation.dataset import Case, Dataset, Query
from evaluation.errors import ReplayError

PolicyFor = Callable[[int, Query], "retrieval.VerdictPolicy | None"]


@dataclass(frozen=True, slots=True)
class ReplayStep:
    """What happened to one query in the replay."""

    position: int
    query_id: str
    asked_at: dt.datetime | None
    visible_cases: int
    no_match: bool
    action: str
    reason: str | None
    top_case: str | None
    correct: bool
    figures: Mapping[str, float]
    dense_top: str | None
    dense_score: float
    dense_correct: bool
    bm25_top: str | None = None
    bm25_score: float = 0.0
    bm25_correct: bool = False

    @property
    def answered(self) -> bool:
        return self.action == "answer"


def _order(dataset: Dataset) -> tuple[list[Case], list[Query]]:
    earliest = dt.datetime.min.replace(tzinfo=dt.UTC)
    latest = dt.datetime.max.replace(tzinfo=dt.UTC)
    cases = sorted(dataset.cases, key=lambda c: (c.resolved_at or earliest, c.case_id))
    queries = sorted(dataset.queries, key=lambda q: (q.asked_at or latest, q.query_id))
    return cases, queries


def timeline(dataset: Dataset) -> Iterator[tuple[Query, list[Case]]]:
    """Each query (in replay order) with the cases that become visible just before it."""
    cases, queries = _order(dataset)
    cursor = 0
    for query in queries:
        arriving = []
        while cursor < len(cases) and (
            query.asked_at is None
            or cases[cursor].resolved_at is None
            or cases[cursor].resolved_at < query.asked_at  # type: ignore[operator]
        ):
            arriving.append(cases[cursor])
            cursor += 1
        yield query, arriving


def _visible_relevant(query: Query, visible: Mapping[str, Case]) -> bool:
    for case_id in query.relevant:
        case = visible.get(case_id)
        if case and all(case.metadata.get(k) == v for k, v in query.filters.items()):
            return True
    return False


def replay(
    dataset: Dataset,
    index: retrieval.Index,
    casebase: CaseBase,
    policy_for: PolicyFor = lambda position, query: None,
) -> list[ReplayStep]:
    """Run the replay on an empty ``index``; ``policy_for`` picks each query's verdict policy."""
    if index.count():
        raise ReplayError("the replay needs an empty index")
    if not dataset.queries:
        raise ReplayError("no queries to replay")
    visible: dict[str, Case] = {}
    steps = []
    for position, (query, arriving) in enumerate(timeline(dataset)):
        casebase.upsert(index, [case.case_id for case in arriving])
        visible.update((case.case_id, case) for case in arriving)
        steps.append(_step(position, query, index, visible, policy_for(position, query)))
    return steps


def _step(
    position: int,
    query: Query,
    index: retrieval.Index,
    visible: Mapping[str, Case],
    policy: retrieval.VerdictPolicy | None,
) -> ReplayStep:
    filters = search_filters(query)
    assessment = index.assess(query.text, filters, policy=policy)
    top = assessment.hits[0].case_id if assessment.hits else None
    dense = index.search(query.text, k=1, filters=filters, mode="dense")
    bm25 = index.search(query.text, k=1, filters=filters, mode="bm25")
    dense_top = dense[0].case_id if dense else None
    bm25_top = bm25[0].case_id if bm25 else None
    return ReplayStep(
        position=position,
        query_id=query.query_id,
        asked_at=query.asked_at,
        visible_cases=len(visible),
        no_match=not _visible_relevant(query, visible),
        action=assessment.action,
        reason=assessment.reason,
        top_case=top,
        correct=top in query.relevant,
        figures=dict(assessment.figures),
        dense_top=dense_top,
        dense_score=float(dense[0].score) if dense else 0.0,
        dense_correct=dense_top in query.relevant,
        bm25_top=bm25_top,
        bm25_score=float(bm25[0].score) if bm25 else 0.0,
        bm25_correct=bm25_top in query.relevant,
    )


def reset(index: retrieval.Index, case_ids: Sequence[str]) -> None:
    """Empty the scratch index again for a second pass."""
    index.retract(case_ids)
    if index.count():
        raise ReplayError("the scratch index did not empty")
