"""The learning run's report: what was created, updated, retracted, skipped or failed, and why."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field
from typing import Any


@dataclass(frozen=True, slots=True)
class CaseOutcome:
    """What happened to one case in a run."""

    case_id: str
    ticket_id: int
    reason: str
    version: int | None = None


@dataclass(slots=True)
class LearningReport:
    """Accumulated by `learn`; ``to_dict`` is what flows store and publish."""

    window_start: dt.datetime | None = None
    created: list[CaseOutcome] = field(default_factory=list)
    updated: list[CaseOutcome] = field(default_factory=list)
    retracted: list[CaseOutcome] = field(default_factory=list)
    skipped: list[CaseOutcome] = field(default_factory=list)
    failed: list[CaseOutcome] = field(default_factory=list)
    reindexed: list[CaseOutcome] = field(default_factory=list)
    notes_written: int = 0
    index_writes: int = 0
    vocabulary_before: int = 0
    vocabulary_after: int = 0
    new_tags: list[str] = field(default_factory=list)

    @property
    def learned(self) -> int:
        """Case versions written to the store and the index in this run."""
        return len(self.created) + len(self.updated)

    @property
    def ok(self) -> bool:
        return not self.failed

    def counts(self) -> dict[str, int]:
        return {
            "created": len(self.created),
            "updated": len(self.updated),
            "retracted": len(self.retracted),
            "skipped": len(self.skipped),
            "failed": len(self.failed),
            "reindexed": len(self.reindexed),
            "notes_written": self.notes_written,
            "index_writes": self.index_writes,
            "vocabulary": self.vocabulary_after,
            "vocabulary_growth": self.vocabulary_after - self.vocabulary_before,
        }

    def line(self) -> str:
        """One log line."""
        return "learning: " + ", ".join(f"{k} {v}" for k, v in self.counts().items())

    def to_dict(self) -> dict[str, Any]:
        def rows(items: list[CaseOutcome]) -> list[dict[str, Any]]:
            return [
                {
                    "case_id": o.case_id,
                    "ticket_id": o.ticket_id,
                    "version": o.version,
                    "reason": o.reason,
                }
                for o in items
            ]

        return {
            "window_start": self.window_start.isoformat() if self.window_start else None,
            "counts": self.counts(),
            "new_tags": list(self.new_tags),
            "created": rows(self.created),
            "updated": rows(self.updated),
            "retracted": rows(self.retracted),
            "skipped": rows(self.skipped),
            "failed": rows(self.failed),
            "reindexed": rows(self.reindexed),
        }

    def markdown(self) -> str:
        """The report as a Markdown table plus reasons (a Prefect artifact)."""
        lines = ["| outcome | count |", "| --- | --- |"]
        lines += [f"| {k} | {v} |" for k, v in self.counts().items()]
        for title, items in (("Retracted", self.retracted), ("Failed", self.failed)):
            if items:
                lines += ["", f"**{title}**", ""]
                lines += [f"- `{o.case_id}`: {o.reason}" for o in items[:200]]
        if self.new_tags:
            lines += ["", "**New tags**: " + ", ".join(sorted(self.new_tags)[:200])]
        return "\n".join(lines)
