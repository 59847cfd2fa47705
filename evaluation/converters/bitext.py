"""Bitext customer-support sample (CDLA-Sharing-1.0) → the evaluation format.

Each row is a customer ``instruction`` with an ``intent``, a ``category`` and the agent's
``response``: a case's problem is the instruction and its resolution the response. Queries of the
``contact_human_agent`` intent ask for a person, so that intent is always held out (no case can
answer it) besides the seeded ones.
"""

from __future__ import annotations

import csv
import dataclasses
from pathlib import Path

from evaluation.converters.intent_split import LabelledMessage, SplitPlan, split_by_intent
from evaluation.dataset import Dataset
from evaluation.errors import ConversionError

ALWAYS_HELD_OUT = ("contact_human_agent",)
_COLUMNS = {"instruction", "intent", "category", "response"}


def read_bitext(path: Path | str) -> list[LabelledMessage]:
    """Read the Bitext CSV; every row needs an instruction and an intent."""
    path = Path(path)
    try:
        with path.open(encoding="utf-8", newline="") as handle:
            reader = csv.DictReader(handle)
            if reader.fieldnames is None or not set(reader.fieldnames) >= _COLUMNS:
                raise ConversionError(f"{path}: needs the columns {sorted(_COLUMNS)}")
            messages = []
            for number, row in enumerate(reader, start=2):
                text, intent = (row["instruction"] or "").strip(), (row["intent"] or "").strip()
                if not text or not intent:
                    raise ConversionError(f"{path}: row {number}: empty instruction or intent")
                messages.append(
                    LabelledMessage(
                        text=text,
                        intent=intent,
                        resolution=(row["response"] or "").strip(),
                        category=(row["category"] or "").strip(),
                    )
                )
    except OSError as exc:
        raise ConversionError(f"{path}: cannot be read: {exc.strerror or exc}") from exc
    return messages


def convert_bitext(path: Path | str, plan: SplitPlan | None = None) -> Dataset:
    """Cases (with the agents' responses) and queries from the Bitext sample."""
    plan = plan or SplitPlan(prefix="btx-", held_out_count=3)
    messages = read_bitext(path)
    present = {m.intent for m in messages}
    forced = tuple(i for i in ALWAYS_HELD_OUT if i in present and i not in plan.held_out)
    plan = dataclasses.replace(plan, held_out=plan.held_out + forced)
    return split_by_intent(messages, plan)
