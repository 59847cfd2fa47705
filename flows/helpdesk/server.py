"""`HelpdeskServer`: a real django-helpdesk on 127.0.0.1, started and stopped from Python.

    with HelpdeskServer(Path(".caseloop/helpdesk"), 8801) as helpdesk:
        adapter = HelpdeskAdapter(helpdesk.url, helpdesk.token, queue=helpdesk.queue_id)

``start()`` gives the data folder a database (a copy of a cached, migrated template, see
`flows.helpdesk.template`), runs ``manage.py runserver`` as a subprocess with the webhook
variables passed through, and returns once the REST API answers 200. ``stop()`` interrupts it
(SIGINT, then SIGTERM and SIGKILL if it hangs); an ``atexit`` hook and, on Linux, a parent-death
signal make sure no helpdesk outlives the process that started it. The same data folder can be
started again: its tickets and credentials survive.
"""

from __future__ import annotations

import atexit
import contextlib
import ctypes
import errno
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path
from types import TracebackType
from typing import IO

import httpx

from flows.helpdesk.errors import HelpdeskServerError, PortInUse
from flows.helpdesk.template import Credentials, child_environment, default_cache_dir, provision

HOST = "127.0.0.1"
LOG_NAME = "server.log"


def _prepare_child() -> None:  # pragma: no cover - runs in the child between fork and exec
    # A shell starts background jobs with SIGINT ignored and exec keeps that: restore it, or
    # the server would ignore our SIGINT and Python would never raise KeyboardInterrupt.
    signal.signal(signal.SIGINT, signal.SIG_DFL)
    if sys.platform.startswith("linux"):
        # PR_SET_PDEATHSIG = 1: the kernel sends SIGTERM if the launcher dies (even by SIGKILL).
        with contextlib.suppress(OSError, AttributeError):
            ctypes.CDLL("libc.so.6", use_errno=True).prctl(1, signal.SIGTERM)


def ensure_port_free(port: int) -> None:
    """Raise `PortInUse` when something already listens on ``127.0.0.1:port``."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        # Same option as Django's server: a port in TIME_WAIT from our own last run is free.
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            sock.bind((HOST, port))
        except OSError as exc:
            if exc.errno == errno.EADDRINUSE:
                raise PortInUse(port) from exc
            raise HelpdeskServerError(f"cannot bind 127.0.0.1:{port}: {exc}") from exc


class HelpdeskServer:
    """One django-helpdesk instance serving ``data_dir`` on ``127.0.0.1:port``.

    ``env`` adds variables to the server's environment, e.g. the webhook URLs
    ``HELPDESK_NEW_TICKET_WEBHOOK_URLS`` and ``HELPDESK_FOLLOWUP_WEBHOOK_URLS``.
    ``cache_dir`` holds the migrated template (default: the user's cache folder).
    """

    def __init__(
        self,
        data_dir: Path,
        port: int,
        *,
        env: dict[str, str] | None = None,
        cache_dir: Path | None = None,
        startup_timeout: float = 120.0,
    ) -> None:
        self.data_dir = Path(data_dir).resolve()
        self.port = port
        self.env = dict(env or {})
        self.cache_dir = cache_dir or default_cache_dir()
        self.startup_timeout = startup_timeout
        self.url = f"http://{HOST}:{port}"
        self.api_url = f"{self.url}/helpdesk/api/"
        self._credentials: Credentials | None = None
        self._process: subprocess.Popen[bytes] | None = None
        self._log: IO[bytes] | None = None

    # -- credentials (available once started) ---------------------------------------------
    @property
    def credentials(self) -> Credentials:
        if self._credentials is None:
            raise HelpdeskServerError("the helpdesk has not been started yet")
        return self._credentials

    @property
    def token(self) -> str:
        """The admin's DRF token (``Authorization: Token <token>``)."""
        return self.credentials.token

    @property
    def queue_id(self) -> int:
        return self.credentials.queue_id

    @property
    def admin_username(self) -> str:
        return self.credentials.username

    @property
    def admin_password(self) -> str:
        return self.credentials.password

    @property
    def log_path(self) -> Path:
        return self.data_dir / LOG_NAME

    @property
    def pid(self) -> int | None:
        """The server process id while it runs."""
        return self._process.pid if self.running and self._process else None

    @property
    def running(self) -> bool:
        return self._process is not None and self._process.poll() is None

    # -- lifecycle -------------------------------------------------------------------------
    def start(self) -> HelpdeskServer:
        """Provision the data folder, start the server and wait until its API answers 200."""
        if self.running:
            return self
        ensure_port_free(self.port)
        self._credentials = provision(self.data_dir, self.cache_dir)
        self._log = self.log_path.open("ab")
        command = [sys.executable, "-m", "django", "runserver", f"{HOST}:{self.port}"]
        command += ["--noreload", "--skip-checks", "--insecure"]
        self._process = subprocess.Popen(
            command,
            env=child_environment(self.data_dir, self.env),
            cwd=self.data_dir,
            stdin=subprocess.DEVNULL,
            stdout=self._log,
            stderr=subprocess.STDOUT,
            start_new_session=True,  # a terminal's Ctrl-C reaches us; we stop the child
            preexec_fn=_prepare_child,
        )
        atexit.register(self.stop)
        try:
            self._wait_until_ready()
        except BaseException:
            self.stop()
            raise
        return self

    def _wait_until_ready(self) -> None:
        deadline = time.monotonic() + self.startup_timeout
        headers = {"Authorization": f"Token {self.token}"}
        with httpx.Client(timeout=2.0, headers=headers) as client:
            while True:
                self._raise_if_exited()
                with contextlib.suppress(httpx.TransportError):
                    response = client.get(f"{self.api_url}tickets/", params={"page_size": 1})
                    if response.status_code == 200:
                        return
                if time.monotonic() > deadline:
                    raise HelpdeskServerError(
                        f"the helpdesk on {self.url} did not answer within "
                        f"{self.startup_timeout:.0f} s; see {self.log_path}"
                    )
                time.sleep(0.05)

    def _raise_if_exited(self) -> None:
        assert self._process is not None
        if self._process.poll() is None:
            return
        log = self.log_path.read_text(errors="replace")[-2000:]
        if "port is already in use" in log:
            raise PortInUse(self.port)
        raise HelpdeskServerError(
            f"the helpdesk exited with code {self._process.returncode}; last output:\n{log}"
        )

    def stop(self, timeout: float = 10.0) -> None:
        """Interrupt the server (as Ctrl-C would) and wait; escalate to SIGTERM, then SIGKILL."""
        atexit.unregister(self.stop)
        process, self._process = self._process, None
        if process is not None and process.poll() is None:
            for sig in (signal.SIGINT, signal.SIGTERM, signal.SIGKILL):
                process.send_signal(sig)
                with contextlib.suppress(subprocess.TimeoutExpired):
                    process.wait(timeout / 2 if sig != signal.SIGKILL else None)
                    break
        if self._log is not None:
            self._log.close()
            self._log = None

    def __enter__(self) -> HelpdeskServer:
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()

    def __repr__(self) -> str:
        state = "running" if self.running else "stopped"
        return f"<HelpdeskServer {self.url} data_dir={self.data_dir} {state}>"
