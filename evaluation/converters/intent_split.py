"""Turn intent-labelled messages into a replayable history: past cases, later queries, held-out intents.

Data sets such as BANKING77 and Bitext label each customer message with an intent but have no
time. `split_by_intent` builds one, reproducibly from a seed:

1. the rows are shuffled and laid on a clock (one row every ``step``) starting at ``start``;
2. some intents are held out entirely: their rows are only ever queries, with no relevant case,
   so the right action for them is to escalate;
3. the first ``warmup`` share of the stream is history: every row of a kept intent there is a
   resolved case; after it, a kept row is a new case with probability ``case_share`` (tickets keep
   being resolved while queries arrive) and otherwise a query;
4. a query's relevant cases are all cases of its intent, whenever resolved: the replay itself
   decides which of them a query could have seen;
5. at most ``max_queries`` queries are kept (a seeded sample, in time order);
6. with ``resolution_codes``, each case also carries its intent as ``metadata.resolution``, the
   way a ticketing system records a resolution code, so the verdict's resolution vote can use it.
"""

from __future__ import annotations

import datetime as dt
import random
from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass

from evaluation.dataset import Case, Dataset, Query
from evaluation.errors import ConversionError


@dataclass(frozen=True, slots=True)
class LabelledMessage:
    """One row of an intent data set."""

    text: str
    intent: str
    resolution: str = ""
    category: str = ""


@dataclass(frozen=True, slots=True)
class SplitPlan:
    """How to split; the defaults are the ones behind the project's published figures."""

    seed: int = 0
    held_out: tuple[str, ...] = ()
    held_out_count: int = 10
    warmup: float = 0.3
    case_share: float = 0.5
    max_queries: int | None = 1000
    start: dt.datetime = dt.datetime(2026, 1, 1, tzinfo=dt.UTC)
    step: dt.timedelta = dt.timedelta(minutes=10)
    prefix: str = ""
    resolution_codes: bool = False

    def check(self) -> None:
        if not 0.0 <= self.warmup < 1.0:
            raise ConversionError(f"warmup: {self.warmup} must be in [0, 1)")
        if not 0.0 <= self.case_share <= 1.0:
            raise ConversionError(f"case_share: {self.case_share} must be in [0, 1]")
        if self.max_queries is not None and self.max_queries < 1:
            raise ConversionError(f"max_queries: {self.max_queries} must be at least 1")


def _held_out(intents: Sequence[str], plan: SplitPlan, rng: random.Random) -> set[str]:
    unknown = sorted(set(plan.held_out) - set(intents))
    if unknown:
        raise ConversionError(f"held_out: unknown intents {unknown}")
    held = set(plan.held_out)
    rest = sorted(set(intents) - held)
    extra = max(0, plan.held_out_count - len(held))
    if extra >= len(rest):
        raise ConversionError(
            f"held_out_count: {plan.held_out_count} leaves no intent with cases ({len(intents)})"
        )
    held.update(rng.sample(rest, extra))
    return held


def split_by_intent(messages: Sequence[LabelledMessage], plan: SplitPlan) -> Dataset:
    """Lay the messages on a clock and split them into cases and queries (see the module doc)."""
    plan.check()
    if not messages:
        raise ConversionError("no messages to split")
    rng = random.Random(plan.seed)
    held = _held_out(sorted({m.intent for m in messages}), plan, rng)
    order = list(range(len(messages)))
    rng.shuffle(order)
    warm = int(len(order) * plan.warmup)
    cases: list[Case] = []
    pending: list[tuple[int, int]] = []  # (position in the stream, message index)
    by_intent: dict[str, list[str]] = defaultdict(list)
    for position, index in enumerate(order):
        message = messages[index]
        if message.intent in held:
            if position >= warm:
                pending.append((position, index))
            continue
        if position < warm or rng.random() < plan.case_share:
            case_id = f"{plan.prefix}c{index}"
            cases.append(
                Case(
                    case_id=case_id,
                    problem=message.text,
                    resolution=message.resolution,
                    resolved_at=plan.start + position * plan.step,
                    tags=(message.category.lower(),) if message.category else (),
                    metadata={"intent": message.intent}
                    | ({"category": message.category} if message.category else {})
                    | ({"resolution": message.intent} if plan.resolution_codes else {}),
                )
            )
            by_intent[message.intent].append(case_id)
        else:
            pending.append((position, index))
    if plan.max_queries is not None and len(pending) > plan.max_queries:
        pending = sorted(rng.sample(pending, plan.max_queries))
    queries = tuple(
        Query(
            query_id=f"{plan.prefix}q{index}",
            text=messages[index].text,
            relevant=frozenset(by_intent.get(messages[index].intent, ())),
            asked_at=plan.start + position * plan.step,
        )
        for position, index in pending
    )
    return Dataset(cases=tuple(cases), queries=queries)
