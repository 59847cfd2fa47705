"""`caseloop eval`: convert data sets, measure retrieval and the escalation drop, write reports.

Every command prints a table and, with ``--json OUT``, writes the figures as JSON. The heavy
parts (the encoder, ranx, matplotlib) are imported inside the commands.
"""

from __future__ import annotations

import datetime as dt
import json
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.console import Console
from rich.table import Table

from flows.cli import context
from flows.cli.app import app

eval_app = typer.Typer(
    help="Evaluation: convert data sets, retrieval quality, escalation drop, reports.",
    no_args_is_help=True,
)
convert_app = typer.Typer(
    help="Write cases.jsonl and queries.jsonl from a data set or the store.", no_args_is_help=True
)
app.add_typer(eval_app, name="eval")
eval_app.add_typer(convert_app, name="convert")

Out = Annotated[Path, typer.Option("--out", help="Folder for cases.jsonl and queries.jsonl.")]
Source = Annotated[Path, typer.Argument(exists=True, dir_okay=False, help="The source file.")]
Seed = Annotated[int, typer.Option(help="Seed of the shuffle, the held-out intents and sampling.")]
HeldOut = Annotated[
    list[str] | None, typer.Option("--held-out", help="An intent to hold out (repeatable).")
]
HeldOutCount = Annotated[int, typer.Option(help="Intents held out in all (named ones included).")]
Warmup = Annotated[float, typer.Option(help="Share of the stream that is history (cases only).")]
CaseShare = Annotated[float, typer.Option(help="After the warm-up, share of rows that are cases.")]
MaxQueries = Annotated[int, typer.Option(help="Most queries kept (seeded sample, time order).")]
ResolutionCodes = Annotated[
    bool, typer.Option(help="Give each case its intent as metadata.resolution (a resolution code).")
]
CasesOpt = Annotated[
    Path | None, typer.Option("--cases", exists=True, dir_okay=False, help="cases.jsonl")
]
QueriesOpt = Annotated[
    Path | None, typer.Option("--queries", exists=True, dir_okay=False, help="queries.jsonl")
]
SemevalOpt = Annotated[
    Path | None,
    typer.Option(exists=True, dir_okay=False, help="Instead of --cases/--queries: a SemEval XML."),
]
Banking77Opt = Annotated[
    Path | None,
    typer.Option(
        exists=True,
        dir_okay=False,
        help="Instead of --cases/--queries: BANKING77 train.csv "
        "(split as `eval convert banking77` does by default).",
    ),
]
JsonOut = Annotated[Path | None, typer.Option("--json", help="Also write the figures here.")]
# The precision promise and the no-match guard, as `eval escalation` and `tune` take them.
TargetOpt = Annotated[float, typer.Option(help="Answered precision to reach.")]
ConfidenceOpt = Annotated[
    float, typer.Option(help="Confidence that new answers meet the target (0: observed precision).")
]
NoMatchOpt = Annotated[
    float, typer.Option(help="Share of queries no case answers that must escalate (guard).")
]
Workdir = Annotated[
    Path | None, typer.Option(help="Folder for the scratch index (default: a temporary one).")
]
Since = Annotated[
    dt.datetime | None, typer.Option(help="Start of the window (UTC unless a zone is given).")
]
Until = Annotated[dt.datetime | None, typer.Option(help="End of the window (excluded).")]
DatabaseUrl = Annotated[
    str | None,
    typer.Option("--database-url", help="Store URL; default: CASELOOP_DATABASE_URL or data dir."),
]


def _fail(exc: Exception) -> typer.Exit:
    Console(stderr=True).print(f"[red]error:[/red] {exc}")
    return typer.Exit(code=1)


def _utc(value: dt.datetime | None) -> dt.datetime | None:
    if value is None:
        return None
    return value.replace(tzinfo=dt.UTC) if value.tzinfo is None else value.astimezone(dt.UTC)


def _write_json(path: Path | None, data: Any) -> None:
    if path is not None:
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(json.dumps(data, indent=2, default=str) + "\n", encoding="utf-8")
        Console().print(f"figures written to {path}")


def _written(dataset: Any, out: Path) -> None:
    from evaluation import write_dataset

    cases, queries = write_dataset(dataset, out)
    no_match = sum(1 for q in dataset.queries if not q.relevant)
    Console().print(
        f"{len(dataset.cases)} cases → {cases}\n{len(dataset.queries)} queries "
        f"({no_match} with no relevant case) → {queries}"
    )


def _plan(prefix: str, seed: int, held_out: list[str] | None, count: int, warmup: float,
          case_share: float, max_queries: int, resolution_codes: bool) -> Any:  # fmt: skip
    from evaluation import SplitPlan

    return SplitPlan(
        seed=seed,
        held_out=tuple(held_out or ()),
        held_out_count=count,
        warmup=warmup,
        case_share=case_share,
        max_queries=max_queries,
        prefix=prefix,
        resolution_codes=resolution_codes,
    )


@convert_app.command("banking77")
def convert_banking77(
    source: Source, out: Out, seed: Seed = 0, held_out: HeldOut = None,
    held_out_count: HeldOutCount = 10, warmup: Warmup = 0.3, case_share: CaseShare = 0.5,
    max_queries: MaxQueries = 1000, resolution_codes: ResolutionCodes = False,
) -> None:  # fmt: skip
    """BANKING77 train.csv → a replay with held-out intents whose queries must escalate."""
    from evaluation import EvaluationError, convert_banking77

    plan = _plan("b77-", seed, held_out, held_out_count, warmup, case_share, max_queries,
                 resolution_codes)  # fmt: skip
    try:
        _written(convert_banking77(source, plan), out)
    except EvaluationError as exc:
        raise _fail(exc) from exc


@convert_app.command("bitext")
def convert_bitext(
    source: Source, out: Out, seed: Seed = 0, held_out: HeldOut = None,
    held_out_count: HeldOutCount = 3, warmup: Warmup = 0.3, case_share: CaseShare = 0.5,
    max_queries: MaxQueries = 1000, resolution_codes: ResolutionCodes = False,
) -> None:  # fmt: skip
    """Bitext customer-support CSV → cases with agents' responses; contact_human_agent held out."""
    from evaluation import EvaluationError, convert_bitext

    plan = _plan("btx-", seed, held_out, held_out_count, warmup, case_share, max_queries,
                 resolution_codes)  # fmt: skip
    try:
        _written(convert_bitext(source, plan), out)
    except EvaluationError as exc:
        raise _fail(exc) from exc


@convert_app.command("semeval")
def convert_semeval(source: Source, out: Out) -> None:
    """SemEval-2016 Task 3 XML → subtask B: each question re-ranks its 10 candidates (filters)."""
    from evaluation import EvaluationError, convert_semeval

    try:
        _written(convert_semeval(source), out)
    except EvaluationError as exc:
        raise _fail(exc) from exc


@convert_app.command("store")
def convert_store(
    ctx: typer.Context,
    out: Out,
    database_url: DatabaseUrl = None,
    since: Since = None,
    until: Until = None,
    relevance: Annotated[
        str, typer.Option(help="own: the query's own case; tags: also cases sharing a tag.")
    ] = "tags",
) -> None:
    """The operational store → resolved case summaries as cases, escalations as queries."""
    from evaluation import EvaluationError, convert_store

    if relevance not in ("own", "tags"):
        raise _fail(ValueError(f"--relevance: {relevance!r} is not own or tags"))
    url = database_url or context.ingestion_settings(ctx).resolved_database_url
    try:
        data = convert_store(url, since=_utc(since), until=_utc(until), relevance=relevance)  # type: ignore[arg-type]
        _written(data, out)
    except EvaluationError as exc:
        raise _fail(exc) from exc


def _dataset(
    cases: Path | None, queries: Path | None, semeval: Path | None, banking77: Path | None
) -> Any:
    """The data set from JSONL files, or converted on the fly from one source data set."""
    from evaluation import convert_banking77, convert_semeval, load_dataset

    given = [name for name, v in (("--cases/--queries", cases or queries), ("--semeval", semeval),
                                  ("--banking77", banking77)) if v]  # fmt: skip
    if len(given) != 1:
        raise _fail(ValueError("give either --cases and --queries, or --semeval, or --banking77"))
    if semeval:
        return convert_semeval(semeval)
    if banking77:
        return convert_banking77(banking77)
    if not (cases and queries):
        raise _fail(ValueError("--cases and --queries go together"))
    return load_dataset(cases, queries)


def _retrieval_settings(ctx: typer.Context) -> Any:
    import retrieval

    return retrieval.RetrievalSettings.load(context.env_file(ctx))


@eval_app.command("retrieval")
def retrieval_quality(
    ctx: typer.Context,
    cases: CasesOpt = None,
    queries: QueriesOpt = None,
    semeval: SemevalOpt = None,
    banking77: Banking77Opt = None,
    json_out: JsonOut = None,
    baseline_key: Annotated[
        str | None,
        typer.Option(help="Numeric case metadata key giving a reference order (SemEval: ir_rank)."),
    ] = None,
    workdir: Workdir = None,
) -> None:
    """MAP, MRR, P@1, P@5, Recall@5/10, nDCG@10 of bm25, dense and hybrid (queries with a
    relevant case), and hybrid minus each retriever alone with paired bootstrap intervals."""
    import retrieval
    from evaluation import EvaluationError, evaluate_retrieval
    from evaluation.report import retrieval_tables

    try:
        data = _dataset(cases, queries, semeval, banking77)
        report = evaluate_retrieval(
            data, settings=_retrieval_settings(ctx), baseline_key=baseline_key, workdir=workdir
        )
    except (EvaluationError, retrieval.RetrievalError) as exc:
        raise _fail(exc) from exc
    figures = report.as_dict()

    _show(retrieval_tables(figures), f"retrieval quality ({report.n_all_queries} queries)")
    Console().print("official_map: mean over all queries, those without a relevant case count 0")
    _write_json(json_out, figures)


def _show(blocks: list[Any], title: str) -> None:
    """Print report blocks (tables and text, as the report renders them) to the terminal."""
    for block in blocks:
        if block.kind == "text":
            Console().print(block.content)
            continue
        header, *rows = block.content
        table = Table(title=title)
        for column in header:
            table.add_column(column)
        for row in rows:
            table.add_row(*row)
        Console(width=200).print(table)
        title = ""


@eval_app.command("escalation")
def escalation(
    ctx: typer.Context,
    cases: CasesOpt = None,
    queries: QueriesOpt = None,
    semeval: SemevalOpt = None,
    banking77: Banking77Opt = None,
    target_precision: TargetOpt = 0.95,
    confidence: ConfidenceOpt = 0.9,
    no_match_escalation: NoMatchOpt = 0.95,
    folds: Annotated[int, typer.Option(help="Time-ordered folds for cross-fitting.")] = 5,
    calibration: Annotated[
        Path | None,
        typer.Option(
            exists=True, dir_okay=False, help="A verdict policy JSON fitted on other data."
        ),
    ] = None,
    json_out: JsonOut = None,
    seed: Annotated[int, typer.Option(help="Seed of the bootstrap.")] = 0,
    workdir: Workdir = None,
) -> None:
    """Replay queries in time order: escalation drop at the target precision with 95% intervals,
    beside each retriever's top-1 threshold; whether the promise held on each fold."""
    import retrieval
    from evaluation import EvaluationError, escalation_replay
    from evaluation.report import escalation_tables

    try:
        policy = None
        if calibration is not None:
            policy = retrieval.VerdictPolicy.from_dict(json.loads(calibration.read_text("utf-8")))
        data = _dataset(cases, queries, semeval, banking77)
        report = escalation_replay(
            data, target_precision=target_precision, confidence_level=confidence,
            no_match_escalation=no_match_escalation, folds=folds, policy=policy,
            settings=_retrieval_settings(ctx), workdir=workdir, seed=seed,
        )  # fmt: skip
    except (EvaluationError, retrieval.RetrievalError, ValueError) as exc:
        raise _fail(exc) from exc
    figures = report.as_dict()
    title = f"escalation replay: {figures['n_queries']} queries, {figures['calibration']}"
    _show(escalation_tables(figures), title)
    _write_json(json_out, figures)


@eval_app.command("report")
def report(
    ctx: typer.Context,
    out: Annotated[Path, typer.Option("--out", help="Folder for the report and its plots.")],
    database_url: DatabaseUrl = None,
    since: Since = None,
    until: Until = None,
    days: Annotated[int, typer.Option(help="Window length when --since is not given.")] = 28,
    escalation_json: Annotated[
        Path | None,
        typer.Option(exists=True, dir_okay=False, help="From `eval escalation --json`."),
    ] = None,
    retrieval_json: Annotated[
        Path | None, typer.Option(exists=True, dir_okay=False, help="From `eval retrieval --json`.")
    ] = None,
    fmt: Annotated[str, typer.Option("--format", help="md or html.")] = "md",
    online: Annotated[
        bool, typer.Option("--online/--no-online", help="Include the store's online metrics.")
    ] = True,
) -> None:
    """Online metrics for a window, plus replay figures, as Markdown or HTML with PNG plots."""
    from evaluation import EvaluationError, online_metrics, write_report

    if fmt not in ("md", "html"):
        raise _fail(ValueError(f"--format: {fmt!r} is not md or html"))
    end = _utc(until) or dt.datetime.now(dt.UTC)
    start = _utc(since) or end - dt.timedelta(days=days)
    url = database_url or context.ingestion_settings(ctx).resolved_database_url
    try:
        metrics = online_metrics(url, start, end) if online else None
        loaded = {
            name: json.loads(path.read_text("utf-8"))
            for name, path in (("escalation", escalation_json), ("retrieval", retrieval_json))
            if path is not None
        }
        path = write_report(out, online=metrics, fmt=fmt, **loaded)
    except (EvaluationError, ValueError) as exc:
        raise _fail(exc) from exc
    Console().print(f"report written to {path}")
