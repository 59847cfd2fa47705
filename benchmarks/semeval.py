"""SemEval-2016 task 3 subtask B (question-question similarity) for the benchmarks.

Parses the organisers' XML directly: each original question comes with 10 related questions
labelled PerfectMatch / Relevant / Irrelevant (the first two count as relevant). MAP follows
the task's scorer: average precision over each question's ranked list of its 10 candidates,
0 for a question without a relevant candidate, averaged over questions.
Data: Nakov et al., SemEval-2016 Task 3 (free for research use); not shipped with caseloop.
"""

from __future__ import annotations

import xml.etree.ElementTree as ET
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

DEFAULT_DEV = Path("../shared/data/semeval2016_task3/dev/SemEval2016-Task3-CQA-QL-dev.xml")


@dataclass(frozen=True)
class Candidate:
    rel_id: str
    text: str
    relevant: bool
    engine_rank: int  # the organisers' IR baseline order (Google's)


@dataclass(frozen=True)
class Question:
    org_id: str
    text: str
    candidates: tuple[Candidate, ...]


def _text(*parts: str | None) -> str:
    return " ".join(p.strip() for p in parts if p and p.strip())


def load(path: Path) -> list[Question]:
    """The original questions in file order, each with its 10 candidates."""
    questions: dict[str, Question] = {}
    candidates: dict[str, list[Candidate]] = {}
    for org in ET.parse(path).getroot().iter("OrgQuestion"):
        org_id = org.attrib["ORGQ_ID"]
        if org_id not in questions:
            questions[org_id] = Question(
                org_id, _text(org.findtext("OrgQSubject"), org.findtext("OrgQBody")), ()
            )
        rel = org.find("Thread/RelQuestion")
        assert rel is not None, f"{org_id}: thread without RelQuestion"
        candidates.setdefault(org_id, []).append(
            Candidate(
                rel.attrib["RELQ_ID"],
                _text(rel.findtext("RelQSubject"), rel.findtext("RelQBody")) or "(empty)",
                rel.attrib["RELQ_RELEVANCE2ORGQ"] in ("PerfectMatch", "Relevant"),
                int(rel.attrib["RELQ_RANKING_ORDER"]),
            )
        )
    return [Question(q.org_id, q.text, tuple(candidates[q.org_id])) for q in questions.values()]


def average_precision(ranked: Sequence[bool]) -> float:
    hits, total = 0, 0.0
    for position, relevant in enumerate(ranked, start=1):
        if relevant:
            hits += 1
            total += hits / position
    return total / hits if hits else 0.0


def mean_average_precision(
    questions: Sequence[Question], order: Callable[[Question], Sequence[str]]
) -> float:
    """MAP (in %) of ``order`` (candidate ids best first; missing ones follow in engine order)."""
    scores = []
    for q in questions:
        by_id: Mapping[str, Candidate] = {c.rel_id: c for c in q.candidates}
        ranked = [i for i in order(q) if i in by_id]
        rest = sorted(
            (c for c in q.candidates if c.rel_id not in ranked), key=lambda c: c.engine_rank
        )
        ranked += [c.rel_id for c in rest]
        scores.append(average_precision([by_id[i].relevant for i in ranked]))
    return 100.0 * sum(scores) / len(scores)


def engine_order(q: Question) -> list[str]:
    """The organisers' IR baseline."""
    return [c.rel_id for c in sorted(q.candidates, key=lambda c: c.engine_rank)]
