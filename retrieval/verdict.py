"""The verdict: answer from the best-supported case, or escalate with a reason.

``assess`` computes figures from the two retrievers' raw results (never from a fused score),
then applies a :class:`VerdictPolicy`.

The *answered hit* comes from the resolution vote (`retrieval.vote`): the hits vote, weighted by
cosine similarity, on which resolution (``metadata.resolution``, else tags, else the case itself)
answers, and the winning resolution's first hit in fused order is answered. Without labels
that is the most similar case. ``Assessment.hits`` puts the answered hit first, the others in
fused order, so ``hits[0]`` is always what an answer would quote, and the figures describe it.

1. ``no_evidence``: no hit at all; or the answered hit's cosine ``top_dense`` is below
   ``evidence_floor``; or the lexical side matched nothing (``lexical_match`` = 0) and
   ``top_dense`` is below ``lexical_floor`` (the dense side alone always returns *something*,
   qdrant issue 4937).
2. ``conflict``: another hit whose cosine is within ``conflict_margin`` of the answered one
   disagrees with it: disjoint non-empty tag sets, or a different ``resolution`` metadata value.
3. ``no_evidence`` again, from the **no-match guard**: ``confidence`` is below
   ``no_match_threshold``, fitted so that a share ``no_match_escalation`` (default 95%) of queries
   that no case answers escalate (figure ``no_match_guard`` = 1).
4. ``low_confidence``: ``confidence`` is below ``answer_threshold``, fitted so that the answered
   precision meets ``target_precision`` with confidence ``confidence_level``
   (:func:`retrieval.calibrate`). ``confidence`` is a logistic model over ``features`` with
   non-negative weights (each feature is evidence: more of it never lowers confidence).
5. otherwise ``answer``.

``FEATURES``: ``top_dense`` the answered hit's cosine; ``dense_margin`` how far it is ahead of
the best hit of a *competing* resolution (one sharing no label with it; the full cosine when
none competes), so near-duplicates that would give the same answer do not count against it;
``lexical_match`` 1 when BM25 matched anything; ``agreement`` 1 when the answered hit is BM25's
top-1 too, 0.5 when BM25 found it lower, else 0; ``vote_share`` and ``vote_margin`` from the vote.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass, field
from typing import Any, Literal

from retrieval.documents import Hit
from retrieval.engine import Ranked
from retrieval.errors import CalibrationError
from retrieval.vote import Vote, labels, vote

Action = Literal["answer", "escalate"]
Reason = Literal["no_evidence", "conflict", "low_confidence"]
FEATURES = ("top_dense", "dense_margin", "lexical_match", "agreement", "vote_share", "vote_margin")
_FLOATS = ("bias", "answer_threshold", "no_match_threshold", "evidence_floor", "lexical_floor",
           "conflict_margin", "target_precision", "confidence_level", "no_match_escalation")  # fmt: skip


@dataclass(frozen=True, slots=True)
class VerdictPolicy:
    """Thresholds of the verdict; :func:`retrieval.calibrate` fits them, ``samples`` says on how many.

    The defaults were fitted by ``benchmarks/verdict.py`` on BANKING77 (see `docs/retrieval.md`,
    "The default policy"): recalibrate on your own labelled data. ``samples == 0`` marks a
    hand-made policy; ``no_match_samples == 0`` a policy whose no-match guard was not fitted.
    """

    # BEGIN FITTED DEFAULTS: written by `python benchmarks/verdict.py --write`; do not edit.
    weights: tuple[float, ...] = (16.6725, 0.5836, 0.1284, 0.5232, 0.0000, 0.0000)
    bias: float = -13.8628
    answer_threshold: float = 0.8
    no_match_threshold: float = 0.7067
    evidence_floor: float = 0.6607
    lexical_floor: float = 2.0
    conflict_margin: float = 0.03
    target_precision: float = 0.95
    confidence_level: float = 0.9
    no_match_escalation: float = 0.95
    samples: int = 6072
    no_match_samples: int = 2336
    features: tuple[str, ...] = FEATURES
    # END FITTED DEFAULTS

    def __post_init__(self) -> None:
        if len(self.weights) != len(self.features):
            raise CalibrationError("weights: one per feature expected")
        unknown = set(self.features) - set(FEATURES)
        if unknown:
            raise CalibrationError(f"features: unknown {sorted(unknown)}")

    def confidence(self, figures: Mapping[str, float]) -> float:
        """Estimated probability that the answered hit answers the query."""
        z = self.bias + sum(
            w * figures.get(f, 0.0) for w, f in zip(self.weights, self.features, strict=True)
        )
        return 1.0 / (1.0 + math.exp(-max(min(z, 40.0), -40.0)))

    def to_dict(self) -> dict[str, Any]:
        """A JSON-compatible form (stored in the index manifest)."""
        data = asdict(self)
        data["weights"], data["features"] = list(self.weights), list(self.features)
        return data

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> VerdictPolicy:
        """The inverse of :meth:`to_dict`; rejects unknown or ill-typed fields by name.

        A policy stored before the vote existed (no ``features`` beyond the first four, no
        guard) loads with its own features and the guard off.
        """
        known = set(cls.__dataclass_fields__)
        extra = set(data) - known
        if extra:
            raise CalibrationError(f"policy: unknown fields {sorted(extra)}")
        try:
            values = dict(data)
            if "weights" in values:
                values["weights"] = tuple(float(w) for w in values["weights"])
            if "features" in values:
                values["features"] = tuple(str(f) for f in values["features"])
            for name in _FLOATS:
                if name in values:
                    values[name] = float(values[name])
            return cls(**values)
        except (TypeError, ValueError) as exc:
            raise CalibrationError(f"policy: {exc}") from exc


@dataclass(frozen=True, slots=True)
class Assessment:
    """The verdict on one query: ``action``, ``reason`` when escalating, the hits, the figures.

    ``hits[0]`` is the answered hit (the one an answer quotes, and the one ``figures``
    describe); the other hits follow in fused order.
    """

    action: Action
    reason: Reason | None
    hits: tuple[Hit, ...]
    figures: Mapping[str, float] = field(default_factory=dict)


def answered_first(hits: Sequence[Hit]) -> tuple[tuple[Hit, ...], Vote | None]:
    """``hits`` with the vote's answered hit moved first, and the vote."""
    outcome = vote(hits)
    if outcome is None:
        return (), None
    best = outcome.answered
    return (hits[best], *hits[:best], *hits[best + 1 :]), outcome


def _disagree(a: Hit, b: Hit) -> bool:
    if a.tags and b.tags and not set(a.tags) & set(b.tags):
        return True
    ra, rb = a.metadata.get("resolution"), b.metadata.get("resolution")
    return ra is not None and rb is not None and ra != rb


def figures_of(ranked: Ranked, hits: Sequence[Hit], outcome: Vote | None) -> dict[str, float]:
    """Policy-independent figures of one search (the inputs of calibration).

    ``hits`` must already have the answered hit first (:func:`answered_first`).
    """
    top = hits[0] if hits else None
    cosine = top.scores.get("dense", 0.0) if top is not None else 0.0
    winner = outcome.winner if outcome is not None else frozenset()
    rivals = [h.scores.get("dense", 0.0) for h in hits[1:] if not labels(h) & winner]
    ranks = top.ranks if top is not None else {}
    return {
        "hits": float(len(hits)),
        "top_dense": cosine,
        "dense_margin": cosine - max(rivals, default=0.0),
        "top_bm25": ranked.bm25[0].score if ranked.bm25 else 0.0,
        "lexical_matches": float(len(ranked.bm25)),
        "lexical_match": 1.0 if ranked.bm25 else 0.0,
        "agreement": 1.0 if ranks.get("bm25") == 1 else 0.5 if "bm25" in ranks else 0.0,
        "best_dense": ranked.dense[0].score if ranked.dense else 0.0,
        "vote_share": outcome.share if outcome is not None else 0.0,
        "vote_margin": outcome.margin if outcome is not None else 0.0,
    }


def _conflict_gap(hits: Sequence[Hit], top_dense: float, margin: float) -> float | None:
    for other in hits[1:]:
        cosine = other.scores.get("dense", -1.0)
        if cosine >= top_dense - margin and _disagree(hits[0], other):
            return top_dense - cosine
    return None


def decide(ranked: Ranked, hits: Sequence[Hit], policy: VerdictPolicy) -> Assessment:
    """Apply ``policy`` to one search's results (``hits`` in fused order)."""
    ordered, outcome = answered_first(hits)
    figures = figures_of(ranked, ordered, outcome)
    figures["confidence"] = policy.confidence(figures)
    figures["calibrated"] = 1.0 if policy.samples else 0.0
    top = figures["top_dense"]
    if not ordered or top < policy.evidence_floor:
        return Assessment("escalate", "no_evidence", ordered, figures)
    if not figures["lexical_match"] and top < policy.lexical_floor:
        return Assessment("escalate", "no_evidence", ordered, figures)
    gap = _conflict_gap(ordered, top, policy.conflict_margin)
    if gap is not None:
        figures["conflict_gap"] = gap
        return Assessment("escalate", "conflict", ordered, figures)
    if figures["confidence"] < policy.no_match_threshold:
        figures["no_match_guard"] = 1.0
        return Assessment("escalate", "no_evidence", ordered, figures)
    if figures["confidence"] < policy.answer_threshold:
        return Assessment("escalate", "low_confidence", ordered, figures)
    return Assessment("answer", None, ordered, figures)
