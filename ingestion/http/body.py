"""Reading a request body within a size limit (escalations, webhooks).

The declared ``Content-Length`` is checked first and the stream is counted as it arrives, so an
oversized body is refused without ever being held in memory.
"""

from __future__ import annotations

from fastapi import Request


async def read_limited(request: Request, limit: int) -> bytes | None:
    """The raw body, or None as soon as it is over ``limit`` bytes (declared or streamed)."""
    declared = request.headers.get("content-length")
    if declared is not None and declared.isdigit() and int(declared) > limit:
        return None
    chunks: list[bytes] = []
    size = 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > limit:
            return None
        chunks.append(chunk)
    return b"".join(chunks)
