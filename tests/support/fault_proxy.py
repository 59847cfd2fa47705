"""A real HTTP proxy on loopback that injects faults in front of the helpdesk.

Faults, applied to write requests (POST, PUT, PATCH, DELETE) unless ``methods`` says otherwise:

    "500"            answer 500 without forwarding (the system never saw the request)
    "500_after"      forward, let the system commit, then answer 500 ("500 after commit")
    "timeout"        hold the request past the client's timeout, never forward
    "timeout_after"  forward (the system commits), then hold the answer past the timeout
    "429"            answer 429 with ``Retry-After: 1`` without forwarding

`plan` queues faults for the next matching requests; `failure_rate` adds random faults drawn
from `random_faults` with a seeded generator. `stop` closes the listening socket (connections
are refused, as when the helpdesk is down) and `start` opens it again on the same port.
"""

from __future__ import annotations

import collections
import contextlib
import random
import socket
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import httpx

WRITES = frozenset({"POST", "PUT", "PATCH", "DELETE"})
HOP_HEADERS = frozenset(
    {"connection", "keep-alive", "transfer-encoding", "content-length", "host", "content-encoding"}
)


class FaultProxy:
    """``FaultProxy(upstream).start()``; ``.url`` replaces the upstream base URL for clients."""

    def __init__(
        self,
        upstream: str,
        *,
        port: int = 0,
        hang_seconds: float = 2.0,
        seed: int = 0,
        methods: frozenset[str] = WRITES,
    ) -> None:
        self.upstream = upstream.rstrip("/")
        self.hang_seconds = hang_seconds
        self.methods = methods
        self.failure_rate = 0.0
        self.latency = 0.0  # seconds added before every forwarded request
        self.random_faults: tuple[str, ...] = ("500", "500_after", "timeout", "timeout_after")
        self.injected: collections.Counter[str] = collections.Counter()
        self.forwarded = 0
        self._planned: collections.deque[str] = collections.deque()
        self._rng = random.Random(seed)
        self._lock = threading.Lock()
        self._closing = threading.Event()
        self._client = httpx.Client(timeout=30.0)
        self._server: ThreadingHTTPServer | None = None
        self._thread: threading.Thread | None = None
        self.port = port or _free_port()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def plan(self, *faults: str) -> None:
        with self._lock:
            self._planned.extend(faults)

    def next_fault(self, method: str) -> str | None:
        if method not in self.methods:
            return None
        with self._lock:
            if self._planned:
                fault = self._planned.popleft()
            elif self.failure_rate and self._rng.random() < self.failure_rate:
                fault = self._rng.choice(self.random_faults)
            else:
                return None
            self.injected[fault] += 1
            return fault

    def start(self) -> FaultProxy:
        self._closing.clear()
        proxy = self

        class Handler(_Handler):
            owner = proxy

        self._server = _QuietServer(("127.0.0.1", self.port), Handler)
        self._server.daemon_threads = True
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        """Stop listening: new connections are refused; held requests are let go."""
        self._closing.set()
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            self._server = None
        if self._thread is not None:
            self._thread.join(timeout=5)
            self._thread = None

    def close(self) -> None:
        self.stop()
        self._client.close()

    def __enter__(self) -> FaultProxy:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.close()

    def forward(
        self, method: str, path: str, headers: dict[str, str], body: bytes
    ) -> httpx.Response:
        with self._lock:
            self.forwarded += 1
        if self.latency:
            self._closing.wait(self.latency)
        return self._client.request(
            method, self.upstream + path, headers=headers, content=body or None
        )

    def hang(self) -> None:
        self._closing.wait(self.hang_seconds)


class _QuietServer(ThreadingHTTPServer):
    def handle_error(self, request: Any, client_address: Any) -> None:
        pass  # clients that time out reset their connections: expected here, not worth a trace


class _Handler(BaseHTTPRequestHandler):
    owner: FaultProxy
    protocol_version = "HTTP/1.1"

    def log_message(self, format: str, *args: Any) -> None:  # quiet
        pass

    def _handle(self) -> None:
        length = int(self.headers.get("content-length") or 0)
        body = self.rfile.read(length) if length else b""
        headers = {k: v for k, v in self.headers.items() if k.lower() not in HOP_HEADERS}
        fault = self.owner.next_fault(self.command)
        if fault == "500":
            return self._reply(500, b'{"detail": "injected 500"}')
        if fault == "429":
            return self._reply(429, b'{"detail": "slow down"}', {"Retry-After": "1"})
        if fault == "timeout":
            return self._drop()
        try:
            response = self.owner.forward(self.command, self.path, headers, body)
        except httpx.HTTPError:
            return self._reply(502, b'{"detail": "upstream unreachable"}')
        if fault == "500_after":
            return self._reply(500, b'{"detail": "injected 500 after commit"}')
        if fault == "timeout_after":
            return self._drop()
        extra = {k: v for k, v in response.headers.items() if k.lower() not in HOP_HEADERS}
        self._reply(response.status_code, response.content, extra)

    def _drop(self) -> None:
        self.owner.hang()
        self.close_connection = True

    def _reply(self, status: int, body: bytes, headers: dict[str, str] | None = None) -> None:
        self.send_response(status)
        for key, value in (headers or {}).items():
            self.send_header(key, value)
        if not headers or "content-type" not in {k.lower() for k in headers}:
            self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        # The client may have given up (its timeout): exactly what a real server sees.
        with contextlib.suppress(BrokenPipeError, ConnectionResetError):
            self.wfile.write(body)

    do_GET = do_POST = do_PUT = do_PATCH = do_DELETE = _handle


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])
