"""Errors of the learning pipeline, under the ingestion package's root.

    CaseloopIngestionError                (ingestion.errors)
    └── LearningError                     a case could not be learned or retracted
        ├── SummariserFailed              the summariser is misconfigured or its call failed
        └── IndexWriteFailed              the retrieval index refused an upsert or retraction

A failure of one case is reported (``LearningReport.failed``) and never stops the others.
"""

from __future__ import annotations

from ingestion.errors import CaseloopIngestionError


class LearningError(CaseloopIngestionError):
    """A case could not be learned or retracted."""


class SummariserFailed(LearningError):
    """The summariser is misconfigured or its call failed."""


class IndexWriteFailed(LearningError):
    """The retrieval index refused an upsert or a retraction."""
