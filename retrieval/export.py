"""ONNX exports of a model: fp32, int8 and mixed int8, made once and cached, or written on demand.

The fp32 graph is traced from the model folder's weights with torch (imported only here), then
quantised with onnxruntime's dynamic quantisation (int8 weights, activations quantised per call):

- ``int8``: every matrix product;
- ``int8-mixed``: every matrix product except the feed-forward *down-projections* (the MatMuls
  whose weight maps a wider input to a narrower output, 1,536 → 384 in MiniLM), which stay fp32.
  Their input is the GELU output, whose few large activations per-tensor int8 clips; in a
  node-by-node scan on BANKING77 messages (``benchmarks/encoders.py --sensitivity``) they were the
  six most sensitive of MiniLM's 36 weight MatMuls, and keeping them fp32 takes the cosine to fp32
  from 0.969 to 0.996 at a fraction of fp32's cost.

An export folder holds ``model-<variant>.onnx``, the tokenizer files and ``export.json`` (the
model's identity, :func:`retrieval.model.export_record`), so it is a model folder in its own right
(``CASELOOP_RETRIEVAL_MODEL``). The run-time cache is such a folder too, one per model fingerprint
under ``model_dir``. Files are written to a temporary name and renamed, under a file lock, so
concurrent first uses neither race nor leave half-written models.
"""

from __future__ import annotations

import fcntl
import json
import logging
import os
import shutil
import warnings
from collections.abc import Sequence
from pathlib import Path

from retrieval.errors import EncoderError
from retrieval.model import EXPORT_FILE, EncoderModel, export_record

VARIANTS = {"onnx-fp32": "fp32", "onnx-int8": "int8", "onnx-int8-mixed": "int8-mixed"}
_NAMES = ("input_ids", "attention_mask", "token_type_ids")
_TOKENIZER_FILES = ("tokenizer.json", "tokenizer_config.json", "special_tokens_map.json")


def file_name(backend: str) -> str:
    """The ONNX file of a backend inside an export folder."""
    return f"model-{VARIANTS[backend]}.onnx"


def cache_folder(model: EncoderModel, root: Path) -> Path:
    """The run-time export folder of ``model`` under ``root`` (one per fingerprint)."""
    safe = "".join(c if c.isalnum() or c in "-_." else "_" for c in model.name)
    return root / f"{safe}-{model.fingerprint}"


def onnx_file(model: EncoderModel, backend: str, root: Path) -> Path:
    """Path of the ONNX file of ``backend``: the export folder's own, or exported into the cache."""
    if model.onnx_only and (model.folder / file_name(backend)).is_file():
        return model.folder / file_name(backend)
    return export(model, cache_folder(model, root), [backend])[0]


def export(model: EncoderModel, folder: Path, backends: Sequence[str]) -> list[Path]:
    """Write the ONNX files of ``backends`` (and what makes ``folder`` a model) unless present."""
    unknown = [b for b in backends if b not in VARIANTS]
    if unknown:
        raise EncoderError(f"export: not ONNX backends {unknown} (choose from {list(VARIANTS)})")
    targets = [folder / file_name(b) for b in backends]
    if all(t.is_file() for t in targets) and (folder / EXPORT_FILE).is_file():
        return targets
    folder.mkdir(parents=True, exist_ok=True)
    with open(folder / ".lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)  # a second process waits for the first export
        fp32 = folder / file_name("onnx-fp32")
        if not fp32.is_file():
            _fp32_source(model, fp32)
        for backend, target in zip(backends, targets, strict=True):
            if not target.is_file():
                _quantize(fp32, target, mixed=backend == "onnx-int8-mixed")
        _describe(model, folder)
    return targets


def _fp32_source(model: EncoderModel, target: Path) -> None:
    """An fp32 graph: copied from an export folder, else traced from the weights."""
    if model.onnx_only:
        source = model.folder / file_name("onnx-fp32")
        if not source.is_file():
            raise EncoderError(f"export: {model.folder} has no {source.name} to quantise")
        tmp = target.with_suffix(f".{os.getpid()}.tmp")
        shutil.copyfile(source, tmp)
        os.replace(tmp, target)
        return
    _export_fp32(model, target)


def _describe(model: EncoderModel, folder: Path) -> None:
    for name in _TOKENIZER_FILES:
        if (model.folder / name).is_file() and model.folder != folder:
            shutil.copyfile(model.folder / name, folder / name)
    tmp = folder / f".{EXPORT_FILE}.{os.getpid()}.tmp"
    tmp.write_text(json.dumps(export_record(model), indent=1, sort_keys=True))
    os.replace(tmp, folder / EXPORT_FILE)


def _export_fp32(model: EncoderModel, target: Path) -> None:
    import inspect

    import torch
    from transformers import AutoModel
    from transformers.utils import logging as hf_logging

    hf_logging.disable_progress_bar()  # type: ignore[no-untyped-call]
    network = AutoModel.from_pretrained(str(model.folder))
    network.eval()
    names = [n for n in _NAMES if n in inspect.signature(network.forward).parameters]

    class _Hidden(torch.nn.Module):
        # Keyword call: transformers' positional order changed across releases.
        def __init__(self) -> None:
            super().__init__()
            self.network = network  # a submodule, so its weights trace as parameters

        def forward(self, *inputs: torch.Tensor) -> torch.Tensor:
            out = self.network(**dict(zip(names, inputs, strict=True)))
            return out.last_hidden_state  # type: ignore[no-any-return]

    ids = torch.ones(1, 8, dtype=torch.long)
    example = tuple(torch.zeros_like(ids) if n == "token_type_ids" else ids for n in names)
    axes = {n: {0: "batch", 1: "tokens"} for n in (*names, "last_hidden_state")}
    tmp = target.with_suffix(f".{os.getpid()}.tmp")
    try:
        with warnings.catch_warnings():
            # The tracer warns about shape-dependent branches that dynamic axes already cover.
            warnings.simplefilter("ignore")
            torch.onnx.export(
                _Hidden(),
                example,
                str(tmp),
                input_names=names,
                output_names=["last_hidden_state"],
                dynamic_axes=axes,
                opset_version=17,
                dynamo=False,
            )
    except Exception as exc:
        tmp.unlink(missing_ok=True)
        raise EncoderError(f"ONNX export of {model.name} failed: {exc}") from exc
    os.replace(tmp, target)


def sensitive_nodes(fp32: Path) -> list[str]:
    """MatMuls whose constant weight narrows its input (the feed-forward down-projections)."""
    import onnx

    graph = onnx.load(str(fp32), load_external_data=False).graph
    shapes = {init.name: tuple(init.dims) for init in graph.initializer}
    return [
        node.name
        for node in graph.node
        if node.op_type == "MatMul"
        and len(shape := shapes.get(node.input[1], ())) == 2
        and shape[0] > shape[1]
    ]


def _quantize(source: Path, target: Path, *, mixed: bool) -> None:
    from onnxruntime.quantization import QuantType, quantize_dynamic

    tmp = target.with_suffix(f".{os.getpid()}.tmp")
    excluded = sensitive_nodes(source) if mixed else []
    # onnxruntime logs a pre-processing hint through the root logger; it does not apply here.
    root = logging.getLogger()
    level = root.level
    root.setLevel(logging.ERROR)
    try:
        quantize_dynamic(
            str(source), str(tmp), weight_type=QuantType.QInt8, nodes_to_exclude=excluded
        )
    except Exception as exc:
        tmp.unlink(missing_ok=True)
        raise EncoderError(f"int8 quantisation of {source.name} failed: {exc}") from exc
    finally:
        root.setLevel(level)
    os.replace(tmp, target)
