"""A tiny, randomly initialised sentence-transformers folder (BERT, 32 dimensions, CLS pooling).

Built offline in a second from the packaged model's tokenizer: a model that is certainly not
MiniLM, with another dimension and another pooling, to test configured model folders.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path

from retrieval.model import packaged_folder

DIMENSION = 32


def tiny_model(folder: Path, seed: int = 0) -> Path:
    """Write the tiny model into ``folder`` and return it."""
    import torch
    from transformers import BertConfig, BertModel

    torch.manual_seed(seed)
    config = BertConfig(
        vocab_size=30522,
        hidden_size=DIMENSION,
        num_hidden_layers=1,
        num_attention_heads=2,
        intermediate_size=64,
        max_position_embeddings=128,
    )
    BertModel(config).save_pretrained(str(folder))
    for name in ("tokenizer.json", "tokenizer_config.json", "special_tokens_map.json", "vocab.txt"):
        shutil.copyfile(packaged_folder() / name, folder / name)
    (folder / "1_Pooling").mkdir()
    (folder / "1_Pooling" / "config.json").write_text(
        json.dumps({"embedding_dimension": DIMENSION, "pooling_mode": "cls"})
    )
    (folder / "sentence_bert_config.json").write_text(json.dumps({"max_seq_length": 64}))
    modules = [
        {"idx": 0, "name": "0", "path": "", "type": "sentence_transformers.models.Transformer"},
        {
            "idx": 1,
            "name": "1",
            "path": "1_Pooling",
            "type": "sentence_transformers.models.Pooling",
        },
    ]
    (folder / "modules.json").write_text(json.dumps(modules))
    return folder
