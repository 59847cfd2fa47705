"""caseloop's hybrid retrieval: BM25 + dense over CASE_SUMMARY documents, with a verdict.

The orchestrator's only import::

    import retrieval
    index = retrieval.open_index("path/to/index")
    index.upsert([retrieval.CaseDocument(case_id="T-1", text="…", summary="…", tags=["refund"])])
    hits = index.search("my refund never arrived", k=5)
    verdict = index.assess("my refund never arrived")

Importing this package loads no torch, transformers, qdrant-client or llama-index: the dense
model loads on the first encode, the server client on the first server location.
"""

from retrieval.calibration import CalibrationSample, calibrate, fit_thresholds
from retrieval.documents import CaseDocument, Hit
from retrieval.errors import (
    CalibrationError,
    EmptyQuery,
    EncoderError,
    EncoderMismatch,
    EngineError,
    IndexBusy,
    IndexCorrupt,
    IndexIncompatible,
    IndexMissing,
    InvalidDocument,
    InvalidFilter,
    InvalidQuery,
    PromiseUnreachable,
    QueryTooLong,
    RetrievalError,
    TenantRequired,
)
from retrieval.fusion import fuse
from retrieval.index import Index, open_index
from retrieval.settings import RetrievalSettings
from retrieval.verdict import Assessment, VerdictPolicy

__all__ = [
    "Assessment",
    "CalibrationError",
    "CalibrationSample",
    "CaseDocument",
    "EmptyQuery",
    "EncoderError",
    "EncoderMismatch",
    "EngineError",
    "Hit",
    "Index",
    "IndexBusy",
    "IndexCorrupt",
    "IndexIncompatible",
    "IndexMissing",
    "InvalidDocument",
    "InvalidFilter",
    "InvalidQuery",
    "PromiseUnreachable",
    "QueryTooLong",
    "RetrievalError",
    "RetrievalSettings",
    "TenantRequired",
    "VerdictPolicy",
    "calibrate",
    "fit_thresholds",
    "fuse",
    "open_index",
]
