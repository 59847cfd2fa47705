"""The demo's exceptions: one root, each carrying a message meant for the person at the terminal.

DemoError                 the demo cannot run or stopped (bad option, broken sample, …)
├── PortInUse             a port the demo needs is taken by another process
└── InvariantBroken       the loop misbehaved (a reply lost or forwarded twice, a note leaked)
"""

from __future__ import annotations


class DemoError(Exception):
    """Root of the demo's errors; the CLI prints the message and exits non-zero."""


class PortInUse(DemoError):
    """A loopback port the demo wants to listen on is already taken."""

    def __init__(self, port: int, what: str, option: str) -> None:
        self.port = port
        super().__init__(
            f"port {port} on 127.0.0.1 is in use, so the demo cannot start {what}; "
            f"stop whatever listens there or pick another port with {option}"
        )


class InvariantBroken(DemoError):
    """An invariant of the loop failed; the message says which and for which conversations."""
