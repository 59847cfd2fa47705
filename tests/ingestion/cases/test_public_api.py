"""The learning package's public API is small, sorted and pinned."""

from __future__ import annotations

import ingestion.cases


def test_public_api_is_pinned() -> None:
    assert ingestion.cases.__all__ == [
        "AdapterTicketing",
        "CaseIndex",
        "CaseOutcome",
        "CaseTicketing",
        "Encoder",
        "ExtractiveSummariser",
        "IndexWriteFailed",
        "LearningError",
        "LearningReport",
        "LlmSummariser",
        "PurgeReport",
        "Redaction",
        "Redactor",
        "Summariser",
        "SummariserFailed",
        "Tagger",
        "Vocabulary",
        "build_summariser",
        "default_encoder",
        "erase",
        "learn",
        "purge",
        "run_learning",
        "tag_key",
        "write_note",
    ]
    assert ingestion.cases.__all__ == sorted(ingestion.cases.__all__)
    assert all(getattr(ingestion.cases, name).__doc__ for name in ingestion.cases.__all__)
