"""The evaluation package's public API: sorted, pinned, and free of the ingestion package."""

from __future__ import annotations

import subprocess
import sys

import evaluation


def test_all_is_sorted_and_pinned() -> None:
    assert evaluation.__all__ == sorted(evaluation.__all__)
    assert set(evaluation.__all__) == {
        "Case", "ContentGap", "ConversionError", "DataError", "Dataset", "Drop", "EscalationReport",
        "Estimate", "EvaluationError", "OnlineReport", "Query", "RankingScores", "ReplayError",
        "ReplayStep", "RetrievalReport", "SplitPlan", "bootstrap_ratios", "content_gaps",
        "convert_banking77", "convert_bitext", "convert_semeval", "convert_store",
        "escalation_drop", "escalation_replay", "evaluate_retrieval", "load_cases", "load_dataset", "load_queries",
        "official_map", "online_metrics", "ranking_scores", "replay", "write_dataset",
        "write_report",
    }  # fmt: skip
    for name in evaluation.__all__:
        assert getattr(evaluation, name).__doc__, f"{name} has no docstring"


def test_importing_evaluation_loads_neither_ingestion_nor_heavy_libraries() -> None:
    code = (
        "import sys, evaluation; "
        "print(sorted(m for m in ('ingestion', 'ranx', 'torch', 'matplotlib', 'prefect') if m in sys.modules))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"
