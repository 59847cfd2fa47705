"""`HelpdeskServer`: start, credentials, webhooks passed through, clean stops, busy ports."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import textwrap
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from flows.helpdesk import HelpdeskServer, HelpdeskServerError, PortInUse
from ingestion.adapters import HelpdeskAdapter
from tests.ingestion.adapters.contract import new_ticket
from tests.support.loopback import free_port, serve

pytestmark = pytest.mark.helpdesk


def _gone(pid: int, within: float = 10.0) -> bool:
    deadline = time.monotonic() + within
    while time.monotonic() < deadline:
        try:
            os.kill(pid, 0)
        except ProcessLookupError:
            return True
        # A zombie child of a dead parent is reaped by init; treat "Z" as gone.
        status = Path(f"/proc/{pid}/status")
        if status.exists() and "\nState:\tZ" in status.read_text():
            return True
        time.sleep(0.05)
    return False


def test_a_port_in_use_is_refused_with_a_clear_message(tmp_path: Path) -> None:
    with socket.socket() as blocker:
        blocker.bind(("127.0.0.1", 0))
        blocker.listen()
        port = blocker.getsockname()[1]
        server = HelpdeskServer(tmp_path / "hd", port)
        with pytest.raises(PortInUse, match=f"port {port} on 127.0.0.1 is already in use"):
            server.start()
        assert not server.running


def test_the_port_of_a_running_helpdesk_is_refused(
    helpdesk: HelpdeskServer, tmp_path: Path
) -> None:
    with pytest.raises(PortInUse):
        HelpdeskServer(tmp_path / "other", helpdesk.port).start()
    assert helpdesk.running


def test_start_serves_the_api_and_stop_frees_the_port(
    helpdesk: HelpdeskServer, tmp_path: Path
) -> None:
    server = HelpdeskServer(tmp_path / "hd", free_port())
    with server:
        pid = server.pid
        assert pid is not None
        token = {"Authorization": f"Token {server.token}"}
        assert httpx.get(f"{server.api_url}tickets/", headers=token).status_code == 200
        basic = (server.admin_username, server.admin_password)
        assert httpx.get(f"{server.api_url}tickets/", auth=basic).status_code == 200
        # Instances never share credentials, even though they come from one template.
        assert server.token != helpdesk.token
        assert server.admin_password != helpdesk.admin_password
        other = {"Authorization": f"Token {helpdesk.token}"}
        assert httpx.get(f"{server.api_url}tickets/", headers=other).status_code == 401
    assert not server.running
    assert _gone(pid)
    with pytest.raises(httpx.ConnectError):
        httpx.get(server.url)


def test_a_restart_keeps_tickets_and_credentials(tmp_path: Path) -> None:
    server = HelpdeskServer(tmp_path / "hd", free_port())
    with server:
        token = server.token
        adapter = HelpdeskAdapter(server.url, token, queue=server.queue_id)
        created = adapter.create_ticket(new_ticket())
        adapter.close()
    again = HelpdeskServer(tmp_path / "hd", server.port)
    with again:
        assert again.token == token
        adapter = HelpdeskAdapter(again.url, again.token, queue=again.queue_id)
        assert adapter.get_ticket(created.id).title == created.title
        adapter.close()


def test_the_template_is_built_once_per_cache(tmp_path: Path) -> None:
    cache = tmp_path / "cache"
    for name in ("a", "b"):
        with HelpdeskServer(tmp_path / name, free_port(), cache_dir=cache) as server:
            assert server.queue_id >= 1
    assert len(list(cache.glob("template-*.sqlite3"))) == 1
    assert not [p for p in cache.iterdir() if p.is_dir()]  # no scratch folders left behind


class Receiver:
    """Collects webhook bodies posted by the helpdesk."""

    def __init__(self) -> None:
        self.bodies: dict[str, list[Any]] = {"new": [], "followup": []}

    async def receive(self, request: Request) -> Response:
        self.bodies[request.path_params["kind"]].append(await request.json())
        return Response(status_code=204)


@pytest.fixture
def receiver() -> Iterator[tuple[Receiver, str]]:
    hooks = Receiver()
    app = Starlette(routes=[Route("/hook/{kind}", hooks.receive, methods=["POST"])])
    with serve(app) as url:
        yield hooks, url


def test_webhook_urls_are_passed_through(tmp_path: Path, receiver: tuple[Receiver, str]) -> None:
    hooks, url = receiver
    env = {
        "HELPDESK_NEW_TICKET_WEBHOOK_URLS": f"{url}/hook/new",
        "HELPDESK_FOLLOWUP_WEBHOOK_URLS": f"{url}/hook/followup",
    }
    with HelpdeskServer(tmp_path / "hd", free_port(), env=env) as server:
        adapter = HelpdeskAdapter(server.url, server.token, queue=server.queue_id)
        created = adapter.create_ticket(new_ticket())
        note = adapter.add_comment(created.id, "internal follow-ups fire too", public=False)
        adapter.close()
    assert [b["ticket"]["id"] for b in hooks.bodies["new"]] == [int(created.id)]
    followups = [(b["ticket"]["id"], b["followup_id"]) for b in hooks.bodies["followup"]]
    assert followups == [(int(created.id), int(note.id))]


LAUNCHER = textwrap.dedent(
    """
    import sys, time
    from pathlib import Path
    from flows.helpdesk import HelpdeskServer
    server = HelpdeskServer(Path(sys.argv[1]), int(sys.argv[2])).start()
    print(server.pid, flush=True)
    time.sleep(120)
    """
)


@pytest.mark.parametrize(("sig", "how"), [(signal.SIGINT, "Ctrl-C"), (signal.SIGKILL, "kill -9")])
def test_no_helpdesk_outlives_its_launcher(tmp_path: Path, sig: int, how: str) -> None:
    launcher = subprocess.Popen(
        [sys.executable, "-c", LAUNCHER, str(tmp_path / "hd"), str(free_port())],
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert launcher.stdout is not None
        child = int(launcher.stdout.readline())
        launcher.send_signal(sig)
        launcher.wait(timeout=20)
        assert _gone(child), f"the helpdesk survived its launcher's {how}"
    finally:
        if launcher.poll() is None:
            launcher.kill()
            launcher.wait()


def test_stop_is_prompt_even_when_sigint_was_ignored(tmp_path: Path) -> None:
    # Shells start background jobs with SIGINT ignored, and children inherit that: the server
    # must still stop on our SIGINT instead of waiting for the SIGTERM fallback.
    script = textwrap.dedent(
        """
        import signal, sys, time
        from pathlib import Path
        signal.signal(signal.SIGINT, signal.SIG_IGN)
        from flows.helpdesk import HelpdeskServer
        server = HelpdeskServer(Path(sys.argv[1]), int(sys.argv[2])).start()
        started = time.monotonic()
        server.stop(timeout=20)
        print(time.monotonic() - started)
        """
    )
    done = subprocess.run(
        [sys.executable, "-c", script, str(tmp_path / "hd"), str(free_port())],
        capture_output=True,
        text=True,
        timeout=120,
        check=True,
    )
    assert float(done.stdout) < 5.0  # the SIGTERM fallback would only come after 10 s


def test_public_api_is_pinned() -> None:
    import flows.helpdesk

    assert flows.helpdesk.__all__ == [
        "Credentials",
        "HelpdeskServer",
        "HelpdeskServerError",
        "PortInUse",
    ]


def test_a_database_without_credentials_is_never_overwritten(tmp_path: Path) -> None:
    with HelpdeskServer(tmp_path / "hd", free_port()) as server:
        adapter = HelpdeskAdapter(server.url, server.token, queue=server.queue_id)
        adapter.create_ticket(new_ticket())
        adapter.close()
    (tmp_path / "hd" / "credentials.json").unlink()
    before = (tmp_path / "hd" / "helpdesk.sqlite3").read_bytes()
    with pytest.raises(HelpdeskServerError, match=r"no credentials\.json"):
        HelpdeskServer(tmp_path / "hd", free_port()).start()
    assert (tmp_path / "hd" / "helpdesk.sqlite3").read_bytes() == before
