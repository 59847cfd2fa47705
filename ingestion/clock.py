"""The wall clock, in UTC: the default ``clock`` of every worker (tests inject their own)."""

from __future__ import annotations

import datetime as dt


def utcnow() -> dt.datetime:
    """The current time, zone-aware UTC."""
    return dt.datetime.now(dt.UTC)
