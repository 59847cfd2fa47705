"""Settings fail clearly: one line naming the variable and what it expects; lists in three forms."""

from __future__ import annotations

import subprocess
import sys

import pytest

from ingestion.errors import SettingsError
from ingestion.settings import IngestionSettings

SECRET = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"


@pytest.mark.parametrize(
    ("value", "count"),
    [(SECRET, 1), (f"{SECRET}, {SECRET}x", 2), (f'["{SECRET}", "{SECRET}y"]', 2), ("", 0)],
)
def test_webhook_secrets_take_one_a_comma_list_or_json(
    monkeypatch: pytest.MonkeyPatch, value: str, count: int
) -> None:
    monkeypatch.setenv("CASELOOP_WEBHOOK_SECRETS", value)
    secrets = IngestionSettings.load().webhook_secrets
    assert len(secrets) == count
    assert all(s.get_secret_value().startswith("whsec_") for s in secrets)


@pytest.mark.parametrize(
    ("name", "value", "expects"),
    [
        (
            "CASELOOP_WEBHOOK_SECRETS",
            '["whsec_a"',
            "a single value, a comma-separated list, or a JSON list",
        ),
        (
            "CASELOOP_WEBHOOK_SOURCES",
            "[1, 2]",
            "a single value, a comma-separated list, or a JSON list",
        ),
        ("CASELOOP_RELAY_BATCH_SIZE", "many", "valid integer"),
        ("CASELOOP_MULTI_TENANT", "maybe", "valid boolean"),
    ],
)
def test_a_malformed_setting_is_one_line(
    monkeypatch: pytest.MonkeyPatch, name: str, value: str, expects: str
) -> None:
    monkeypatch.setenv(name, value)
    with pytest.raises(SettingsError) as info:
        IngestionSettings.load()
    message = str(info.value)
    assert message.startswith(f"{name}: ")
    assert expects in message
    assert "\n" not in message
    assert value not in message or value in ("many", "maybe")  # secrets are never echoed


def test_the_cli_prints_that_line_and_no_traceback(tmp_path: object) -> None:
    env = {"CASELOOP_WEBHOOK_SECRETS": "[whsec_broken", "PATH": "/usr/bin:/bin"}
    result = subprocess.run(
        [sys.executable, "-c", "from flows.cli import main; main()", "keys", "list"],
        env=env,
        capture_output=True,
        text=True,
        check=False,
    )
    assert result.returncode == 2
    assert result.stderr.strip().splitlines() == [
        "caseloop: CASELOOP_WEBHOOK_SECRETS: expects a single value, a comma-separated list, "
        "or a JSON list of strings (see the settings table in the README)"
    ]
    assert "Traceback" not in result.stderr
