"""A deployment's processes (`caseloop serve`, relays, inbox workers) started as real subprocesses.

Shared by the replica soak test and `benchmarks/replicas.py`.
"""

from __future__ import annotations

import signal
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

import httpx

from tests.support.loopback import free_port

CLI = [sys.executable, "-c", "from flows.cli import main; main()"]


class Fleet:
    """Named `caseloop` processes; each one's output goes to its own log file in ``logs``."""

    def __init__(self, env: dict[str, str], logs: Path) -> None:
        self.env, self.logs = env, logs
        self.processes: dict[str, subprocess.Popen[bytes]] = {}

    def start(self, name: str, *args: str) -> None:
        log = (self.logs / f"{name}.log").open("wb")
        self.processes[name] = subprocess.Popen(
            [*CLI, *args], env=self.env, stdout=log, stderr=subprocess.STDOUT
        )

    def serve(self, name: str) -> str:
        """Start one `caseloop serve` replica on a free port; its URL once it answers."""
        port = free_port()
        self.start(name, "serve", "--port", str(port))
        url = f"http://127.0.0.1:{port}"
        wait_for(lambda: _up(url), 60)
        return url

    def kill(self, name: str) -> None:
        """SIGKILL: no clean shutdown, leases and in-flight requests are simply abandoned."""
        self.processes[name].send_signal(signal.SIGKILL)
        self.processes[name].wait(timeout=10)

    def stop_all(self) -> None:
        for process in self.processes.values():
            if process.poll() is None:
                process.terminate()
        for process in self.processes.values():
            try:
                process.wait(timeout=20)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()


def _up(url: str) -> bool:
    try:
        return httpx.get(f"{url}/healthz", timeout=2).status_code == 200
    except httpx.HTTPError:
        return False


def wait_for(condition: Callable[[], bool], timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise TimeoutError("condition not met in time")
        time.sleep(0.1)


def post_any(urls: list[str], path: str, **kwargs: object) -> httpx.Response | None:
    """POST to the first replica that answers below 500; None when none did (not acknowledged)."""
    for url in urls:
        try:
            response = httpx.post(f"{url}{path}", timeout=10, **kwargs)  # type: ignore[arg-type]
        except httpx.HTTPError:
            continue
        if response.status_code < 500:
            return response
    return None
