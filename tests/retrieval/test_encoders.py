"""The dense backends agree with the torch reference; the model loads once per process."""

from __future__ import annotations

import numpy as np
import pytest

import retrieval
from retrieval.dense import DIMENSION, load_encoder
from retrieval.export import onnx_file
from retrieval.model import resolve_model

SENTENCES = [
    "My refund never arrived after I returned the shoes",
    "I cannot log in because the password reset email never comes",
    "Why was I charged a fee for a transfer to my own account?",
    "card",
    "The parcel tracking has not moved for a week and the courier does not answer the phone " * 8,
]


@pytest.fixture(scope="module")
def reference() -> np.ndarray:
    return load_encoder("torch").encode(SENTENCES)


@pytest.mark.parametrize(
    ("backend", "floor"), [("onnx-fp32", 0.9999), ("onnx-int8", 0.9), ("onnx-int8-mixed", 0.98)]
)
def test_onnx_backends_match_torch(
    backend: str, floor: float, reference: np.ndarray, settings: retrieval.RetrievalSettings
) -> None:
    vectors = load_encoder(backend, model_dir=settings.model_dir).encode(SENTENCES)
    assert vectors.shape == (len(SENTENCES), DIMENSION)
    assert np.allclose(np.linalg.norm(vectors, axis=1), 1.0, atol=1e-5)
    cosines = np.sum(vectors * reference, axis=1)
    assert cosines.min() >= floor


@pytest.mark.parametrize(("backend", "floor"), [("onnx-fp32", 0.9999), ("onnx-int8", 0.98)])
def test_batching_barely_changes_vectors(
    backend: str, floor: float, settings: retrieval.RetrievalSettings
) -> None:
    # int8 quantises activations per batch (dynamic ranges), so batch mates shift a vector a
    # little; fp32 is exact up to rounding.
    encoder = load_encoder(backend, model_dir=settings.model_dir)
    together = encoder.encode(SENTENCES)
    alone = np.vstack([encoder.encode([s]) for s in SENTENCES])
    assert np.sum(together * alone, axis=1).min() >= floor


def test_encoder_is_loaded_once_and_shared(settings: retrieval.RetrievalSettings) -> None:
    first = retrieval.open_index(":memory:", settings=settings)
    second = retrieval.open_index(":memory:", settings=settings)
    assert first.encoder is second.encoder
    assert first.encoder is load_encoder(settings.encoder, model_dir=settings.model_dir)


def test_export_is_cached(settings: retrieval.RetrievalSettings) -> None:
    path = onnx_file(resolve_model(None), "onnx-int8", settings.model_dir)
    stamp = path.stat().st_mtime_ns
    assert onnx_file(resolve_model(None), "onnx-int8", settings.model_dir) == path
    assert path.stat().st_mtime_ns == stamp


def test_unknown_backend_is_refused() -> None:
    with pytest.raises(retrieval.EncoderError, match="unknown backend 'gpu'"):
        load_encoder("gpu")
