"""Do summaries keep the problem? Measured on the bundled Bitext sample.

For every conversation (flows/demo/data, 560, 27 intents) the extractive summariser summarises
the customer's message and the agent's reply; the figure is the share of summaries whose
*problem* part shares a key term with the intent (the intent's name words, e.g. ``get_refund`` →
refund; matched on their first five letters so "refunds" and "refunded" count). The messages are
summarised as they are and again opened the way chat messages often are, with a greeting and a
self-introduction in front ("Hi, … My name is [NAME].") which the previous summariser dropped
together with the problem.

Usage::

    python benchmarks/summaries.py
"""

from __future__ import annotations

import gzip
import json
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from ingestion.cases import ExtractiveSummariser
from ingestion.cases.text import stopwords, words

SAMPLE = Path(__file__).resolve().parents[1] / "flows" / "demo" / "data" / "bitext_sample.jsonl.gz"
OPENINGS = ("Hi, {m}. My name is [NAME].", "Hello [NAME] here, {m}", "Bonjour, {m}!")


def key_terms(intent: str) -> set[str]:
    """The intent's name words (not stop words), cut to five letters."""
    return {w[:5] for w in intent.split("_") if w not in stopwords() and len(w) >= 3}


def keeps_problem(summary: str, intent: str) -> bool:
    """Whether the summary's problem part shares a key term with ``intent``."""
    problem = summary.split("Resolution:", 1)[0]
    return bool(key_terms(intent) & {w[:5] for w in words(problem)})


def score(summariser: Any, rows: Sequence[dict[str, Any]], opening: str | None) -> float:
    """Share of rows whose summary keeps the problem."""
    kept = 0
    for i, row in enumerate(rows):
        message = row["message"]
        if opening is not None:
            message = OPENINGS[i % len(OPENINGS)].format(m=message)
        kept += keeps_problem(summariser.summarise(message, row["reply"]), row["intent"])
    return kept / len(rows)


def main(before: Any | None = None) -> None:
    with gzip.open(SAMPLE, "rt", encoding="utf-8") as lines:
        rows = [json.loads(line) for line in lines]
    rows = [r for r in rows if key_terms(r["intent"])]
    for label, summariser in (("before", before), ("now", ExtractiveSummariser())):
        if summariser is not None:
            plain, opened = score(summariser, rows, None), score(summariser, rows, "greeting")
            print(f"{label:6} as written {plain:.3f}  with a greeting opening {opened:.3f}")


if __name__ == "__main__":
    main()
