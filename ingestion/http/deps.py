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


async def read_limited(request: Request, limit: int) -> bytes | None:
    """The body, or None as soon as it grows past ``limit`` (never buffers an oversized body)."""
    declared = request.headers.get("content-length")
    if declared is not None and declared.isdigit() and int(declared) > limit:
        return None
    chunks, size = [], 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > limit:
            return None
        chunks.append(chunk)
    return b"".join(chunks)
