"""The README's two commands, literally, in a fresh clone of this repository (slow: it builds a venv).

``make demo`` runs with a smaller demo through the documented environment variables
``CASELOOP_DEMO_DAYS`` and ``CASELOOP_DEMO_CONVERSATIONS`` (the default demo takes minutes);
``make test`` would run the whole suite inside the suite, so its recipe is checked with
``make -n test`` instead. Ports are free ones, passed the same way
(``CASELOOP_DEMO_HELPDESK_PORT``, ``CASELOOP_DEMO_SERVICE_PORT``), so a demo left running on the
default ports does not break the check.
"""

from __future__ import annotations

import os
import re
import subprocess
from pathlib import Path

import pytest

from tests.support.loopback import free_port

ROOT = Path(__file__).resolve().parents[2]


def _readme_commands() -> list[str]:
    """The commands of the README's "Two commands" block, as a newcomer would type them."""
    text = (ROOT / "README.md").read_text()
    block = re.search(r"## Two commands.*?```bash\n(.*?)```", text, re.S)
    assert block, "the README has no 'Two commands' bash block"
    return [line.split("#")[0].strip() for line in block.group(1).splitlines() if line.strip()]


@pytest.mark.slow
@pytest.mark.helpdesk
def test_readme_two_commands_in_a_fresh_clone(tmp_path: Path) -> None:
    assert _readme_commands() == ["make demo", "make test"]
    clone = tmp_path / "caseloop"
    subprocess.run(["git", "clone", "--quiet", str(ROOT), str(clone)], check=True)
    env = {
        key: value
        for key, value in os.environ.items()
        if not key.startswith(("CASELOOP_", "VIRTUAL_ENV", "PYTEST"))
    }
    env |= {
        "CASELOOP_DEMO_DAYS": "2",
        "CASELOOP_DEMO_CONVERSATIONS": "12",
        "CASELOOP_DEMO_HELPDESK_PORT": str(free_port()),
        "CASELOOP_DEMO_SERVICE_PORT": str(free_port()),
    }
    demo = subprocess.run(
        ["make", "demo"], cwd=clone, env=env, capture_output=True, text=True, timeout=1800
    )
    assert demo.returncode == 0, demo.stdout[-3000:] + demo.stderr[-3000:]
    assert "caseloop demo, day by day" in demo.stdout
    assert "escalation drop, first day → last day" in demo.stdout
    assert "invariants hold" in demo.stdout
    assert (clone / "reports" / "demo" / "escalations.png").is_file()

    dry = subprocess.run(["make", "-n", "test"], cwd=clone, env=env, capture_output=True, text=True)
    assert dry.returncode == 0, dry.stderr
    for step in ("ruff check", "ruff format --check", "mypy", "lint-imports", "pytest -m"):
        assert step in dry.stdout, f"make test no longer runs {step}"
