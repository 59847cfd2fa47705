"""Replicas on one PostgreSQL: throughput and latency of escalations with 1 and 2 `caseloop serve`
replicas, with and without one replica SIGKILLed mid-traffic.

Baseline (same run): one replica and one relay. Then two replicas and three relays, then the
same with `serve-a` SIGKILLed after a third of the traffic (its clients fail over to `serve-b`).
Four client threads post escalations round-robin over the live replicas. Reported: acceptance
latency p50/p95 (ms), accepted per second, seconds until every accepted escalation is a ticket
in the real django-helpdesk, and the ratio of each to the baseline. Every run also checks one
ticket per conversation and every acknowledged escalation delivered.

    python benchmarks/replicas.py [--escalations 200]
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import tempfile
import threading
import time
import uuid
from dataclasses import dataclass
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from sqlalchemy import func, select

from benchmarks.soak_escalations import database
from flows.helpdesk import HelpdeskServer
from ingestion.schema import Escalation
from ingestion.store import open_store
from tests.ingestion.test_relay_helpdesk import tickets_by_conversation
from tests.support.fake_ticketing import escalation_payload
from tests.support.fleet import Fleet, post_any, wait_for
from tests.support.loopback import free_port


@dataclass(frozen=True, slots=True)
class Run:
    name: str
    accepted: int
    p50_ms: float
    p95_ms: float
    per_second: float
    drained_seconds: float


def run(
    name: str,
    helpdesk: HelpdeskServer,
    folder: Path,
    *,
    replicas: int,
    relays: int,
    total: int,
    kill: bool,
) -> Run:
    with database("postgres", folder) as url:
        open_store(url).dispose()  # migrate once before the fleet starts
        env = {
            **{k: v for k, v in os.environ.items() if not k.startswith("CASELOOP_")},
            "CASELOOP_DATABASE_URL": url,
            "CASELOOP_HELPDESK_URL": helpdesk.url,
            "CASELOOP_HELPDESK_TOKEN": helpdesk.token,
            "CASELOOP_HELPDESK_QUEUE": str(helpdesk.queue_id),
            # longer than the slowest ticketing call (timeout 10 s): a lease that expires during
            # a create lets a second relay look up too early and create a second ticket
            "CASELOOP_RELAY_LEASE_SECONDS": "30",
            "CASELOOP_RELAY_POLL_INTERVAL": "0.1",
        }
        logs = folder / name
        logs.mkdir()
        fleet = Fleet(env, logs)
        try:
            urls = [fleet.serve(f"serve-{n}") for n in range(replicas)]
            for n in range(relays):
                fleet.start(f"relay-{n}", "relay")
            return _traffic(name, fleet, urls, url, helpdesk, total=total, kill=kill)
        finally:
            fleet.stop_all()


def _traffic(
    name: str,
    fleet: Fleet,
    urls: list[str],
    url: str,
    helpdesk: HelpdeskServer,
    *,
    total: int,
    kill: bool,
) -> Run:
    prefix = f"bench-{uuid.uuid4().hex[:8]}-"
    latencies: list[float] = []
    lock, counter = threading.Lock(), iter(range(total))
    live = list(urls)

    def client() -> None:
        while True:
            with lock:
                n = next(counter, None)
                if n is None:
                    return
                if kill and n == total // 3:
                    fleet.kill("serve-0")
                    live.remove(urls[0])
                order = live[n % len(live) :] + live[: n % len(live)]
            began = time.perf_counter()
            answer = post_any(order, "/escalations", json=escalation_payload(f"{prefix}{n}"))
            if answer is not None and answer.status_code in (200, 201):
                with lock:
                    latencies.append(time.perf_counter() - began)

    started = time.perf_counter()
    threads = [threading.Thread(target=client) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    posted = time.perf_counter() - started
    store = open_store(url, migrate=False)
    try:

        def drained() -> bool:
            with store.transaction() as tx:
                return not tx.scalar(select(func.count()).where(Escalation.state == "pending"))

        wait_for(drained, 600)
        drained_after = time.perf_counter() - started
        with store.transaction() as tx:
            delivered = tx.scalar(select(func.count()).where(Escalation.state == "delivered"))
    finally:
        store.dispose()
    tickets = tickets_by_conversation(helpdesk, prefix)
    assert delivered == len(latencies), (delivered, len(latencies))
    assert len(tickets) == len(latencies), (len(tickets), len(latencies))
    doubled = sum(len(t) > 1 for t in tickets.values())
    assert not doubled, f"{name}: {doubled} conversations got two tickets"
    ms = sorted(1000 * x for x in latencies)
    print(f"{name}: done", flush=True)
    return Run(
        name,
        len(ms),
        statistics.median(ms),
        ms[int(0.95 * (len(ms) - 1))],
        len(ms) / posted,
        drained_after,
    )


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--escalations", type=int, default=200)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="caseloop-replicas-") as tmp:
        folder = Path(tmp)
        with HelpdeskServer(folder / "helpdesk", free_port()) as helpdesk:
            runs = [
                run(
                    "1 replica, 1 relay",
                    helpdesk,
                    folder,
                    replicas=1,
                    relays=1,
                    total=args.escalations,
                    kill=False,
                ),
                run(
                    "2 replicas, 3 relays",
                    helpdesk,
                    folder,
                    replicas=2,
                    relays=3,
                    total=args.escalations,
                    kill=False,
                ),
                run(
                    "2 replicas, 3 relays, 1 killed",
                    helpdesk,
                    folder,
                    replicas=2,
                    relays=3,
                    total=args.escalations,
                    kill=True,
                ),
            ]
    base = runs[0]
    print(f"{'run':34} {'ok':>5} {'p50 ms':>8} {'p95 ms':>8} {'acc/s':>7} {'drain s':>8}  ratios")
    for r in runs:
        print(
            f"{r.name:34} {r.accepted:5d} {r.p50_ms:8.1f} {r.p95_ms:8.1f} {r.per_second:7.1f} "
            f"{r.drained_seconds:8.1f}  p95 {r.p95_ms / base.p95_ms:.2f}×, "
            f"throughput {r.per_second / base.per_second:.2f}×, "
            f"drain {r.drained_seconds / base.drained_seconds:.2f}×"
        )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
