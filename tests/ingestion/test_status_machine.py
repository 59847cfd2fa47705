"""The mirror status machine: static mapping, version order, stale snapshots never go back."""

from __future__ import annotations

import datetime as dt

import pytest

from ingestion.status import Transition, decide, is_expected, mirror_status, opened

T = dt.datetime(2026, 3, 1, 9, 0, tzinfo=dt.UTC)
LATER = T + dt.timedelta(minutes=5)


@pytest.mark.parametrize(
    ("remote", "mirror"),
    [
        ("open", "escalated"),
        ("pending", "escalated"),
        ("reopened", "reopened"),
        ("resolved", "resolved"),
        ("closed", "closed"),
        ("duplicate", "closed"),
        ("deleted", "deleted"),
        ("something-new", "escalated"),
    ],
)
def test_mapping(remote: str, mirror: str) -> None:
    assert mirror_status(remote) == mirror


def test_newer_snapshot_moves_status() -> None:
    assert decide("escalated", T, "resolved", LATER) == (Transition("escalated", "resolved"), True)


def test_older_snapshot_never_moves_back() -> None:
    assert decide("resolved", LATER, "open", T) == (None, False)
    assert decide("reopened", LATER, "resolved", T) == (None, False)


def test_same_status_newer_time_advances_version_only() -> None:
    assert decide("escalated", T, "open", LATER) == (None, True)


def test_same_snapshot_twice_changes_nothing() -> None:
    assert decide("resolved", T, "resolved", T) == (None, False)


def test_equal_time_tie_breaks_towards_later_stage() -> None:
    assert decide("escalated", T, "closed", T) == (Transition("escalated", "closed"), True)
    assert decide("closed", T, "open", T) == (None, False)


def test_missing_times_sort_first() -> None:
    # The relay writes the row without a remote time; any dated snapshot is newer.
    assert decide("escalated", None, "open", T) == (None, True)
    assert decide("resolved", T, "open", None) == (None, False)


def test_expected_transitions() -> None:
    assert is_expected("escalated", "resolved")
    assert is_expected("resolved", "reopened")
    assert is_expected("closed", "deleted")
    assert not is_expected("closed", "escalated")


def test_first_transition_of_a_new_ticket() -> None:
    assert opened("open") == Transition(None, "escalated")
    assert opened(None) == Transition(None, "escalated")
    assert opened("resolved") == Transition(None, "resolved")  # adopted after an agent closed it


def test_status_groups_speak_the_mirror_vocabulary() -> None:
    from typing import get_args

    from ingestion.status import FINAL_STATUSES, OPEN_STATUSES, RESOLVED_STATUSES, MirrorStatus

    vocabulary = set(get_args(MirrorStatus))
    assert set(OPEN_STATUSES) | set(RESOLVED_STATUSES) | set(FINAL_STATUSES) <= vocabulary
    assert {mirror_status("open"), mirror_status("pending"), mirror_status("reopened")} <= set(
        OPEN_STATUSES
    )
    assert not set(OPEN_STATUSES) & set(RESOLVED_STATUSES)
