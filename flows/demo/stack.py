"""The running parts of the demo: the real helpdesk, the caseloop service, the relay, the inbox.

`Stack` starts them in dependency order and stops them in reverse, also when the demo is
interrupted (it is a context manager, and `stop` is idempotent). Before starting anything it
checks that its loopback ports are free, so a second demo, or a `caseloop serve` left running,
gives a clear message instead of a half-started stack.

    helpdesk (django-helpdesk, subprocess)  ──webhook──►  caseloop service (uvicorn, thread)
            ▲                                                  │ inbox rows
            └──────── relay (thread): outbox → tickets         ▼
                                                  inbox worker (thread): applier → messages
"""

from __future__ import annotations

import contextlib
import secrets
import socket
import threading
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from pydantic import SecretStr

from flows.demo.errors import DemoError, PortInUse
from ingestion.settings import IngestionSettings
from ingestion.store import Store, open_store

WEBHOOK_PATH = "/webhooks/helpdesk"
MAX_PORT = 65535


@dataclass(frozen=True, slots=True)
class Ports:
    """Loopback ports of the two servers and the option that changes each."""

    helpdesk: int
    service: int

    def __post_init__(self) -> None:
        """Refuse what no server could listen on, before anything starts."""
        for port, option in ((self.helpdesk, "--helpdesk-port"), (self.service, "--service-port")):
            if not 1 <= port <= MAX_PORT:
                raise DemoError(f"{option} {port} is not a port: choose one from 1 to {MAX_PORT}")
        if self.helpdesk == self.service:
            raise DemoError(
                f"--helpdesk-port and --service-port are both {self.service}: the helpdesk "
                "and the caseloop service each need a port of their own"
            )

    def check(self) -> None:
        """Raise `PortInUse` when either port is taken."""
        ensure_free(self.helpdesk, "the helpdesk", "--helpdesk-port")
        ensure_free(self.service, "the caseloop service", "--service-port")


def ensure_free(port: int, what: str, option: str) -> None:
    """Raise `PortInUse` when something already listens on 127.0.0.1:``port``."""
    with socket.socket() as sock:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            sock.bind(("127.0.0.1", port))
        except OSError as exc:
            raise PortInUse(port, what, option) from exc


class Stack:
    """Everything the demo runs; use as ``with Stack(...) as stack:``."""

    def __init__(self, data_dir: Path, ports: Ports, *, fast: bool = True) -> None:
        self.data_dir = data_dir
        self.ports = ports
        self._fast = fast
        self._stop = threading.Event()
        self._threads: list[threading.Thread] = []
        self._server: Any = None
        self.helpdesk: Any = None
        self.store: Store | None = None
        self.settings: IngestionSettings | None = None
        self.adapter: Any = None
        self.errors: list[BaseException] = []
        self._resources = contextlib.ExitStack()  # helpdesk, store, adapter: closed in reverse

    @property
    def service_url(self) -> str:
        return f"http://127.0.0.1:{self.ports.service}"

    def __enter__(self) -> Stack:
        try:
            self.start()
        except BaseException:
            self.stop()
            raise
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def start(self) -> None:
        self.ports.check()
        self.data_dir.mkdir(parents=True, exist_ok=True)
        token = secrets.token_urlsafe(24)
        self._start_helpdesk(token)
        self.settings = self._settings(token)
        self.store = self._resources.enter_context(open_store(self.settings.resolved_database_url))
        from ingestion.adapters import build_adapter

        self.adapter = self._resources.enter_context(build_adapter(self.settings))
        self._start_service()
        self._start_workers()

    def _start_helpdesk(self, token: str) -> None:
        from flows.helpdesk import HelpdeskServer

        hook = f"{self.service_url}{WEBHOOK_PATH}?token={token}"
        env = {"HELPDESK_NEW_TICKET_WEBHOOK_URLS": hook, "HELPDESK_FOLLOWUP_WEBHOOK_URLS": hook}
        server = HelpdeskServer(self.data_dir / "helpdesk", self.ports.helpdesk, env=env)
        self._resources.callback(server.stop)  # first: a start that fails half-way is stopped too
        self.helpdesk = server.start()

    def _settings(self, webhook_token: str) -> IngestionSettings:
        # The workers poll often: a demo day should not wait on idle intervals meant for servers.
        interval = 0.1 if self._fast else 1.0
        # The rest comes from the environment, as for any IngestionSettings (mypy wants them all).
        return IngestionSettings(  # type: ignore[call-arg]
            data_dir=self.data_dir,
            ticketing="helpdesk",
            helpdesk_url=self.helpdesk.url,
            helpdesk_token=SecretStr(self.helpdesk.token),
            helpdesk_queue=self.helpdesk.queue_id,
            helpdesk_webhook_token=SecretStr(webhook_token),
            service_port=self.ports.service,
            relay_poll_interval=interval,
            inbox_poll_interval=interval,
        )

    def _start_service(self) -> None:
        import uvicorn

        from ingestion.http import create_app

        assert self.settings is not None
        assert self.store is not None
        app = create_app(self.settings, self.store)
        config = uvicorn.Config(
            app, host="127.0.0.1", port=self.ports.service, log_level="warning", lifespan="off"
        )
        self._server = uvicorn.Server(config)
        thread = threading.Thread(target=self._server.run, name="caseloop-service", daemon=True)
        thread.start()
        deadline = time.monotonic() + 20
        while not self._server.started:
            if time.monotonic() > deadline or not thread.is_alive():
                raise DemoError(f"the caseloop service did not start on {self.service_url}")
            time.sleep(0.02)
        self._threads.append(thread)

    def _start_workers(self) -> None:
        from ingestion.inbox import InboxWorker
        from ingestion.relay import Relay

        assert self.settings is not None
        assert self.store is not None
        relay = Relay(self.store, self.adapter, self.settings)
        inbox = InboxWorker(self.store, self.adapter, self.settings)
        self._spawn("caseloop-relay", lambda: relay.run(self._stop))
        self._spawn("caseloop-inbox", lambda: inbox.run(self._stop))

    def _spawn(self, name: str, target: Any) -> None:
        def guarded() -> None:
            try:
                target()
            except BaseException as exc:  # surfaced by `check`, not lost in a thread
                self.errors.append(exc)

        thread = threading.Thread(target=guarded, name=name, daemon=True)
        thread.start()
        self._threads.append(thread)

    def check(self) -> None:
        """Raise when a worker thread died (the demo would otherwise wait forever)."""
        if self.errors:
            raise DemoError(f"a caseloop worker stopped: {self.errors[0]!r}") from self.errors[0]

    def stop(self) -> None:
        """Stop workers, service, helpdesk; safe to call twice and after a failed start."""
        self._stop.set()
        if self._server is not None:
            self._server.should_exit = True
        for thread in self._threads:
            thread.join(timeout=10)
        self._threads.clear()
        self._resources.close()
        self.adapter = self.helpdesk = self.store = None
