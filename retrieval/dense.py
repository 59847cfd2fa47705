"""The dense side: sentence embeddings of one model, loaded lazily, once per process.

The model (:mod:`retrieval.model`) is the packaged all-MiniLM-L6-v2 unless the settings name a
local sentence-transformers folder or an ONNX export of one; nothing downloads. Four backends of
the same model: ``torch`` (transformers), and on onnxruntime ``onnx-fp32``, ``onnx-int8`` (dynamic
int8 quantisation of every matrix product) and ``onnx-int8-mixed`` (int8, but the feed-forward
down-projections kept fp32: they are the layers int8 hurts most, see :mod:`retrieval.export`).
The ONNX graphs are exported from the model's weights at first use and cached on disk, or read
from an export folder. All share one tokenizer (``tokenizers``, truncation at the model's token
limit: a longer text is embedded from its first pieces) and the model's pooling (mean or CLS)
followed by L2 normalisation, as sentence-transformers does. Nothing heavy is imported until the
first encode.
"""

from __future__ import annotations

import inspect
import json
import threading
from collections.abc import Sequence
from pathlib import Path
from typing import Any, Protocol, get_args

import numpy as np
import numpy.typing as npt

from retrieval.errors import EncoderError
from retrieval.model import PACKAGED_NAME, EncoderModel, resolve_model
from retrieval.settings import EncoderBackend, default_model_dir

BACKENDS: tuple[str, ...] = get_args(EncoderBackend)
MODEL_NAME = PACKAGED_NAME
DIMENSION = 384  # the packaged model's; a configured model brings its own
BATCH = 32

Matrix = npt.NDArray[np.float32]


class DenseEncoder(Protocol):
    """Text → unit vectors of the model's dimension."""

    backend: str

    def encode(self, texts: Sequence[str]) -> Matrix:
        """Embed ``texts``; rows are L2-normalised."""
        ...


def _tokenizer(model: EncoderModel) -> Any:
    from tokenizers import Tokenizer

    tok = Tokenizer.from_file(str(model.folder / "tokenizer.json"))
    tok.enable_truncation(max_length=model.max_tokens)
    pad = _pad_token(model.folder)
    pad_id = tok.token_to_id(pad)
    tok.enable_padding(pad_id=pad_id if pad_id is not None else 0, pad_token=pad)
    return tok


def _pad_token(folder: Path) -> str:
    path = folder / "tokenizer_config.json"
    token: Any = json.loads(path.read_text()).get("pad_token") if path.is_file() else None
    if isinstance(token, dict):  # older tokenizer configs store an AddedToken
        token = token.get("content")
    return token if isinstance(token, str) else "[PAD]"


def _pool(hidden: Matrix, mask: npt.NDArray[np.int64], pooling: str) -> Matrix:
    if pooling == "cls":
        pooled = hidden[:, 0, :]
    else:
        weights = mask[:, :, None].astype(np.float32)
        summed = (hidden * weights).sum(axis=1)
        pooled = summed / np.clip(weights.sum(axis=1), 1e-9, None)
    norms = np.linalg.norm(pooled, axis=1, keepdims=True)
    normalised: Matrix = (pooled / np.clip(norms, 1e-12, None)).astype(np.float32)
    return normalised


class _BatchingEncoder:
    """Shared batching: sort by length so padding stays small, restore the input order."""

    backend = "abstract"

    def __init__(self, model: EncoderModel) -> None:
        self.model = model
        self._tokenizer = _tokenizer(model)

    def encode(self, texts: Sequence[str]) -> Matrix:
        out = np.zeros((len(texts), self.model.dimension), dtype=np.float32)
        order = sorted(range(len(texts)), key=lambda i: len(texts[i]))
        for start in range(0, len(order), BATCH):
            chunk = order[start : start + BATCH]
            encodings = self._tokenizer.encode_batch([texts[i] for i in chunk])
            ids = np.array([e.ids for e in encodings], dtype=np.int64)
            mask = np.array([e.attention_mask for e in encodings], dtype=np.int64)
            out[chunk] = _pool(self._hidden(ids, mask), mask, self.model.pooling)
        return out

    def _hidden(self, ids: npt.NDArray[np.int64], mask: npt.NDArray[np.int64]) -> Matrix:
        raise NotImplementedError


class TorchEncoder(_BatchingEncoder):
    """The model through transformers and torch (the reference backend)."""

    backend = "torch"

    def __init__(self, model: EncoderModel, threads: int = 1) -> None:
        if model.onnx_only:
            raise EncoderError(
                f"model {model.describe()} is an ONNX export without torch weights: "
                "use an onnx-* backend"
            )
        super().__init__(model)
        import torch
        from transformers import AutoModel
        from transformers.utils import logging as hf_logging

        hf_logging.disable_progress_bar()  # type: ignore[no-untyped-call]
        torch.set_num_threads(threads)
        self._torch = torch
        self._model = AutoModel.from_pretrained(str(model.folder))
        self._model.eval()
        self._types = "token_type_ids" in inspect.signature(self._model.forward).parameters

    def _hidden(self, ids: npt.NDArray[np.int64], mask: npt.NDArray[np.int64]) -> Matrix:
        torch = self._torch
        feeds = {"input_ids": torch.from_numpy(ids), "attention_mask": torch.from_numpy(mask)}
        if self._types:
            feeds["token_type_ids"] = torch.zeros_like(feeds["input_ids"])
        with torch.inference_mode():
            result = self._model(**feeds)
        return result.last_hidden_state.numpy().astype(np.float32)  # type: ignore[no-any-return]


class OnnxEncoder(_BatchingEncoder):
    """The exported model on onnxruntime: fp32, int8 or mixed int8."""

    def __init__(self, model: EncoderModel, model_file: Path, backend: str, threads: int = 1):
        super().__init__(model)
        import onnxruntime as ort

        options = ort.SessionOptions()
        options.intra_op_num_threads = threads
        options.inter_op_num_threads = 1
        options.log_severity_level = 3
        self.backend = backend
        self._session = ort.InferenceSession(
            str(model_file), options, providers=["CPUExecutionProvider"]
        )
        self._inputs = {i.name for i in self._session.get_inputs()}

    def _hidden(self, ids: npt.NDArray[np.int64], mask: npt.NDArray[np.int64]) -> Matrix:
        feeds = {"input_ids": ids, "attention_mask": mask, "token_type_ids": np.zeros_like(ids)}
        chosen = {name: value for name, value in feeds.items() if name in self._inputs}
        (hidden,) = self._session.run(["last_hidden_state"], chosen)
        return np.asarray(hidden, dtype=np.float32)


_LOCK = threading.Lock()
_LOADED: dict[tuple[str, int, str, str, str], DenseEncoder] = {}


def load_encoder(
    backend: str,
    *,
    threads: int = 1,
    model_dir: Path | None = None,
    model: EncoderModel | None = None,
) -> DenseEncoder:
    """The process-wide encoder of ``model`` (default: the packaged one) on ``backend``.

    Built on the first call, then reused; ``model_dir`` caches ONNX exports of model folders.
    """
    if backend not in BACKENDS:
        raise EncoderError(f"encoder: unknown backend {backend!r} ({', '.join(BACKENDS)})")
    model = model or resolve_model(None)
    key = (backend, threads, str(model_dir), str(model.folder), model.fingerprint)
    with _LOCK:
        if key not in _LOADED:
            _LOADED[key] = _build(backend, threads, model_dir or default_model_dir(), model)
        return _LOADED[key]


def _build(backend: str, threads: int, model_dir: Path, model: EncoderModel) -> DenseEncoder:
    try:
        if backend == "torch":
            return TorchEncoder(model, threads)
        from retrieval.export import onnx_file

        return OnnxEncoder(model, onnx_file(model, backend, model_dir), backend, threads)
    except EncoderError:
        raise
    except Exception as exc:
        raise EncoderError(f"cannot load the {backend} encoder of {model.name}: {exc}") from exc
