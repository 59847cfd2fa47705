"""HTTP error translation shared by the adapters, against a real server on loopback.

`httpx.MockTransport` appears only for failures a live loopback server cannot stage reliably
(a connection reset mid-request, an unsupported URL scheme).
"""

from __future__ import annotations

import asyncio
import datetime as dt
from collections.abc import Iterator
from email.utils import format_datetime

import httpx
import pytest
from pydantic import BaseModel
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, PlainTextResponse, Response
from starlette.routing import Route

from ingestion.adapters.http import JsonApi, TicketNotFound, parse_retry_after
from ingestion.errors import TicketingRejected, TicketingUnavailable
from tests.support.loopback import free_port, serve

NOW = dt.datetime(2026, 3, 1, 12, 0, 0, tzinfo=dt.UTC)


class Thing(BaseModel):
    id: int
    name: str


async def status(request: Request) -> Response:
    code = int(request.path_params["code"])
    headers = dict(request.query_params)
    return JSONResponse({"detail": f"status {code}"}, status_code=code, headers=headers)


async def drf_errors(request: Request) -> Response:
    body = {"submitter_email": ["Enter a valid email address."], "priority": ["Required."]}
    return JSONResponse(body, status_code=400)


async def html_error(request: Request) -> Response:
    return PlainTextResponse("<h1>Server Error (500)</h1>", status_code=500)


async def slow(request: Request) -> Response:
    await asyncio.sleep(2)
    return JSONResponse({"id": 1, "name": "late"})


async def not_json(request: Request) -> Response:
    return PlainTextResponse("<html>proxy login</html>", status_code=200)


async def wrong_shape(request: Request) -> Response:
    return JSONResponse({"id": "seven", "title": "no name"})


async def good(request: Request) -> Response:
    return JSONResponse({"id": 7, "name": "ok", "extra": True}, status_code=201)


APP = Starlette(
    routes=[
        Route("/status/{code}", status, methods=["GET", "POST"]),
        Route("/drf", drf_errors, methods=["POST"]),
        Route("/html", html_error),
        Route("/slow", slow),
        Route("/not-json", not_json),
        Route("/wrong-shape", wrong_shape),
        Route("/good", good, methods=["POST"]),
    ]
)


@pytest.fixture(scope="module")
def api() -> Iterator[JsonApi]:
    with serve(APP) as url:
        client = JsonApi("testdesk", url, timeout=0.5)
        yield client
        client.close()


# -- Retry-After ---------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("header", "expected"),
    [
        ("120", 120.0),
        ("0", 0.0),
        (" 7 ", 7.0),
        (format_datetime(NOW + dt.timedelta(seconds=90), usegmt=True), 90.0),
        ("Sun, 01 Mar 2026 12:00:30 GMT", 30.0),
        ("Sunday, 01-Mar-26 12:00:45 GMT", 45.0),  # RFC 850, still legal to receive
        ("Sun, 01 Mar 2026 11:00:00 GMT", 0.0),  # in the past: retry now
        (None, None),
        ("", None),
        ("soon", None),
        ("-5", None),
        ("1.5", None),
    ],
)
def test_retry_after(header: str | None, expected: float | None) -> None:
    assert parse_retry_after(header, now=NOW) == expected


# -- statuses from a real server ---------------------------------------------------------------
@pytest.mark.parametrize("code", [500, 502, 503, 504, 408])
def test_server_errors_are_retryable(api: JsonApi, code: int) -> None:
    with pytest.raises(TicketingUnavailable, match=f"testdesk answered {code} to GET /status"):
        api.request("GET", f"/status/{code}")


def test_429_carries_retry_after_seconds(api: JsonApi) -> None:
    with pytest.raises(TicketingUnavailable) as caught:
        api.request("GET", "/status/429", params={"Retry-After": "17"})
    assert caught.value.retry_after == 17.0


def test_503_carries_retry_after_date(api: JsonApi) -> None:
    when = dt.datetime.now(dt.UTC) + dt.timedelta(seconds=60)
    with pytest.raises(TicketingUnavailable) as caught:
        api.request("GET", "/status/503", params={"Retry-After": format_datetime(when, True)})
    assert caught.value.retry_after is not None
    assert 55 <= caught.value.retry_after <= 60


def test_429_without_header_has_no_retry_after(api: JsonApi) -> None:
    with pytest.raises(TicketingUnavailable) as caught:
        api.request("GET", "/status/429")
    assert caught.value.retry_after is None


def test_html_error_page_is_quoted(api: JsonApi) -> None:
    with pytest.raises(TicketingUnavailable, match=r"500 .*Server Error \(500\)"):
        api.request("GET", "/html")


def test_validation_errors_keep_the_systems_message(api: JsonApi) -> None:
    with pytest.raises(TicketingRejected) as caught:
        api.request("POST", "/drf", json={})
    assert not isinstance(caught.value, TicketingUnavailable)
    message = str(caught.value)
    assert "400" in message
    assert "submitter_email: Enter a valid email address." in message
    assert "priority: Required." in message


@pytest.mark.parametrize("code", [401, 403, 409, 422])
def test_other_client_errors_are_permanent(api: JsonApi, code: int) -> None:
    with pytest.raises(TicketingRejected, match=f"{code}.*status {code}") as caught:
        api.request("GET", f"/status/{code}")
    assert not isinstance(caught.value, TicketingUnavailable)


def test_404_is_not_found(api: JsonApi) -> None:
    with pytest.raises(TicketNotFound, match="404"):
        api.request("GET", "/status/404")


def test_timeout_is_retryable(api: JsonApi) -> None:
    with pytest.raises(TicketingUnavailable, match=r"did not answer GET /slow within 0\.5 s"):
        api.request("GET", "/slow")


def test_refused_connection_is_retryable() -> None:
    api = JsonApi("testdesk", f"http://127.0.0.1:{free_port()}", timeout=2)
    with pytest.raises(TicketingUnavailable, match="cannot reach testdesk"):
        api.request("GET", "/anything")
    api.close()


# -- bodies ------------------------------------------------------------------------------------
def test_valid_json_is_validated_into_the_model(api: JsonApi) -> None:
    assert api.call("POST", "/good", Thing) == Thing(id=7, name="ok")


def test_non_json_body_is_a_clear_retryable_error(api: JsonApi) -> None:
    with pytest.raises(TicketingUnavailable, match=r"not JSON.*proxy login"):
        api.call("GET", "/not-json", Thing)


def test_wrong_shape_names_the_fields(api: JsonApi) -> None:
    with pytest.raises(TicketingRejected) as caught:
        api.call("GET", "/wrong-shape", Thing)
    message = str(caught.value)
    assert "does not understand" in message
    assert "id: Input should be a valid integer" in message
    assert "name: Field required" in message


# -- failures a live server cannot stage on demand --------------------------------------------
def test_connection_reset_is_retryable() -> None:
    def reset(request: httpx.Request) -> httpx.Response:
        raise httpx.ReadError("connection reset by peer", request=request)

    api = JsonApi("testdesk", "http://desk.invalid", transport=httpx.MockTransport(reset))
    with pytest.raises(TicketingUnavailable, match="ReadError"):
        api.request("POST", "/tickets")


def test_an_invalid_url_is_permanent() -> None:
    api = JsonApi("testdesk", "http://127.0.0.1:1")
    with pytest.raises(TicketingRejected, match="not usable"):
        api.request("GET", "http://desk\x00/tickets")
    api.close()


def test_a_redirect_is_not_followed_but_rejected(api: JsonApi) -> None:
    # A wrong base URL (e.g. a missing trailing slash) must not silently change the target.
    with pytest.raises(TicketingRejected, match="301"):
        api.request("GET", "/status/301")


def test_unsupported_scheme_is_permanent() -> None:
    api = JsonApi("testdesk", "ftp://desk.invalid")
    with pytest.raises(TicketingRejected, match="not usable"):
        api.request("GET", "/tickets")
    api.close()


def test_public_api_is_pinned() -> None:
    import ingestion.adapters

    assert ingestion.adapters.__all__ == ["HelpdeskAdapter", "TicketNotFound", "build_adapter"]


@pytest.mark.parametrize(
    ("status", "retryable"),
    [
        (500, True),
        (503, True),
        (408, True),
        (425, True),
        (429, True),
        (400, False),
        (404, False),
        (409, False),
        (410, False),
        (301, False),
    ],
)
def test_one_rule_for_retryable_answers(status: int, retryable: bool) -> None:
    from ingestion.adapters.http import is_retryable

    assert is_retryable(status) is retryable
