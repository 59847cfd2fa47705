"""FastAPI dependencies: the objects `create_app` put on the application state."""

from __future__ import annotations

from typing import cast

from fastapi import Request

from ingestion.settings import IngestionSettings
from ingestion.store import Store


def get_store(request: Request) -> Store:
    return cast(Store, request.app.state.store)


def get_settings(request: Request) -> IngestionSettings:
    return cast(IngestionSettings, request.app.state.settings)
