"""docs/retrieval.md stays true: its example runs and it lists every setting."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

import retrieval

DOC = Path(__file__).parents[2] / "docs" / "retrieval.md"


def test_every_setting_is_documented() -> None:
    text = DOC.read_text()
    for name in retrieval.RetrievalSettings.model_fields:
        assert f"`CASELOOP_RETRIEVAL_{name.upper()}`" in text, name


def test_the_example_runs(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, settings: retrieval.RetrievalSettings
) -> None:
    code = re.search(r"```python\n(.*?)```", DOC.read_text(), re.S)
    assert code is not None
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("CASELOOP_RETRIEVAL_MODEL_DIR", str(settings.model_dir))
    namespace: dict[str, object] = {}
    exec(compile(code.group(1), str(DOC), "exec"), namespace)
    verdict = namespace["verdict"]
    assert isinstance(verdict, retrieval.Assessment)
    assert namespace["hits"][0].case_id == "T-1"  # type: ignore[index]
    assert (tmp_path / "caseloop-index" / "CURRENT").exists()
