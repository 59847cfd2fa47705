"""The cases of a data set as retrieval documents, in a scratch index that evaluation owns.

Evaluation never writes to a production index: each run opens a fresh embedded index in a
folder of its own (a temporary one unless the caller names it). The cases are encoded once
(`CaseBase.points`) so a replay that runs twice (see `evaluation.replay`) pays for the encoder
once. A query's ``filters`` can only work on keys the index declares, so the settings get the
data set's filter keys added.
"""

from __future__ import annotations

import contextlib
import tempfile
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import retrieval
from evaluation.dataset import Case, Dataset, Query
from evaluation.errors import ReplayError


def case_document(case: Case) -> retrieval.CaseDocument:
    """The document a case becomes: the problem is what both retrievers index."""
    summary = f"{case.problem}\n\n{case.resolution}".strip() if case.resolution else case.problem
    return retrieval.CaseDocument(
        case_id=case.case_id,
        text=case.problem,
        summary=summary,
        tags=list(case.tags),
        metadata=dict(case.metadata),
    )


def settings_for(
    dataset: Dataset, base: retrieval.RetrievalSettings | None = None
) -> retrieval.RetrievalSettings:
    """``base`` (or the defaults) with every filter key the queries use declared."""
    base = base or retrieval.RetrievalSettings.load()
    keys = set(base.filter_keys)
    for query in dataset.queries:
        keys.update(query.filters)
    for case in dataset.cases:
        for key in keys & set(case.metadata):
            if isinstance(case.metadata[key], float):
                raise ReplayError(
                    f"case {case.case_id}: metadata.{key} is a float; filter keys take "
                    "strings, integers or booleans"
                )
    for query in dataset.queries:
        search_filters(query)  # refuses float values before any case is encoded
    return base.model_copy(update={"filter_keys": sorted(keys), "multi_tenant": False})


def search_filters(query: Query) -> dict[str, str | int | bool] | None:
    """The query's filters as the index takes them (None when it has none)."""
    checked: dict[str, str | int | bool] = {}
    for key, value in query.filters.items():
        if isinstance(value, float):
            raise ReplayError(
                f"query {query.query_id}: filters.{key} is a float; filters take strings, "
                "integers or booleans"
            )
        checked[key] = value
    return checked or None


@dataclass(frozen=True, slots=True)
class CaseBase:
    """Every case of a data set, encoded once, keyed by case id."""

    points: dict[str, Any]

    def upsert(self, index: retrieval.Index, case_ids: Sequence[str]) -> None:
        """Make these cases visible in ``index`` (already encoded: no model call)."""
        if case_ids:
            index.engine.upsert([self.points[case_id] for case_id in case_ids])


def encode_cases(index: retrieval.Index, cases: Sequence[Case], batch: int = 256) -> CaseBase:
    """Encode all cases with the index's encoders (the costly step of every run)."""
    points: dict[str, Any] = {}
    for start in range(0, len(cases), batch):
        chunk = cases[start : start + batch]
        documents = [case_document(case) for case in chunk]
        for case, point in zip(chunk, index.points(documents), strict=True):
            points[case.case_id] = point
    return CaseBase(points)


@contextlib.contextmanager
def scratch_index(
    settings: retrieval.RetrievalSettings, folder: Path | None = None
) -> Iterator[retrieval.Index]:
    """A new, empty embedded index (in a temporary folder unless ``folder`` is given)."""
    with contextlib.ExitStack() as stack:
        if folder is None:
            folder = Path(stack.enter_context(tempfile.TemporaryDirectory(prefix="caseloop-eval-")))
        elif folder.exists() and any(folder.iterdir()):
            raise ReplayError(f"{folder}: the scratch index folder must be new or empty")
        index = retrieval.open_index(folder / "index", settings=settings)
        stack.callback(index.close)
        yield index
