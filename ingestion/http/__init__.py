"""The caseloop HTTP service (FastAPI): escalations, webhooks, messages, session outcomes."""

from ingestion.http.app import create_app

__all__ = ["create_app"]
