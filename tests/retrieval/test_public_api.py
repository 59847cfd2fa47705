"""The public API is pinned, and importing it stays light."""

from __future__ import annotations

import json
import subprocess
import sys

import retrieval

PUBLIC = [
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
HEAVY = [
    "torch",
    "transformers",
    "sentence_transformers",
    "sklearn",
    "prefect",
    "qdrant_client",
    "llama_index",
    "onnxruntime",
    "ingestion",
    "evaluation",
    "flows",
]


def test_all_is_sorted_and_pinned() -> None:
    assert retrieval.__all__ == sorted(retrieval.__all__)
    assert retrieval.__all__ == PUBLIC
    assert all(hasattr(retrieval, name) for name in PUBLIC)


def test_every_error_derives_from_the_root() -> None:
    errors = [
        obj
        for obj in (getattr(retrieval, n) for n in PUBLIC)
        if isinstance(obj, type) and issubclass(obj, Exception)
    ]
    assert len(errors) == 16  # the tree drawn in retrieval/errors.py
    assert all(issubclass(e, retrieval.RetrievalError) for e in errors)


def test_import_is_light_in_a_fresh_process() -> None:
    code = (
        "import json, sys; import retrieval; "
        f"print(json.dumps([m for m in {HEAVY!r} if m in sys.modules])); "
        "print(retrieval.__file__)"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    loaded, path = out.stdout.splitlines()
    assert json.loads(loaded) == []
    assert path == retrieval.__file__  # ours, not another distribution's `retrieval`
