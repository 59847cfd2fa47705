"""`caseloop flows serve`: the two deployments, and (slow) a real Prefect server scheduling them."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest

from flows.serve import LEARNING_DEPLOYMENT, SYNC_DEPLOYMENT, ServeError, deployments, serve_flows
from ingestion.settings import IngestionSettings
from tests.support.loopback import free_port

ROOT = Path(__file__).resolve().parents[2]


def test_deployments_carry_the_schedules_from_settings() -> None:
    settings = IngestionSettings(learning_cron="5 3 * * *", sync_flow_interval_seconds=120)
    learning, sync = deployments(settings)
    assert (learning.flow_name, learning.name) == ("nightly_learning", LEARNING_DEPLOYMENT)
    assert (sync.flow_name, sync.name) == ("ticket_sync", SYNC_DEPLOYMENT)
    assert learning.schedules[0].schedule.cron == "5 3 * * *"
    assert sync.schedules[0].schedule.interval.total_seconds() == 120


def test_serving_without_a_server_says_what_to_do(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("PREFECT_API_URL", raising=False)
    with pytest.raises(ServeError, match="PREFECT_API_URL: not set"):
        serve_flows(IngestionSettings())


def _wait(url: str, deadline: float) -> None:
    while time.monotonic() < deadline:
        try:
            if httpx.get(f"{url}/health", timeout=2).status_code == 200:
                return
        except httpx.HTTPError:
            pass
        time.sleep(0.5)
    raise AssertionError(f"Prefect server at {url} did not come up")


def _scheduled_runs(url: str, deployment_name: str) -> int:
    found = httpx.post(f"{url}/deployments/filter", json={}, timeout=5).json()
    ids = [d["id"] for d in found if d["name"] == deployment_name]
    if not ids:
        return 0
    runs = httpx.post(
        f"{url}/flow_runs/filter",
        json={
            "deployments": {"id": {"any_": ids}},
            "flow_runs": {"state": {"type": {"any_": ["SCHEDULED"]}}},
        },
        timeout=5,
    ).json()
    return len(runs)


@pytest.mark.slow
def test_a_real_prefect_server_schedules_the_nightly_runs(tmp_path: Path) -> None:
    port = free_port()
    url = f"http://127.0.0.1:{port}/api"
    env = {
        **os.environ,
        "PREFECT_HOME": str(tmp_path / "prefect"),
        "PREFECT_SERVER_ANALYTICS_ENABLED": "false",
        "PREFECT_SERVER_SERVICES_SCHEDULER_LOOP_SECONDS": "5",
        "PREFECT_UI_ENABLED": "false",
        "CASELOOP_DATA_DIR": str(tmp_path / "state"),
        "CASELOOP_RETRIEVAL_LOCATION": str(tmp_path / "state" / "index"),
    }
    server = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "prefect",
            "server",
            "start",
            "--host",
            "127.0.0.1",
            "--port",
            str(port),
        ],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    served = None
    try:
        _wait(url, time.monotonic() + 90)
        served = subprocess.Popen(
            [sys.executable, "-c", "from flows.cli import main; main()", "flows", "serve"],
            env={**env, "PREFECT_API_URL": url},
            cwd=ROOT,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        deadline = time.monotonic() + 120
        count = 0
        while time.monotonic() < deadline and count == 0:
            time.sleep(2)
            assert served.poll() is None, "caseloop flows serve exited"
            count = _scheduled_runs(url, LEARNING_DEPLOYMENT)
        assert count >= 1, "the nightly deployment got no scheduled runs"
        names = {
            d["name"] for d in httpx.post(f"{url}/deployments/filter", json={}, timeout=5).json()
        }
        assert {LEARNING_DEPLOYMENT, SYNC_DEPLOYMENT} <= names
    finally:
        for process in (served, server):
            if process is not None:
                process.terminate()
                try:
                    process.wait(timeout=20)
                except subprocess.TimeoutExpired:
                    process.kill()
