"""Dense encoder backends compared on speed and held-out quality, and the default chosen by rule.

Backends of the same packaged all-MiniLM-L6-v2: ``torch`` (the reference and the speed
baseline), ``onnx-fp32``, ``onnx-int8`` and ``onnx-int8-mixed`` (int8 with the feed-forward
down-projections kept fp32). Printed, per backend:

- speed: load time, document throughput, query embedding p50/p95 (1 thread) and the whole
  ``assess`` query path p50/p95 on the BANKING77 index, every figure also as a ratio to torch
  measured in the same run; queries are timed round-robin over the backends so that load from
  other jobs on the machine falls on all of them alike;
- held-out quality of the ONNX backends on every labelled set found (`evaluation`'s own
  converters and defaults, 1,000 queries a set; torch only with ``--torch-quality``: its vectors
  are onnx-fp32's, cosine 1.0000, so it is the speed baseline here):
  MRR of the dense and the hybrid ranking (`evaluate_retrieval`), and the escalation replay at
  95% target precision (`escalation_replay`, cross-fitted verdict): escalation drop, answered
  precision, no-match escalated, each with its 95% interval, and the paired difference of the
  drop to onnx-int8;
- the choice: among backends whose ``assess`` p95 is within the budget (15 ms), the one with the
  best *worst-case* escalation drop over the sets.

The full run takes about half an hour on 2 shared cores (``--quick``: 200 queries a set, one
timing round). ``--sensitivity`` adds the node-by-node int8 scan behind ``onnx-int8-mixed``. The fusion rule
and the default verdict policy are chosen by ``benchmarks/fusion.py`` and
``benchmarks/verdict.py``.

Usage::

    CASELOOP_BENCH_DATA=path/to/data python benchmarks/encoders.py [--quick] [--sensitivity]

``CASELOOP_BENCH_DATA`` (or ``--data``) is a folder holding ``banking77/train.csv``,
``bitext_customer_support/*.csv`` and ``semeval2016_task3/``; what is missing is skipped.
"""

from __future__ import annotations

import argparse
import os
import random
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import retrieval
from evaluation import (
    Dataset,
    bootstrap_ratios,
    convert_banking77,
    convert_bitext,
    convert_semeval,
    escalation_replay,
    evaluate_retrieval,
)
from evaluation.bootstrap import paired_differences, ratio
from retrieval.dense import load_encoder

BACKENDS = ("torch", "onnx-fp32", "onnx-int8", "onnx-int8-mixed")
BUDGET_MS = 15.0
SETS = {
    "BANKING77": "banking77/train.csv",
    "Bitext": "bitext_customer_support/Bitext_Sample_Customer_Support_Training_Dataset.v337b968.csv",
    "SemEval dev": "semeval2016_task3/dev/SemEval2016-Task3-CQA-QL-dev.xml",
}


def _pct(values: list[float], q: float) -> float:
    return float(np.percentile(values, q))


def load_datasets(folder: Path | None, quick: bool, only: set[str]) -> dict[str, Dataset]:
    """Each labelled set found in ``folder`` (of ``only``, if given), with the converters' defaults."""
    convert = {
        "BANKING77": convert_banking77,
        "Bitext": convert_bitext,
        "SemEval dev": convert_semeval,
    }
    found = {}
    for name, relative in SETS.items():
        if only and name not in only:
            continue
        path = (folder / relative) if folder else None
        if path is None or not path.exists():
            print(f"{name} skipped: not found (give --data or CASELOOP_BENCH_DATA)")
            continue
        data = convert[name](path)
        if quick:
            data = Dataset(data.cases, data.queries[:200])
        found[name] = data
    return found


def speed(
    models: Path, docs: list[str], queries: list[str], rounds: int
) -> dict[str, dict[str, float]]:
    """Load time, documents/s and single-query embedding latency per backend, interleaved."""
    encoders, out = {}, {}
    for backend in BACKENDS:
        started = time.perf_counter()
        encoders[backend] = load_encoder(backend, threads=1, model_dir=models)
        encoders[backend].encode(["warm up"])
        out[backend] = {"load_s": time.perf_counter() - started}
        started = time.perf_counter()
        encoders[backend].encode(docs)
        out[backend]["docs_per_s"] = len(docs) / (time.perf_counter() - started)
    latencies = _interleaved(
        {b: (lambda q, e=e: e.encode([q])) for b, e in encoders.items()}, queries, rounds
    )
    for backend, values in latencies.items():
        out[backend].update(embed_p50=_pct(values, 50), embed_p95=_pct(values, 95))
    return out


def _interleaved(calls: dict[str, Any], queries: list[str], rounds: int) -> dict[str, list[float]]:
    """Milliseconds per call, each query timed on every backend in a shuffled order."""
    rng = random.Random(0)
    times: dict[str, list[float]] = {name: [] for name in calls}
    for _ in range(rounds):
        for query in queries:
            order = list(calls)
            rng.shuffle(order)
            for name in order:
                started = time.perf_counter()
                calls[name](query)
                times[name].append(1000 * (time.perf_counter() - started))
    return times


def quality(
    name: str, data: Dataset, models: Path, work: Path, backends: tuple[str, ...]
) -> dict[str, dict[str, Any]]:
    """MRR (dense, hybrid) and the escalation replay of each backend on one data set."""
    rows: dict[str, dict[str, Any]] = {}
    answered: dict[str, np.ndarray] = {}
    for backend in backends:
        started = time.perf_counter()
        settings = retrieval.RetrievalSettings(
            encoder=backend, model_dir=models, publish_interval=3600.0
        )
        folder = work / f"{name}-{backend}".replace(" ", "-")
        ranking = evaluate_retrieval(
            data, settings=settings, modes=("dense", "hybrid"), workdir=folder
        )
        row: dict[str, Any] = {"index": folder / "index"}
        for mode, scores in ranking.scores.items():
            per_query = np.array(list(scores.per_query["mrr"].values()))
            row[f"mrr_{mode}"] = bootstrap_ratios({"mrr": ratio(per_query)})["mrr"]
        if any(q.asked_at for q in data.queries):  # the replay needs a time line
            report = escalation_replay(data, target_precision=0.95, settings=settings)
            figures = report.as_dict()
            row.update(
                {
                    k: figures[k]
                    for k in ("escalation_drop", "answered_precision", "no_match_escalated")
                }
            )
            answered[backend] = np.array([s.answered for s in report.steps], dtype=float)
        rows[backend] = row
        print(f"  {name} {backend} done in {time.perf_counter() - started:.0f} s", flush=True)
    for backend in answered:
        pair = (ratio(answered[backend]), ratio(answered["onnx-int8"]))
        rows[backend]["drop_vs_int8"] = paired_differences({"drop": pair})["drop"]
    return rows


def indexes_only(
    name: str, data: Dataset, models: Path, work: Path, backends: tuple[str, ...]
) -> dict[str, dict[str, Any]]:
    """Just an index of the set's cases per backend (for the timing alone)."""
    from evaluation.casebase import case_document

    rows = {}
    for backend in backends:
        settings = retrieval.RetrievalSettings(encoder=backend, model_dir=models)
        folder = work / f"{name}-{backend}-timing" / "index"
        with retrieval.open_index(folder, settings=settings) as index:
            index.upsert(case_document(case) for case in data.cases)
        rows[backend] = {"index": folder}
    return rows


def query_path(rows: dict[str, dict[str, Any]], data: Dataset, models: Path, rounds: int) -> None:
    """``assess`` p50/p95 per backend on its own index of the set (interleaved)."""
    indexes = {}
    for backend, row in rows.items():
        settings = retrieval.RetrievalSettings(
            encoder=backend, model_dir=models, reload_interval=3600.0
        )
        indexes[backend] = retrieval.open_index(row["index"], settings=settings, create=False)
        indexes[backend].assess("warm up")
    texts = [q.text for q in data.queries][:300]
    times = _interleaved({b: i.assess for b, i in indexes.items()}, texts, rounds)
    for backend, values in times.items():
        rows[backend].update(assess_p50=_pct(values, 50), assess_p95=_pct(values, 95))
        indexes[backend].close()


def _est(e: Any, points: bool = True) -> str:
    value = e["value"] if isinstance(e, dict) else e.value
    low, high = (e["low"], e["high"]) if isinstance(e, dict) else (e.low, e.high)
    scale = 100 if points else 1
    return f"{scale * value:.1f} [{scale * low:.1f}, {scale * high:.1f}]"


def report(
    speeds: dict[str, dict[str, float]], results: dict[str, dict[str, dict[str, Any]]]
) -> None:
    base = speeds["torch"]
    print("\n# speed (1 thread; ratios to torch in the same run, > 1 is faster)")
    print(
        f"{'backend':16} {'load s':>6} {'docs/s':>7} {'x':>5} {'embed p50':>9} {'p95 ms':>7} {'x p95':>6}"
    )
    for backend, r in speeds.items():
        print(
            f"{backend:16} {r['load_s']:6.1f} {r['docs_per_s']:7.1f} {r['docs_per_s'] / base['docs_per_s']:5.2f} "
            f"{r['embed_p50']:9.2f} {r['embed_p95']:7.2f} {base['embed_p95'] / r['embed_p95']:6.2f}"
        )
    for name, rows in results.items():
        print(f"\n# {name} (MRR and figures in %, 95% intervals)")
        print(
            f"{'backend':16} {'MRR dense':>18} {'MRR hybrid':>18} {'drop':>18} {'precision':>18} "
            f"{'no-match esc.':>18} {'drop - int8':>18} {'assess p50/p95 ms':>18} {'x torch p95':>11}"
        )
        torch_p95 = rows.get("torch", {}).get("assess_p95")
        for backend, r in rows.items():
            replayed = "escalation_drop" in r
            cells = [_est(r[k]) if k in r else "n/a" for k in ("mrr_dense", "mrr_hybrid")]
            cells += [
                _est(r[k]) if replayed else "n/a"
                for k in (
                    "escalation_drop",
                    "answered_precision",
                    "no_match_escalated",
                    "drop_vs_int8",
                )
            ]
            timing = (
                f"{r['assess_p50']:.2f} / {r['assess_p95']:.2f}" if "assess_p95" in r else "n/a"
            )
            ratio_p95 = (
                f"{torch_p95 / r['assess_p95']:.2f}" if "assess_p95" in r and torch_p95 else "n/a"
            )
            print(
                f"{backend:16} "
                + " ".join(f"{c:>18}" for c in cells)
                + f" {timing:>18} {ratio_p95:>11}"
            )
    choose(results)


def choose(results: dict[str, dict[str, dict[str, Any]]]) -> None:
    """Best worst-case escalation drop among backends within the query budget."""
    replayed = {n: rows for n, rows in results.items() if "escalation_drop" in rows["onnx-int8"]}
    timed = next((rows for rows in results.values() if "assess_p95" in rows["onnx-int8"]), None)
    if not replayed or timed is None:
        print("\nchoice skipped: needs a replayed set and the query-path timing")
        return
    print(f"\n# choice: assess p95 within {BUDGET_MS} ms, then the best worst-case escalation drop")
    eligible = []
    for backend in BACKENDS:
        if any(backend not in rows for rows in replayed.values()):
            print(f"{backend:16} no held-out quality measured (--torch-quality): not eligible")
            continue
        worst = min(rows[backend]["escalation_drop"]["value"] for rows in replayed.values())
        within = timed[backend]["assess_p95"] <= BUDGET_MS
        eligible += [(worst, backend)] if within else []
        print(
            f"{backend:16} worst-case drop {100 * worst:.1f}%  p95 {timed[backend]['assess_p95']:.2f} ms "
            f"{'within' if within else 'over'} budget"
        )
    if eligible:
        print(f"chosen: {max(eligible)[1]}")


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument(
        "--quick", action="store_true", help="200 queries per set, one timing round"
    )
    parser.add_argument(
        "--data",
        type=Path,
        default=os.environ.get("CASELOOP_BENCH_DATA"),
        help="folder of the labelled sets (or CASELOOP_BENCH_DATA)",
    )
    parser.add_argument("--sensitivity", action="store_true", help="node-by-node int8 scan")
    parser.add_argument("--sets", default="", help="comma list of sets (default: all found)")
    parser.add_argument("--skip", default="", help="quality: time the query path only")
    parser.add_argument(
        "--torch-quality",
        action="store_true",
        help="measure torch's quality too (its vectors are onnx-fp32's: cosine 1.0000)",
    )
    args = parser.parse_args()
    folder = Path(args.data) if args.data else None
    work = Path(tempfile.mkdtemp(prefix="caseloop-bench-"))
    models = work / "models"
    rounds = 1 if args.quick else 3
    datasets = load_datasets(folder, args.quick, {n for n in args.sets.split(",") if n})
    texts = [c.problem for d in datasets.values() for c in d.cases][:500] or [
        f"sample support text number {i} " * 10 for i in range(500)
    ]
    queries = [q.text for d in datasets.values() for q in d.queries][:100] or [
        f"short customer question {i}" for i in range(50)
    ]
    print(
        f"# dense encoder backends (all-MiniLM-L6-v2); sets: {', '.join(datasets) or 'none (synthetic speed only)'}"
    )
    if args.sensitivity:
        sensitivity(models, texts[:200])
    skip = set(args.skip.split(","))
    speeds = speed(models, texts, queries, rounds)
    measured: tuple[str, ...] = BACKENDS if args.torch_quality else BACKENDS[1:]
    if "quality" in skip:
        measured = ()
        datasets = {n: d for n, d in datasets.items() if n == "BANKING77"}
    results = {n: quality(n, d, models, work, measured) for n, d in datasets.items()}
    if "BANKING77" in results:
        timing_only = tuple(b for b in BACKENDS if b not in measured)
        results["BANKING77"] |= indexes_only(
            "BANKING77", datasets["BANKING77"], models, work, timing_only
        )
        results["BANKING77"] = {b: results["BANKING77"][b] for b in BACKENDS}
        query_path(results["BANKING77"], datasets["BANKING77"], models, rounds)
    report(speeds, results)


def sensitivity(models: Path, texts: list[str]) -> None:
    """Cosine to fp32 with every weight MatMul int8 but one: the layers int8 hurts most."""
    import onnx
    from onnxruntime.quantization import QuantType, quantize_dynamic

    from retrieval.dense import OnnxEncoder
    from retrieval.export import export
    from retrieval.model import resolve_model

    model = resolve_model(None)
    fp32 = export(model, models / "scan", ["onnx-fp32"])[0]
    reference = OnnxEncoder(model, fp32, "onnx-fp32").encode(texts)
    weights = {i.name for i in onnx.load(str(fp32)).graph.initializer}
    nodes = [
        n.name
        for n in onnx.load(str(fp32)).graph.node
        if n.op_type == "MatMul" and n.input[1] in weights
    ]

    def cosine(excluded: list[str]) -> float:
        target = models / "scan" / "probe.onnx"
        quantize_dynamic(
            str(fp32), str(target), weight_type=QuantType.QInt8, nodes_to_exclude=excluded
        )
        vectors = np.vstack([OnnxEncoder(model, target, "probe").encode([t]) for t in texts])
        return float(np.mean(np.sum(vectors * reference, axis=1)))

    everything = cosine([])
    gains = sorted(((cosine([n]) - everything, n) for n in nodes), reverse=True)
    print(
        f"# int8 sensitivity: mean cosine to fp32 over {len(texts)} texts, all {len(nodes)} weight MatMuls int8: {everything:.4f}"
    )
    for gain, node in gains[:10]:
        print(f"  kept fp32: {node:60} +{gain:.4f}")


if __name__ == "__main__":
    main()
