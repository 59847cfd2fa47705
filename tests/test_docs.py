"""The README stays true: every setting is documented and CI runs the README's test command."""

from __future__ import annotations

import re
import subprocess
from pathlib import Path

from ingestion.settings import IngestionSettings

ROOT = Path(__file__).resolve().parents[1]
README = (ROOT / "README.md").read_text(encoding="utf-8")


def test_every_ingestion_setting_is_in_the_readme() -> None:
    missing = [
        f"CASELOOP_{name.upper()}"
        for name in IngestionSettings.model_fields
        if f"`CASELOOP_{name.upper()}`" not in README
    ]
    assert missing == []


def test_ci_runs_the_readme_test_command() -> None:
    match = re.search(r"^(make test)\s+#", README, flags=re.MULTILINE)
    assert match, "the README must give `make test` as the test command"
    ci = (ROOT / ".ci" / "run").read_text(encoding="utf-8")
    assert re.search(rf"^{match.group(1)}$", ci, flags=re.MULTILINE)


def test_no_machine_paths_in_tracked_text() -> None:
    tracked = subprocess.run(
        ["git", "ls-files"], cwd=ROOT, capture_output=True, text=True, check=True
    ).stdout.split()
    offenders = []
    for name in tracked:
        path = ROOT / name
        if path.suffix in {".py", ".md", ".toml", ".txt", ".yaml", ".json", ".cfg", ".ipynb"}:
            text = path.read_text(encoding="utf-8", errors="ignore")
            if re.search(r"/work/(main|shared)|/root/\.pyenv", text):
                offenders.append(name)
    assert offenders == []
