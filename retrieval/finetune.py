"""Fine-tuning a sentence-transformers model on (customer question → resolved case) pairs, on CPU.

The loss is sentence-transformers' ``MultipleNegativesRankingLoss``: in a batch of pairs, each
question must score its own case above every other case of the batch (in-batch negatives, no
mined negatives needed). A batch never holds two pairs where one's case is relevant to the
other's question (two questions about the same problem), since that case would be pushed away
as a false negative. The loop is plain torch (AdamW, linear warm-up then decay), so no
``datasets`` or ``accelerate`` is needed; seeded, so a run is repeatable on one machine.

The result is written as a sentence-transformers folder (``model.save``): a model folder in its
own right (:mod:`retrieval.model`). torch and sentence-transformers are imported only here.
"""

from __future__ import annotations

import importlib
import random
import shutil
import warnings
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

from retrieval.errors import EncoderError
from retrieval.model import EncoderModel, resolve_model

Progress = Callable[[int, int], None]


@dataclass(frozen=True, slots=True)
class TrainingPair:
    """A question, the case that answered it, and every case relevant to the question."""

    question: str
    case_id: str
    case_text: str
    relevant: frozenset[str]


@dataclass(frozen=True, slots=True)
class TuningParams:
    """How to fine-tune: one pass at 5e-5 (measured in docs/evaluation.md, "Tuning the encoder")."""

    epochs: int = 1
    batch_size: int = 32
    learning_rate: float = 5e-5
    warmup: float = 0.1
    max_tokens: int = 128
    threads: int = 1
    seed: int = 0

    def check(self) -> None:
        if self.epochs < 1 or self.batch_size < 2 or self.threads < 1:
            raise EncoderError("tuning: epochs ≥ 1, batch_size ≥ 2 and threads ≥ 1 are needed")
        if not 0.0 <= self.learning_rate < 1.0 or not 0.0 <= self.warmup < 1.0:
            raise EncoderError("tuning: learning_rate and warmup must be in [0, 1)")


DEFAULT_PARAMS = TuningParams()


def batches(pairs: Sequence[TrainingPair], size: int, seed: int) -> list[list[TrainingPair]]:
    """Shuffled batches of at most ``size`` in which no case is relevant to another's question."""
    order = list(pairs)
    random.Random(seed).shuffle(order)
    out: list[list[TrainingPair]] = []
    for pair in order:
        for batch in out:
            if len(batch) < size and not any(_clash(pair, other) for other in batch):
                batch.append(pair)
                break
        else:
            out.append([pair])
    return [batch for batch in out if len(batch) > 1]  # a lone pair has no negatives


def _clash(a: TrainingPair, b: TrainingPair) -> bool:
    return a.case_id in b.relevant or b.case_id in a.relevant or a.case_text == b.case_text


def fine_tune(
    model: EncoderModel,
    pairs: Sequence[TrainingPair],
    out: Path,
    params: TuningParams = DEFAULT_PARAMS,
    progress: Progress | None = None,
) -> EncoderModel:
    """Fine-tune ``model`` on ``pairs`` and save the result as a model folder at ``out``."""
    params.check()
    if model.onnx_only:
        raise EncoderError(
            f"tuning needs the weights of {model.describe()}: point it at the "
            "sentence-transformers folder the export was made from"
        )
    if out.exists():
        raise EncoderError(f"tuning: {out} exists already")
    try:
        _train(model, pairs, out, params, progress)
    except EncoderError:
        raise
    except Exception as exc:
        shutil.rmtree(out, ignore_errors=True)
        raise EncoderError(f"fine-tuning {model.name} failed: {exc}") from exc
    return resolve_model(out)


def _train(
    model: EncoderModel,
    pairs: Sequence[TrainingPair],
    out: Path,
    params: TuningParams,
    progress: Progress | None,
) -> None:
    import torch
    from sentence_transformers import SentenceTransformer

    try:  # sentence-transformers 6 moved the losses; older releases keep them at the top
        losses = importlib.import_module("sentence_transformers.sentence_transformer.losses")
    except ImportError:  # pragma: no cover - sentence-transformers < 6
        losses = importlib.import_module("sentence_transformers.losses")

    torch.manual_seed(params.seed)
    torch.set_num_threads(params.threads)
    network = SentenceTransformer(str(model.folder), device="cpu")
    network.max_seq_length = min(params.max_tokens, model.max_tokens)
    loss = losses.MultipleNegativesRankingLoss(network)
    plan = [
        b
        for epoch in range(params.epochs)
        for b in batches(pairs, params.batch_size, params.seed + epoch)
    ]
    if not plan:
        raise EncoderError("tuning: no batch of two pairs or more (too few, or all one problem)")
    optimizer = torch.optim.AdamW(network.parameters(), lr=params.learning_rate)
    warm = max(1, int(len(plan) * params.warmup))
    schedule = torch.optim.lr_scheduler.LambdaLR(
        optimizer,
        lambda step: min((step + 1) / warm, max(0.0, (len(plan) - step) / (len(plan) - warm + 1))),
    )
    network.train()
    for step, batch in enumerate(plan):
        questions = network.preprocess([p.question for p in batch])
        cases = network.preprocess([p.case_text for p in batch])
        value = loss([questions, cases], torch.zeros(len(batch)))
        optimizer.zero_grad()
        value.backward()
        optimizer.step()
        schedule.step()
        if progress:
            progress(step + 1, len(plan))
    network.eval()
    network.max_seq_length = model.max_tokens  # trained on short pairs, used at the full length
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # the model card generator warns about missing metadata
        network.save(str(out))
