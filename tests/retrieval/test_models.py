"""Configured model folders, ONNX exports, and the index's record of the encoder that built it."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

import retrieval
from retrieval.dense import load_encoder
from retrieval.export import export, sensitive_nodes
from retrieval.model import resolve_model
from tests.retrieval.tiny_model import DIMENSION, tiny_model

TEXTS = [
    "My refund never arrived after I returned the shoes",
    "I cannot log in because the password reset email never comes",
    "card",
]


@pytest.fixture(scope="module")
def tiny(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tiny_model(tmp_path_factory.mktemp("tiny"))


@pytest.fixture
def docs() -> list[retrieval.CaseDocument]:
    return [
        retrieval.CaseDocument(f"T-{i}", text, text[:40], [], {"tenant": "acme"})
        for i, text in enumerate(TEXTS)
    ]


def _settings(base: retrieval.RetrievalSettings, **update: object) -> retrieval.RetrievalSettings:
    return base.model_copy(update=update)


@pytest.mark.parametrize("backend", ["torch", "onnx-fp32"])
def test_a_model_folder_embeds_as_sentence_transformers_does(
    tiny: Path, backend: str, settings: retrieval.RetrievalSettings
) -> None:
    from sentence_transformers import SentenceTransformer

    reference = SentenceTransformer(str(tiny), device="cpu").encode(
        TEXTS, normalize_embeddings=True
    )
    model = resolve_model(tiny)
    assert (model.dimension, model.pooling, model.max_tokens) == (DIMENSION, "cls", 64)
    vectors = load_encoder(backend, model_dir=settings.model_dir, model=model).encode(TEXTS)
    assert vectors.shape == (len(TEXTS), DIMENSION)
    assert np.sum(vectors * reference, axis=1).min() >= 0.9999


def test_an_index_records_its_encoder_and_takes_its_dimension(
    tiny: Path, tmp_path: Path, settings: retrieval.RetrievalSettings, docs: list
) -> None:
    chosen = _settings(settings, model=str(tiny), encoder="onnx-fp32")
    with retrieval.open_index(tmp_path / "index", settings=chosen) as index:
        index.upsert(docs)
        assert index.search("refund for returned shoes", k=3)
        record = (index.engine.manifest() or {})["encoder"]
    assert record == {
        "model": tiny.name,
        "fingerprint": resolve_model(tiny).fingerprint,
        "backend": "onnx-fp32",
        "dimension": DIMENSION,
        "source": str(tiny.resolve()),
    }


@pytest.fixture
def built_by_tiny(
    tiny: Path, tmp_path: Path, settings: retrieval.RetrievalSettings, docs: list
) -> Path:
    with retrieval.open_index(
        tmp_path / "index", settings=_settings(settings, model=str(tiny), encoder="torch")
    ) as index:
        index.upsert(docs)
    return tmp_path / "index"


@pytest.mark.parametrize(
    ("update", "named"),
    [
        ({"model": "packaged"}, "all-MiniLM-L6-v2"),
        ({"encoder": "onnx-int8"}, "on onnx-int8"),
    ],
)
def test_a_mismatched_encoder_is_refused(
    built_by_tiny: Path, settings: retrieval.RetrievalSettings, update: dict, named: str
) -> None:
    with pytest.raises(retrieval.EncoderMismatch, match=named) as caught:
        retrieval.open_index(built_by_tiny, settings=_settings(settings, **update), create=False)
    assert "caseloop models reembed" in str(caught.value)
    assert isinstance(caught.value, retrieval.IndexIncompatible)


def test_unset_settings_follow_the_index(
    built_by_tiny: Path, tiny: Path, settings: retrieval.RetrievalSettings
) -> None:
    follow = retrieval.RetrievalSettings(
        model_dir=settings.model_dir, filter_keys=["tenant"], reload_interval=0.0
    )
    with retrieval.open_index(built_by_tiny, settings=follow, create=False) as index:
        assert index.encoder_choice.model.fingerprint == resolve_model(tiny).fingerprint
        assert index.encoder_choice.backend == "torch"
        assert index.search("password reset", k=1)[0].case_id == "T-1"


def test_a_moved_model_is_reported_with_where_it_was(
    tiny: Path, tmp_path: Path, settings: retrieval.RetrievalSettings, docs: list
) -> None:
    import shutil

    moving = shutil.copytree(tiny, tmp_path / "moving")
    with retrieval.open_index(
        tmp_path / "index", settings=_settings(settings, model=str(moving), encoder="torch")
    ) as index:
        index.upsert(docs)
    shutil.rmtree(moving)
    follow = retrieval.RetrievalSettings(model_dir=settings.model_dir, filter_keys=["tenant"])
    with pytest.raises(retrieval.EncoderError, match="cannot be loaded here"):
        retrieval.open_index(tmp_path / "index", settings=follow, create=False)
    # a copy of the same model elsewhere is the same encoder
    with retrieval.open_index(
        tmp_path / "index", settings=_settings(follow, model=str(tiny)), create=False
    ) as index:
        assert index.count() == len(TEXTS)


def test_an_index_from_before_encoder_records_opens_with_the_packaged_model(
    tmp_path: Path, settings: retrieval.RetrievalSettings, tiny: Path
) -> None:
    where = f"local:{tmp_path / 'old'}"
    with retrieval.open_index(where, settings=settings) as index:
        manifest = dict(index.engine.manifest() or {})
        del manifest["encoder"]
        index.engine.save_manifest(manifest)
    with retrieval.open_index(where, settings=settings, create=False) as index:
        assert index.encoder_choice.model.source == "packaged"
    with pytest.raises(retrieval.EncoderMismatch, match="packaged"):
        retrieval.open_index(where, settings=_settings(settings, model=str(tiny)), create=False)


def test_an_export_folder_is_a_model_without_torch(
    tmp_path: Path, settings: retrieval.RetrievalSettings
) -> None:
    packaged = resolve_model(None)
    files = export(packaged, tmp_path / "export", ["onnx-fp32", "onnx-int8", "onnx-int8-mixed"])
    assert [f.name for f in files] == [
        "model-fp32.onnx",
        "model-int8.onnx",
        "model-int8-mixed.onnx",
    ]
    exported = resolve_model(tmp_path / "export")
    assert exported.onnx_only
    assert exported.fingerprint == packaged.fingerprint
    reference = load_encoder("onnx-fp32", model_dir=settings.model_dir).encode(TEXTS)
    for backend, floor in (("onnx-fp32", 0.9999), ("onnx-int8-mixed", 0.99)):
        vectors = load_encoder(backend, model_dir=tmp_path / "cache", model=exported).encode(TEXTS)
        assert np.sum(vectors * reference, axis=1).min() >= floor
    assert not (tmp_path / "cache").exists()  # read from the export folder, nothing re-exported
    with pytest.raises(retrieval.EncoderError, match="without torch weights"):
        load_encoder("torch", model=exported)


def test_mixed_int8_keeps_the_feed_forward_down_projections(
    settings: retrieval.RetrievalSettings,
) -> None:
    fp32 = export(resolve_model(None), settings.model_dir / "check", ["onnx-fp32"])[0]
    kept = sensitive_nodes(fp32)
    assert kept == [f"/network/encoder/layer.{i}/output/dense/MatMul" for i in range(6)]


@pytest.mark.parametrize(
    ("folder_content", "message"),
    [
        ({}, "holds neither weights"),
        ({"model.safetensors": b"", "tokenizer.json": b"{}"}, "no modules.json"),
    ],
)
def test_a_folder_that_is_no_model_is_refused_clearly(
    tmp_path: Path, folder_content: dict[str, bytes], message: str
) -> None:
    for name, content in folder_content.items():
        (tmp_path / name).write_bytes(content)
    with pytest.raises(retrieval.EncoderError, match=message):
        resolve_model(tmp_path)
    with pytest.raises(retrieval.EncoderError, match="is not a folder"):
        resolve_model(tmp_path / "missing")
