"""Escalation intake and outbox delivery speed, as ratios against baselines from the same run.

Part 1 — escalations accepted per second, SQLite file and PostgreSQL:
  * ``escalate()`` (validate, idempotency check, open-ticket check, escalation + outbox rows in
    one transaction) against a bare one-row INSERT transaction of the same payload;
  * ``POST /escalations`` on a real uvicorn against ``GET /healthz`` (the HTTP round trip alone).
Part 2 — tickets delivered per second by the relay (claim, render, create, mirror, mark done)
against the helpdesk's raw create rate (``POST /helpdesk/api/tickets/`` with the same body size),
on a real django-helpdesk, interleaved rounds, medians.

    python benchmarks/outbox.py [--rounds 5] [--accepts 300] [--tickets 40]
"""

from __future__ import annotations

import argparse
import datetime as dt
import os
import statistics
import sys
import tempfile
import time
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import TypeVar

import httpx
from sqlalchemy import create_engine, delete, text
from sqlalchemy.engine import make_url

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from flows.helpdesk import HelpdeskServer
from ingestion import EscalationRequest, IngestionSettings, Relay, escalate
from ingestion.adapters import HelpdeskAdapter
from ingestion.escalations import payload_hash
from ingestion.http import create_app
from ingestion.keys import create_key
from ingestion.schema import Escalation, OutboxRow
from ingestion.store import Store, open_store
from ingestion.ticket_body import ticket_body
from tests.support.fake_ticketing import escalation_payload
from tests.support.loopback import free_port, serve

POSTGRES = os.environ.get(
    "CASELOOP_TEST_POSTGRES_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/test"
)
SETTINGS = IngestionSettings()
T = TypeVar("T")


def stores(folder: Path) -> Iterator[tuple[str, Store]]:
    sqlite = open_store(f"sqlite:///{folder / 'bench.db'}")
    yield "sqlite", sqlite
    sqlite.dispose()
    admin = create_engine(make_url(POSTGRES), isolation_level="AUTOCOMMIT")
    name = f"caseloop_bench_{uuid.uuid4().hex[:8]}"
    try:
        with admin.connect() as conn:
            conn.execute(text(f'CREATE DATABASE "{name}"'))
    except Exception as exc:  # no server: report and carry on with SQLite only
        print(f"postgres: skipped ({type(exc).__name__})")
        return
    store = open_store(make_url(POSTGRES).set(database=name).render_as_string(hide_password=False))
    try:
        yield "postgres", store
    finally:
        store.dispose()
        with admin.connect() as conn:
            conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()


def rate(items: list[T], action: Callable[[T], object]) -> float:
    started = time.perf_counter()
    for item in items:
        action(item)
    return len(items) / (time.perf_counter() - started)


def payloads(count: int) -> list[dict[str, object]]:
    tag = uuid.uuid4().hex[:8]
    return [escalation_payload(f"bench-{tag}-{n}", "ev-1") for n in range(count)]


def bare_insert(store: Store, payload: dict[str, object]) -> None:
    with store.transaction() as tx:
        tx.add(
            Escalation(
                id=str(uuid.uuid4()),
                session_id=f"bare-{uuid.uuid4().hex}",
                escalation_event_id="ev-1",
                tenant="acme",
                reason="no_evidence",
                intent=None,
                payload=payload,
                payload_hash=payload_hash(payload),
                kind="create",
                state="delivered",
                created_at=dt.datetime.now(dt.UTC),
            )
        )


def accepted(store: Store, rounds: int, count: int) -> dict[str, list[float]]:
    out: dict[str, list[float]] = {"escalate": [], "bare": [], "post": [], "healthz": []}
    key, _ = create_key(store, tenant="*", scopes=["escalate"])
    auth = {"Authorization": f"Bearer {key}"}
    app = create_app(SETTINGS, store)
    with serve(app) as url, httpx.Client(base_url=url, headers=auth) as client:
        for _ in range(rounds + 1):  # the first round warms caches up and is not counted
            batch = payloads(count)
            out["bare"].append(rate(batch, lambda p: bare_insert(store, p)))
            out["escalate"].append(
                rate(
                    batch,
                    lambda p: escalate(
                        store, EscalationRequest.model_validate(p), settings=SETTINGS
                    ),
                )
            )
            http_batch = payloads(count)
            out["healthz"].append(rate(list(range(count)), lambda _: client.get("/healthz")))
            out["post"].append(rate(http_batch, lambda p: client.post("/escalations", json=p)))
    with store.transaction() as tx:  # part 2 measures its own deliveries only
        tx.execute(delete(OutboxRow))
    return out


def delivered(
    store: Store, helpdesk: HelpdeskServer, rounds: int, count: int
) -> dict[str, list[float]]:
    """Rounds alternate which side goes first, so a helpdesk slowing down over time (it holds
    more tickets) or load from other processes does not favour one side."""
    out: dict[str, list[float]] = {"relay": [], "raw": []}
    headers = {"Authorization": f"Token {helpdesk.token}"}
    adapter = HelpdeskAdapter(helpdesk.url, helpdesk.token, queue=helpdesk.queue_id)
    relay = Relay(store, adapter, SETTINGS)
    with httpx.Client(base_url=helpdesk.api_url, headers=headers, timeout=30) as raw:
        for number in range(rounds):
            sides = [
                lambda: raw_creates(raw, helpdesk.queue_id, count),
                lambda: relayed(store, relay, count),
            ]
            for side in sides if number % 2 == 0 else sides[::-1]:
                name, value = side()
                out[name].append(value)
    adapter.close()
    return out


def raw_creates(raw: httpx.Client, queue: int, count: int) -> tuple[str, float]:
    """The helpdesk alone: POST tickets/ with a body like the relay's (same renderer)."""
    bodies = [
        ticket_body(EscalationRequest.model_validate(p), str(uuid.uuid4())) for p in payloads(count)
    ]
    body = {"queue": queue, "title": "raw", "priority": 3}
    return "raw", rate(
        bodies,
        lambda text: raw.post("tickets/", json={**body, "description": text}).raise_for_status(),
    )


def relayed(store: Store, relay: Relay, count: int) -> tuple[str, float]:
    """Accepted escalations drained by the relay: claim, render, create, mirror, mark done."""
    for p in payloads(count):
        escalate(store, EscalationRequest.model_validate(p), settings=SETTINGS)
    started = time.perf_counter()
    report = relay.drain()
    assert report.delivered == count, report
    return "relay", count / (time.perf_counter() - started)


def median(values: list[float]) -> float:
    return statistics.median(values)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--accepts", type=int, default=300)
    parser.add_argument("--tickets", type=int, default=40)
    args = parser.parse_args()
    with (
        tempfile.TemporaryDirectory(prefix="caseloop-bench-") as tmp,
        HelpdeskServer(Path(tmp) / "helpdesk", free_port()) as helpdesk,
    ):
        for backend, store in stores(Path(tmp)):
            a = accepted(store, args.rounds, args.accepts)
            print(
                f"{backend}: escalate() {median(a['escalate']):7.0f}/s   bare insert {median(a['bare']):7.0f}/s   ratio {median(a['escalate']) / median(a['bare']):.2f}"
            )
            print(
                f"{backend}: POST /escalations {median(a['post']):7.0f}/s   GET /healthz {median(a['healthz']):7.0f}/s   ratio {median(a['post']) / median(a['healthz']):.2f}"
            )
            d = delivered(store, helpdesk, args.rounds, args.tickets)
            print(
                f"{backend}: relay delivered {median(d['relay']):6.1f} tickets/s   helpdesk raw create {median(d['raw']):6.1f}/s   ratio {median(d['relay']) / median(d['raw']):.2f}"
            )


if __name__ == "__main__":
    main()
