"""The soak of benchmarks/soak_escalations.py as a slow test: 1,000 escalations, 700 conversations,
10% duplicates, 30% failed helpdesk writes, at least three relay kills; SQLite with one relay and
PostgreSQL with three. Afterwards: one ticket per conversation, all delivered, every note once.
"""

from __future__ import annotations

import pytest

from benchmarks.soak_escalations import soak

# 400 s on a quiet 2-core machine (SQLite); twice that when other jobs share the cores.
pytestmark = [pytest.mark.slow, pytest.mark.helpdesk, pytest.mark.timeout(1800)]


@pytest.mark.parametrize(
    ("backend", "relays"), [("sqlite", 1), pytest.param("postgres", 3, marks=pytest.mark.postgres)]
)
def test_soak(backend: str, relays: int) -> None:
    result = soak(backend, total=1000, conversations=700, relays=relays, seed=1)
    assert result.kills >= 3
    assert result.duplicates_answered_200 == 100
    assert result.states == {"delivered": 900}
    assert result.tickets_per_conversation == {1: 700}
    assert result.notes_found == result.notes_expected == 200
    assert sum(result.faults.values()) > 200
