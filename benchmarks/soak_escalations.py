"""Soak: 1,000 escalations against a real django-helpdesk, with faults and relay kills.

About 700 conversations; 10% of the requests are exact duplicates and the other repeats are new
events in conversations whose ticket is open (they become bot notes). Requests go through the
HTTP service (real uvicorn on loopback) while `caseloop relay` processes (1 on SQLite, 3 on
PostgreSQL) deliver them through a fault proxy that breaks 30% of the helpdesk writes (500 before
and after the write, timeouts before and after the write), and a killer SIGKILLs a relay every
few seconds and starts a new one. Afterwards the helpdesk must hold exactly one ticket per
conversation, every escalation must be delivered, and every note must appear exactly once.

    python benchmarks/soak_escalations.py [--backend sqlite|postgres|both] [--escalations 1000]
"""

from __future__ import annotations

import argparse
import collections
import contextlib
import os
import random
import signal
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
from sqlalchemy import create_engine, func, select, text
from sqlalchemy.engine import make_url

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from flows.helpdesk import HelpdeskServer
from ingestion.adapters.helpdesk import conversation_marker
from ingestion.http import create_app
from ingestion.keys import create_key
from ingestion.schema import Escalation, OutboxRow
from ingestion.settings import IngestionSettings
from ingestion.store import Store, open_store
from ingestion.ticket_body import marker
from tests.support.fake_ticketing import escalation_payload, later_event
from tests.support.fault_proxy import FaultProxy
from tests.support.loopback import free_port, serve

POSTGRES = os.environ.get(
    "CASELOOP_TEST_POSTGRES_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/test"
)
CLI = [sys.executable, "-c", "from flows.cli import main; main()"]


@dataclass(frozen=True, slots=True)
class SoakResult:
    backend: str
    relays: int
    requests: int
    conversations: int
    escalations: int
    duplicates_answered_200: int
    kills: int
    faults: dict[str, int]
    attempts: dict[int, int]
    seconds: float
    tickets_per_conversation: dict[int, int]
    notes_found: int
    notes_expected: int
    states: dict[str, int]

    @property
    def ok(self) -> bool:
        return (
            self.tickets_per_conversation == {1: self.conversations}
            and self.states == {"delivered": self.escalations}
            and self.notes_found == self.notes_expected
            and self.kills >= 3
        )


def plan_requests(total: int, conversations: int, seed: int) -> list[dict[str, Any]]:
    """``conversations`` first events, 10% exact duplicates, the rest new events (notes)."""
    rng = random.Random(seed)
    firsts = [escalation_payload(f"soak-{seed}-{n}", "ev-1") for n in range(conversations)]
    duplicates = total // 10
    updates = total - conversations - duplicates
    latest = {p["session_id"]: p for p in firsts}
    requests: list[dict[str, Any]] = list(firsts)
    for n in range(updates):
        base = latest[rng.choice(list(latest))]
        event = later_event(base, f"ev-u{n}", f"Follow-up {n}: still not fixed.")
        latest[base["session_id"]] = event
        requests.append(event)
    # Keep each conversation's events in order; duplicates may arrive any time after the original.
    ordered = sorted(requests, key=lambda p: rng.random())
    ordered = _respect_event_order(ordered)
    for _ in range(duplicates):
        index = rng.randrange(len(ordered))
        ordered.insert(rng.randrange(index, len(ordered)) + 1, ordered[index])
    return ordered


def _respect_event_order(requests: list[dict[str, Any]]) -> list[dict[str, Any]]:
    by_session: dict[str, list[dict[str, Any]]] = collections.defaultdict(list)
    for p in requests:
        by_session[p["session_id"]].append(p)
    for events in by_session.values():
        events.sort(key=lambda p: len(p["transcript"]))
    cursor = collections.Counter[str]()
    out = []
    for p in requests:
        session = p["session_id"]
        out.append(by_session[session][cursor[session]])
        cursor[session] += 1
    return out


class RelayFleet:
    """`caseloop relay` subprocesses that can be killed and replaced."""

    def __init__(self, env: dict[str, str], count: int, logs: Path) -> None:
        self.env, self.count, self.logs = env, count, logs
        self.processes: list[subprocess.Popen[bytes]] = []
        self.kills = 0

    def start_one(self) -> None:
        log = (self.logs / f"relay-{len(self.processes) + self.kills}.log").open("wb")
        self.processes.append(
            subprocess.Popen([*CLI, "relay"], env=self.env, stdout=log, stderr=log)
        )

    def start(self) -> None:
        for _ in range(self.count):
            self.start_one()

    def kill_one(self, rng: random.Random) -> None:
        victim = self.processes.pop(rng.randrange(len(self.processes)))
        victim.send_signal(signal.SIGKILL)
        victim.wait()
        self.kills += 1
        self.start_one()

    def stop(self) -> None:
        for process in self.processes:
            process.send_signal(signal.SIGTERM)
        for process in self.processes:
            try:
                process.wait(timeout=30)
            except subprocess.TimeoutExpired:
                process.kill()


@contextlib.contextmanager
def database(backend: str, folder: Path) -> Iterator[str]:
    if backend == "sqlite":
        yield f"sqlite:///{folder / 'soak.db'}"
        return
    admin = create_engine(make_url(POSTGRES), isolation_level="AUTOCOMMIT")
    name = f"caseloop_soak_{uuid.uuid4().hex[:8]}"
    with admin.connect() as conn:
        conn.execute(text(f'CREATE DATABASE "{name}"'))
    try:
        yield make_url(POSTGRES).set(database=name).render_as_string(hide_password=False)
    finally:
        with admin.connect() as conn:
            conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()


def soak(backend: str, *, total: int, conversations: int, relays: int, seed: int) -> SoakResult:
    with tempfile.TemporaryDirectory(prefix="caseloop-soak-") as tmp:
        folder = Path(tmp)
        with (
            HelpdeskServer(folder / "helpdesk", free_port()) as helpdesk,
            FaultProxy(helpdesk.url, hang_seconds=1.6, seed=seed) as proxy,
            database(backend, folder) as url,
        ):
            proxy.failure_rate = 0.3
            store = open_store(url)
            try:
                return _run(
                    backend, store, url, helpdesk, proxy, folder, total, conversations, relays, seed
                )
            finally:
                store.dispose()


def _relay_env(url: str, helpdesk: HelpdeskServer, proxy: FaultProxy) -> dict[str, str]:
    return {
        **os.environ,
        "CASELOOP_DATABASE_URL": url,
        "CASELOOP_HELPDESK_URL": proxy.url,
        "CASELOOP_HELPDESK_TOKEN": helpdesk.token,
        "CASELOOP_HELPDESK_QUEUE": str(helpdesk.queue_id),
        "CASELOOP_TICKETING_TIMEOUT": "1.5",
        "CASELOOP_RELAY_LEASE_SECONDS": "20",
        "CASELOOP_RELAY_BASE_DELAY": "0.2",
        "CASELOOP_RELAY_MAX_DELAY": "2",
        "CASELOOP_RELAY_MAX_ATTEMPTS": "200",
        "CASELOOP_RELAY_POLL_INTERVAL": "0.1",
        "CASELOOP_RELAY_BATCH_SIZE": "10",
    }


def _auth(store: Store) -> dict[str, str]:
    """The orchestrator's key: the service checks it on every POST, as in production."""
    key, _ = create_key(store, tenant="*", scopes=["escalate"])
    return {"Authorization": f"Bearer {key}"}


def _run(
    backend: str,
    store: Store,
    url: str,
    helpdesk: HelpdeskServer,
    proxy: FaultProxy,
    folder: Path,
    total: int,
    conversations: int,
    relays: int,
    seed: int,
) -> SoakResult:
    rng = random.Random(seed)
    requests = plan_requests(total, conversations, seed)
    fleet = RelayFleet(_relay_env(url, helpdesk, proxy), relays, folder)
    started = time.monotonic()
    fleet.start()
    statuses: collections.Counter[int] = collections.Counter()
    with (
        serve(create_app(IngestionSettings(), store)) as service,
        httpx.Client(base_url=service, timeout=30, headers=_auth(store)) as client,
    ):
        for n, payload in enumerate(requests):
            statuses[client.post("/escalations", json=payload).status_code] += 1
            if n % 250 == 249:
                fleet.kill_one(rng)
    deadline = time.monotonic() + 1800
    while _pending(store) and time.monotonic() < deadline:
        time.sleep(2.0)
        if fleet.kills < 3 or rng.random() < 0.05:
            fleet.kill_one(rng)
    fleet.stop()
    seconds = time.monotonic() - started
    return _check(backend, store, helpdesk, proxy, fleet, requests, statuses, relays, seconds)


def _pending(store: Store) -> int:
    with store.transaction() as tx:
        return int(tx.scalar(select(func.count()).where(Escalation.state == "pending")) or 0)


def _check(
    backend: str,
    store: Store,
    helpdesk: HelpdeskServer,
    proxy: FaultProxy,
    fleet: RelayFleet,
    requests: list[dict[str, Any]],
    statuses: collections.Counter[int],
    relays: int,
    seconds: float,
) -> SoakResult:
    with store.transaction() as tx:
        states = collections.Counter(tx.scalars(select(Escalation.state)))
        notes = [r.id for r in tx.scalars(select(Escalation).where(Escalation.kind == "update"))]
        attempts = collections.Counter(tx.scalars(select(OutboxRow.attempts)))
    per_conversation: collections.Counter[str] = collections.Counter()
    comments: list[str] = []
    page: str | None = f"{helpdesk.api_url}tickets/?page_size=500"
    while page:
        body = httpx.get(
            page, headers={"Authorization": f"Token {helpdesk.token}"}, timeout=60
        ).json()
        for ticket in body["results"]:
            per_conversation[conversation_marker(ticket["description"]) or "?"] += 1
            comments += [f["comment"] or "" for f in ticket["followup_set"]]
        page = body["next"]
    found = sum(1 for key in notes if sum(marker(key) in c for c in comments) == 1)
    return SoakResult(
        backend=backend,
        relays=relays,
        requests=len(requests),
        conversations=len({p["session_id"] for p in requests}),
        escalations=sum(states.values()),
        duplicates_answered_200=statuses[200],
        kills=fleet.kills,
        faults=dict(proxy.injected),
        attempts=dict(sorted(attempts.items())),
        seconds=seconds,
        tickets_per_conversation=dict(collections.Counter(per_conversation.values())),
        notes_found=found,
        notes_expected=len(notes),
        states=dict(states),
    )


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--backend", choices=["sqlite", "postgres", "both"], default="both")
    parser.add_argument("--escalations", type=int, default=1000)
    parser.add_argument("--conversations", type=int, default=700)
    parser.add_argument("--seed", type=int, default=1)
    args = parser.parse_args()
    backends = ["sqlite", "postgres"] if args.backend == "both" else [args.backend]
    ok = True
    for backend in backends:
        relays = 1 if backend == "sqlite" else 3
        result = soak(
            backend,
            total=args.escalations,
            conversations=args.conversations,
            relays=relays,
            seed=args.seed,
        )
        ok &= result.ok
        print(
            f"{backend} ({relays} relay{'s' if relays > 1 else ''}): {'OK' if result.ok else 'FAILED'}"
        )
        for name in SoakResult.__slots__:
            print(f"  {name}: {getattr(result, name)}")
    return 0 if ok else 1


if __name__ == "__main__":
    raise SystemExit(main())
