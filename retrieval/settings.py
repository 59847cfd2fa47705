"""Settings of the retrieval package (engine, encoders, fusion, verdict, readers and writer).

Built once at an entry point (``RetrievalSettings()`` reads ``CASELOOP_RETRIEVAL_*`` variables)
and passed to :func:`retrieval.open_index`; importing this module reads nothing.
"""

from __future__ import annotations

from pathlib import Path
from typing import Literal

from pydantic import Field, SecretStr
from pydantic_settings import BaseSettings, SettingsConfigDict

EncoderBackend = Literal["onnx-fp32", "onnx-int8", "onnx-int8-mixed", "torch"]
FusionName = Literal["dense_first", "rrf"]


def default_model_dir() -> Path:
    """Where ONNX exports are cached unless ``model_dir`` says otherwise."""
    return Path.home() / ".cache" / "caseloop" / "models"


class RetrievalSettings(BaseSettings):
    """Configuration of the hybrid index; every field maps to ``CASELOOP_RETRIEVAL_<FIELD>``."""

    model_config = SettingsConfigDict(env_prefix="CASELOOP_RETRIEVAL_", extra="ignore", frozen=True)

    # Engine
    location: str = Field(
        ".caseloop/index",
        description="Index location: a folder (embedded engine), http(s)://… (Qdrant server), "
        "':memory:' or 'local:PATH' (qdrant-client local mode, a test double).",
    )
    collection: str = Field("case_summaries", description="Collection name on a Qdrant server.")
    api_key: SecretStr | None = Field(None, description="API key of the Qdrant server.")
    timeout: float = Field(10.0, description="Seconds per call to a Qdrant server.")
    # Encoders
    model: str | None = Field(
        None,
        description="Dense model: 'packaged' (all-MiniLM-L6-v2), or a local sentence-transformers "
        "folder or `caseloop models export` folder. Unset: the model the index records "
        "(packaged for a new index); set: an index built by another model is refused.",
    )
    encoder: EncoderBackend = Field(
        "onnx-int8-mixed",
        description="Dense backend: onnx-fp32, onnx-int8, onnx-int8-mixed or torch. Unset: an "
        "existing index's own (this default for a new one); set: another is refused.",
    )
    encoder_threads: int = Field(1, ge=1, description="CPU threads of the dense encoder.")
    model_dir: Path = Field(
        default_factory=default_model_dir,
        description="Cache of the ONNX files exported from model folders at first use.",
    )
    tune_after_learning: bool = Field(
        False,
        description="Run `caseloop tune` on the store after each nightly learning run (switches "
        "the index's model only when the tuned one is better on later questions).",
    )
    tune_epochs: int = Field(1, ge=1, description="Passes over the training pairs when tuning.")
    tune_learning_rate: float = Field(
        5e-5, gt=0, lt=1, description="AdamW learning rate when tuning the encoder."
    )
    tune_holdout: float = Field(
        0.2, gt=0, lt=1, description="Share of the latest questions held out to judge a tuning."
    )
    bm25_k1: float = Field(1.2, gt=0, description="BM25 term-frequency saturation.")
    bm25_b: float = Field(0.75, ge=0, le=1, description="BM25 length normalisation.")
    bm25_avg_len: float = Field(
        40.0, gt=0, description="Average document length in tokens, fixed when the index is made."
    )
    # Search and fusion
    candidates: int = Field(50, ge=1, description="Depth of each retriever before fusion.")
    fusion: FusionName = Field(
        "dense_first",
        description="dense_first (dense order, BM25 breaks a near-tie at the top) or rrf.",
    )
    tie_margin: float = Field(
        0.05, ge=0, description="dense_first: cosine gap within which BM25's top hit goes first."
    )
    lexical_lead: float = Field(
        1.25, ge=1, description="dense_first: BM25's top score over its second needed to do so."
    )
    rrf_k: int = Field(60, ge=1, description="rrf: reciprocal rank fusion constant.")
    weight_bm25: float = Field(1.0, ge=0, description="rrf: weight of the BM25 retriever.")
    weight_dense: float = Field(1.5, ge=0, description="rrf: weight of the dense retriever.")
    hnsw_ef: int = Field(128, ge=1, description="HNSW search breadth (recall against speed).")
    search_threads: int = Field(
        1, ge=1, description="Search threads of a new embedded shard (fixed when it is made)."
    )
    max_query_chars: int = Field(2000, ge=1, description="Longer queries are refused.")
    # Filters and tenants
    filter_keys: list[str] = Field(
        default_factory=lambda: ["tenant", "product", "source", "language"],
        description="Metadata keys that searches may filter on (equality).",
    )
    multi_tenant: bool = Field(False, description="Require a tenant on every document and query.")
    # Many readers, one writer (embedded engine)
    reload_interval: float = Field(
        2.0, ge=0, description="Seconds between a reader's checks for a newer index generation."
    )
    publish_interval: float = Field(
        10.0, ge=0, description="A writer publishes at most this often while writing; and on close."
    )
    keep_generations: int = Field(3, ge=2, description="Published generations kept on disk.")

    def following_index(self) -> RetrievalSettings:
        """These settings naming no model and no backend: an index opens with its own encoder."""
        values = {**dict(self), "model": None}
        fields = self.model_fields_set - {"model", "encoder"}
        return type(self).model_construct(_fields_set=fields, **values)

    @classmethod
    def load(cls, env_file: Path | None = None) -> RetrievalSettings:
        """Read the environment (and ``env_file`` when given): call this at entry points only."""
        return cls(_env_file=env_file) if env_file else cls()  # type: ignore[call-arg]
