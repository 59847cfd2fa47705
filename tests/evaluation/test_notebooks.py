"""The notebooks run top to bottom on the bundled data in a real kernel, and show what they promise.

Each runs in a temporary folder (so the plots it saves land there) under the kernel's own
matplotlib backend, inline, as a person sees it: every expected figure (a PNG output) and table
(a DataFrame's HTML) must be in the executed outputs, in order. Each ``.ipynb`` holds the same
code as its jupytext ``py:percent`` twin, the reviewable copy.
"""

from __future__ import annotations

import os
from pathlib import Path

import jupytext
import nbformat
import pytest
from nbclient import NotebookClient

import retrieval
from evaluation.tuning import label

NOTEBOOKS = Path(__file__).resolve().parents[2] / "notebooks"
PAIRS = sorted(NOTEBOOKS.glob("*.ipynb"))
# What each notebook shows, in order: "figure" (an image/png output), "table" (a DataFrame).
SHOWS = {
    "1.0-cl-case-summaries-and-tags": ["table", "figure", "table", "figure", "table"],
    "2.0-cl-escalation-drop-replay": ["table", "figure", "table", "table"],
    "3.0-cl-fusion-tuning": ["table", "figure", "figure", "figure"],
}


def _code(notebook: nbformat.NotebookNode) -> list[str]:
    return [cell.source.strip() for cell in notebook.cells if cell.cell_type == "code"]


def test_notebooks_follow_the_naming_rule() -> None:
    assert [p.stem for p in PAIRS] == [
        "1.0-cl-case-summaries-and-tags",
        "2.0-cl-escalation-drop-replay",
        "3.0-cl-fusion-tuning",
    ]


@pytest.mark.parametrize("path", PAIRS, ids=lambda p: p.stem)
def test_notebook_matches_its_text_twin(path: Path) -> None:
    twin = jupytext.read(path.with_suffix(".py"))
    assert _code(nbformat.read(path, as_version=4)) == _code(twin)


def _shown(notebook: nbformat.NotebookNode) -> list[str]:
    """The figures and tables among the outputs, in order."""
    shown = []
    for cell in notebook.cells:
        for output in cell.get("outputs", []):
            data = output.get("data", {})
            if "image/png" in data:
                shown.append("figure")
            if 'class="dataframe' in data.get("text/html", ""):
                shown.append("table")
    return shown


def _printed(notebook: nbformat.NotebookNode) -> str:
    return "".join(
        o.get("text", "")
        for c in notebook.cells
        for o in c.get("outputs", [])
        if o.get("name") == "stdout"
    )


@pytest.fixture(scope="module")
def executed(tmp_path_factory: pytest.TempPathFactory) -> dict[str, nbformat.NotebookNode]:
    """Every notebook, executed once in a kernel with this environment (bundled data only)."""
    with pytest.MonkeyPatch.context() as env:
        for name in ("CASES_JSONL", "BANKING77_CSV", "BITEXT_CSV", "SEMEVAL_XML", "MPLBACKEND"):
            env.delenv(name, raising=False)  # the small bundled data; the kernel's own backend
        env.setenv("HF_HUB_OFFLINE", "1")
        env.setenv("PYTHONWARNINGS", os.environ.get("PYTHONWARNINGS", "ignore::DeprecationWarning"))
        done = {}
        for path in PAIRS:
            notebook = nbformat.read(path, as_version=4)
            folder = tmp_path_factory.mktemp(path.stem)
            client = NotebookClient(
                notebook,
                timeout=300,
                kernel_name="python3",
                resources={"metadata": {"path": str(folder)}},
            )
            client.execute()
            done[path.stem] = notebook
    return done


@pytest.mark.parametrize("stem", [p.stem for p in PAIRS])
def test_notebook_runs(stem: str, executed: dict[str, nbformat.NotebookNode]) -> None:
    notebook = executed[stem]
    errors = [
        o for c in notebook.cells for o in c.get("outputs", []) if o.get("output_type") == "error"
    ]
    assert errors == []


@pytest.mark.parametrize("stem", [p.stem for p in PAIRS])
def test_notebook_shows_its_figures_and_tables(
    stem: str, executed: dict[str, nbformat.NotebookNode]
) -> None:
    assert _shown(executed[stem]) == SHOWS[stem]


def test_the_fusion_notebook_measures_the_real_default(
    executed: dict[str, nbformat.NotebookNode],
) -> None:
    s = retrieval.RetrievalSettings()
    default = label(
        {"fusion": s.fusion, "tie_margin": s.tie_margin, "lexical_lead": s.lexical_lead}
    )
    assert f"default fusion ({default}): worst gain over dense " in _printed(
        executed["3.0-cl-fusion-tuning"]
    )
