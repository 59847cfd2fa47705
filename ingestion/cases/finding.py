"""One detected span of personal data: what every detector of redaction yields."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class Finding:
    """One detected span of personal data (``kind`` is a placeholder name such as ``EMAIL``)."""

    kind: str
    start: int
    end: int
