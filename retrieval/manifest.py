"""The manifest stored with every index: what it was built with, checked on every open.

``schema_version`` (the collection layout of :mod:`retrieval.engine`), the dense ``model`` and
its ``dimension``, the BM25 parameters and tokenizer version, the declared ``filter_keys``, the
tenancy and, once calibrated, the verdict ``policy``. An index whose schema, model or tokenizer
differs from this code's is refused (:class:`IndexIncompatible`) rather than searched wrongly.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from retrieval.bm25 import TOKENIZER_VERSION
from retrieval.dense import DIMENSION, MODEL_NAME
from retrieval.engine import SCHEMA_VERSION
from retrieval.errors import IndexIncompatible
from retrieval.settings import RetrievalSettings


def manifest_for(settings: RetrievalSettings) -> dict[str, Any]:
    """The manifest a new index gets from ``settings``."""
    return {
        "schema_version": SCHEMA_VERSION,
        "model": MODEL_NAME,
        "dimension": DIMENSION,
        "bm25": {
            "k1": settings.bm25_k1,
            "b": settings.bm25_b,
            "avg_len": settings.bm25_avg_len,
            "tokenizer": TOKENIZER_VERSION,
        },
        "filter_keys": sorted(settings.filter_keys),
        "multi_tenant": settings.multi_tenant,
    }


def check_manifest(manifest: Mapping[str, Any], where: str) -> None:
    """Refuse an index this code cannot read correctly."""
    expected = {"schema_version": SCHEMA_VERSION, "model": MODEL_NAME, "dimension": DIMENSION}
    for key in ("schema_version", "model", "dimension"):
        if manifest.get(key) != expected[key]:
            raise IndexIncompatible(
                f"{where}: {key} is {manifest.get(key)!r}, this code needs {expected[key]!r}"
            )
    tokenizer = (manifest.get("bm25") or {}).get("tokenizer")
    if tokenizer != TOKENIZER_VERSION:
        raise IndexIncompatible(
            f"{where}: BM25 tokenizer {tokenizer!r}, needs {TOKENIZER_VERSION!r}"
        )
