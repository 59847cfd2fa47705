"""Fit the verdict policy shipped as the default (``VerdictPolicy()``) and measure it out of sample.

One command, to re-run whenever the encoder (or anything the figures depend on) changes::

    python benchmarks/verdict.py --data-dir DIR [--write] [--quick]

``DIR`` (or ``CASELOOP_DATA_DIR``) holds ``banking77/train.csv`` (CC BY 4.0) and, for the
out-of-domain check, ``bitext_customer_support/*.csv`` (CDLA-Sharing-1.0). With ``--write`` the
fitted values replace the defaults in ``retrieval/verdict.py`` (between its FITTED DEFAULTS
markers) and the measured table in ``docs/retrieval.md`` (between its DEFAULT POLICY markers).

Protocol (BANKING77, seeded): 20 of the 77 intents are held out of the index in two groups of
10. Group A's messages are no-match queries *for fitting* (the guard is fitted on them), group
B's *for measuring* (the guard meets intents it never saw). Of every other intent, the first half
of its messages (file order) are cases, the rest matched queries, split in two seeded halves.
Each case exists in two indexes: once with its intent as ``metadata.resolution`` (a resolution
code) and once with no label at all, so the one default fits both kinds of deployment: the
policy is calibrated on the fitting queries assessed in both (target precision 95%, confidence
90%, no-match guard 95%) and measured, in each, on the measuring queries. The same policy is
then measured on Bitext (its own split, never fitted on) with no labels, category tags, and
resolution codes.
"""

from __future__ import annotations

import argparse
import os
import random
import re
import sys
import tempfile
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

# benchmarks/retrieval.py would shadow the package: the repository root goes first.
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import retrieval
from evaluation.bootstrap import bootstrap_ratios, ratio
from evaluation.converters.banking77 import read_banking77
from evaluation.converters.bitext import read_bitext
from evaluation.converters.intent_split import LabelledMessage
from retrieval.verdict import FEATURES

ROOT = Path(__file__).resolve().parents[1]
TARGET, CONFIDENCE, GUARD = 0.95, 0.9, 0.95
REGIMES = ("resolution", "none")


@dataclass(frozen=True)
class Split:
    cases: list[LabelledMessage]
    fit: list[tuple[LabelledMessage, bool]]  # (message, no-match)
    measure: list[tuple[LabelledMessage, bool]]


def split(messages: Sequence[LabelledMessage], held: int, cap: int, seed: int) -> Split:
    """Cases and two halves of queries; ``held`` intents per no-match group (A fit, B measure)."""
    rng = random.Random(seed)
    intents = sorted({m.intent for m in messages})
    out = rng.sample(intents, 2 * held)
    group_a, group_b = set(out[:held]), set(out[held:])
    totals = {i: sum(1 for m in messages if m.intent == i) for i in intents}
    seen: dict[str, int] = {}
    cases, matched = [], []
    for m in messages:
        if m.intent in group_a or m.intent in group_b:
            continue
        seen[m.intent] = seen.get(m.intent, 0) + 1
        (cases if seen[m.intent] <= totals[m.intent] // 2 else matched).append(m)
    rng.shuffle(matched)
    half = min(len(matched) // 2, cap)
    no_match_a = [(m, True) for m in messages if m.intent in group_a][:cap]
    no_match_b = [(m, True) for m in messages if m.intent in group_b][:cap]
    fit = [(m, False) for m in matched[:half]] + no_match_a
    measure = [(m, False) for m in matched[half : 2 * half]] + no_match_b
    return Split(cases, fit, measure)


def document(i: int, m: LabelledMessage, regime: str) -> retrieval.CaseDocument:
    tags = [m.category.lower()] if regime == "tags" and m.category else []
    metadata = {"intent": m.intent} | ({"resolution": m.intent} if regime == "resolution" else {})
    return retrieval.CaseDocument(f"c{i}", m.text, m.resolution or m.intent, tags, metadata)


def assess(
    index: retrieval.Index,
    queries: Sequence[tuple[LabelledMessage, bool]],
    policy: retrieval.VerdictPolicy | None = None,
) -> list[tuple[retrieval.Assessment, bool, bool]]:
    """(verdict, answered hit right, no-match) per query."""
    out = []
    for m, no_match in queries:
        verdict = index.assess(m.text[:2000], policy=policy)
        right = bool(verdict.hits) and verdict.hits[0].metadata.get("intent") == m.intent
        out.append((verdict, right and not no_match, no_match))
    return out


def figures(judged: Sequence[tuple[retrieval.Assessment, bool, bool]]) -> dict[str, str]:
    answered = np.array([v.action == "answer" for v, _, _ in judged])
    right = np.array([r for _, r, _ in judged])
    no_match = np.array([nm for _, _, nm in judged])
    estimates = bootstrap_ratios({
        "answered (of matched queries)": ratio(answered & ~no_match, ~no_match),
        "answered precision": ratio(answered & right, answered),
        "no-match escalated": ratio(no_match & ~answered, no_match),
    })  # fmt: skip
    return {
        name: "n/a" if e.value is None
        else f"{100 * e.value:.1f}% [{100 * (e.low or 0):.1f}, {100 * (e.high or 0):.1f}]"
        for name, e in estimates.items()
    }  # fmt: skip


def indexes(cases: Sequence[LabelledMessage], regimes: Sequence[str], work: Path) -> dict[str, retrieval.Index]:  # fmt: skip
    settings = retrieval.RetrievalSettings(publish_interval=3600.0, reload_interval=0.0)
    out = {}
    for regime in regimes:
        index = retrieval.open_index(work / regime, settings=settings)
        index.upsert(document(i, m, regime) for i, m in enumerate(cases))
        out[regime] = index
    return out


def fit_default(data: Split, work: Path) -> tuple[retrieval.VerdictPolicy, list[list[str]]]:
    built = indexes(data.cases, REGIMES, work / "banking77")
    samples = []
    for regime, index in built.items():
        for verdict, right, no_match in assess(index, data.fit):
            samples.append(retrieval.CalibrationSample(verdict.figures, right, no_match))
        print(f"  assessed the fitting queries ({regime})", flush=True)
    policy = retrieval.calibrate(
        samples, TARGET, confidence_level=CONFIDENCE, no_match_escalation=GUARD
    )
    rows = [["BANKING77 " + ("resolution codes" if r == "resolution" else "no labels"),
             *figures(assess(index, data.measure, policy)).values()]
            for r, index in built.items()]  # fmt: skip
    for index in built.values():
        index.close()
    return policy, rows


def bitext_rows(path: Path, policy: retrieval.VerdictPolicy, cap: int, work: Path) -> list[list[str]]:  # fmt: skip
    data = split(read_bitext(path), held=3, cap=cap, seed=27)
    built = indexes(data.cases, ("none", "tags", "resolution"), work / "bitext")
    rows = []
    names = {"none": "no labels", "tags": "category tags", "resolution": "resolution codes"}
    for regime, index in built.items():
        rows.append([f"Bitext {names[regime]}", *figures(assess(index, data.measure, policy)).values()])  # fmt: skip
        index.close()
    return rows


def table(rows: list[list[str]]) -> str:
    header = ["set (measuring queries, never fitted on)", "answered (of matched queries)",
              "answered precision", "no-match escalated"]  # fmt: skip
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    return "\n".join(lines + ["| " + " | ".join(row) + " |" for row in rows])


def defaults_block(policy: retrieval.VerdictPolicy) -> str:
    d = policy.to_dict()
    f = {k: round(v, 4) if isinstance(v, float) else v for k, v in d.items()}
    weights = ", ".join(f"{w:.4f}" for w in policy.weights)
    return "\n".join([
        f"    weights: tuple[float, ...] = ({weights}{',' if len(policy.weights) == 1 else ''})",
        *(f"    {name}: float = {f[name]!r}" for name in ("bias", "answer_threshold",
          "no_match_threshold", "evidence_floor", "lexical_floor", "conflict_margin",
          "target_precision", "confidence_level", "no_match_escalation")),
        f"    samples: int = {policy.samples}",
        f"    no_match_samples: int = {policy.no_match_samples}",
        "    features: tuple[str, ...] = "
        + ("FEATURES" if policy.features == FEATURES else repr(tuple(policy.features))),
    ])  # fmt: skip


def replace(path: Path, begin: str, end: str, body: str) -> None:
    text = path.read_text(encoding="utf-8")
    pattern = re.compile(rf"({re.escape(begin)}[^\n]*\n).*?(\n[ \t]*{re.escape(end)})", re.S)
    if not pattern.search(text):
        raise SystemExit(f"{path}: markers {begin!r} … {end!r} not found")
    path.write_text(pattern.sub(lambda m: m.group(1) + body + m.group(2), text), encoding="utf-8")


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    env = os.environ.get("CASELOOP_DATA_DIR")
    parser.add_argument("--data-dir", type=Path, default=Path(env) if env else None)
    parser.add_argument("--write", action="store_true", help="update verdict.py and the docs")
    parser.add_argument("--quick", action="store_true", help="at most 300 queries per half")
    args = parser.parse_args()
    banking = args.data_dir / "banking77" / "train.csv" if args.data_dir else None
    if banking is None or not banking.exists():
        print("default policy fit skipped: BANKING77 train.csv not found (pass --data-dir)")
        return
    cap = 300 if args.quick else 2000
    started = time.perf_counter()
    work = Path(tempfile.mkdtemp(prefix="caseloop-verdict-"))
    data = split(read_banking77(banking), held=10, cap=cap, seed=77)
    encoder = retrieval.RetrievalSettings().encoder
    print(f"# default verdict policy ({encoder}); BANKING77: {len(data.cases)} cases, "
          f"{len(data.fit)} fitting and {len(data.measure)} measuring queries", flush=True)  # fmt: skip
    policy, rows = fit_default(data, work)
    bitext = sorted((args.data_dir / "bitext_customer_support").glob("*.csv"))
    if bitext:
        rows += bitext_rows(bitext[0], policy, cap, work)
    print(table(rows))
    print(f"\npolicy ({time.perf_counter() - started:.0f} s):\n{defaults_block(policy)}")
    if args.write:
        replace(ROOT / "retrieval" / "verdict.py", "# BEGIN FITTED DEFAULTS", "# END FITTED DEFAULTS",
                defaults_block(policy))  # fmt: skip
        replace(ROOT / "docs" / "retrieval.md", "<!-- DEFAULT POLICY:BEGIN", "<!-- DEFAULT POLICY:END",
                f"\nEncoder `{encoder}`; {policy.samples} fitting samples ({policy.no_match_samples} "
                f"no-match).\n\n{table(rows)}\n")  # fmt: skip
        print("written: retrieval/verdict.py, docs/retrieval.md")


if __name__ == "__main__":
    main()
