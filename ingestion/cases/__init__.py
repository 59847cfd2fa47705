"""Resolved tickets become CASE_SUMMARY documents: detect, redact, summarise, tag, store, index.

    from ingestion.cases import AdapterTicketing, run_learning
    report = run_learning(store, AdapterTicketing(store, adapter, settings), index, settings)

Learning is gated on resolution (resolved or closed, with at least one customer-visible agent
comment), reversible (a reopened, deleted or duplicate ticket is retracted from the index and
withdrawn in the store; resolving it again makes a new version), redacted before anything is
hashed, stored or indexed, and cheap to re-run (content hashes: nothing unchanged is rewritten).
"""

from ingestion.cases.errors import IndexWriteFailed, LearningError, SummariserFailed
from ingestion.cases.learning import CaseIndex, default_encoder, learn
from ingestion.cases.note import write_note
from ingestion.cases.redact import Redaction, Redactor
from ingestion.cases.report import CaseOutcome, LearningReport
from ingestion.cases.retention import PurgeReport, erase, purge
from ingestion.cases.runs import run_learning
from ingestion.cases.summariser import (
    ExtractiveSummariser,
    LlmSummariser,
    Summariser,
    build_summariser,
)
from ingestion.cases.tags import Encoder, Tagger, Vocabulary, tag_key
from ingestion.cases.ticketing import AdapterTicketing, CaseTicketing

__all__ = [
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
