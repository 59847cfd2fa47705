"""`caseloop flows serve`: the two deployments, and (slow) a real Prefect server scheduling them."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
from typer.testing import CliRunner

from flows.cli import app
from flows.errors import ServeError
from flows.serve import LEARNING_DEPLOYMENT, SYNC_DEPLOYMENT, deployments, serve_flows
from ingestion.settings import IngestionSettings

ROOT = Path(__file__).resolve().parents[2]


def test_deployments_carry_the_schedules_from_settings() -> None:
    settings = IngestionSettings(learning_cron="5 3 * * *", sync_flow_interval_seconds=120)
    learning, sync = deployments(settings)
    assert (learning.flow_name, learning.name) == ("nightly_learning", LEARNING_DEPLOYMENT)
    assert (sync.flow_name, sync.name) == ("ticket_sync", SYNC_DEPLOYMENT)
    assert learning.schedules[0].schedule.cron == "5 3 * * *"
    assert learning.schedules[0].schedule.timezone == "UTC"  # the documented default
    assert sync.schedules[0].schedule.interval.total_seconds() == 120
    assert learning.parameters == sync.parameters == {}


def test_the_cron_is_read_in_the_configured_time_zone() -> None:
    settings = IngestionSettings(learning_cron_timezone="Europe/Berlin")
    learning, _ = deployments(settings)
    assert learning.schedules[0].schedule.timezone == "Europe/Berlin"


def test_every_deployment_passes_the_settings_file_as_an_absolute_path(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    (tmp_path / "caseloop.env").write_text("CASELOOP_LEARNING_CRON=5 3 * * *\n")
    monkeypatch.chdir(tmp_path)
    served = deployments(IngestionSettings(), Path("caseloop.env"))
    assert {d.flow_name for d in served} == {"nightly_learning", "ticket_sync"}
    for deployment in served:
        assert deployment.parameters == {"env_file": str(tmp_path / "caseloop.env")}


def test_serving_without_a_server_says_what_to_do() -> None:
    from prefect.settings import PREFECT_API_URL, temporary_settings

    with (
        temporary_settings(restore_defaults={PREFECT_API_URL}),
        pytest.raises(ServeError, match="PREFECT_API_URL: not set"),
    ):
        serve_flows(IngestionSettings())


@pytest.mark.parametrize(
    ("variable", "value"),
    [
        ("CASELOOP_LEARNING_CRON", "every night"),
        ("CASELOOP_LEARNING_CRON", "61 * * * *"),
        ("CASELOOP_LEARNING_CRON_TIMEZONE", "Mars/Olympus_Mons"),
        ("CASELOOP_SYNC_FLOW_INTERVAL_SECONDS", "0"),
        ("CASELOOP_SYNC_FLOW_INTERVAL_SECONDS", "-5"),
        ("CASELOOP_SYNC_FLOW_INTERVAL_SECONDS", "five"),
    ],
)
def test_a_bad_schedule_setting_is_one_line_naming_it(
    variable: str, value: str, tmp_path: Path
) -> None:
    settings_file = tmp_path / "caseloop.env"
    settings_file.write_text(f"{variable}={value}\n")
    result = CliRunner().invoke(app, ["--env-file", str(settings_file), "flows", "serve"])
    assert result.exit_code == 2  # a setting to fix, as for every malformed setting
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1
    assert lines[0].startswith(f"caseloop: {variable}: ")
    assert "Traceback" not in result.output


def test_the_prefect_profile_names_the_server(tmp_path: Path) -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith("PREFECT_")}
    env["PREFECT_HOME"] = str(tmp_path / "prefect")
    prefect = [sys.executable, "-m", "prefect", "config", "set"]
    subprocess.run(
        [*prefect, "PREFECT_API_URL=http://127.0.0.1:9/api"],
        env=env,
        check=True,
        capture_output=True,
    )
    probe = "from flows.serve import prefect_api_url; print(prefect_api_url())"
    shown = subprocess.run(
        [sys.executable, "-c", probe],
        env=env,
        cwd=ROOT,
        check=True,
        capture_output=True,
        text=True,
    )
    assert shown.stdout.strip() == "http://127.0.0.1:9/api"
