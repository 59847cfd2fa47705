"""Headless Chromium (Debian's `chromium` package) for tests that check what a person sees.

Outside CI a missing browser skips the test with a clear reason; in CI (`CI=true`) it fails, since
`.ci/run` installs the package. The browser may reach loopback only: every other host name resolves
to nothing, so a page that still depends on a CDN renders blank and the test sees it.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import tempfile
from pathlib import Path

import pytest

_FLAGS = (
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-dev-shm-usage",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
    "--host-resolver-rules=MAP * ~NOTFOUND, EXCLUDE 127.0.0.1",
)


def chromium() -> str:
    """Path of the Chromium binary, or skip (fail in CI) when it is not installed."""
    found = shutil.which("chromium") or shutil.which("chromium-browser")
    if found:
        return found
    reason = "headless Chromium not installed (apt-get install chromium)"
    if os.environ.get("CI") == "true":
        pytest.fail(reason)
    pytest.skip(reason)


def _run(url: str, *extra: str, budget_ms: int) -> str:
    with tempfile.TemporaryDirectory(prefix="chromium-") as profile:
        command = [chromium(), *_FLAGS, f"--user-data-dir={profile}"]
        command += [f"--virtual-time-budget={budget_ms}", *extra, url]
        done = subprocess.run(command, capture_output=True, text=True, timeout=120, check=False)
    assert done.returncode == 0, done.stderr[-2000:]
    return done.stdout


def dump_dom(url: str, budget_ms: int = 10_000) -> str:
    """The page's DOM after its scripts ran (serialised HTML)."""
    return _run(url, "--dump-dom", budget_ms=budget_ms)


def screenshot(url: str, path: Path, size: str = "1280,1600", budget_ms: int = 10_000) -> Path:
    """A PNG of the page as a person would see it."""
    _run(url, f"--screenshot={path}", f"--window-size={size}", budget_ms=budget_ms)
    return path
