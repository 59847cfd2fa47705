"""`caseloop eval …` end to end on the bundled slices: files, JSON keys, errors, reports."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

from flows.cli import app
from ingestion.store import Store

runner = CliRunner()


def _run(*args: str) -> str:
    result = runner.invoke(app, list(args), catch_exceptions=False)
    assert result.exit_code == 0, result.output
    return result.output


@pytest.fixture(scope="module")
def semeval_files(tmp_path_factory: pytest.TempPathFactory, data_dir: Path) -> Path:
    out = tmp_path_factory.mktemp("semeval")
    _run(
        "eval",
        "convert",
        "semeval",
        str(data_dir / "semeval2016" / "dev-sample.xml"),
        "--out",
        str(out),
    )
    return out


@pytest.fixture(scope="module")
def escalation_json(tmp_path_factory: pytest.TempPathFactory, data_dir: Path) -> Path:
    out = tmp_path_factory.mktemp("banking")
    source = str(data_dir / "banking77" / "train-sample.csv")
    printed = _run("eval", "convert", "banking77", source, "--out", str(out), "--held-out-count", "4",
                   "--max-queries", "150", "--seed", "2")  # fmt: skip
    assert "150 queries" in printed
    figures = out / "escalation.json"
    printed = _run("eval", "escalation", "--cases", str(out / "cases.jsonl"), "--queries",
                   str(out / "queries.jsonl"), "--folds", "3", "--target-precision", "0.9",
                   "--json", str(figures))  # fmt: skip
    assert "top-1 cosine baseline" in printed
    assert "top-1 BM25 baseline" in printed
    assert "of 3 folds" in printed  # how often the promise held
    return figures


def test_retrieval_command_writes_the_documented_keys(
    semeval_files: Path, data_dir: Path, tmp_path: Path
) -> None:
    assert len((semeval_files / "cases.jsonl").read_text().splitlines()) == 100
    out = tmp_path / "retrieval.json"
    xml = str(data_dir / "semeval2016" / "dev-sample.xml")
    printed = _run(
        "eval", "retrieval", "--semeval", xml, "--baseline-key", "ir_rank", "--json", str(out)
    )
    assert "official_map" in printed
    assert "hybrid − dense" in printed
    figures = json.loads(out.read_text())
    assert set(figures) == {"bm25", "dense", "hybrid", "baseline"}
    for row in figures.values():
        assert {"map", "mrr", "p@1", "p@5", "recall@5", "recall@10", "ndcg@10", "n_queries"} <= set(
            row
        )
        assert row["n_queries"] == 9  # one of the 10 questions has no relevant candidate
        assert 0.0 <= row["official_map"] <= row["map"]


def test_escalation_command_json(escalation_json: Path) -> None:
    figures = json.loads(escalation_json.read_text())
    assert len(figures["folds"]) == 3
    assert set(figures["differences"]) == {"dense", "bm25"}
    for key in ("escalation_drop", "answered_precision", "wrong_answer_rate", "no_match_escalated"):
        assert set(figures[key]) == {"value", "low", "high", "n"}
    assert figures["calibration"] == "cross-fitted over 3 time-ordered folds"
    assert figures["escalation_rate_without"] == 1.0


def test_report_command_writes_markdown_and_html_with_plots(
    escalation_json: Path, semeval_files: Path, sqlite_store: Store, tmp_path: Path
) -> None:
    url = sqlite_store.engine.url.render_as_string()
    for fmt in ("md", "html"):
        out = tmp_path / fmt
        _run("eval", "report", "--out", str(out), "--database-url", url, "--escalation-json",
             str(escalation_json), "--format", fmt)  # fmt: skip
        report = (out / f"report.{fmt}").read_text()
        assert "Escalation replay" in report
        assert "top-1 cosine baseline" in report
        assert "held in" in report
        for png in (
            "coverage_precision",
            "escalations_over_time",
            "escalations_by_reason",
            "verdict_reasons",
        ):
            assert (out / f"{png}.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
            assert f"{png}.png" in report
    _run("eval", "report", "--out", str(tmp_path / "replay-only"), "--no-online", "--escalation-json",
         str(escalation_json))  # fmt: skip
    replay_only = (tmp_path / "replay-only" / "report.md").read_text()
    assert "Escalation replay" in replay_only
    assert "Online metrics" not in replay_only


def test_bad_input_exits_with_the_line_and_field(tmp_path: Path) -> None:
    cases = tmp_path / "cases.jsonl"
    cases.write_text('{"case_id": "a", "problem": "x"}\n{"case_id": "b"}\n', encoding="utf-8")
    queries = tmp_path / "queries.jsonl"
    queries.write_text('{"query_id": "q", "text": "t", "relevant": []}\n', encoding="utf-8")
    result = runner.invoke(
        app, ["eval", "retrieval", "--cases", str(cases), "--queries", str(queries)]
    )
    assert result.exit_code == 1
    assert "cases.jsonl:2: problem: Field required" in result.output.replace("\n", "")
    result = runner.invoke(
        app, ["eval", "convert", "store", "--out", str(tmp_path), "--relevance", "x"]
    )
    assert result.exit_code == 1


def test_every_eval_command_has_help() -> None:
    for command in (["eval"], ["eval", "convert"], ["eval", "retrieval"], ["eval", "escalation"],
                    ["eval", "report"], ["eval", "convert", "banking77"], ["eval", "convert", "store"]):  # fmt: skip
        assert runner.invoke(app, [*command, "--help"]).exit_code == 0
