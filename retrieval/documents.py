"""The records that cross the public API: a case document in, hits out."""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from retrieval.errors import InvalidDocument

Scalar = str | int | bool
"""A filterable metadata value (floats are not, since equality on them is a trap)."""


def _json_value(value: Any, where: str) -> Any:
    """Check ``value`` is JSON-compatible (what the engines store) and return a plain copy."""
    if value is None or isinstance(value, str | bool | int):
        return value
    if isinstance(value, float):
        if not math.isfinite(value):
            raise InvalidDocument(f"{where}: {value!r} is not a finite number")
        return value
    if isinstance(value, Mapping):
        return {str(k): _json_value(v, f"{where}.{k}") for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_json_value(v, f"{where}[{i}]") for i, v in enumerate(value)]
    raise InvalidDocument(f"{where}: {type(value).__name__} is not JSON-compatible")


@dataclass(frozen=True, slots=True)
class CaseDocument:
    """A CASE_SUMMARY to index.

    ``text`` is what both retrievers index (the customer's problem as asked, plus what helps
    find it); ``summary`` is what a hit shows (problem and resolution). ``metadata`` values of
    the index's filter keys (``tenant``, ``product``, …) must be str, int or bool.
    """

    case_id: str
    text: str
    summary: str
    tags: Sequence[str] = ()
    metadata: Mapping[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        if not isinstance(self.case_id, str) or not self.case_id.strip():
            raise InvalidDocument("case_id: must be a non-empty string")
        if len(self.case_id) > 512:
            raise InvalidDocument("case_id: longer than 512 characters")
        if not isinstance(self.text, str) or not self.text.strip():
            raise InvalidDocument(f"text: must be a non-empty string (case {self.case_id})")
        if not isinstance(self.summary, str):
            raise InvalidDocument(f"summary: must be a string (case {self.case_id})")
        if isinstance(self.tags, str) or not all(isinstance(t, str) for t in self.tags):
            raise InvalidDocument(f"tags: must be a list of strings (case {self.case_id})")
        if not isinstance(self.metadata, Mapping):
            raise InvalidDocument(f"metadata: must be a mapping (case {self.case_id})")
        object.__setattr__(self, "tags", tuple(self.tags))
        object.__setattr__(self, "metadata", _json_value(self.metadata, "metadata"))


@dataclass(frozen=True, slots=True)
class Hit:
    """One retrieved case.

    ``score`` is the fused reciprocal-rank score in hybrid mode and the retriever's own score
    (BM25 or cosine) in single-retriever modes: an ordering key, never a probability.
    ``ranks`` holds the 1-based rank per retriever that found the case (``{"bm25": 2,
    "dense": 1}``); ``scores`` the raw per-retriever scores.
    """

    case_id: str
    score: float
    ranks: Mapping[str, int]
    summary: str
    tags: tuple[str, ...]
    metadata: Mapping[str, Any]
    scores: Mapping[str, float] = field(default_factory=dict)
    text: str = ""
