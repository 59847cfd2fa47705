"""The README stays true: every setting is documented and CI runs the README's test command."""

from __future__ import annotations

import re
import subprocess
from pathlib import Path

import pytest
from pydantic_settings import BaseSettings

from ingestion.settings import IngestionSettings
from retrieval.settings import RetrievalSettings

ROOT = Path(__file__).resolve().parents[1]
README = (ROOT / "README.md").read_text(encoding="utf-8")


@pytest.mark.parametrize("settings", [IngestionSettings, RetrievalSettings])
def test_every_setting_is_in_the_readme(settings: type[BaseSettings]) -> None:
    prefix = settings.model_config.get("env_prefix", "")
    variables = [f"{prefix}{name.upper()}" for name in settings.model_fields]
    assert [v for v in variables if f"`{v}`" not in README] == []


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
        if path.suffix in {".py", ".md", ".toml", ".txt", ".yaml", ".json", ".cfg", ".ipynb"} or (
            name in {"Makefile", ".ci/run"}
        ):
            text = path.read_text(encoding="utf-8", errors="ignore")
            if re.search(r"/work/(main|shared)|/root/\.pyenv", text):
                offenders.append(name)
    assert offenders == []


def test_the_install_path_names_no_local_source() -> None:
    """The Makefile reads this machine's package sources from pip's config; it names none itself."""
    for name in ("Makefile", ".ci/run", "pyproject.toml", "constraints.txt"):
        text = (ROOT / name).read_text(encoding="utf-8")
        assert not re.search(r"file://|/opt/|--find-links\s+/|--(extra-)?index-url\s+\w", text), (
            name
        )
