"""The manifest stored with every index: what it was built with, checked on every open.

``schema_version`` (the collection layout of :mod:`retrieval.engine`), the ``encoder`` that
embedded it (model name, fingerprint, backend, dimension and where the model lives, see
:mod:`retrieval.model`), the BM25 parameters and tokenizer version, the declared
``filter_keys``, the tenancy and, once calibrated, the verdict ``policy``. An index whose schema
or tokenizer differs from this code's is refused (:class:`IndexIncompatible`) rather than
searched wrongly.

Which encoder an index is searched with (:func:`encoder_choice`): a setting that names a model
(``model``) or a backend (``encoder``) must match the record, else :class:`EncoderMismatch`; an
unset one follows the record, so readers keep working when ``caseloop tune`` switches the index
to a tuned model. Indexes made before encoders were recorded were built by the packaged model
on an unknown backend: they open with the settings' backend.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from retrieval.bm25 import TOKENIZER_VERSION
from retrieval.dense import DIMENSION, MODEL_NAME
from retrieval.engine import SCHEMA_VERSION
from retrieval.errors import EncoderError, EncoderMismatch, IndexIncompatible
from retrieval.model import EncoderModel, resolve_model
from retrieval.settings import RetrievalSettings


@dataclass(frozen=True, slots=True)
class EncoderChoice:
    """The model and backend an index is embedded with."""

    model: EncoderModel
    backend: str

    def record(self) -> dict[str, Any]:
        """The manifest's ``encoder`` entry."""
        return {
            "model": self.model.name,
            "fingerprint": self.model.fingerprint,
            "backend": self.backend,
            "dimension": self.model.dimension,
            "source": self.model.source,
        }

    def describe(self) -> str:
        return f"{self.model.describe()} on {self.backend}"


def manifest_for(settings: RetrievalSettings, choice: EncoderChoice) -> dict[str, Any]:
    """The manifest a new index gets from ``settings``, embedded by ``choice``."""
    return {
        "schema_version": SCHEMA_VERSION,
        "model": choice.model.name,
        "dimension": choice.model.dimension,
        "encoder": choice.record(),
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
    """Refuse an index this code cannot read correctly (the encoder is checked separately)."""
    if manifest.get("schema_version") != SCHEMA_VERSION:
        raise IndexIncompatible(
            f"{where}: schema_version is {manifest.get('schema_version')!r}, "
            f"this code needs {SCHEMA_VERSION!r}"
        )
    if "encoder" not in manifest:  # recorded before encoders were: the packaged model only
        for key, expected in (("model", MODEL_NAME), ("dimension", DIMENSION)):
            if manifest.get(key) != expected:
                raise IndexIncompatible(
                    f"{where}: {key} is {manifest.get(key)!r}, this code needs {expected!r}"
                )
    tokenizer = (manifest.get("bm25") or {}).get("tokenizer")
    if tokenizer != TOKENIZER_VERSION:
        raise IndexIncompatible(
            f"{where}: BM25 tokenizer {tokenizer!r}, needs {TOKENIZER_VERSION!r}"
        )


def requested(settings: RetrievalSettings) -> EncoderChoice:
    """The encoder the settings name (the packaged model when none is named)."""
    return EncoderChoice(resolve_model(settings.model), settings.encoder)


def encoder_choice(
    manifest: Mapping[str, Any], settings: RetrievalSettings, where: str
) -> EncoderChoice:
    """The encoder to search the index with: its own, refused if the settings name another."""
    recorded = manifest.get("encoder")
    if not isinstance(recorded, Mapping):
        choice = requested(settings)
        if settings.model is not None and choice.model.fingerprint != _packaged().fingerprint:
            raise EncoderMismatch(
                f"{where}: built by the packaged {MODEL_NAME}; the settings name "
                f"{choice.model.describe()}: {_HINT}"
            )
        return choice
    model_named = settings.model is not None
    backend_named = "encoder" in settings.model_fields_set
    try:
        model = resolve_model(settings.model if model_named else recorded.get("source"))
    except EncoderError as exc:
        raise EncoderError(
            f"{where}: built by {recorded.get('model')} ({recorded.get('fingerprint')}) from "
            f"{recorded.get('source')}, which cannot be loaded here ({exc}); set "
            "CASELOOP_RETRIEVAL_MODEL to a copy of that model or its export"
        ) from exc
    choice = EncoderChoice(model, settings.encoder if backend_named else str(recorded["backend"]))
    if model.fingerprint != recorded.get("fingerprint") or choice.backend != recorded["backend"]:
        built = f"{recorded.get('model')} ({recorded.get('fingerprint')}) on {recorded['backend']}"
        asked = "the settings name" if model_named or backend_named else "the model there is now"
        raise EncoderMismatch(f"{where}: built by {built}; {asked} {choice.describe()}: {_HINT}")
    return choice


_HINT = (
    "unset CASELOOP_RETRIEVAL_MODEL and CASELOOP_RETRIEVAL_ENCODER to search it with its own "
    "encoder, or re-embed it with `caseloop models reembed`"
)


def _packaged() -> EncoderModel:
    return resolve_model(None)
