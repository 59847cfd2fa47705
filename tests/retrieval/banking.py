"""The BANKING77 sample (CC BY 4.0, see data/ATTRIBUTION.md) as cases and queries."""

from __future__ import annotations

import csv
from pathlib import Path

import retrieval

SAMPLE = Path(__file__).parent / "data" / "banking77_sample.csv"


def rows() -> list[tuple[str, str]]:
    """(text, intent) pairs: 20 per intent, 12 intents, in file order."""
    with SAMPLE.open(newline="") as f:
        return [(r["text"], r["category"]) for r in csv.DictReader(f)]


def split(
    cases_per_intent: int = 10, held_out: int = 2
) -> tuple[list[retrieval.CaseDocument], list[tuple[str, str]]]:
    """Cases from the first rows of each intent but the last ``held_out`` intents; the rest
    are queries (those of held-out intents have no right answer in the index)."""
    intents = sorted({intent for _, intent in rows()})
    indexed = set(intents[: len(intents) - held_out])
    seen: dict[str, int] = {}
    cases, queries = [], []
    for text, intent in rows():
        seen[intent] = seen.get(intent, 0) + 1
        if intent in indexed and seen[intent] <= cases_per_intent:
            case_id = f"{intent}-{seen[intent]}"
            cases.append(retrieval.CaseDocument(case_id, text, f"resolved: {intent}", [intent]))
        else:
            queries.append((text, intent))
    return cases, queries
