"""Choose the fusion rule by its worst case over every labelled set (and check the shipped default).

Sets: the bundled slices (always), and from the data folder when given (``--data-dir`` or
``CASELOOP_DATA_DIR``; the layout of the project's shared data: ``banking77/train.csv``,
``bitext_customer_support/*.csv``, ``semeval2016_task3/{dev,train}/*.xml``) the full BANKING77 and
Bitext splits (the converters' defaults) and SemEval-2016 task 3 dev and train-part2; plus any
converted folder (``cases.jsonl`` + ``queries.jsonl``) named with ``--jsonl NAME=DIR``, e.g. the
store of a demo run converted by ``caseloop eval convert store``.

For every set, each query's dense and BM25 candidates are fetched once; every rule of the grid
(weighted RRF, dense-first) is then applied to them with `retrieval.fuse`. The rule chosen is the
one whose worst gain over dense alone (any set, MAP or MRR) is largest; leave-one-group-out
shows what the choice gives on a group of sets it never saw. Usage::

    python benchmarks/fusion.py [--data-dir DIR] [--jsonl store=DIR] [--quick]
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from collections.abc import Callable
from pathlib import Path

import pandas as pd

# benchmarks/retrieval.py would shadow the package: the repository root goes first.
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import evaluation
import retrieval
from evaluation import convert_banking77, convert_bitext, convert_semeval, load_dataset
from evaluation.tuning import (
    candidate_lists,
    choose_fusion,
    dense_first_grid,
    fusion_table,
    grid,
    label,
    leave_one_out,
    worst_case,
)

BUNDLED = Path(evaluation.__file__).parent / "data"
BEFORE = {"fusion": "rrf", "rrf_k": 60, "weight_dense": 1.5, "weight_bm25": 1.0}


def sources(data_dir: Path | None, jsonl: list[str]) -> dict[str, Callable[[], evaluation.Dataset]]:
    """Every labelled set this run can read, by name."""
    found: dict[str, Callable[[], evaluation.Dataset]] = {
        "bundled-semeval": lambda: convert_semeval(BUNDLED / "semeval2016" / "dev-sample.xml"),
        "bundled-banking77": lambda: convert_banking77(BUNDLED / "banking77" / "train-sample.csv"),
        "bundled-bitext": lambda: convert_bitext(BUNDLED / "bitext" / "sample.csv"),
    }
    if data_dir is not None:
        semeval = data_dir / "semeval2016_task3"
        for name, path in (
            ("semeval-dev", semeval / "dev" / "SemEval2016-Task3-CQA-QL-dev.xml"),
            ("semeval-train2", semeval / "train" / "SemEval2016-Task3-CQA-QL-train-part2.xml"),
        ):
            if path.exists():
                found[name] = lambda path=path: convert_semeval(path)
        if (data_dir / "banking77" / "train.csv").exists():
            found["banking77"] = lambda: convert_banking77(data_dir / "banking77" / "train.csv")
        for path in sorted((data_dir / "bitext_customer_support").glob("*.csv")):
            found["bitext"] = lambda path=path: convert_bitext(path)
    for item in jsonl:
        name, _, folder = item.partition("=")
        found[name] = lambda f=Path(folder): load_dataset(f / "cases.jsonl", f / "queries.jsonl")
    return found


def group(name: str) -> str:
    """Sets drawn from the same source form one group for leave-one-group-out."""
    for source in ("semeval", "banking77", "bitext"):
        if source in name:
            return source
    return name


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    env = os.environ.get("CASELOOP_DATA_DIR")
    parser.add_argument("--data-dir", type=Path, default=Path(env) if env else None)
    parser.add_argument("--jsonl", action="append", default=[], metavar="NAME=DIR")
    parser.add_argument("--quick", action="store_true", help="bundled slices and a small grid")
    args = parser.parse_args()
    settings = [*grid(rrf_k=(10, 30, 60, 100), weight_dense=(1.0, 1.5, 2.0, 3.0, 5.0)),
                *dense_first_grid()]  # fmt: skip
    found = sources(None if args.quick else args.data_dir, args.jsonl)
    if args.quick:
        settings = [BEFORE, *dense_first_grid((0.02, 0.03), (1.1, 1.25))]
    base = retrieval.RetrievalSettings(publish_interval=3600.0, reload_interval=0.0)
    print(
        f"# fusion choice; encoder {base.encoder}; sets: {', '.join(found)}; {len(settings)} rules"
    )
    sets = {}
    for name, load in found.items():
        started = time.perf_counter()
        dataset = load()
        sets[name] = (dataset, candidate_lists(dataset, base=base))
        print(f"  {name}: {len(dataset.cases)} cases, {len(dataset.queries)} queries, "
              f"candidates in {time.perf_counter() - started:.0f} s", flush=True)  # fmt: skip
    default = {"fusion": base.fusion, "tie_margin": base.tie_margin,
               "lexical_lead": base.lexical_lead}  # fmt: skip
    rules = {label(s): s for s in ["dense", "bm25", BEFORE, *settings, default]}  # grid order
    table = fusion_table(sets, list(rules.values()))
    report(table, label(default), {name: group(name) for name in sets})


def report(table: pd.DataFrame, default: str, groups: dict[str, str]) -> None:
    pd.set_option("display.width", 200)
    shown = ["dense", "bm25", label(BEFORE), default]
    side = table[table["setting"].isin(shown)].pivot_table(
        index="set", columns="setting", values=["map", "mrr"], sort=False
    )
    print("\n## per set, MAP and MRR in % (before: RRF k=60 wd=1.5; after: the default)")
    print((100 * side).round(2).to_string())
    ranked = worst_case(table[~table["setting"].isin(["dense", "bm25"])])
    print("\n## rules by worst-case gain over dense (points; any set, MAP or MRR), best first")
    print((100 * ranked.head(12)).round(3).to_string())
    chosen = choose_fusion(table)
    print(f"\nchosen: {chosen}; shipped default: {default} "
          f"({'the same' if chosen == default else 'DIFFERENT: update RetrievalSettings'})")  # fmt: skip
    gains = table[table["setting"] == default].set_index("set")[["gain_map", "gain_mrr"]]
    print("\n## the default's gain over dense per set (points)")
    print((100 * gains).round(3).to_string())
    print("\n## leave one group out: the rule chosen without a group, scored on it (points)")
    loo = leave_one_out(table, groups)
    loo[["gain_map", "gain_mrr"]] = (100 * loo[["gain_map", "gain_mrr"]]).round(3)
    print(loo.to_string(index=False))


if __name__ == "__main__":
    sys.exit(main())
