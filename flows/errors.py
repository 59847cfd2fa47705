"""Errors of the `flows` package.

    FlowsError
    ├── ServeError   the flows cannot be served (no Prefect server, a bad schedule setting)
    └── RunFailed    a run finished but failed some of its items; carries the report

A run that raises `RunFailed` ends in Prefect's ``Failed`` state after it has stored its report
(``flow_runs``), published it as an artifact and logged its line, so alerting on run states hears it.
"""

from __future__ import annotations

from typing import Any


class FlowsError(Exception):
    """Root of every error the flows package raises on purpose."""


class ServeError(FlowsError):
    """The flows cannot be served; the message is one line naming the setting to fix."""


class RunFailed(FlowsError):
    """A run finished but some items failed; ``report`` is the run's full report."""

    def __init__(self, line: str, report: Any) -> None:
        super().__init__(line)
        self.report = report
