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
4. if the whole 95% interval of the MRR gain is above ``min_gain``, both encoders also replay
   the later questions (no-match ones included) as escalations (`evaluation.escalation_replay`:
   hybrid search and the verdict, the policy cross-fitted for each encoder on its own scores,
   the same precision promise): a better ranking that would answer fewer customers at the
   promised precision is no gain;
5. only if both hold (MRR gain, and an escalation drop at least the current one's) is the tuned
   model kept (a model folder under ``model_dir/tuned/``), the index re-embedded with it as one
   new generation (`retrieval.Index.reembed`) and a verdict policy fitted on the tuned encoder's
   replay stored with it (the previous one was fitted on the other encoder's scores); otherwise
   the tuned model is deleted and the index is left untouched.
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
from evaluation.escalation import (
    EscalationReport,
    OperatingPoint,
    compare,
    escalation_replay,
    fitted_policy,
)
from evaluation.folds import Promise
from retrieval.dense import DenseEncoder
from retrieval.encoding import load
from retrieval.finetune import DEFAULT_PARAMS, TrainingPair, TuningParams, fine_tune
from retrieval.manifest import EncoderChoice
from retrieval.model import EncoderModel

Progress = Callable[[str, int, int], None]
DEPTH = 10
MIN_TRAIN, MIN_HELD_OUT = 20, 20
DEFAULT_PROMISE = Promise()  # `caseloop eval escalation`'s: 95% precision kept with 90% confidence
REPLAY_FOLDS = 5  # fewer when the later questions are few: at least 10 a fold
# MIN_HELD_OUT answerable later questions (all replayed) are enough for 2 folds: tune always replays.


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
    drop: DropCheck | None = None

    def line(self) -> str:
        """One line for logs and the CLI."""
        if self.gain is None:
            return f"encoder tuning: not tuned ({self.reason})"
        drop = f"; {self.drop.line()}" if self.drop else ""
        return (
            f"encoder tuning: {self.pairs} pairs, held-out MRR@{DEPTH} {_pct(self.current)} → "
            f"{_pct(self.tuned)}, gain {_pct(self.gain)} over {self.held_out} later questions"
            f"{drop}; {'switched' if self.switched else 'kept the current encoder'} "
            f"({self.reason})"
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
            "escalation": self.drop.to_dict() if self.drop else None,
        }


@dataclass(frozen=True, slots=True)
class DropCheck:
    """Both encoders replayed as escalations over the later questions: each one's figures
    (escalation drop, answered precision, no-match escalated, …) and the paired differences."""

    queries: int
    target_precision: float
    current: OperatingPoint
    tuned: OperatingPoint
    difference: Mapping[str, Estimate]  # tuned − current

    @property
    def holds(self) -> bool:
        """The tuned encoder answers at least as many customers at the promised precision."""
        gain = self.difference["escalation_drop"].value
        return gain is not None and gain >= 0.0

    def line(self) -> str:
        return (
            f"escalation drop at {self.target_precision:.0%} target "
            f"{_pct(self.current.estimates['escalation_drop'])} → "
            f"{_pct(self.tuned.estimates['escalation_drop'])}, difference "
            f"{_pct(self.difference['escalation_drop'])} over {self.queries} later questions"
        )

    def to_dict(self) -> dict[str, Any]:
        return {
            "queries": self.queries,
            "target_precision": self.target_precision,
            "current": self.current.as_dict(),
            "tuned": self.tuned.as_dict(),
            "difference": {name: e.as_dict() for name, e in self.difference.items()},
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
    known = {case.case_id for case in dataset.cases}
    answerable = [q for q in dataset.queries if q.relevant & known]
    ordered = sorted(answerable, key=_asked)
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
    promise: Promise = DEFAULT_PROMISE,
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
        drop, replayed = None, None
        if gain.low is not None and gain.low > min_gain:
            later = later_questions(dataset, train)
            drop, replayed = drop_check(later, current, tuned, settings, promise, params.seed)
        better = drop is not None and drop.holds
        reason = _reason(gain, min_gain, drop)
        kept = None
        if better and replayed is not None:
            kept = (
                out
                or workdir / f"{_slug(current.model.name)}-{dt.datetime.now(dt.UTC):%Y%m%dT%H%M%SZ}"
            )
            shutil.move(scratch / "model", kept)
            index.reembed(
                kept,
                policy=_policy_of(replayed),
                progress=(lambda d, t: progress("re-embedding", d, t)) if progress else None,
            )
    finally:
        shutil.rmtree(scratch, ignore_errors=True)
    return TuneReport(
        len(pairs), len(held), figures["current"], figures["tuned"], gain, better, reason,
        index.encoder_choice.describe(), kept, drop,
    )  # fmt: skip


def _policy_of(replay: EscalationReport) -> retrieval.VerdictPolicy | None:
    """The policy the tuned encoder's replay supports (None: the index keeps its own)."""
    try:
        return fitted_policy(replay)
    except retrieval.CalibrationError:
        return None


def _reason(gain: Estimate, min_gain: float, drop: DropCheck | None) -> str:
    if gain.low is None or gain.low <= min_gain:
        return f"the 95% interval of the MRR gain reaches {min_gain} or below"
    if drop is None or not drop.holds:
        return (
            f"the MRR gain's interval is above {min_gain}, but the escalation drop at the "
            "promised precision would fall"
        )
    return (
        f"the 95% interval of the MRR gain is above {min_gain} and the escalation drop "
        "does not fall"
    )


def later_questions(dataset: Dataset, train: Sequence[Query]) -> Dataset:
    """Every case, and the questions after the last training question (no-match ones too)."""
    last = max(map(_asked, train), default=None)
    queries = tuple(q for q in dataset.queries if last is None or _asked(q) > last)
    return Dataset(dataset.cases, queries)


_LATEST = dt.datetime.max.replace(tzinfo=dt.UTC)


def _asked(query: Query) -> tuple[dt.datetime, str]:
    """The time order of questions (undated ones last, then by id)."""
    return (query.asked_at or _LATEST, query.query_id)


def drop_check(
    later: Dataset,
    current: EncoderChoice,
    tuned: EncoderModel,
    settings: retrieval.RetrievalSettings,
    promise: Promise = DEFAULT_PROMISE,
    seed: int = 0,
) -> tuple[DropCheck | None, EscalationReport | None]:
    """Replay ``later`` as escalations with each encoder (policies cross-fitted on each one's
    own scores); the figures, and the tuned encoder's replay. None when too few questions."""
    folds = min(REPLAY_FOLDS, len(later.queries) // 10)
    if folds < 2:
        return None, None
    reports = [
        escalation_replay(
            later,
            target_precision=promise.target_precision,
            confidence_level=promise.confidence_level,
            no_match_escalation=promise.no_match_escalation,
            folds=folds,
            settings=settings.model_copy(
                update={"model": model.source, "encoder": current.backend}
            ),
            seed=seed,
        )
        for model in (current.model, tuned)
    ]
    before, after = reports
    check = DropCheck(
        queries=before.n_queries,
        target_precision=promise.target_precision,
        current=before.ours,
        tuned=after.ours,
        difference=compare(after, before, seed=seed),
    )
    return check, after


def _slug(name: str) -> str:
    return name.rsplit("/", 1)[-1].removesuffix("-tuned") + "-tuned"


def store_dataset(url: str) -> tuple[Dataset, dict[str, frozenset[str]]]:
    """Questions from the store with their relevant cases (sharing a tag) and their own case."""
    tagged = convert_store(url, relevance="tags")
    own = convert_store(url, relevance="own")
    return tagged, {query.query_id: query.relevant for query in own.queries}
