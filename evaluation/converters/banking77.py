"""BANKING77 (Casanueva et al., 2020; CC BY 4.0) → the evaluation format.

`train.csv` has two columns, ``text`` and ``category`` (one of 77 intents). The messages carry no
resolution and no time: `evaluation.converters.intent_split` lays them on a seeded clock and holds
some intents out so that their queries must escalate.
"""

from __future__ import annotations

import csv
from pathlib import Path

from evaluation.converters.intent_split import LabelledMessage, SplitPlan, split_by_intent
from evaluation.dataset import Dataset
from evaluation.errors import ConversionError


def read_banking77(path: Path | str) -> list[LabelledMessage]:
    """Read ``train.csv`` (or ``test.csv``); every row needs a text and a category."""
    path = Path(path)
    try:
        with path.open(encoding="utf-8", newline="") as handle:
            reader = csv.DictReader(handle)
            if reader.fieldnames is None or not {"text", "category"} <= set(reader.fieldnames):
                raise ConversionError(f"{path}: needs the columns text and category")
            messages = []
            for number, row in enumerate(reader, start=2):
                text, intent = (row.get("text") or "").strip(), (row.get("category") or "").strip()
                if not text or not intent:
                    raise ConversionError(f"{path}:{number}: empty text or category")
                messages.append(LabelledMessage(text=text, intent=intent))
    except OSError as exc:
        raise ConversionError(f"{path}: cannot be read: {exc.strerror or exc}") from exc
    return messages


def convert_banking77(path: Path | str, plan: SplitPlan | None = None) -> Dataset:
    """Cases and queries from BANKING77 with the given split (see `SplitPlan` for the defaults)."""
    return split_by_intent(read_banking77(path), plan or SplitPlan(prefix="b77-"))
