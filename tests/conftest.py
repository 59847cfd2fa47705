"""Fixtures shared by every test package: stores on SQLite and PostgreSQL, offline model settings.

PostgreSQL: the suite creates its own throw-away database on the server named by
``CASELOOP_TEST_POSTGRES_URL`` (default: the local server's ``test`` database), migrates it once,
and empties its tables before each test that uses it. Outside CI a missing server skips the
PostgreSQL half with a clear reason; in CI (``CI=true``) it fails.
"""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import create_engine, text
from sqlalchemy.engine import make_url

from flows.helpdesk import HelpdeskServer
from ingestion.adapters.helpdesk import HelpdeskAdapter
from ingestion.schema import Base
from ingestion.store import Store, open_store
from tests.support.loopback import free_port

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
os.environ.setdefault("PREFECT_SERVER_ANALYTICS_ENABLED", "false")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")

POSTGRES_URL = os.environ.get(
    "CASELOOP_TEST_POSTGRES_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/test"
)


@pytest.fixture(scope="session")
def postgres_url() -> Iterator[str]:
    """URL of a fresh, migrated PostgreSQL database that lives for the test session."""
    admin_url = make_url(POSTGRES_URL)
    admin = create_engine(admin_url, isolation_level="AUTOCOMMIT")
    name = f"caseloop_test_{uuid.uuid4().hex[:10]}"
    try:
        with admin.connect() as conn:
            conn.execute(text(f'CREATE DATABASE "{name}"'))
    except Exception as exc:
        admin.dispose()
        if os.environ.get("CI") == "true":
            raise
        pytest.skip(f"PostgreSQL not reachable at {admin_url.render_as_string()}: {exc}")
    url = admin_url.set(database=name).render_as_string(hide_password=False)
    open_store(url).dispose()  # migrate once
    yield url
    with admin.connect() as conn:
        conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
    admin.dispose()


def _truncate(store: Store) -> None:
    tables = ", ".join(f'"{t.name}"' for t in Base.metadata.sorted_tables)
    with store.engine.begin() as conn:
        conn.execute(text(f"TRUNCATE {tables} RESTART IDENTITY CASCADE"))


@pytest.fixture
def sqlite_store(tmp_path: Path) -> Iterator[Store]:
    """A migrated SQLite file store, new for each test."""
    store = open_store(f"sqlite:///{tmp_path / 'caseloop.db'}")
    yield store
    store.dispose()


@pytest.fixture
def postgres_store(postgres_url: str) -> Iterator[Store]:
    """The session's PostgreSQL store, emptied for each test."""
    store = open_store(postgres_url, migrate=False)
    _truncate(store)
    yield store
    store.dispose()


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def store(request: pytest.FixtureRequest) -> Store:
    """The contract fixture: every test using it runs on SQLite and on PostgreSQL."""
    return request.getfixturevalue(f"{request.param}_store")  # type: ignore[no-any-return]


# -- the real django-helpdesk (owner: helpdesk) -------------------------------------------------
@pytest.fixture(scope="session")
def helpdesk(tmp_path_factory: pytest.TempPathFactory) -> Iterator[HelpdeskServer]:
    """One real django-helpdesk on loopback for the whole session (tests share its tickets).

    Its migrated template database is cached in the user's cache folder, so after the first run
    it starts in about half a second. Tests using it are marked ``@pytest.mark.helpdesk``.
    """
    server = HelpdeskServer(tmp_path_factory.mktemp("helpdesk"), free_port())
    with server:
        yield server


@pytest.fixture
def helpdesk_adapter(helpdesk: HelpdeskServer) -> Iterator[HelpdeskAdapter]:
    """A fresh `HelpdeskAdapter` on the session's helpdesk."""
    adapter = HelpdeskAdapter(helpdesk.url, helpdesk.token, queue=helpdesk.queue_id)
    yield adapter
    adapter.close()
