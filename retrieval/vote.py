"""The resolution vote: the retrieved cases say, weighted by similarity, which resolution answers.

Cases of the same problem share a resolution. A hit's *labels* say which: its
``metadata.resolution`` when the ticketing system recorded a resolution code or category, else
its tags (from learning), else its own case id (an unlabelled case only speaks for itself, so
without any labels the vote is won by the most similar case). Every hit with a cosine votes for
each of its labels with weight ``exp((cosine − best cosine) / temperature)``: a hit as similar as
the best counts 1, one 0.05 below counts e⁻¹ at the default temperature 0.05.

The label with the most weight wins (ties: the one whose first hit comes first in fused order);
the answer is the winning label's first hit in fused order. The vote's figures:

- ``vote_share``: the winner's weight over all the weight (1 when every hit agrees);
- ``vote_margin``: the winner's share minus the share of the best *competing* label, counted
  over the hits that do not carry the winner's label.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

from retrieval.documents import Hit

TEMPERATURE = 0.05


def labels(hit: Hit) -> frozenset[str]:
    """What a hit says about its resolution (see the module docstring)."""
    resolution = hit.metadata.get("resolution")
    if resolution is not None and resolution != "":
        return frozenset({f"resolution:{resolution}"})
    if hit.tags:
        return frozenset(f"tag:{tag}" for tag in hit.tags)
    return frozenset({f"case:{hit.case_id}"})


@dataclass(frozen=True, slots=True)
class Vote:
    """The outcome: the answered hit's position in the hits, its labels, share and margin."""

    answered: int
    winner: frozenset[str]
    share: float
    margin: float


def _weights(hits: Sequence[Hit], temperature: float) -> list[float]:
    cosines = [h.scores.get("dense") for h in hits]
    best = max((c for c in cosines if c is not None), default=0.0)
    return [0.0 if c is None else math.exp((c - best) / temperature) for c in cosines]


def vote(hits: Sequence[Hit], temperature: float = TEMPERATURE) -> Vote | None:
    """The similarity-weighted vote over ``hits`` (in fused order); None without hits."""
    if not hits:
        return None
    weights = _weights(hits, temperature)
    tally: dict[str, float] = {}
    first: dict[str, int] = {}
    for position, (hit, weight) in enumerate(zip(hits, weights, strict=True)):
        for label in labels(hit):
            tally[label] = tally.get(label, 0.0) + weight
            first.setdefault(label, position)
    winner = max(tally, key=lambda label: (tally[label], -first[label]))
    total = sum(weights) or 1.0
    rivals: dict[str, float] = {}
    for hit, weight in zip(hits, weights, strict=True):
        if winner not in labels(hit):
            for label in labels(hit):
                rivals[label] = rivals.get(label, 0.0) + weight
    share = tally[winner] / total
    return Vote(
        answered=first[winner],
        winner=labels(hits[first[winner]]),
        share=share,
        margin=share - max(rivals.values(), default=0.0) / total,
    )
