"""The verdict: answer from the top case, or escalate with a reason.

``assess`` computes figures from the two retrievers' raw results (never from the fused RRF score,
which is a rank statistic, not a probability), then applies a :class:`VerdictPolicy`:

1. ``no_evidence``: no hit at all; or the best cosine similarity ``top_dense`` is below
   ``evidence_floor``; or the lexical side matched nothing (``lexical_match`` = 0) and
   ``top_dense`` is below ``lexical_floor`` (the dense side alone always returns *something*,
   qdrant issue 4937).
2. ``conflict``: another hit whose cosine is within ``conflict_margin`` of the best one
   disagrees with the top hit: disjoint non-empty tag sets, or a different ``resolution``
   metadata value.
3. ``low_confidence``: ``confidence`` is below ``answer_threshold``. ``confidence`` is a
   logistic model over ``FEATURES`` fitted on labelled samples by :func:`retrieval.calibrate`,
   i.e. an estimate of P(top hit is right), and the threshold is the lowest one whose answered
   samples reached the target precision.
4. otherwise ``answer``.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass, field
from typing import Any, Literal

from retrieval.documents import Hit
from retrieval.engine import Ranked
from retrieval.errors import CalibrationError

Action = Literal["answer", "escalate"]
Reason = Literal["no_evidence", "conflict", "low_confidence"]
FEATURES = ("top_dense", "dense_margin", "lexical_match", "agreement")


@dataclass(frozen=True, slots=True)
class VerdictPolicy:
    """Thresholds of the verdict; :func:`retrieval.calibrate` fits them, ``samples`` says on how many.

    The defaults were fitted by ``benchmarks/encoders.py`` on BANKING77 (1,000 queries, target
    precision 0.9, onnx-int8 encoder; 91.3% precision at 60.7% answered on 1,000 other queries):
    recalibrate on your own labelled data. ``samples == 0`` marks a hand-made policy.
    """

    weights: tuple[float, ...] = (14.6832, -4.5776, 0.0, 1.3701)
    bias: float = -11.7622
    answer_threshold: float = 0.7033
    evidence_floor: float = 0.6461
    lexical_floor: float = 2.0
    conflict_margin: float = 0.03
    target_precision: float = 0.9
    samples: int = 1000
    features: tuple[str, ...] = FEATURES

    def __post_init__(self) -> None:
        if len(self.weights) != len(self.features):
            raise CalibrationError("weights: one per feature expected")
        unknown = set(self.features) - set(FEATURES)
        if unknown:
            raise CalibrationError(f"features: unknown {sorted(unknown)}")

    def confidence(self, figures: Mapping[str, float]) -> float:
        """Estimated probability that the top hit answers the query."""
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
        """The inverse of :meth:`to_dict`; rejects unknown or ill-typed fields by name."""
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
            for name in ("bias", "answer_threshold", "evidence_floor", "lexical_floor"):
                if name in values:
                    values[name] = float(values[name])
            return cls(**values)
        except (TypeError, ValueError) as exc:
            raise CalibrationError(f"policy: {exc}") from exc


@dataclass(frozen=True, slots=True)
class Assessment:
    """The verdict on one query: ``action``, ``reason`` when escalating, the hits, the figures."""

    action: Action
    reason: Reason | None
    hits: tuple[Hit, ...]
    figures: Mapping[str, float] = field(default_factory=dict)


def figures_of(ranked: Ranked, hits: Sequence[Hit]) -> dict[str, float]:
    """Policy-independent figures of one search (the inputs of calibration)."""
    dense = [c.score for c in ranked.dense]
    top = hits[0] if hits else None
    in_both = top is not None and {"bm25", "dense"} <= set(top.ranks)
    best_both = in_both and top is not None and set(top.ranks.values()) == {1}
    return {
        "hits": float(len(hits)),
        "top_dense": dense[0] if dense else 0.0,
        "dense_margin": dense[0] - dense[1] if len(dense) > 1 else (dense[0] if dense else 0.0),
        "top_bm25": ranked.bm25[0].score if ranked.bm25 else 0.0,
        "lexical_matches": float(len(ranked.bm25)),
        "lexical_match": 1.0 if ranked.bm25 else 0.0,
        "agreement": 1.0 if best_both else 0.5 if in_both else 0.0,
    }


def _disagree(a: Hit, b: Hit) -> bool:
    if a.tags and b.tags and not set(a.tags) & set(b.tags):
        return True
    ra, rb = a.metadata.get("resolution"), b.metadata.get("resolution")
    return ra is not None and rb is not None and ra != rb


def _conflict_gap(hits: Sequence[Hit], top_dense: float, margin: float) -> float | None:
    strong = [h for h in hits if h.scores.get("dense", -1.0) >= top_dense - margin]
    if len(strong) < 2 or strong[0] is not hits[0]:
        return None
    for other in strong[1:]:
        if _disagree(strong[0], other):
            return top_dense - other.scores.get("dense", 0.0)
    return None


def decide(ranked: Ranked, hits: Sequence[Hit], policy: VerdictPolicy) -> Assessment:
    """Apply ``policy`` to one search's results."""
    figures = figures_of(ranked, hits)
    figures["confidence"] = policy.confidence(figures)
    figures["calibrated"] = 1.0 if policy.samples else 0.0
    top = figures["top_dense"]
    if not hits or top < policy.evidence_floor:
        return Assessment("escalate", "no_evidence", tuple(hits), figures)
    if not figures["lexical_match"] and top < policy.lexical_floor:
        return Assessment("escalate", "no_evidence", tuple(hits), figures)
    gap = _conflict_gap(hits, top, policy.conflict_margin)
    if gap is not None:
        figures["conflict_gap"] = gap
        return Assessment("escalate", "conflict", tuple(hits), figures)
    if figures["confidence"] < policy.answer_threshold:
        return Assessment("escalate", "low_confidence", tuple(hits), figures)
    return Assessment("answer", None, tuple(hits), figures)
