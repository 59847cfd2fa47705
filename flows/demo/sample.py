"""The bundled sample: customer conversations over simulated days, with intents as ground truth.

The file is ``data/bitext_sample.jsonl.gz`` (built by ``scripts/make_demo_sample.py`` from the
Bitext customer-support data, CDLA-Sharing-1.0; see ``data/ATTRIBUTION.md``). Every line is
validated on load; a bad line is refused with its number and field.
"""

from __future__ import annotations

import gzip
import json
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from flows.demo.errors import DemoError

SAMPLE_PATH = Path(__file__).parent / "data" / "bitext_sample.jsonl.gz"
HUMAN_INTENT = "contact_human_agent"


class _Line(BaseModel):
    """One line of the sample file as it is on disk."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    id: str = Field(min_length=1)
    split: Literal["conversation", "calibration"]
    day: int = Field(ge=0)
    minute: int = Field(ge=0, lt=24 * 60)
    intent: str = Field(min_length=1)
    category: str = Field(min_length=1)
    customer: str = Field(min_length=1)
    message: str = Field(min_length=1)
    reply: str = Field(min_length=1)
    internal_note: str | None = None


@dataclass(frozen=True, slots=True)
class Conversation:
    """One customer conversation of the sample (or a held-out calibration question)."""

    id: str
    day: int
    minute: int
    intent: str
    category: str
    customer: str
    message: str
    reply: str
    internal_note: str | None

    @property
    def wants_human(self) -> bool:
        """The customer asks for a person: a chatbot hands these over whatever it knows."""
        return self.intent == HUMAN_INTENT


@dataclass(frozen=True, slots=True)
class Sample:
    """The conversations by day and the calibration questions."""

    conversations: tuple[Conversation, ...]
    calibration: tuple[Conversation, ...]

    @property
    def days(self) -> int:
        return max((c.day for c in self.conversations), default=0)

    def day(self, day: int, limit: int | None = None) -> tuple[Conversation, ...]:
        """The first ``limit`` conversations of ``day`` (1-based), in time order."""
        rows = sorted((c for c in self.conversations if c.day == day), key=lambda c: c.minute)
        return tuple(rows[:limit] if limit is not None else rows)

    def schedule(self, days: int, per_day: int) -> tuple[tuple[Conversation, ...], ...]:
        """``days`` days of ``per_day`` conversations each; refuses more than the sample holds."""
        if days < 2:
            raise DemoError("--days: at least 2 days are needed to show a drop")
        if days > self.days:
            raise DemoError(f"--days: the sample holds {self.days} days, {days} asked")
        if per_day < 1:
            raise DemoError("--conversations: at least 1 conversation a day")
        out = tuple(self.day(day, per_day) for day in range(1, days + 1))
        smallest = min(len(rows) for rows in out)
        if smallest < per_day:
            raise DemoError(
                f"--conversations: the sample holds {smallest} conversations a day, {per_day} asked"
            )
        return out


def load_sample(path: Path = SAMPLE_PATH) -> Sample:
    """Read and validate the sample file."""
    conversations: list[Conversation] = []
    calibration: list[Conversation] = []
    try:
        with gzip.open(path, "rt", encoding="utf-8") as handle:
            for number, text in enumerate(handle, start=1):
                line = _parse(path, number, text)
                item = Conversation(**line.model_dump(exclude={"split"}))
                (conversations if line.split == "conversation" else calibration).append(item)
    except OSError as exc:
        raise DemoError(f"{path}: cannot read the sample: {exc}") from exc
    if not conversations or not calibration:
        raise DemoError(f"{path}: the sample needs conversations and calibration questions")
    return Sample(tuple(conversations), tuple(calibration))


def _parse(path: Path, number: int, text: str) -> _Line:
    try:
        return _Line.model_validate(json.loads(text))
    except json.JSONDecodeError as exc:
        raise DemoError(f"{path}: line {number}: not JSON: {exc.msg}") from exc
    except ValidationError as exc:
        first = exc.errors()[0]
        field = ".".join(str(part) for part in first["loc"]) or "(line)"
        raise DemoError(f"{path}: line {number}: {field}: {first['msg']}") from exc
