"""Dense encoder backends compared on speed and quality: torch vs onnx fp32 vs onnx int8.

Prints, per backend of the same packaged all-MiniLM-L6-v2: load time, document throughput,
single-query latency (p50/p95), cosine agreement with torch, and SemEval-2016 task 3 subtask B
dev MAP for the dense retriever and for hybrid search; then a fusion sweep (RRF constant and
weights) chosen on train-part2 and reported on dev. Ratios are against torch measured in the
same run. Usage::

    python benchmarks/encoders.py [--quick] [--data DEV.xml] [--train TRAIN.xml]

The SemEval files are not shipped (research-only licence): without them the quality part is
skipped and the output says so. Last, it fits the verdict policy shipped as the default on
BANKING77 (``--banking``, CC BY 4.0) and measures it on held-out queries.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import semeval

import retrieval
from retrieval.dense import load_encoder
from retrieval.index import Index

BACKENDS = ("torch", "onnx-fp32", "onnx-int8")
DEFAULT_TRAIN = Path(
    "../shared/data/semeval2016_task3/train/SemEval2016-Task3-CQA-QL-train-part2.xml"
)


def _pct(values: list[float], q: float) -> float:
    return float(np.percentile(values, q))


def speed(
    backend: str, docs: list[str], queries: list[str], model_dir: Path, repeats: int
) -> dict[str, float]:
    t0 = time.perf_counter()
    encoder = load_encoder(backend, threads=1, model_dir=model_dir)
    encoder.encode(["warm up"])
    load = time.perf_counter() - t0
    t0 = time.perf_counter()
    encoder.encode(docs)
    throughput = len(docs) / (time.perf_counter() - t0)
    latencies = []
    for _ in range(repeats):
        for q in queries:
            t0 = time.perf_counter()
            encoder.encode([q])
            latencies.append(1000 * (time.perf_counter() - t0))
    return {
        "load_s": load,
        "docs_per_s": throughput,
        "query_p50_ms": _pct(latencies, 50),
        "query_p95_ms": _pct(latencies, 95),
    }


def build(
    questions: list[semeval.Question], settings: retrieval.RetrievalSettings, folder: Path
) -> Index:
    index = retrieval.open_index(folder, settings=settings)
    index.upsert(
        retrieval.CaseDocument(c.rel_id, c.text, c.text[:200], [], {"group": q.org_id})
        for q in questions
        for c in q.candidates
    )
    index.publish()
    return index


def quality(index: Index, questions: list[semeval.Question], mode: str) -> float:
    def order(q: semeval.Question) -> list[str]:
        hits = index.search(q.text[:2000], k=10, filters={"group": q.org_id}, mode=mode)  # type: ignore[arg-type]
        return [h.case_id for h in hits]

    return semeval.mean_average_precision(questions, order)


def with_fusion(index: Index, settings: retrieval.RetrievalSettings, **update: float) -> Index:
    manifest = index.engine.manifest() or {}
    return Index(index.engine, settings.model_copy(update=update), manifest)


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument(
        "--quick", action="store_true", help="fewer repetitions, 200 documents for speed"
    )
    parser.add_argument(
        "--data", type=Path, default=semeval.DEFAULT_DEV, help="SemEval-2016 task 3 dev XML"
    )
    parser.add_argument(
        "--train", type=Path, default=DEFAULT_TRAIN, help="train-part2 XML (fusion choice)"
    )
    parser.add_argument(
        "--banking", type=Path, default=DEFAULT_BANKING, help="BANKING77 train.csv (policy)"
    )
    args = parser.parse_args()
    have_dev = args.data.exists()
    dev = semeval.load(args.data) if have_dev else []
    docs = [c.text for q in dev for c in q.candidates] or [
        f"sample support text number {i} " * 10 for i in range(500)
    ]
    queries = [q.text for q in dev] or [f"short customer question {i}" for i in range(50)]
    if args.quick:
        docs = docs[:200]
    repeats = 1 if args.quick else 3
    work = Path(tempfile.mkdtemp(prefix="caseloop-bench-"))
    print(
        f"# dense encoder backends (all-MiniLM-L6-v2, 1 thread); docs: {len(docs)} "
        f"{'SemEval dev candidates' if have_dev else 'synthetic (no SemEval data found)'}"
    )
    results: dict[str, dict[str, float]] = {}
    reference = None
    for backend in BACKENDS:
        results[backend] = speed(backend, docs, queries, work / "models", repeats)
        vectors = load_encoder(backend, threads=1, model_dir=work / "models").encode(docs[:200])
        if reference is None:
            reference = vectors
        results[backend]["cosine_to_torch_min"] = float(np.min(np.sum(vectors * reference, axis=1)))
        if have_dev:
            settings = retrieval.RetrievalSettings(
                encoder=backend,
                model_dir=work / "models",
                filter_keys=["group"],
                publish_interval=3600.0,
            )
            index = build(dev, settings, work / f"idx-{backend}")
            results[backend]["map_dense"] = quality(index, dev, "dense")
            results[backend]["map_hybrid"] = quality(index, dev, "hybrid")
            if backend == BACKENDS[-1]:
                results[backend]["map_bm25"] = quality(index, dev, "bm25")
            index.close()
    base = results["torch"]
    print(
        f"{'backend':10} {'load s':>7} {'docs/s':>7} {'x torch':>7} {'q p50 ms':>8} {'q p95 ms':>8} "
        f"{'x torch':>7} {'cos min':>7} {'MAP dense':>9} {'MAP hybrid':>10}"
    )
    for backend, r in results.items():
        print(
            f"{backend:10} {r['load_s']:7.2f} {r['docs_per_s']:7.1f} {r['docs_per_s'] / base['docs_per_s']:7.2f} "
            f"{r['query_p50_ms']:8.2f} {r['query_p95_ms']:8.2f} {base['query_p50_ms'] / r['query_p50_ms']:7.2f} "
            f"{r['cosine_to_torch_min']:7.4f} {r.get('map_dense', float('nan')):9.2f} "
            f"{r.get('map_hybrid', float('nan')):10.2f}"
        )
    if have_dev:
        print(
            f"SemEval-2016 subtask B dev MAP: organisers' IR baseline "
            f"{semeval.mean_average_precision(dev, semeval.engine_order):.2f}, "
            f"BM25 (ours) {results[BACKENDS[-1]]['map_bm25']:.2f}"
        )
        fusion_sweep(dev, args.train, work, args.quick)
    else:
        print(f"quality skipped: {args.data} not found (pass --data)")
    if args.banking.exists():
        default_policy(args.banking, work, args.quick)
    else:
        print(f"default policy fit skipped: {args.banking} not found (pass --banking)")


def fusion_sweep(dev: list[semeval.Question], train_path: Path, work: Path, quick: bool) -> None:
    """Choose the RRF constant and weights on train-part2, report them on dev."""
    settings = retrieval.RetrievalSettings(
        model_dir=work / "models", filter_keys=["group"], publish_interval=3600.0
    )
    grid = [
        (k, wb, wd)
        for k in (2, 10, 30, 60, 100)
        for wb, wd in ((1.0, 1.0), (1.0, 1.5), (1.0, 2.0), (2.0, 1.0), (1.0, 3.0))
    ]
    if quick:
        grid = [(k, 1.0, wd) for k in (2, 60) for wd in (1.0, 1.5)]
    rows = []
    train = semeval.load(train_path) if train_path.exists() else []
    dev_index = build(dev, settings, work / "sweep-dev")
    train_index = build(train, settings, work / "sweep-train") if train else None
    for k, wb, wd in grid:
        update = {"rrf_k": k, "weight_bm25": wb, "weight_dense": wd}
        tr = (
            quality(with_fusion(train_index, settings, **update), train, "hybrid")
            if train_index
            else float("nan")
        )
        rows.append(
            (tr, quality(with_fusion(dev_index, settings, **update), dev, "hybrid"), k, wb, wd)
        )
    print(
        f"# fusion sweep (onnx-int8), hybrid MAP; train-part2: {len(train)} questions, dev: {len(dev)}"
    )
    print(f"{'rrf_k':>5} {'w_bm25':>6} {'w_dense':>7} {'MAP train':>9} {'MAP dev':>7}")
    for tr, dv, k, wb, wd in sorted(rows, key=lambda r: -r[0] if train else -r[1]):
        print(f"{k:5d} {wb:6.1f} {wd:7.1f} {tr:9.2f} {dv:7.2f}")
    best = max(rows, key=lambda r: r[0] if train else r[1])
    print(
        f"chosen on {'train' if train else 'dev (no train file)'}: rrf_k={best[2]} w_bm25={best[3]} "
        f"w_dense={best[4]} -> dev MAP {best[1]:.2f} (median over grid {statistics.median(r[1] for r in rows):.2f})"
    )
    dev_index.close()
    if train_index:
        train_index.close()


DEFAULT_BANKING = Path("../shared/data/banking77/train.csv")


def default_policy(path: Path, work: Path, quick: bool) -> None:
    """Fit the verdict policy shipped as the default (``VerdictPolicy()``) on BANKING77.

    10 of the 77 intents are held out of the index (their queries have no right answer); of the
    others, the first half of each intent's rows (file order) become cases tagged with the
    intent, the rest are queries. Queries are split in two seeded halves: the policy is fitted
    on one for 0.9 precision and measured on the other.
    """
    import csv
    import random

    with path.open(newline="") as f:
        rows = [(r["text"], r["category"]) for r in csv.DictReader(f)]
    intents = sorted({c for _, c in rows})
    rng = random.Random(77)
    held_out = set(rng.sample(intents, 10))
    seen: dict[str, int] = {}
    totals = {i: sum(1 for _, c in rows if c == i) for i in intents}
    cases, queries = [], []
    for text, intent in rows:
        seen[intent] = seen.get(intent, 0) + 1
        if intent not in held_out and seen[intent] <= totals[intent] // 2:
            cases.append(retrieval.CaseDocument(f"{intent}-{seen[intent]}", text, intent, [intent]))
        else:
            queries.append((text, intent))
    rng.shuffle(queries)
    queries = queries[: 400 if quick else 2000]
    settings = retrieval.RetrievalSettings(model_dir=work / "models", publish_interval=3600.0)
    half = len(queries) // 2
    with retrieval.open_index(work / "banking", settings=settings) as index:
        index.upsert(cases)
        samples = []
        for text, intent in queries[:half]:
            verdict = index.assess(text)
            right = bool(verdict.hits) and verdict.hits[0].tags == (intent,)
            samples.append(retrieval.CalibrationSample(verdict.figures, right))
        policy = retrieval.calibrate(samples, target_precision=0.9)
        outcomes = []
        for text, intent in queries[half:]:
            verdict = index.assess(text, policy=policy)
            outcomes.append(
                (
                    verdict.action,
                    verdict.reason,
                    verdict.hits[0].tags == (intent,) if verdict.hits else False,
                )
            )
    answered = [right for action, _, right in outcomes if action == "answer"]
    reasons = {
        r: sum(1 for _, reason, _ in outcomes if reason == r)
        for r in ("no_evidence", "conflict", "low_confidence")
    }
    print(
        f"# verdict policy fitted on BANKING77 ({len(cases)} cases, {len(queries)} queries, "
        f"10 intents held out; {settings.encoder}); fitted on {half} queries, measured on {len(outcomes)}"
    )
    print(
        f"top-1 right on the fitting half: {100 * sum(s.correct for s in samples) / len(samples):.1f}%; "
        f"other half: answered {100 * len(answered) / len(outcomes):.1f}%, precision "
        f"{100 * sum(answered) / max(1, len(answered)):.1f}% (target 90%); escalations by reason {reasons}"
    )
    print(
        "policy:",
        {k: (round(v, 4) if isinstance(v, float) else v) for k, v in policy.to_dict().items()},
    )


if __name__ == "__main__":
    main()
