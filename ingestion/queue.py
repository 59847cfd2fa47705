"""Work queues in the store, the retry policy they share, and the loop every worker runs.

Three tables are queues of one shape; a `QueueTable` names their columns:

    table                 work                                            worker
    outbox                tickets and notes for the ticketing system      Relay, Pusher (bot notes)
    webhook_deliveries    webhook hints to re-read and apply              InboxWorker
    outgoing_messages     agent replies for the orchestrator              Pusher

Every worker takes the same steps:

* `claim` leases up to N due rows and counts the attempt. With a ``group`` column only the oldest
  unfinished row of a group is claimable (a conversation's note never overtakes its ticket, a
  session's message n+1 never overtakes message n). SQLite serialises claims (every transaction
  is ``BEGIN IMMEDIATE``); PostgreSQL claims ``FOR UPDATE SKIP LOCKED``, so workers never wait on
  each other. A row whose lease has expired (its worker was killed) is claimable again.
* `renew` extends a lease just before the work; False when another worker has taken the row over.
* `complete` marks rows done in the caller's transaction, beside the effect they stand for.
* `fail` schedules the retry (`RetryPolicy`: exponential backoff with jitter, never before a
  Retry-After) or dead-letters the row: out of attempts, too old, or a permanent error.
* `release` gives back the leases of rows that were not attempted (the worker is stopping).

`run` is the loop of every long-running worker (these three and the sync worker): a round, then
the idle wait when the round found nothing to do, or the Retry-After the other side asked for; a
round that raises is logged and the loop goes on. `drain` repeats rounds until one finds nothing.
Reports are `Tally` dataclasses, so that rounds add up into a run.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import logging
import random
import threading
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Literal, Protocol, Self, TypeVar

from sqlalchemy import ColumnElement, exists, or_, select, update
from sqlalchemy.orm import Session, aliased

from ingestion.clock import utcnow
from ingestion.errors import TicketingError, TicketingRejected
from ingestion.settings import IngestionSettings
from ingestion.store import Store

log = logging.getLogger(__name__)

Outcome = Literal["retry", "dead"]
#: Extra conditions a worker puts on the rows it claims (and on the rows that hold them back).
Scope = Callable[[Any], Sequence[ColumnElement[bool]]]
T = TypeVar("T")
R = TypeVar("R", bound="Tally")


@dataclass(frozen=True, slots=True)
class RetryPolicy:
    """When to try again and when to give up (one policy for every queue)."""

    max_attempts: int
    max_age: dt.timedelta
    base_delay: float
    max_delay: float

    @classmethod
    def from_settings(cls, settings: IngestionSettings) -> RetryPolicy:
        """The policy of the ``relay_*`` settings, which every queue shares."""
        return cls(
            max_attempts=settings.relay_max_attempts,
            max_age=dt.timedelta(seconds=settings.relay_max_age_seconds),
            base_delay=settings.relay_base_delay,
            max_delay=settings.relay_max_delay,
        )

    def delay(self, attempts: int, rng: random.Random, retry_after: float | None = None) -> float:
        """Seconds to wait after the ``attempts``-th failed attempt: the upper half of a doubling
        ceiling, never less than the Retry-After the other side sent."""
        ceiling = min(self.max_delay, self.base_delay * 2 ** max(attempts - 1, 0))
        jittered = rng.uniform(ceiling / 2, ceiling)
        return max(jittered, retry_after or 0.0)

    def gives_up(self, attempts: int, age: dt.timedelta, *, permanent: bool) -> str | None:
        """Why a failed row is dead (None: it is retried)."""
        if permanent:
            return "permanent error"
        if age >= self.max_age:
            return "too old"
        return "out of attempts" if attempts >= self.max_attempts else None


@dataclass(frozen=True, slots=True)
class QueueTable:
    """How a table holds work: the names of its columns and of its states."""

    model: type[Any]
    state: str = "state"
    attempts: str = "attempts"
    due: str = "next_attempt_at"
    finished: str | None = "finished_at"
    group: str | None = None  # only the oldest unfinished row of a group is claimable
    position: str = "id"  # the order within a group
    order: tuple[str, ...] = ("id",)
    done: str = "done"
    dead: str = "dead"
    explain_dead: bool = False  # append "(why after N attempts)" to a dead row's error

    def column(self, name: str, table: Any = None) -> Any:
        return getattr(table if table is not None else self.model, name)


def _everything(_table: Any) -> Sequence[ColumnElement[bool]]:
    return ()


def claim(
    store: Store,
    table: QueueTable,
    owner: str,
    *,
    now: dt.datetime,
    lease_seconds: float,
    limit: int,
    view: Callable[[Any], T],
    scope: Scope = _everything,
) -> list[T]:
    """Lease up to ``limit`` due rows (the head of each group), counting the attempt."""
    model, column = table.model, table.column
    conditions = [
        column(table.state) == "pending",
        column(table.due) <= now,
        or_(model.lease_expires_at.is_(None), model.lease_expires_at <= now),
        *scope(model),
    ]
    if table.group is not None:
        earlier = aliased(model)
        conditions.append(
            ~exists().where(
                column(table.group, earlier) == column(table.group),
                column(table.position, earlier) < column(table.position),
                column(table.state, earlier) == "pending",
                *scope(earlier),  # another worker's rows never hold these back
            )
        )
    order = [column(name) for name in table.order]
    query = select(model).where(*conditions).order_by(*order).limit(limit)
    if not store.is_sqlite:
        query = query.with_for_update(skip_locked=True, of=model)
    expires = now + dt.timedelta(seconds=lease_seconds)
    with store.transaction() as tx:
        rows = list(tx.scalars(query))
        for row in rows:
            row.lease_owner, row.lease_expires_at = owner, expires
            setattr(row, table.attempts, getattr(row, table.attempts) + 1)
        tx.flush()
        return [view(row) for row in rows]


def renew(
    store: Store, table: QueueTable, key: Any, owner: str, *, now: dt.datetime, lease: float
) -> bool:
    """Extend ``owner``'s lease on a claimed row; False when the lease was lost (the row expired
    while earlier rows of the batch were worked on and another worker took it over)."""
    model = table.model
    with store.transaction() as tx:
        result = tx.execute(
            update(model)
            .where(
                model.id == key,
                table.column(table.state) == "pending",
                model.lease_owner == owner,
            )
            .values(lease_expires_at=now + dt.timedelta(seconds=lease))
        )
        return bool(getattr(result, "rowcount", 0))


def complete(
    tx: Session,
    table: QueueTable,
    keys: Iterable[Any],
    *,
    now: dt.datetime,
    owner: str | None = None,
    values: Mapping[str, Any] | None = None,
) -> int:
    """Mark pending rows done (only those ``owner`` still leases, when given); how many."""
    model = table.model
    conditions = [model.id.in_(list(keys)), table.column(table.state) == "pending"]
    if owner is not None:
        conditions.append(model.lease_owner == owner)
    changes: dict[str, Any] = {table.state: table.done, "lease_owner": None}
    changes.update(lease_expires_at=None, **(values or {}))
    if table.finished is not None:
        changes[table.finished] = now
    result = tx.execute(update(model).where(*conditions).values(changes))
    return int(getattr(result, "rowcount", 0))


class Claimed(Protocol):
    """What `fail` needs to know of a claimed row (`OutboxItem` and the workers' own views)."""

    @property
    def id(self) -> Any: ...

    @property
    def attempts(self) -> int: ...

    @property
    def created_at(self) -> dt.datetime: ...


@dataclass(frozen=True, slots=True)
class Failure:
    """Why an attempt failed: the error, a Retry-After, and whether a retry can ever help."""

    error: str
    retry_after: float | None = None
    permanent: bool = False

    @classmethod
    def of(cls, exc: TicketingError) -> Failure:
        """A ticketing error: `TicketingRejected` is permanent, Retry-After is kept."""
        return cls(str(exc), getattr(exc, "retry_after", None), isinstance(exc, TicketingRejected))


def fail(
    tx: Session,
    table: QueueTable,
    row: Claimed,
    failure: Failure,
    *,
    now: dt.datetime,
    policy: RetryPolicy,
    rng: random.Random,
) -> Outcome:
    """Record a failed attempt: schedule the retry, or dead-letter the row."""
    error = failure.error
    why = policy.gives_up(row.attempts, now - row.created_at, permanent=failure.permanent)
    changes: dict[str, Any] = {"last_error": error[:2000], "lease_owner": None}
    changes["lease_expires_at"] = None
    if why is None:
        wait = policy.delay(row.attempts, rng, failure.retry_after)
        changes[table.due] = now + dt.timedelta(seconds=wait)
    else:
        changes[table.state] = table.dead
        if table.explain_dead:
            changes["last_error"] = f"{error} ({why} after {row.attempts} attempts)"[:2000]
        if table.finished is not None:
            changes[table.finished] = now
    pending = table.column(table.state) == "pending"  # a row another worker finished stays so
    tx.execute(update(table.model).where(table.model.id == row.id, pending).values(changes))
    return "retry" if why is None else "dead"


@dataclass(frozen=True, slots=True)
class Retrier:
    """How a worker records failures: the shared policy, its randomness and its clock."""

    policy: RetryPolicy
    rng: random.Random
    clock: Callable[[], dt.datetime]

    @classmethod
    def from_settings(
        cls,
        settings: IngestionSettings,
        *,
        rng: random.Random | None = None,
        clock: Callable[[], dt.datetime] = utcnow,
    ) -> Retrier:
        return cls(RetryPolicy.from_settings(settings), rng or random.Random(), clock)

    def fail(self, tx: Session, table: QueueTable, row: Claimed, failure: Failure) -> Outcome:
        """`fail` now, with this worker's policy and randomness."""
        return fail(tx, table, row, failure, now=self.clock(), policy=self.policy, rng=self.rng)


def release(store: Store, table: QueueTable, keys: Iterable[Any]) -> None:
    """Give back the leases of claimed rows that were not attempted (their attempt is uncounted)."""
    model, attempts = table.model, table.column(table.attempts)
    with store.transaction() as tx:
        tx.execute(
            update(model)
            .where(model.id.in_(list(keys)), table.column(table.state) == "pending")
            .values({"lease_owner": None, "lease_expires_at": None, table.attempts: attempts - 1})
        )


def next_due(store: Store, table: QueueTable, *, scope: Scope = _everything) -> dt.datetime | None:
    """When the next pending row becomes claimable (None when nothing is pending).

    With groups only the head row of each group counts: the rows behind it wait for it.
    """
    model, column = table.model, table.column
    group = column(table.group) if table.group is not None else model.id
    with store.transaction() as tx:
        rows = tx.execute(
            select(group, column(table.due), model.lease_expires_at)
            .where(column(table.state) == "pending", *scope(model))
            .order_by(column(table.position))
        ).all()
    heads: dict[Any, dt.datetime] = {}
    for key, due, lease in rows:
        if key not in heads:
            heads[key] = max(due, lease) if lease is not None else due
    return min(heads.values(), default=None)


class Tally:
    """A report of a round (or a run): numbers add up; optional values (default None), such as a
    cursor or a Retry-After, take the later one that is set."""

    __slots__ = ()

    def _fields(self) -> tuple[dataclasses.Field[Any], ...]:
        return dataclasses.fields(self)  # type: ignore[arg-type]  # subclasses are dataclasses

    def __add__(self, other: Self) -> Self:
        changes: dict[str, Any] = {}
        for field in self._fields():
            mine, theirs = getattr(self, field.name), getattr(other, field.name)
            if field.default is None:
                changes[field.name] = theirs if theirs is not None else mine
            else:
                changes[field.name] = mine + theirs
        return dataclasses.replace(self, **changes)  # type: ignore[type-var]

    @property
    def busy(self) -> bool:
        """Whether the round did work, so that the next one should start at once."""
        return any(getattr(self, f.name) for f in self._fields() if f.default is not None)

    @property
    def wait_hint(self) -> float | None:
        """Seconds the other side asked us to wait (a Retry-After), if it did."""
        value = getattr(self, "retry_after", None)
        return None if value is None else float(value)


def run(
    stop: threading.Event,
    step: Callable[[], R],
    *,
    empty: R,
    idle: float,
    name: str,
    sleep: Callable[[float], object] | None = None,
    least_wait: float | None = None,
) -> R:
    """Run rounds until ``stop`` is set; the sum of their reports.

    After a round with nothing to do the loop waits ``idle`` seconds; after a Retry-After it
    waits that long (at least ``least_wait``, default ``idle``). Waits end early when ``stop`` is
    set (``sleep`` replaces them in tests). A round that raises (the store is unreachable, an
    adapter bug) is logged and followed by the idle wait: the worker stays alive.
    """
    wait = sleep or stop.wait
    total = empty
    while not stop.is_set():
        try:
            report = step()
        except Exception:
            log.exception("%s: round failed", name)
            wait(idle)
            continue
        total += report
        if report.wait_hint is not None:
            wait(max(report.wait_hint, idle if least_wait is None else least_wait))
        elif not report.busy:
            wait(idle)
    return total


def drain(step: Callable[[], R], *, empty: R, stop: threading.Event | None = None) -> R:
    """Run rounds until one finds nothing to do or is asked to wait; the sum of their reports."""
    total = empty
    while stop is None or not stop.is_set():
        report = step()
        total += report
        if not report.busy or report.wait_hint is not None:
            break
    return total
