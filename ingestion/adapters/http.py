"""The HTTP edge: one client and one error translation for every HTTP ticketing adapter, and the
one retry rule (`is_retryable`, `parse_retry_after`) for every HTTP call caseloop makes.

What a ticketing API answers becomes one of the package's errors (see `ingestion.errors`):

    timeout, connection refused or reset, 5xx, 408, 425, 429  → TicketingUnavailable (retryable;
                                                                  ``retry_after`` from Retry-After)
    404                                                         → TicketNotFound (permanent)
    any other 4xx                                               → TicketingRejected (permanent,
                                                                  with the system's own message)
    2xx whose body is not JSON                                  → TicketingUnavailable (a proxy's
                                                                  error page is usually transient)
    2xx JSON of the wrong shape                                 → TicketingRejected (naming the
                                                                  field: retrying cannot fix it)

No ``httpx`` or ``pydantic`` exception leaves this module.
"""

from __future__ import annotations

import datetime as dt
import email.utils
import json
from collections.abc import Mapping
from typing import Any, TypeVar

import httpx
from pydantic import BaseModel, ValidationError

from ingestion.errors import TicketingRejected, TicketingUnavailable

__all__ = [
    "JsonApi",
    "TicketNotFound",
    "is_retryable",
    "parse_json",
    "parse_retry_after",
    "raise_for_status",
]

ModelT = TypeVar("ModelT", bound=BaseModel)

#: 4xx statuses that mean "later", not "never" (timeout, too early, too many requests).
RETRYABLE_CLIENT_STATUSES = frozenset({408, 425, 429})
#: How much of an unexpected body an error message quotes.
BODY_EXCERPT = 300


class TicketNotFound(TicketingRejected):
    """The ticket (or other object) does not exist in the ticketing system (HTTP 404)."""


def is_retryable(status: int) -> bool:
    """Whether a non-2xx answer may succeed later: 5xx and `RETRYABLE_CLIENT_STATUSES`.

    The one rule for every HTTP call caseloop makes (ticketing APIs, pushes to the orchestrator).
    """
    return status >= 500 or status in RETRYABLE_CLIENT_STATUSES


def parse_retry_after(value: str | None, *, now: dt.datetime | None = None) -> float | None:
    """Seconds to wait from a Retry-After header: delta-seconds or an HTTP date (RFC 9110).

    Returns None when the header is missing or unreadable; a date in the past gives 0.
    """
    if value is None or not value.strip():
        return None
    text = value.strip()
    if text.isdigit():
        return float(text)
    try:
        when = email.utils.parsedate_to_datetime(text)
    except (TypeError, ValueError):
        return None
    if when.tzinfo is None:  # RFC 850 / asctime forms carry no zone; HTTP dates are GMT
        when = when.replace(tzinfo=dt.UTC)
    now = now or dt.datetime.now(dt.UTC)
    return max(0.0, (when - now).total_seconds())


def _error_message(response: httpx.Response) -> str:
    """The system's own explanation: DRF-style ``{"field": ["msg"]}``, ``detail``, or text."""
    try:
        body = response.json()
    except ValueError:
        return response.text[:BODY_EXCERPT].strip() or response.reason_phrase
    if isinstance(body, Mapping):
        parts = []
        for key, problem in body.items():
            text = "; ".join(map(str, problem)) if isinstance(problem, list) else str(problem)
            parts.append(text if key in ("detail", "message", "error") else f"{key}: {text}")
        return "; ".join(parts) or response.reason_phrase
    return str(body)[:BODY_EXCERPT]


def raise_for_status(response: httpx.Response, *, system: str) -> None:
    """Translate a non-2xx response into the error tree; return quietly on 2xx."""
    status = response.status_code
    if 200 <= status < 300:
        return
    where = f"{response.request.method} {response.request.url.path}"
    if is_retryable(status):
        retry_after = parse_retry_after(response.headers.get("Retry-After"))
        raise TicketingUnavailable(
            f"{system} answered {status} to {where}: {_error_message(response)}",
            retry_after=retry_after,
        )
    if status == 404:
        raise TicketNotFound(f"{system} answered 404 to {where}: {_error_message(response)}")
    raise TicketingRejected(f"{system} answered {status} to {where}: {_error_message(response)}")


def parse_json(response: httpx.Response, model: type[ModelT], *, system: str) -> ModelT:
    """Validate a 2xx JSON body against ``model``; errors name the field and the problem."""
    where = f"{response.request.method} {response.request.url.path}"
    try:
        data = json.loads(response.content)
    except ValueError as exc:
        excerpt = response.text[:BODY_EXCERPT]
        raise TicketingUnavailable(
            f"{system} answered {response.status_code} to {where} with a body that is not "
            f"JSON ({exc}): {excerpt!r}"
        ) from exc
    try:
        return model.model_validate(data)
    except ValidationError as exc:
        problems = "; ".join(
            f"{'.'.join(map(str, err['loc'])) or '(body)'}: {err['msg']}" for err in exc.errors()
        )
        raise TicketingRejected(
            f"{system} answered {where} with JSON caseloop does not understand: {problems}"
        ) from exc


class JsonApi:
    """An ``httpx`` client for one system's JSON API whose calls raise only our errors."""

    def __init__(
        self,
        system: str,
        base_url: str,
        *,
        headers: Mapping[str, str] | None = None,
        timeout: float = 10.0,
        transport: httpx.BaseTransport | None = None,
    ) -> None:
        self.system = system
        self.timeout = timeout
        self._client = httpx.Client(
            base_url=base_url,
            headers=dict(headers or {}),
            timeout=httpx.Timeout(timeout),
            transport=transport,
        )

    def request(self, method: str, path: str, **kwargs: Any) -> httpx.Response:
        """Send one request; returns a 2xx response or raises a translated error."""
        try:
            response = self._client.request(method, path, **kwargs)
        except httpx.TimeoutException as exc:
            raise TicketingUnavailable(
                f"{self.system} did not answer {method} {path} within {self.timeout:g} s "
                f"({type(exc).__name__})"
            ) from exc
        except (httpx.UnsupportedProtocol, httpx.InvalidURL) as exc:
            raise TicketingRejected(f"{self.system} URL is not usable: {exc}") from exc
        except httpx.HTTPError as exc:
            raise TicketingUnavailable(
                f"cannot reach {self.system} for {method} {path}: {type(exc).__name__}: {exc}"
            ) from exc
        raise_for_status(response, system=self.system)
        return response

    def call(self, method: str, path: str, model: type[ModelT], **kwargs: Any) -> ModelT:
        """`request` and validate the JSON answer against ``model``."""
        return parse_json(self.request(method, path, **kwargs), model, system=self.system)

    def close(self) -> None:
        self._client.close()
