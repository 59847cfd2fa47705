"""`caseloop models export` and `caseloop models reembed` end to end."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

import retrieval
from flows.cli import app

runner = CliRunner()


@pytest.fixture
def env(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setenv("CASELOOP_RETRIEVAL_LOCATION", str(tmp_path / "index"))
    monkeypatch.setenv("CASELOOP_RETRIEVAL_MODEL_DIR", str(tmp_path / "models"))
    monkeypatch.delenv("CASELOOP_RETRIEVAL_MODEL", raising=False)
    monkeypatch.delenv("CASELOOP_RETRIEVAL_ENCODER", raising=False)
    return tmp_path


def test_export_writes_a_model_folder_that_the_index_can_use(
    env: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    out = env / "export"
    result = runner.invoke(
        app, ["models", "export", "--out", str(out), "--backend", "onnx-int8-mixed"]
    )
    assert result.exit_code == 0, result.output
    assert f"use it with CASELOOP_RETRIEVAL_MODEL={out}" in result.output
    assert sorted(p.name for p in out.iterdir() if not p.name.startswith(".")) == [
        "export.json",
        "model-fp32.onnx",
        "model-int8-mixed.onnx",
        "special_tokens_map.json",
        "tokenizer.json",
        "tokenizer_config.json",
    ]
    assert json.loads((out / "export.json").read_text())["dimension"] == 384
    monkeypatch.setenv("CASELOOP_RETRIEVAL_MODEL", str(out))
    monkeypatch.setenv("CASELOOP_RETRIEVAL_ENCODER", "onnx-int8-mixed")
    with retrieval.open_index() as index:
        index.upsert([retrieval.CaseDocument("T-1", "my refund never arrived", "re-issued")])
        assert index.search("where is my refund", k=1)[0].case_id == "T-1"
        assert index.encoder_choice.model.onnx_only


def test_export_of_a_folder_that_is_no_model_fails_in_one_line(env: Path) -> None:
    result = runner.invoke(app, ["models", "export", "--model", str(env)])
    assert result.exit_code == 1
    assert "error:" in result.output
    assert "holds neither weights" in result.output
    assert "Traceback" not in result.output


def test_reembed_switches_the_backend_and_settings_that_name_the_old_one_are_refused(
    env: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    with retrieval.open_index() as index:
        index.upsert([retrieval.CaseDocument("T-1", "my refund never arrived", "re-issued")])
        built = index.encoder_choice.backend  # the default backend
    assert built != "onnx-fp32"
    monkeypatch.setenv("CASELOOP_RETRIEVAL_ENCODER", "onnx-fp32")
    with pytest.raises(retrieval.EncoderMismatch, match=f"on {built}"):
        retrieval.open_index(create=False)
    result = runner.invoke(app, ["models", "reembed"])  # the setting names the target
    assert result.exit_code == 0, result.output
    assert f"on {built} → " in result.output
    assert result.output.strip().endswith("on onnx-fp32")
    with retrieval.open_index(create=False) as index:
        assert index.encoder_choice.backend == "onnx-fp32"
        assert index.search("where is my refund", k=1)[0].case_id == "T-1"


def test_reembed_without_an_index_fails_in_one_line(env: Path) -> None:
    result = runner.invoke(app, ["models", "reembed", "--backend", "onnx-fp32"])
    assert result.exit_code == 1
    assert "no index at" in result.output
