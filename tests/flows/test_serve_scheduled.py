"""(slow) `caseloop --env-file … flows serve` against a real Prefect server and a real helpdesk.

The operator's way, end to end: `prefect server start`, `prefect config set PREFECT_API_URL=…`
(the profile, not the environment), every CASELOOP_* setting in one file and none in the
environment, a one-minute cron. The scheduled runs must complete, learn the ticket resolved in
the helpdesk named by the file, and write only where the file says.
"""

from __future__ import annotations

import datetime as dt
import os
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from sqlalchemy import func, select

from flows.helpdesk import HelpdeskServer
from flows.serve import LEARNING_DEPLOYMENT, SYNC_DEPLOYMENT
from ingestion.adapters import HelpdeskAdapter
from ingestion.escalations import EscalationRequest, escalate
from ingestion.relay import Relay
from ingestion.schema import CaseSummary, FlowRun, Ticket
from ingestion.settings import IngestionSettings
from ingestion.store import open_store
from tests.support.loopback import free_port

pytestmark = [pytest.mark.slow, pytest.mark.helpdesk]
ROOT = Path(__file__).resolve().parents[2]


def _clean_environment(home: Path) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("CASELOOP_", "PREFECT_"))}
    return {
        **env,
        "PREFECT_HOME": str(home),
        "PREFECT_SERVER_ANALYTICS_ENABLED": "false",
        "PREFECT_SERVER_SERVICES_SCHEDULER_LOOP_SECONDS": "5",
        "PREFECT_UI_ENABLED": "false",
        "PREFECT_RUNNER_POLL_FREQUENCY": "5",
    }


def _stop(process: subprocess.Popen[bytes]) -> None:
    process.terminate()
    try:
        process.wait(timeout=20)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait()


@pytest.fixture
def prefect_server(tmp_path: Path) -> Iterator[tuple[str, dict[str, str]]]:
    """A real `prefect server start`, named in the Prefect profile only."""
    env = _clean_environment(tmp_path / "prefect")
    port = free_port()
    url = f"http://127.0.0.1:{port}/api"
    command = [sys.executable, "-m", "prefect", "server", "start", "--host", "127.0.0.1"]
    server = subprocess.Popen(
        [*command, "--port", str(port)],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline:
            try:
                if httpx.get(f"{url}/health", timeout=2).status_code == 200:
                    break
            except httpx.HTTPError:
                pass
            time.sleep(0.5)
        else:
            raise AssertionError(f"Prefect server at {url} did not come up")
        subprocess.run(
            [sys.executable, "-m", "prefect", "config", "set", f"PREFECT_API_URL={url}"],
            env=env,
            check=True,
            capture_output=True,
        )
        yield url, env
    finally:
        _stop(server)


def _resolved_ticket(settings: IngestionSettings, helpdesk: HelpdeskServer) -> str:
    """Escalate into the helpdesk through the file's store, answer and resolve the ticket."""
    session = f"served-{uuid.uuid4().hex[:10]}"
    request = EscalationRequest.model_validate(
        {
            "session_id": session,
            "escalation_event_id": "e1",
            "tenant": "acme",
            "transcript": [
                {
                    "role": "customer",
                    "text": "My invoice PDF download shows a blank page",
                    "at": dt.datetime.now(dt.UTC).isoformat(),
                }
            ],
            "reason": "no_evidence",
        }
    )
    store = open_store(settings.resolved_database_url)
    adapter = HelpdeskAdapter(helpdesk.url, helpdesk.token, queue=helpdesk.queue_id)
    try:
        escalate(store, request, settings=settings)
        Relay(store, adapter, settings).drain()
        with store.transaction() as tx:
            ticket = tx.scalars(select(Ticket.external_id).where(Ticket.session_id == session))
            external_id = ticket.one()
        adapter.add_comment(
            external_id, "Clear the browser cache, then download the invoice again.", public=True
        )
        adapter.set_status(external_id, "resolved")
    finally:
        adapter.close()
        store.dispose()
    return external_id


def _runs_by_state(url: str) -> dict[tuple[str, str], int]:
    deployments = httpx.post(f"{url}/deployments/filter", json={}, timeout=5).json()
    names = {d["id"]: d["name"] for d in deployments}
    runs = httpx.post(f"{url}/flow_runs/filter", json={"limit": 200}, timeout=5).json()
    counts: dict[tuple[str, str], int] = {}
    for run in runs:
        key = (names.get(run["deployment_id"], "?"), run["state_type"])
        counts[key] = counts.get(key, 0) + 1
    return counts


def test_served_flows_run_on_schedule_from_a_settings_file_alone(
    tmp_path: Path, prefect_server: tuple[str, dict[str, str]], helpdesk: HelpdeskServer
) -> None:
    url, env = prefect_server
    state = tmp_path / "state"
    settings_file = tmp_path / "caseloop.env"
    settings_file.write_text(
        f"CASELOOP_DATA_DIR={state}\n"
        f"CASELOOP_RETRIEVAL_LOCATION={state / 'index'}\n"
        f"CASELOOP_HELPDESK_URL={helpdesk.url}\n"
        f"CASELOOP_HELPDESK_TOKEN={helpdesk.token}\n"
        f"CASELOOP_HELPDESK_QUEUE={helpdesk.queue_id}\n"
        "CASELOOP_LEARNING_CRON=* * * * *\n"
        "CASELOOP_SYNC_FLOW_INTERVAL_SECONDS=30\n"
    )
    external_id = _resolved_ticket(IngestionSettings.load(settings_file), helpdesk)
    elsewhere = tmp_path / "cwd"
    elsewhere.mkdir()
    cli = [sys.executable, "-c", "from flows.cli import main; main()"]
    served = subprocess.Popen(
        [*cli, "--env-file", str(settings_file), "flows", "serve"],
        env=env,
        cwd=elsewhere,
        stdout=(tmp_path / "serve.log").open("wb"),
        stderr=subprocess.STDOUT,
    )
    try:
        deadline = time.monotonic() + 300
        counts: dict[tuple[str, str], int] = {}
        while time.monotonic() < deadline:
            time.sleep(5)
            assert served.poll() is None, "caseloop flows serve exited"
            counts = _runs_by_state(url)
            bad = {k: n for k, n in counts.items() if k[1] in {"FAILED", "CRASHED"}}
            assert not bad, f"served runs failed: {bad}"
            if all(
                counts.get((d, "COMPLETED"), 0) >= 1 for d in (LEARNING_DEPLOYMENT, SYNC_DEPLOYMENT)
            ):
                break
    finally:
        _stop(served)
    completed = {d: counts.get((d, "COMPLETED"), 0) for d in (LEARNING_DEPLOYMENT, SYNC_DEPLOYMENT)}
    log = (tmp_path / "serve.log").read_text(errors="replace")[-3000:]
    assert all(n >= 1 for n in completed.values()), f"runs by state: {counts}\n{log}"
    assert counts.get((LEARNING_DEPLOYMENT, "SCHEDULED"), 0) >= 1  # the cron keeps scheduling

    store = open_store(f"sqlite:///{state / 'caseloop.db'}", migrate=False)
    try:
        with store.transaction() as tx:
            learned = tx.scalar(
                select(func.count())
                .select_from(CaseSummary)
                .where(CaseSummary.case_id == f"helpdesk:{external_id}")
            )
            flows = sorted(tx.scalars(select(FlowRun.flow).where(FlowRun.status == "completed")))
    finally:
        store.dispose()
    print(
        f"\nserved from the settings file alone: completed runs {completed}, "
        f"flow_runs rows {flows}, cases learned {learned}"
    )
    assert learned == 1  # the ticket in the file's helpdesk, learned into the file's store
    assert {"nightly_learning", "ticket_sync"} <= set(flows)
    assert (state / "index").is_dir()
    assert not (elsewhere / ".caseloop").exists()  # nothing fell back to the defaults
