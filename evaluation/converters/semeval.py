"""SemEval-2016 Task 3 subtask B (question–question similarity, Qatar Living) → the evaluation format.

Each original question comes with 10 related questions that a search engine returned, labelled
PerfectMatch, Relevant or Irrelevant. The related questions become cases (subject and body as the
problem) carrying ``metadata.orgq`` (the original question's id) and ``metadata.ir_rank`` (the
search engine's order: the organisers' IR baseline). Each original question becomes a query whose
``filters`` restrict it to its own 10 candidates, so retrieval re-ranks them as the task asks.
PerfectMatch and Relevant count as relevant, as in the official scorer.
"""

from __future__ import annotations

import datetime as dt
import xml.etree.ElementTree as ET
from pathlib import Path

from evaluation.dataset import Case, Dataset, Query
from evaluation.errors import ConversionError

RELEVANT_LABELS = frozenset({"PerfectMatch", "Relevant"})
LABELS = RELEVANT_LABELS | {"Irrelevant"}


def _text(subject: str | None, body: str | None) -> str:
    parts = [" ".join((part or "").split()) for part in (subject, body)]
    return ". ".join(part for part in parts if part)


def _when(value: str, path: Path) -> dt.datetime | None:
    if not value:
        return None
    try:
        return dt.datetime.strptime(value, "%Y-%m-%d %H:%M:%S").replace(tzinfo=dt.UTC)
    except ValueError as exc:
        raise ConversionError(f"{path}: RELQ_DATE {value!r} is not YYYY-MM-DD HH:MM:SS") from exc


def _related(element: ET.Element, orgq: str, path: Path) -> tuple[Case, bool]:
    relq = element.find("Thread/RelQuestion")
    if relq is None:
        raise ConversionError(f"{path}: question {orgq} has a thread without RelQuestion")
    label = relq.get("RELQ_RELEVANCE2ORGQ", "")
    if label not in LABELS:
        raise ConversionError(f"{path}: {relq.get('RELQ_ID')}: unknown label {label!r}")
    try:
        rank = int(relq.get("RELQ_RANKING_ORDER", ""))
    except ValueError as exc:
        raise ConversionError(f"{path}: {relq.get('RELQ_ID')}: RELQ_RANKING_ORDER") from exc
    case = Case(
        case_id=relq.get("RELQ_ID", ""),
        problem=_text(relq.findtext("RelQSubject"), relq.findtext("RelQBody")) or "(empty)",
        resolved_at=_when(relq.get("RELQ_DATE", ""), path),
        metadata={"orgq": orgq, "ir_rank": rank},
    )
    return case, label in RELEVANT_LABELS


def convert_semeval(path: Path | str) -> Dataset:
    """Cases and queries from a SemEval-2016 Task 3 English XML file (dev, train or test)."""
    path = Path(path)
    try:
        root = ET.parse(path).getroot()
    except (OSError, ET.ParseError) as exc:
        raise ConversionError(f"{path}: cannot be parsed: {exc}") from exc
    cases: dict[str, Case] = {}
    texts: dict[str, str] = {}
    relevant: dict[str, set[str]] = {}
    for element in root.iter("OrgQuestion"):
        orgq = element.get("ORGQ_ID")
        if not orgq:
            raise ConversionError(f"{path}: an OrgQuestion has no ORGQ_ID")
        texts.setdefault(orgq, _text(element.findtext("OrgQSubject"), element.findtext("OrgQBody")))
        relevant.setdefault(orgq, set())
        case, is_relevant = _related(element, orgq, path)
        cases.setdefault(case.case_id, case)
        if is_relevant:
            relevant[orgq].add(case.case_id)
    if not texts:
        raise ConversionError(f"{path}: no OrgQuestion elements")
    queries = tuple(
        Query(query_id=orgq, text=text, relevant=frozenset(relevant[orgq]), filters={"orgq": orgq})
        for orgq, text in texts.items()
    )
    return Dataset(cases=tuple(cases.values()), queries=queries)
