"""Print uv options for the package sources that pip is configured with on this machine.

uv reads no pip configuration, but a machine may name its own wheel folder or package index in
pip's (``find-links``, ``index-url``, ``extra-index-url``: for example a CPU build of torch). The
Makefile passes what this prints to ``uv pip install``, so uv installs from the same sources as
pip would, and the repository names no machine's paths or hosts.

    python scripts/pip_sources.py    # e.g. --find-links DIR --extra-index-url URL
"""

from __future__ import annotations

import re
import shlex
import subprocess
import sys

OPTIONS = ("index-url", "extra-index-url", "find-links")
# pip's precedence: environment variables, then site, user and global configuration files.
SCOPES = (":env:", "site", "user", "global")
_LINE = re.compile(r"^(?P<scope>[^.]+)\.(?P<key>[a-z-]+)=(?P<value>.*)$")


def sources(config_list: str) -> dict[str, list[str]]:
    """Each option's values from ``pip config list`` output, from the scope pip would use."""
    found: dict[str, dict[str, str]] = {}
    for line in config_list.splitlines():
        match = _LINE.match(line.strip())
        if match and match["key"] in OPTIONS and match["scope"] in SCOPES:
            value = match["value"].strip().strip("'\"")
            found.setdefault(match["key"], {})[match["scope"]] = value
    chosen = {}
    for key, by_scope in found.items():
        scope = next(s for s in SCOPES if s in by_scope)
        chosen[key] = by_scope[scope].split()
    return chosen


def uv_args(config_list: str) -> list[str]:
    """The same sources as uv options (``--find-links``, ``--index-url``, ``--extra-index-url``)."""
    args = []
    for key, values in sorted(sources(config_list).items()):
        for value in values:
            args += [f"--{key}", value]
    return args


def main() -> None:
    listed = subprocess.run(
        [sys.executable, "-m", "pip", "config", "list"], capture_output=True, text=True
    )
    print(shlex.join(uv_args(listed.stdout if listed.returncode == 0 else "")))


if __name__ == "__main__":
    main()
