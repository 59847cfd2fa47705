"""Fixtures for the adapter tests: one real Request Tracker 5 for the whole session, and a
browser-like session logged in to the real helpdesk's staff UI.

RT is installed from Debian packages when missing (root and apt needed, about a minute) and
started once per session (a few seconds). Tests that use it skip, with the reason, only where it
cannot be installed (no apt-get, not root); any other failure to start fails them.
"""

from __future__ import annotations

import re
from collections.abc import Iterator

import httpx
import pytest

from flows.helpdesk import HelpdeskServer
from ingestion.adapters.rt import RTAdapter
from tests.support.loopback import free_port
from tests.support.rt_server import RTServer, unavailable_reason


@pytest.fixture(scope="session")
def rt(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RTServer]:
    """A running Request Tracker with a fresh database, shared by the session's tests."""
    reason = unavailable_reason()
    if reason is not None:
        pytest.skip(reason)
    server = RTServer(tmp_path_factory.mktemp("rt"), free_port())
    server.start()
    yield server
    server.stop()


@pytest.fixture
def rt_adapter(rt: RTServer) -> Iterator[RTAdapter]:
    """An `RTAdapter` on the session's RT, authenticated with the server's token."""
    adapter = RTAdapter(
        rt.url,
        token=rt.token,
        username=rt.username,
        queue=rt.queue,
        conversation_field=rt.conversation_field,
    )
    yield adapter
    adapter.close()


@pytest.fixture
def staff_web(helpdesk: HelpdeskServer) -> Iterator[httpx.Client]:
    """A browser session logged in to the staff UI as the helpdesk's admin."""
    with httpx.Client(base_url=helpdesk.url, follow_redirects=True) as web:
        page = web.get("/helpdesk/login/")
        token = re.search(r'name="csrfmiddlewaretoken" value="([^"]+)"', page.text)
        assert token is not None
        form = {
            "csrfmiddlewaretoken": token.group(1),
            "username": helpdesk.admin_username,
            "password": helpdesk.admin_password,
        }
        logged_in = web.post(page.url.path, data=form, headers={"Referer": str(page.url)})
        assert "/login/" not in logged_in.url.path
        yield web
