"""Fixtures for the adapter tests: one real Request Tracker 5 for the whole session.

RT is installed from Debian packages when missing (root and apt needed, about a minute) and
started once per session (a few seconds). Tests that use it skip, with the reason, only where it
cannot be installed (no apt-get, not root); any other failure to start fails them.
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest

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
