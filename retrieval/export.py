"""Export the packaged MiniLM to ONNX (fp32, then int8) once, cached on disk.

The graph is traced from the packaged safetensors with torch (imported only here, once per
cache), then quantised with onnxruntime's dynamic int8 quantisation. Files are written to a
temporary name and renamed, under a file lock, so concurrent first uses neither race nor leave
half-written models. The cache key includes the size and modification time of the packaged
weights, so a new model package exports again.
"""

from __future__ import annotations

import fcntl
import logging
import os
import warnings
from pathlib import Path

from retrieval.dense import model_path
from retrieval.errors import EncoderError

_NAMES = ("input_ids", "attention_mask", "token_type_ids")


def _cache_folder(root: Path) -> Path:
    weights = model_path() / "model.safetensors"
    stat = weights.stat()
    return root / f"all-MiniLM-L6-v2-{stat.st_size}-{int(stat.st_mtime)}"


def onnx_model(root: Path, *, quantized: bool) -> Path:
    """Path of the fp32 or int8 ONNX file, exporting it first if it is not cached."""
    folder = _cache_folder(root)
    target = folder / ("model-int8.onnx" if quantized else "model-fp32.onnx")
    if target.exists():
        return target
    folder.mkdir(parents=True, exist_ok=True)
    with open(folder / ".lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)  # a second process waits for the first export
        fp32 = folder / "model-fp32.onnx"
        if not fp32.exists():
            _export_fp32(fp32)
        if quantized and not target.exists():
            _quantize(fp32, target)
    return target


def _export_fp32(target: Path) -> None:
    import torch
    from transformers import AutoModel
    from transformers.utils import logging as hf_logging

    class _Hidden(torch.nn.Module):
        # Keyword call: transformers' positional order changed across releases.
        def __init__(self, model: torch.nn.Module) -> None:
            super().__init__()
            self.model = model

        def forward(
            self, ids: torch.Tensor, mask: torch.Tensor, types: torch.Tensor
        ) -> torch.Tensor:
            out = self.model(input_ids=ids, attention_mask=mask, token_type_ids=types)
            return out.last_hidden_state  # type: ignore[no-any-return]

    hf_logging.disable_progress_bar()  # type: ignore[no-untyped-call]
    model = AutoModel.from_pretrained(str(model_path()))
    model.eval()
    ids = torch.ones(1, 8, dtype=torch.long)
    axes = {n: {0: "batch", 1: "tokens"} for n in (*_NAMES, "last_hidden_state")}
    tmp = target.with_suffix(f".{os.getpid()}.tmp")
    try:
        with warnings.catch_warnings():
            # The tracer warns about shape-dependent branches that dynamic axes already cover.
            warnings.simplefilter("ignore")
            torch.onnx.export(
                _Hidden(model),
                (ids, ids, torch.zeros_like(ids)),
                str(tmp),
                input_names=list(_NAMES),
                output_names=["last_hidden_state"],
                dynamic_axes=axes,
                opset_version=17,
                dynamo=False,
            )
    except Exception as exc:
        tmp.unlink(missing_ok=True)
        raise EncoderError(f"ONNX export of MiniLM failed: {exc}") from exc
    os.replace(tmp, target)


def _quantize(source: Path, target: Path) -> None:
    from onnxruntime.quantization import QuantType, quantize_dynamic

    tmp = target.with_suffix(f".{os.getpid()}.tmp")
    # onnxruntime logs a pre-processing hint through the root logger; it does not apply here.
    root = logging.getLogger()
    level = root.level
    root.setLevel(logging.ERROR)
    try:
        quantize_dynamic(str(source), str(tmp), weight_type=QuantType.QInt8)
    except Exception as exc:
        tmp.unlink(missing_ok=True)
        raise EncoderError(f"int8 quantisation of MiniLM failed: {exc}") from exc
    finally:
        root.setLevel(level)
    os.replace(tmp, target)
