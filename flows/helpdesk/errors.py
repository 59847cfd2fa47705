"""Errors of the helpdesk launcher.

HelpdeskServerError         the local django-helpdesk could not be prepared or started
└── PortInUse               the requested loopback port is already taken
"""

from __future__ import annotations


class HelpdeskServerError(RuntimeError):
    """The local django-helpdesk could not be prepared, started or reached."""


class PortInUse(HelpdeskServerError):
    """The requested port on 127.0.0.1 is already bound by another process."""

    def __init__(self, port: int) -> None:
        self.port = port
        super().__init__(
            f"port {port} on 127.0.0.1 is already in use: stop whatever listens there "
            "or choose another port for the helpdesk"
        )
