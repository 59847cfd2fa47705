"""`caseloop models`: export a model's ONNX files, switch an index to another encoder."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console

from flows.cli import context
from flows.cli.app import app

models_app = typer.Typer(
    help="Dense models: ONNX exports, and re-embedding the index with another encoder.",
    no_args_is_help=True,
)
app.add_typer(models_app, name="models")

ModelOpt = Annotated[
    str | None,
    typer.Option(
        "--model",
        help="'packaged' or a local sentence-transformers folder (default: "
        "CASELOOP_RETRIEVAL_MODEL if set, else the packaged model for export and the index's "
        "own for reembed).",
    ),
]
ONNX_BACKENDS = ["onnx-fp32", "onnx-int8", "onnx-int8-mixed"]


def _fail(exc: Exception) -> typer.Exit:
    Console(stderr=True, soft_wrap=True).print(f"[red]error:[/red] {exc}")
    return typer.Exit(code=1)


@models_app.command("export")
def export_command(
    ctx: typer.Context,
    model: ModelOpt = None,
    out: Annotated[
        Path | None,
        typer.Option(
            "--out",
            file_okay=False,
            help="Folder to write (default: the run-time cache under CASELOOP_RETRIEVAL_MODEL_DIR).",
        ),
    ] = None,
    backend: Annotated[
        list[str] | None,
        typer.Option("--backend", help="Variant to write (repeatable; default: all three)."),
    ] = None,
) -> None:
    """Write a model's ONNX files (fp32, int8, int8-mixed) and tokenizer into one model folder.

    The folder works as CASELOOP_RETRIEVAL_MODEL on machines without torch.
    """
    import retrieval
    from retrieval.export import cache_folder, export
    from retrieval.model import resolve_model

    settings = retrieval.RetrievalSettings.load(context.env_file(ctx))
    try:
        chosen = resolve_model(model if model is not None else settings.model)
        folder = out or cache_folder(chosen, settings.model_dir)
        files = export(chosen, folder, backend or ONNX_BACKENDS)
    except retrieval.RetrievalError as exc:
        raise _fail(exc) from exc
    console = Console(soft_wrap=True)  # paths are copied from here: never wrapped
    console.print(f"{chosen.describe()}: dimension {chosen.dimension}, {chosen.pooling} pooling")
    for path in files:
        console.print(f"{path}  {path.stat().st_size / 1e6:.1f} MB")
    console.print(f"use it with CASELOOP_RETRIEVAL_MODEL={folder}")


@models_app.command("reembed")
def reembed_command(
    ctx: typer.Context,
    model: ModelOpt = None,
    backend: Annotated[
        str | None,
        typer.Option(
            "--backend",
            help="onnx-fp32, onnx-int8, onnx-int8-mixed or torch (default: "
            "CASELOOP_RETRIEVAL_ENCODER if set, else the index's own).",
        ),
    ] = None,
) -> None:
    """Embed every case of the index again with another model or backend (one new generation)."""
    import retrieval

    settings = retrieval.RetrievalSettings.load(context.env_file(ctx))
    target_model = model if model is not None else settings.model
    if backend is None and "encoder" in settings.model_fields_set:
        backend = settings.encoder
    console = Console(stderr=True)
    try:
        with retrieval.open_index(settings=settings.following_index(), create=False) as index:
            before = index.encoder_choice
            with context.progress_bar(console) as bar:
                task = bar.add_task("re-embedding", total=index.count())
                after = index.reembed(
                    target_model,
                    backend,
                    progress=lambda done, total: bar.update(task, completed=done, total=total),
                )
    except retrieval.RetrievalError as exc:
        raise _fail(exc) from exc
    Console(soft_wrap=True).print(f"index re-embedded: {before.describe()} → {after.describe()}")
