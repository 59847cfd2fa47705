"""Every command of the `caseloop` CLI, at any depth, has help text and answers --help.

Typer vendors its own copy of click, so the walk goes by attributes, not click's classes.
"""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Iterator
from typing import Any

import pytest
import typer.main
from typer.testing import CliRunner

from flows.cli import app


def commands(command: Any, path: tuple[str, ...] = ()) -> Iterator[tuple[tuple[str, ...], Any]]:
    yield path, command
    for name, sub in sorted(getattr(command, "commands", {}).items()):
        yield from commands(sub, (*path, name))


ROOT = typer.main.get_command(app)
ALL = list(commands(ROOT))


def test_the_walk_finds_the_escalation_commands() -> None:
    names = {" ".join(path) for path, _ in ALL}
    assert {"serve", "relay", "outbox", "outbox list", "outbox redrive", "db upgrade"} <= names


@pytest.mark.parametrize(("path", "command"), ALL, ids=[" ".join(p) or "caseloop" for p, _ in ALL])
def test_command_has_help(path: tuple[str, ...], command: Any) -> None:
    text = (command.help or command.short_help or "").strip()
    assert text, f"`caseloop {' '.join(path)}` has no help text"
    result = CliRunner().invoke(app, [*path, "--help"])
    assert result.exit_code == 0, result.output
    assert "Usage:" in result.output


@pytest.mark.parametrize(("path", "command"), ALL, ids=[" ".join(p) or "caseloop" for p, _ in ALL])
def test_options_have_help(path: tuple[str, ...], command: Any) -> None:
    missing = [
        param.name
        for param in command.params
        if param.param_type_name == "option" and not (param.help or "").strip()
    ]
    assert not missing, f"`caseloop {' '.join(path)}` options without help: {missing}"


@pytest.mark.parametrize(("path", "command"), ALL, ids=[" ".join(p) or "caseloop" for p, _ in ALL])
def test_boolean_options_read_as_flags(path: tuple[str, ...], command: Any) -> None:
    result = CliRunner().invoke(app, [*path, "--help"], terminal_width=80)
    assert "<bool>" not in result.output
    assert "BOOLEAN" not in result.output


def test_demo_option_errors_are_one_clear_line() -> None:
    runner = CliRunner()
    taken = runner.invoke(app, ["demo", "--helpdesk-port", "8700", "--service-port", "8700"])
    assert taken.exit_code == 1
    assert taken.output.strip().splitlines() == [
        "caseloop demo: --helpdesk-port and --service-port are both 8700: the helpdesk and the "
        "caseloop service each need a port of their own"
    ]
    for option in ("--helpdesk-port", "--service-port"):
        result = runner.invoke(app, ["demo", option, "99999"], terminal_width=200)
        assert result.exit_code == 2
        assert "99999 is not in the range 1<=x<=65535" in result.output
        assert "Traceback" not in result.output


@pytest.mark.parametrize(
    ("args", "status", "line"),
    [
        (
            ["demo", "--helpdesk-port", "99999"],
            2,
            "caseloop demo: Invalid value for '--helpdesk-port' (env var: "
            "'CASELOOP_DEMO_HELPDESK_PORT'): 99999 is not in the range 1<=x<=65535. "
            "(see caseloop demo --help)",
        ),
        (
            ["demo", "--bogus"],
            2,
            "caseloop demo: No such option: --bogus (see caseloop demo --help)",
        ),
        (
            ["demo", "--helpdesk-port", "8700", "--service-port", "8700"],
            1,
            "caseloop demo: --helpdesk-port and --service-port are both 8700: the helpdesk and "
            "the caseloop service each need a port of their own",
        ),
    ],
)
def test_the_installed_command_reports_a_mistake_in_one_line(
    args: list[str], status: int, line: str
) -> None:
    done = subprocess.run(
        [sys.executable, "-c", "from flows.cli import main; main()", *args],
        capture_output=True,
        text=True,
        timeout=120,
        env={**os.environ, "COLUMNS": "80"},
        check=False,
    )
    assert done.returncode == status
    assert (done.stdout + done.stderr).strip().splitlines() == [line]
