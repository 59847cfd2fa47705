"""Webhook receiver throughput and reply-to-session latency, measured on loopback.

Part 1 — the durable receiver (`POST /webhooks/{source}`: verify the Standard Webhooks signature,
store the raw delivery, answer 202) against the *same service* with a handler that verifies but
stores nothing, both under real uvicorn on 127.0.0.1, interleaved in the same run. Prints accepted
deliveries per second and p50/p99 latency per variant and their ratios (medians of rounds), on
SQLite and, when reachable, PostgreSQL.

Part 2 — the time from an agent's reply in a real django-helpdesk to the message being available
to the orchestrator (``list_messages`` returns it), p50/p95: by webhook (the helpdesk's built-in
webhook → receiver → inbox worker) and by polling (a helpdesk without webhooks and the sync
worker alone, ``--interval`` seconds between polls). Usage::

    python benchmarks/webhooks.py [--requests 1500] [--rounds 3] [--concurrency 4] [--replies 20]
"""

from __future__ import annotations

import argparse
import base64
import contextlib
import json
import os
import random
import socket
import statistics
import sys
import tempfile
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import httpx
import uvicorn
from fastapi import Request
from fastapi.responses import JSONResponse
from pydantic import SecretStr
from sqlalchemy import create_engine, text
from sqlalchemy.engine import make_url

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from ingestion.http import create_app
from ingestion.http.body import read_limited
from ingestion.http.webhooks import standard_delivery
from ingestion.settings import IngestionSettings
from ingestion.signatures import signed_headers
from ingestion.store import Store, open_store

SECRET = "whsec_" + base64.b64encode(b"benchmark secret of 32 bytes!!!!").decode()
POSTGRES = os.environ.get(
    "CASELOOP_TEST_POSTGRES_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/test"
)


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@contextlib.contextmanager
def serve(app: Any, port: int | None = None) -> Iterator[str]:
    port = port or free_port()
    server = uvicorn.Server(
        uvicorn.Config(app, host="127.0.0.1", port=port, log_level="error", lifespan="off")
    )
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    while not server.started:
        time.sleep(0.01)
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        thread.join(timeout=10)


def pct(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(q / 100 * (len(ordered) - 1)))]


# -- part 1: receiver throughput -----------------------------------------------------------------
def service(store: Store) -> Any:
    """The caseloop service plus a null twin of the receiver (same verification, no store)."""
    settings = IngestionSettings(webhook_secrets=[SecretStr(SECRET)], webhook_max_pending=10**9)
    app = create_app(settings, store)

    @app.post("/null-webhooks/{source}", status_code=202)
    async def null_receiver(source: str, request: Request) -> JSONResponse:
        body = await read_limited(request, settings.webhook_max_body_bytes)
        delivery_id, _ = standard_delivery(request.headers, body or b"", settings)
        return JSONResponse({"status": "accepted", "delivery_id": delivery_id}, status_code=202)

    return app


def load(url: str, requests: int, concurrency: int) -> tuple[float, list[float]]:
    """Send ``requests`` signed deliveries from ``concurrency`` clients; (per second, latencies)."""
    now = int(time.time())
    bodies = []
    for _ in range(requests):
        delivery = f"msg_{uuid.uuid4().hex}"
        body = json.dumps({"type": "ticket.updated", "data": {"ticket_id": "1"}}).encode()
        bodies.append((body, signed_headers(SECRET, delivery, now, body)))
    latencies: list[float] = []
    lock = threading.Lock()

    def worker(chunk: list[tuple[bytes, dict[str, str]]]) -> None:
        with httpx.Client() as client:
            for body, headers in chunk:
                t0 = time.perf_counter()
                response = client.post(url, content=body, headers=headers)
                elapsed = time.perf_counter() - t0
                assert response.status_code == 202, response.text
                with lock:
                    latencies.append(elapsed)

    chunks = [bodies[i::concurrency] for i in range(concurrency)]
    start = time.perf_counter()
    with ThreadPoolExecutor(concurrency) as pool:
        list(pool.map(worker, chunks))
    return requests / (time.perf_counter() - start), latencies


def receiver_benchmark(name: str, store: Store, args: argparse.Namespace) -> None:
    results: dict[str, list[tuple[float, float, float]]] = {"durable": [], "null": []}
    with serve(service(store)) as base:
        load(f"{base}/null-webhooks/helpdesk", 100, args.concurrency)  # warm up
        load(f"{base}/webhooks/helpdesk", 100, args.concurrency)
        for _ in range(args.rounds):
            for variant, path in (("null", "null-webhooks"), ("durable", "webhooks")):
                rate, lat = load(f"{base}/{path}/helpdesk", args.requests, args.concurrency)
                results[variant].append((rate, pct(lat, 50) * 1e3, pct(lat, 99) * 1e3))
    med = {
        v: [statistics.median(r[i] for r in rows) for i in range(3)] for v, rows in results.items()
    }
    print(
        f"\nreceiver on {name} ({args.requests} deliveries x {args.rounds} rounds, {args.concurrency} clients)"
    )
    print(f"{'variant':<10}{'deliveries/s':>14}{'p50 ms':>10}{'p99 ms':>10}")
    for variant in ("null", "durable"):
        rate, p50, p99 = med[variant]
        print(f"{variant:<10}{rate:>14.0f}{p50:>10.2f}{p99:>10.2f}")
    print(
        f"durable/null: throughput x{med['durable'][0] / med['null'][0]:.2f}, "
        f"p99 x{med['durable'][2] / med['null'][2]:.2f}"
    )


@contextlib.contextmanager
def postgres_store() -> Iterator[Store | None]:
    admin = create_engine(make_url(POSTGRES), isolation_level="AUTOCOMMIT")
    name = f"caseloop_bench_{uuid.uuid4().hex[:8]}"
    try:
        with admin.connect() as conn:
            conn.execute(text(f'CREATE DATABASE "{name}"'))
    except Exception as exc:  # no server: skip this half, say so
        print(f"\nPostgreSQL not reachable ({type(exc).__name__}): skipped")
        yield None
        return
    store = open_store(make_url(POSTGRES).set(database=name).render_as_string(hide_password=False))
    try:
        yield store
    finally:
        store.dispose()
        with admin.connect() as conn:
            conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()


# -- part 2: reply → message latency ------------------------------------------------------------
def reply_latency(tmp: Path, *, webhooks: bool, args: argparse.Namespace) -> list[float]:
    from flows.helpdesk import HelpdeskServer
    from ingestion.adapters.helpdesk import HelpdeskAdapter
    from ingestion.errors import TicketingUnavailable
    from ingestion.inbox import InboxWorker
    from ingestion.messages import list_messages
    from ingestion.schema import Ticket
    from ingestion.sync import SyncWorker

    port, token = free_port(), uuid.uuid4().hex
    hook = f"http://127.0.0.1:{port}/webhooks/helpdesk?token={token}"
    env = (
        {"HELPDESK_FOLLOWUP_WEBHOOK_URLS": hook, "HELPDESK_NEW_TICKET_WEBHOOK_URLS": hook}
        if webhooks
        else {}
    )
    kind = "webhook" if webhooks else "polling"
    store = open_store(f"sqlite:///{tmp / f'{kind}.db'}")
    with HelpdeskServer(tmp / f"helpdesk-{kind}", free_port(), env=env) as helpdesk:
        settings = IngestionSettings(
            helpdesk_url=helpdesk.url,
            helpdesk_token=SecretStr(helpdesk.token),
            helpdesk_queue=helpdesk.queue_id,
            helpdesk_webhook_token=SecretStr(token),
            inbox_poll_interval=0.02,
            sync_interval=args.interval,
            sync_overlap_seconds=5,
        )
        adapter = HelpdeskAdapter(helpdesk.url, helpdesk.token, queue=helpdesk.queue_id)
        stop = threading.Event()
        latencies: list[float] = []
        rng = random.Random(7)
        with serve(create_app(settings, store), port=port):
            from ingestion.ticketing import NewTicket

            ticket = adapter.create_ticket(
                NewTicket("k", "bench-session", "acme", "latency", "probe")
            )
            with store.transaction() as s:
                from datetime import UTC, datetime

                s.add(
                    Ticket(
                        source="helpdesk",
                        external_id=ticket.id,
                        session_id="bench-session",
                        tenant="acme",
                        status="escalated",
                        created_at=datetime.now(UTC),
                    )
                )
            loop: Callable[[threading.Event], None]
            loop = (
                InboxWorker(store, adapter, settings).run
                if webhooks
                else SyncWorker(store, adapter, settings).run
            )
            thread = threading.Thread(target=loop, args=(stop,), daemon=True)
            thread.start()
            for n in range(args.replies):
                t0 = time.perf_counter()
                with contextlib.suppress(TicketingUnavailable):
                    adapter.add_comment(ticket.id, f"reply {n}", public=True)
                while len(list_messages(store, "bench-session")) <= n:
                    time.sleep(0.005)
                latencies.append(time.perf_counter() - t0)
                # A random pause: replies must not line up with the polls or worker rounds.
                time.sleep(rng.uniform(0.05, 0.3) if webhooks else rng.uniform(0, args.interval))
            stop.set()
            thread.join(timeout=30)
        adapter.close()
    store.dispose()
    return latencies


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--requests", type=int, default=1500)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--concurrency", type=int, default=4)
    parser.add_argument("--replies", type=int, default=20)
    parser.add_argument(
        "--interval", type=float, default=2.0, help="sync_interval of the polling run"
    )
    parser.add_argument("--skip-helpdesk", action="store_true", help="only part 1")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp_name:
        tmp = Path(tmp_name)
        sqlite = open_store(f"sqlite:///{tmp / 'receiver.db'}")
        receiver_benchmark("SQLite", sqlite, args)
        sqlite.dispose()
        with postgres_store() as pg:
            if pg is not None:
                receiver_benchmark("PostgreSQL", pg, args)
        if args.skip_helpdesk:
            return
        print(f"\nagent reply in django-helpdesk → message available ({args.replies} replies)")
        print(f"{'path':<28}{'p50 ms':>10}{'p95 ms':>10}")
        rows = {}
        for webhooks in (True, False):
            lat = reply_latency(tmp, webhooks=webhooks, args=args)
            label = "webhook + inbox worker" if webhooks else f"polling every {args.interval:g}s"
            rows[webhooks] = (pct(lat, 50) * 1e3, pct(lat, 95) * 1e3)
            print(f"{label:<28}{rows[webhooks][0]:>10.0f}{rows[webhooks][1]:>10.0f}")
        print(f"polling/webhook p50 x{rows[False][0] / rows[True][0]:.1f}")


if __name__ == "__main__":
    main()
