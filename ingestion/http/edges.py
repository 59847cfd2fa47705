"""What the service checks before any route: JSON bodies only, an allowed Host, a clean access log.

* `JsonOnly`: a ``POST`` to any route but the webhooks (whose senders are verified by signature
  and whose bodies are kept raw) must say ``Content-Type: application/json`` (or ``…+json``);
  anything else is a 415. A browser cannot send JSON cross-site without a CORS preflight, which this
  service never grants, so a form post from another site never reaches a handler.
* ``allowed_hosts``: Starlette's `TrustedHostMiddleware` answers 400 to any other Host header.
* `StripQuery`: uvicorn's access log shows the path without its query string (a webhook token in
  ``?token=…`` never reaches a log).
"""

from __future__ import annotations

import logging

from starlette.types import ASGIApp, Receive, Scope, Send

from ingestion.http.responses import SafeJSONResponse

UNCHECKED_PREFIXES = ("/webhooks/",)
BODY_METHODS = frozenset({"POST", "PUT", "PATCH"})


def _is_json(content_type: str) -> bool:
    media = content_type.split(";", 1)[0].strip().lower()
    return media == "application/json" or (
        media.startswith("application/") and media.endswith("+json")
    )


class JsonOnly:
    """A pure ASGI middleware: 415 for a body that is not declared JSON."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if (
            scope["type"] == "http"
            and scope["method"] in BODY_METHODS
            and not str(scope["path"]).startswith(UNCHECKED_PREFIXES)
        ):
            headers = dict(scope["headers"])
            content_type = headers.get(b"content-type", b"").decode("latin-1")
            if not _is_json(content_type):
                detail = "send the body as JSON with Content-Type: application/json"
                await SafeJSONResponse({"detail": detail}, status_code=415)(scope, receive, send)
                return
        await self.app(scope, receive, send)


class StripQuery(logging.Filter):
    """Drops the query string from uvicorn access-log records (their third argument)."""

    def filter(self, record: logging.LogRecord) -> bool:
        args = record.args
        if isinstance(args, tuple) and len(args) >= 3 and isinstance(args[2], str):
            record.args = (*args[:2], args[2].split("?", 1)[0], *args[3:])
        return True


def strip_queries_from_access_log() -> None:
    """Install `StripQuery` on uvicorn's access logger (once per process)."""
    logger = logging.getLogger("uvicorn.access")
    if not any(isinstance(f, StripQuery) for f in logger.filters):
        logger.addFilter(StripQuery())
