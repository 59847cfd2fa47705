"""Learn the encoder from your own history: fine-tune, compare on later questions, switch if better.

`tune` takes questions with the cases that resolved them (an evaluation data set: from the store
by `store_dataset`, or `cases.jsonl` / `queries.jsonl`), in time order:

1. the earlier ``1 - holdout`` of the questions become (question → resolved case) training pairs;
   the later ``holdout`` share is never trained on (a *time-later* held-out slice);
2. the index's current encoder is fine-tuned on the pairs (`retrieval.finetune`, in-batch
   negatives, CPU);
3. both encoders, on the index's backend, rank every case for each held-out question (exact
   cosine, the question's filters applied); the reciprocal ranks of the first relevant case in
   the top 10 are compared question by question, with a paired bootstrap interval of the gain;
4. only if the whole 95% interval of the MRR gain is above ``min_gain`` is the tuned model kept
   (a model folder under ``model_dir/tuned/``) and the index re-embedded with it as one new
   generation (`retrieval.Index.reembed`); otherwise the tuned model is deleted and the index
   is left untouched.

The stored verdict policy was fitted on the previous encoder's scores; refit it (`caseloop eval
escalation`) after a switch.
"""

from __future__ import annotations

import datetime as dt
import random
import shutil
import tempfile
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

import retrieval
from evaluation import Dataset, Estimate, Query, bootstrap_ratios, convert_store
from evaluation.bootstrap import ratio
from retrieval.dense import DenseEncoder
from retrieval.encoding import load
from retrieval.finetune import DEFAULT_PARAMS, TrainingPair, TuningParams, fine_tune
from retrieval.manifest import EncoderChoice

Progress = Callable[[str, int, int], None]
DEPTH = 10
MIN_TRAIN, MIN_HELD_OUT = 20, 10


@dataclass(frozen=True, slots=True)
class TuneReport:
    """What one tuning run measured and decided."""

    pairs: int
    held_out: int
    current: Estimate | None
    tuned: Estimate | None
    gain: Estimate | None
    switched: bool
    reason: str
    encoder: str
    model: Path | None = None

    def line(self) -> str:
        """One line for logs and the CLI."""
        if self.gain is None:
            return f"encoder tuning: not tuned ({self.reason})"
        return (
            f"encoder tuning: {self.pairs} pairs, held-out MRR@{DEPTH} {_pct(self.current)} → "
            f"{_pct(self.tuned)}, gain {_pct(self.gain)} over {self.held_out} later questions; "
            f"{'switched' if self.switched else 'kept the current encoder'} ({self.reason})"
        )

    def to_dict(self) -> dict[str, Any]:
        """The JSON report."""
        return {
            "pairs": self.pairs,
            "held_out": self.held_out,
            **{
                name: e.as_dict() if e else None
                for name, e in (
                    ("current", self.current),
                    ("tuned", self.tuned),
                    ("gain", self.gain),
                )
            },
            "switched": self.switched,
            "reason": self.reason,
            "encoder": self.encoder,
            "model": str(self.model) if self.model else None,
        }


def _pct(e: Estimate | None) -> str:
    if e is None or e.value is None:
        return "n/a"
    return f"{e.value:.3f} [{e.low:.3f}, {e.high:.3f}]"


def params_from(settings: retrieval.RetrievalSettings, **override: Any) -> TuningParams:
    """The tuning parameters the settings give (``override`` wins, e.g. from CLI options)."""
    values: dict[str, Any] = {
        "epochs": settings.tune_epochs,
        "learning_rate": settings.tune_learning_rate,
        "threads": settings.encoder_threads,
    }
    values.update({k: v for k, v in override.items() if v is not None})
    return TuningParams(**values)


def split(dataset: Dataset, holdout: float) -> tuple[list[Query], list[Query]]:
    """Answerable questions in time order: the earlier for training, the later held out."""
    if not 0.0 < holdout < 1.0:
        raise ValueError("holdout: must be in (0, 1)")
    latest = dt.datetime.max.replace(tzinfo=dt.UTC)
    known = {case.case_id for case in dataset.cases}
    answerable = [q for q in dataset.queries if q.relevant & known]
    ordered = sorted(answerable, key=lambda q: (q.asked_at or latest, q.query_id))
    cut = len(ordered) - max(1, round(len(ordered) * holdout))
    return ordered[:cut], ordered[cut:]


def training_pairs(
    dataset: Dataset,
    queries: Sequence[Query],
    positives: Mapping[str, frozenset[str]] | None = None,
    seed: int = 0,
) -> list[TrainingPair]:
    """One pair per question: a case that resolved it (its ``positives``, else any relevant)."""
    text = {case.case_id: case.problem for case in dataset.cases}
    rng = random.Random(seed)
    pairs = []
    for query in queries:
        chosen = sorted(((positives or {}).get(query.query_id) or query.relevant) & text.keys())
        if chosen:
            case_id = rng.choice(chosen)
            pairs.append(TrainingPair(query.text, case_id, text[case_id], query.relevant))
    return pairs


def reciprocal_ranks(
    encoder: DenseEncoder, dataset: Dataset, queries: Sequence[Query]
) -> np.ndarray:
    """Each question's reciprocal rank of its first relevant case among the top ``DEPTH``."""
    cases = list(dataset.cases)
    ids = np.array([case.case_id for case in cases])
    vectors = encoder.encode([case.problem for case in cases])
    asked = encoder.encode([query.text for query in queries])
    ranks = []
    for query, vector in zip(queries, asked, strict=True):
        scores = vectors @ vector
        if query.filters:
            allowed = [all(c.metadata.get(k) == v for k, v in query.filters.items()) for c in cases]
            scores = np.where(allowed, scores, -np.inf)
        order = np.argsort(-scores, kind="stable")[:DEPTH]
        best = ids[order[np.isfinite(scores[order])]]  # filtered-out cases never count
        hits = [r for r, case_id in enumerate(best, start=1) if case_id in query.relevant]
        ranks.append(1.0 / hits[0] if hits else 0.0)
    return np.array(ranks)


def tune(
    index: retrieval.Index,
    dataset: Dataset,
    *,
    settings: retrieval.RetrievalSettings,
    params: TuningParams = DEFAULT_PARAMS,
    holdout: float = 0.2,
    min_gain: float = 0.0,
    positives: Mapping[str, frozenset[str]] | None = None,
    out: Path | None = None,
    progress: Progress | None = None,
) -> TuneReport:
    """Fine-tune the index's encoder on ``dataset`` and switch the index if it is better."""
    if out is not None and out.exists():
        raise ValueError(f"out: {out} exists already")
    current = index.encoder_choice
    train, held = split(dataset, holdout)
    pairs = training_pairs(dataset, train, positives, params.seed)
    if len(pairs) < MIN_TRAIN or len(held) < MIN_HELD_OUT:
        reason = (
            f"{len(pairs)} training pairs and {len(held)} held-out questions; at least "
            f"{MIN_TRAIN} and {MIN_HELD_OUT} are needed"
        )
        return TuneReport(
            len(pairs), len(held), None, None, None, False, reason, current.describe()
        )
    workdir = settings.model_dir / "tuned"
    workdir.mkdir(parents=True, exist_ok=True)
    scratch = Path(tempfile.mkdtemp(prefix=".training-", dir=workdir))
    try:
        tuned = fine_tune(
            current.model, pairs, scratch / "model", params,
            (lambda done, total: progress("training", done, total)) if progress else None,
        )  # fmt: skip
        before = reciprocal_ranks(index.encoder, dataset, held)
        after = reciprocal_ranks(
            load(EncoderChoice(tuned, current.backend), settings), dataset, held
        )
        figures = bootstrap_ratios(
            {"current": ratio(before), "tuned": ratio(after), "gain": ratio(after - before)},
            seed=params.seed,
        )
        gain = figures["gain"]
        better = gain.low is not None and gain.low > min_gain
        reason = (
            f"the 95% interval of the gain is above {min_gain}"
            if better
            else f"the 95% interval of the gain reaches {min_gain} or below"
        )
        kept = None
        if better:
            kept = (
                out
                or workdir / f"{_slug(current.model.name)}-{dt.datetime.now(dt.UTC):%Y%m%dT%H%M%SZ}"
            )
            shutil.move(scratch / "model", kept)
            index.reembed(
                kept, progress=(lambda d, t: progress("re-embedding", d, t)) if progress else None
            )
    finally:
        shutil.rmtree(scratch, ignore_errors=True)
    return TuneReport(
        len(pairs), len(held), figures["current"], figures["tuned"], gain, better, reason,
        index.encoder_choice.describe(), kept,
    )  # fmt: skip


def _slug(name: str) -> str:
    return name.rsplit("/", 1)[-1].removesuffix("-tuned") + "-tuned"


def store_dataset(url: str) -> tuple[Dataset, dict[str, frozenset[str]]]:
    """Questions from the store with their relevant cases (sharing a tag) and their own case."""
    tagged = convert_store(url, relevance="tags")
    own = convert_store(url, relevance="own")
    return tagged, {query.query_id: query.relevant for query in own.queries}
