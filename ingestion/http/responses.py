"""JSON answers that can always be encoded, and validation errors that never echo the input.

Starlette's `JSONResponse` writes UTF-8 without escaping, so a lone surrogate echoed from a request
(a dict key in a field path, say) fails while encoding: a 500 instead of the 422 being sent.
`SafeJSONResponse` escapes everything outside ASCII and refuses NaN. FastAPI's own 422 handler
echoes each bad ``input`` (which may be ``Infinity`` or unencodable); `validation_error` answers with
the location, message and type only.
"""

from __future__ import annotations

import json
from typing import Any

from fastapi import Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException as StarletteHTTPException


class SafeJSONResponse(JSONResponse):
    """A JSON response whose body is pure ASCII (non-ASCII and lone surrogates escaped)."""

    def render(self, content: Any) -> bytes:
        return json.dumps(
            content, ensure_ascii=True, allow_nan=False, separators=(",", ":")
        ).encode()


def problem(status: int, title: str, problems: list[tuple[str, str]]) -> SafeJSONResponse:
    """A 4xx answer with one ``{loc, field, msg}`` entry per problem (``field`` is a dotted path)."""
    detail = [
        {
            "loc": ["body", *field.replace("[", ".").replace("]", "").split(".")],
            "field": field,
            "msg": msg,
        }
        for field, msg in problems
    ]
    return SafeJSONResponse({"title": title, "detail": detail}, status_code=status)


async def validation_error(request: Request, exc: Exception) -> SafeJSONResponse:
    """FastAPI's request validation errors, without the offending input."""
    assert isinstance(exc, RequestValidationError)
    detail = [
        {
            "loc": [part if isinstance(part, int) else str(part) for part in error["loc"]],
            "msg": error["msg"],
            "type": error["type"],
        }
        for error in exc.errors()
    ]
    return SafeJSONResponse({"detail": detail}, status_code=422)


async def http_error(request: Request, exc: Exception) -> SafeJSONResponse:
    """HTTP errors as FastAPI writes them, encoded safely."""
    assert isinstance(exc, StarletteHTTPException)
    return SafeJSONResponse(
        {"detail": exc.detail}, status_code=exc.status_code, headers=exc.headers
    )
