"""The notebooks run top to bottom on the bundled data (nbclient, as `pytest --nbmake` does).

Each runs in a temporary folder (so the plots it saves land there), and each ``.ipynb`` must
hold the same code as its jupytext ``py:percent`` twin, the reviewable copy.
"""

from __future__ import annotations

import os
from pathlib import Path

import jupytext
import nbformat
import pytest
from nbclient import NotebookClient

NOTEBOOKS = Path(__file__).resolve().parents[2] / "notebooks"
PAIRS = sorted(NOTEBOOKS.glob("*.ipynb"))


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


@pytest.mark.parametrize("path", PAIRS, ids=lambda p: p.stem)
def test_notebook_runs(path: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    for name in ("CASES_JSONL", "BANKING77_CSV", "SEMEVAL_XML"):
        monkeypatch.delenv(name, raising=False)  # the small bundled data, always
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    monkeypatch.setenv(
        "PYTHONWARNINGS", os.environ.get("PYTHONWARNINGS", "ignore::DeprecationWarning")
    )
    notebook = nbformat.read(path, as_version=4)
    client = NotebookClient(
        notebook,
        timeout=300,
        kernel_name="python3",
        resources={"metadata": {"path": str(tmp_path)}},
    )
    client.execute()
    errors = [
        o for c in notebook.cells for o in c.get("outputs", []) if o.get("output_type") == "error"
    ]
    assert errors == []
