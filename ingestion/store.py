"""Opening the operational store: engines, transactions and migrations.

The same code runs on SQLite (embedded default: one file, WAL journal, every transaction taken
with ``BEGIN IMMEDIATE`` so writers queue instead of failing half-way) and on PostgreSQL (by URL;
``FOR UPDATE SKIP LOCKED`` lets many relays and workers share the work).
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from sqlalchemy import Engine, create_engine, event
from sqlalchemy.engine import make_url
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.orm import Session, sessionmaker

from ingestion.errors import StoreError

MIGRATIONS = Path(__file__).with_name("migrations")


@dataclass(frozen=True, slots=True)
class Store:
    """An open store: the engine and a session factory bound to it.

    A context manager: ``with open_store(url) as store:`` disposes of the engine at the end.
    """

    engine: Engine
    sessions: sessionmaker[Session]

    @property
    def is_sqlite(self) -> bool:
        return self.engine.dialect.name == "sqlite"

    @contextlib.contextmanager
    def transaction(self) -> Iterator[Session]:
        """One unit of work: commits on success, rolls back on any error."""
        with self.sessions.begin() as session:
            yield session

    def dispose(self) -> None:
        """Close the engine's connections (the store is unusable afterwards)."""
        self.engine.dispose()

    def __enter__(self) -> Store:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.dispose()


def _sqlite_pragmas(engine: Engine) -> None:
    @event.listens_for(engine, "connect")
    def _connect(dbapi_connection: Any, _record: Any) -> None:
        # Take transaction control away from pysqlite so that BEGIN IMMEDIATE is ours to send.
        dbapi_connection.isolation_level = None
        cursor = dbapi_connection.cursor()
        cursor.execute("PRAGMA journal_mode=WAL")
        cursor.execute("PRAGMA synchronous=NORMAL")
        cursor.execute("PRAGMA foreign_keys=ON")
        cursor.execute("PRAGMA busy_timeout=30000")
        cursor.close()

    @event.listens_for(engine, "begin")
    def _begin(conn: Any) -> None:
        conn.exec_driver_sql("BEGIN IMMEDIATE")


def open_store(url: str, *, migrate: bool = True, echo: bool = False) -> Store:
    """Open the store at ``url`` (``sqlite:///path`` or ``postgresql+psycopg://…``).

    With ``migrate`` the schema is brought to the latest Alembic revision first.
    """
    try:
        parsed = make_url(url)
    except Exception as exc:  # sqlalchemy raises ArgumentError with a terse message
        raise StoreError(f"invalid database URL {url!r}: {exc}") from exc
    kwargs: dict[str, Any] = {"echo": echo, "future": True}
    if parsed.get_backend_name() == "sqlite":
        if parsed.database and parsed.database != ":memory:":
            Path(parsed.database).expanduser().parent.mkdir(parents=True, exist_ok=True)
        kwargs["connect_args"] = {"check_same_thread": False, "timeout": 30}
    elif parsed.get_backend_name() == "postgresql":
        kwargs.update(pool_pre_ping=True, pool_size=10, max_overflow=10)
    else:
        raise StoreError(
            f"unsupported database {parsed.get_backend_name()!r}: use sqlite or postgresql"
        )
    engine = create_engine(parsed, **kwargs)
    if parsed.get_backend_name() == "sqlite":
        _sqlite_pragmas(engine)
    if migrate:
        upgrade(engine)
    return Store(engine=engine, sessions=sessionmaker(engine, expire_on_commit=False))


def _alembic_config(engine: Engine) -> Any:
    from alembic.config import Config

    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS))
    config.attributes["engine"] = engine
    return config


def upgrade(engine: Engine, revision: str = "head") -> None:
    """Apply Alembic migrations up to ``revision``."""
    from alembic import command

    try:
        command.upgrade(_alembic_config(engine), revision)
    except SQLAlchemyError as exc:
        raise StoreError(f"migrating the store failed: {exc}") from exc


def current_revision(engine: Engine) -> str | None:
    """The Alembic revision the database is at (None before the first migration)."""
    from alembic.runtime.migration import MigrationContext

    with engine.connect() as conn:
        return MigrationContext.configure(conn).get_current_revision()
