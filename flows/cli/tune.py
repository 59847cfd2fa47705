"""`caseloop tune`: fine-tune the encoder on your own history; switch the index only if better."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console
from rich.progress import TaskID

from flows.cli import context
from flows.cli.app import app
from flows.cli.eval import ConfidenceOpt, NoMatchOpt, TargetOpt


def _fail(exc: Exception) -> typer.Exit:
    Console(stderr=True, soft_wrap=True).print(f"[red]error:[/red] {exc}")
    return typer.Exit(code=1)


@app.command("tune")
def tune_command(
    ctx: typer.Context,
    cases: Annotated[
        Path | None,
        typer.Option(exists=True, dir_okay=False, help="cases.jsonl (default: the store)."),
    ] = None,
    queries: Annotated[
        Path | None,
        typer.Option(exists=True, dir_okay=False, help="queries.jsonl, with --cases."),
    ] = None,
    database_url: Annotated[
        str | None,
        typer.Option("--database-url", help="Store URL; default: CASELOOP_DATABASE_URL."),
    ] = None,
    holdout: Annotated[
        float | None,
        typer.Option(help="Share of the latest questions held out (default: the setting)."),
    ] = None,
    epochs: Annotated[
        int | None, typer.Option(help="Passes over the pairs (default: the setting).")
    ] = None,
    learning_rate: Annotated[
        float | None, typer.Option(help="AdamW learning rate (default: the setting).")
    ] = None,
    batch_size: Annotated[int, typer.Option(help="Pairs per batch (in-batch negatives).")] = 32,
    min_gain: Annotated[
        float, typer.Option(help="Switch only if the gain's 95% interval is above this MRR.")
    ] = 0.0,
    target_precision: TargetOpt = 0.95,
    confidence: ConfidenceOpt = 0.9,
    no_match_escalation: NoMatchOpt = 0.95,
    out: Annotated[
        Path | None,
        typer.Option(file_okay=False, help="Where to keep a better model (default: model_dir)."),
    ] = None,
    json_out: Annotated[
        Path | None, typer.Option("--json", help="Also write the report here.")
    ] = None,
) -> None:
    """Fine-tune the index's encoder on (question → resolved case) pairs, judge it on later
    questions (ranking, and escalation drop at the promised precision), and re-embed the index
    with it only when it is better."""
    import retrieval
    from evaluation import EvaluationError, load_dataset
    from evaluation.folds import Promise
    from flows.tuning import params_from, store_dataset, tune

    if (cases is None) != (queries is None):
        raise _fail(ValueError("--cases and --queries go together"))
    settings = retrieval.RetrievalSettings.load(context.env_file(ctx))
    console = Console(stderr=True)
    try:
        promise = Promise(target_precision, confidence, no_match_escalation)
        if cases is not None and queries is not None:
            dataset, positives = load_dataset(cases, queries), None
        else:
            url = database_url or context.ingestion_settings(ctx).resolved_database_url
            dataset, positives = store_dataset(url)
        params = params_from(
            settings, epochs=epochs, learning_rate=learning_rate, batch_size=batch_size
        )
        with (
            retrieval.open_index(settings=settings, create=False) as index,
            context.progress_bar(console) as bar,
        ):
            tasks: dict[str, TaskID] = {}

            def progress(phase: str, done: int, total: int) -> None:
                if phase not in tasks:
                    tasks[phase] = bar.add_task(phase, total=total)
                bar.update(tasks[phase], completed=done, total=total)

            report = tune(
                index, dataset, settings=settings, params=params, min_gain=min_gain,
                holdout=holdout or settings.tune_holdout, positives=positives, out=out,
                promise=promise, progress=progress,
            )  # fmt: skip
    except (retrieval.RetrievalError, EvaluationError, ValueError) as exc:
        raise _fail(exc) from exc
    Console(soft_wrap=True).print(report.line())
    if report.switched and settings.model is not None:
        Console(soft_wrap=True).print(
            f"CASELOOP_RETRIEVAL_MODEL names the previous model: set it to {report.model}"
        )
    if json_out is not None:
        json_out.parent.mkdir(parents=True, exist_ok=True)
        json_out.write_text(json.dumps(report.to_dict(), indent=2) + "\n", encoding="utf-8")
