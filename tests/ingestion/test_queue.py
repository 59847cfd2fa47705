"""The work queue module: reports that add up, the retry policy's verdicts, the worker loop."""

from __future__ import annotations

import datetime as dt
import threading
from dataclasses import dataclass

import pytest

from ingestion import queue
from ingestion.queue import RetryPolicy, Tally

POLICY = RetryPolicy(max_attempts=3, max_age=dt.timedelta(hours=1), base_delay=1, max_delay=8)


@dataclass(frozen=True, slots=True)
class Report(Tally):
    done: int = 0
    failed: int = 0
    cursor: str | None = None
    retry_after: float | None = None


def test_reports_add_up_field_by_field() -> None:
    total = Report(done=2, cursor="a") + Report(failed=1) + Report(done=1, cursor="b")
    assert total == Report(done=3, failed=1, cursor="b")
    assert (Report(retry_after=5.0) + Report()).retry_after == 5.0  # the later value that is set
    assert (Report(retry_after=5.0) + Report(retry_after=1.0)).retry_after == 1.0


def test_busy_and_wait_hint() -> None:
    assert not Report().busy
    assert Report(failed=1).busy
    assert not Report(cursor="x").busy  # optional values are not work
    assert Report(retry_after=3).wait_hint == 3.0
    assert Report().wait_hint is None


@pytest.mark.parametrize(
    ("attempts", "age_minutes", "permanent", "why"),
    [
        (1, 0, False, None),
        (2, 59, False, None),
        (3, 0, False, "out of attempts"),
        (1, 60, False, "too old"),
        (1, 0, True, "permanent error"),
    ],
)
def test_policy_says_why_it_gives_up(
    attempts: int, age_minutes: int, permanent: bool, why: str | None
) -> None:
    age = dt.timedelta(minutes=age_minutes)
    assert POLICY.gives_up(attempts, age, permanent=permanent) == why


def test_run_idles_waits_out_retry_after_and_survives_a_failing_round() -> None:
    script: list[Report | Exception] = [
        Report(done=2),  # busy: the next round starts at once
        Report(),  # idle
        RuntimeError("store is down"),  # logged, then the idle wait
        Report(retry_after=30.0),  # the other side asked for 30 s
        Report(retry_after=0.0),  # at least `least_wait`
    ]
    stop = threading.Event()
    waits: list[float] = []

    def step() -> Report:
        item = script.pop(0)
        if isinstance(item, Exception):
            raise item
        return item

    def sleep(seconds: float) -> None:
        waits.append(seconds)
        if not script:
            stop.set()

    total = queue.run(
        stop, step, empty=Report(), idle=5.0, name="test", sleep=sleep, least_wait=1.0
    )
    assert waits == [5.0, 5.0, 30.0, 1.0]
    assert total == Report(done=2, retry_after=0.0)


def test_run_does_nothing_once_stopped() -> None:
    stop = threading.Event()
    stop.set()
    assert queue.run(stop, Report, empty=Report(), idle=1.0, name="test") == Report()


def test_drain_stops_when_a_round_finds_nothing_or_is_told_to_wait() -> None:
    rounds = iter([Report(done=1), Report(done=1), Report()])
    assert queue.drain(lambda: next(rounds), empty=Report()) == Report(done=2)
    rounds = iter([Report(done=1), Report(done=1, retry_after=9.0), Report(done=5)])
    assert queue.drain(lambda: next(rounds), empty=Report()) == Report(done=2, retry_after=9.0)
