"""What API-key checking costs: ``POST /escalations`` with keys required vs the same service without.

Two real uvicorn services on loopback share one store: one with ``require_api_keys`` (every
request carries a bearer key, verified against the store's hash, cached for
``api_key_cache_seconds``; ``last_used_at`` written at most once a minute) and one with checking
off (the baseline). Rounds alternate between them so that drift in the machine hits both; each
round posts ``--count`` new escalations one after another (the order alternates per round). Reported per backend: throughput
(median of the rounds) and the p50/p95/p99 latency over every request, and the ratio on / off;
then the time of one key check answered from memory, as a share of the median request (a figure
that the machine's load does not blur the way the end-to-end ratio is blurred on a busy host).

    python benchmarks/auth.py [--rounds 5] [--count 300]
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
import uuid
from pathlib import Path

import httpx

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from benchmarks.outbox import stores
from ingestion.http import create_app
from ingestion.keys import KeyRing, create_key
from ingestion.settings import IngestionSettings
from ingestion.store import Store
from tests.support.fake_ticketing import escalation_payload
from tests.support.loopback import serve

ON = IngestionSettings(require_api_keys=True)
OFF = IngestionSettings(require_api_keys=False)


def quantile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


def one_round(client: httpx.Client, count: int) -> tuple[float, list[float]]:
    """Throughput (requests/s) and each request's latency (ms) for ``count`` new escalations."""
    tag = uuid.uuid4().hex[:8]
    latencies = []
    started = time.perf_counter()
    for n in range(count):
        sent = time.perf_counter()
        response = client.post("/escalations", json=escalation_payload(f"auth-{tag}-{n}"))
        latencies.append((time.perf_counter() - sent) * 1000)
        if response.status_code != 201:
            raise SystemExit(f"unexpected {response.status_code}: {response.text[:200]}")
    return count / (time.perf_counter() - started), latencies


def measure(store: Store, rounds: int, count: int) -> dict[str, dict[str, list[float]]]:
    key, _ = create_key(store, tenant="*", scopes=["escalate"])
    auth = {"Authorization": f"Bearer {key}"}
    out: dict[str, dict[str, list[float]]] = {
        name: {"rate": [], "latency": []} for name in ("on", "off")
    }
    with (
        serve(create_app(ON, store)) as on_url,
        serve(create_app(OFF, store)) as off_url,
        httpx.Client(base_url=on_url, headers=auth) as on,
        httpx.Client(base_url=off_url) as off,
    ):
        one_round(on, 20)  # warm-up, not counted
        one_round(off, 20)
        for index in range(rounds):
            pair = (("on", on), ("off", off))
            for name, client in pair if index % 2 == 0 else pair[::-1]:  # neither always first
                rate, latencies = one_round(client, count)
                out[name]["rate"].append(rate)
                out[name]["latency"].extend(latencies)
    return out


def check_cost(store: Store, calls: int = 100_000) -> float:
    """Microseconds per key check answered from memory (what nearly every request pays)."""
    key, _ = create_key(store, tenant="*", scopes=["escalate"])
    keyring = KeyRing(store)
    keyring.verify(key)  # loads and caches it, writes last_used_at
    started = time.perf_counter()
    for _ in range(calls):
        hit, caller = keyring.cached(key)
    if not hit or caller is None:
        raise SystemExit("the key was not answered from memory")
    return (time.perf_counter() - started) / calls * 1e6


def report(backend: str, figures: dict[str, dict[str, list[float]]]) -> None:
    for name in ("off", "on"):
        rate = statistics.median(figures[name]["rate"])
        lat = figures[name]["latency"]
        print(
            f"{backend:8} keys {name:3}: {rate:7.0f} req/s  p50 {quantile(lat, 0.5):6.2f} ms  "
            f"p95 {quantile(lat, 0.95):6.2f} ms  p99 {quantile(lat, 0.99):6.2f} ms"
        )
    on, off = figures["on"], figures["off"]
    throughput = statistics.median(on["rate"]) / statistics.median(off["rate"])
    p99 = quantile(on["latency"], 0.99) / quantile(off["latency"], 0.99)
    print(f"{backend:8} on/off: throughput {throughput:.3f}x, p99 latency {p99:.3f}x")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--count", type=int, default=300)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as folder:
        for backend, store in stores(Path(folder)):
            figures = measure(store, args.rounds, args.count)
            report(backend, figures)
            cost = check_cost(store)
            p50 = quantile(figures["off"]["latency"], 0.5) * 1000
            print(f"{backend:8} a cached key check: {cost:.2f} us = {cost / p50:.4%} of p50 (off)")


if __name__ == "__main__":
    main()
