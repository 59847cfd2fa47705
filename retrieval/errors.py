"""The retrieval package's exceptions: one root, translated at every engine boundary.

No ``qdrant_client``, ``qdrant_edge``, ``onnxruntime`` or ``torch`` exception leaves the public API;
each is wrapped in one of these (the original is kept as ``__cause__``)::

    RetrievalError
    ├── InvalidDocument        a CaseDocument field is missing or has the wrong type
    ├── InvalidQuery           the query text cannot be searched
    │   ├── EmptyQuery         empty or whitespace only
    │   └── QueryTooLong       longer than ``max_query_chars`` (refused, never silently cut)
    ├── InvalidFilter          a filter key is not declared for the index, or its value is not a scalar
    │   └── TenantRequired     multi-tenant index: the ``tenant`` filter (or metadata) is missing
    ├── IndexMissing           no index at the location (and ``create=False``)
    ├── IndexIncompatible      the stored schema version, model or BM25 setup differs from this code's
    │   └── EncoderMismatch    the index was built by another dense model or backend than the settings name
    ├── IndexBusy              another process holds the writer lock of an embedded index
    ├── EngineError            the Qdrant engine failed (server down, corrupt shard, …)
    │   └── IndexCorrupt       the index folder is damaged (unreadable CURRENT, generations
    │                          without a pointer, a file where the folder should be, a generation
    │                          whose files or point count differ from its manifest)
    ├── EncoderError           the dense model could not be loaded or exported
    └── CalibrationError       labelled samples cannot fit a verdict policy (too few, one class)
        └── PromiseUnreachable no threshold keeps the precision promise on these samples
"""

from __future__ import annotations


class RetrievalError(Exception):
    """Root of every error raised by the retrieval package."""


class InvalidDocument(RetrievalError, ValueError):
    """A case document failed validation; the message names the field."""


class InvalidQuery(RetrievalError, ValueError):
    """The query text cannot be searched."""


class EmptyQuery(InvalidQuery):
    """The query is empty or whitespace only."""


class QueryTooLong(InvalidQuery):
    """The query is longer than the configured ``max_query_chars``; it is refused, not truncated."""


class InvalidFilter(RetrievalError, ValueError):
    """A filter key is unknown to the index, or its value is not a str, int or bool."""


class TenantRequired(InvalidFilter):
    """The index is multi-tenant and a tenant was not given."""


class IndexMissing(RetrievalError):
    """No index exists at the location."""


class IndexIncompatible(RetrievalError):
    """The index was written by an incompatible schema, model or BM25 configuration."""


class EncoderMismatch(IndexIncompatible):
    """The settings name another dense model or backend than the one that built the index."""


class IndexBusy(RetrievalError):
    """Another process is the writer of this embedded index."""


class EngineError(RetrievalError):
    """The Qdrant engine (embedded or server) failed."""


class IndexCorrupt(EngineError):
    """The embedded index's folder is damaged; nothing is created over it."""


class EncoderError(RetrievalError):
    """The dense encoder could not be loaded, exported or run."""


class CalibrationError(RetrievalError, ValueError):
    """The labelled samples cannot fit a verdict policy."""


class PromiseUnreachable(CalibrationError):
    """No confidence threshold keeps the target precision with the stated confidence on the
    samples given (too few, or too many confident wrong answers): answering nothing is the only
    policy they support. Fit on more samples, or lower ``confidence_level`` or the target."""
