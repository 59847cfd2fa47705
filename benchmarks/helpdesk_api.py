"""Cost of the django-helpdesk adapter's calls as the helpdesk fills up, against the raw API.

Baselines measured in the same run: a raw ``GET tickets/ID/`` and a raw ``POST tickets/`` with
``httpx`` (the helpdesk's own latency, which grows with its ticket count because django-helpdesk
loads custom fields for every ticket on every request). Each adapter call is printed in
milliseconds and as a ratio to the raw GET (reads) or the raw POST (create).

    python benchmarks/helpdesk_api.py [--sizes 10 200 700] [--repeat 5]
"""

from __future__ import annotations

import argparse
import datetime as dt
import socket
import statistics
import tempfile
import time
import uuid
from collections.abc import Callable
from pathlib import Path

import httpx

from flows.helpdesk import HelpdeskServer
from ingestion.adapters import HelpdeskAdapter
from ingestion.ticketing import NewTicket

BODY = "customer: my parcel has not arrived and the tracking page shows nothing\n" * 40
EPOCH = dt.datetime(2000, 1, 1, tzinfo=dt.UTC)


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def median_ms(call: Callable[[], object], repeat: int) -> float:
    times = []
    for _ in range(repeat):
        started = time.perf_counter()
        call()
        times.append(time.perf_counter() - started)
    return statistics.median(times) * 1000


def ticket(n: int) -> NewTicket:
    key = str(uuid.uuid4())
    return NewTicket(key, f"conv-{n}", "acme", f"Parcel {n}", BODY, payload={"transcript": BODY})


def measure(server: HelpdeskServer, adapter: HelpdeskAdapter, size: int, repeat: int) -> None:
    raw = httpx.Client(headers={"Authorization": f"Token {server.token}"}, timeout=60)
    body = {"queue": server.queue_id, "title": "raw", "description": BODY, "priority": 3}
    rows = {
        "raw GET tickets/ID/ (baseline)": median_ms(
            lambda: raw.get(f"{server.api_url}tickets/1/"), repeat
        ),
        "get_ticket": median_ms(lambda: adapter.get_ticket("1"), repeat),
        "find_by_conversation (indexed)": median_ms(
            lambda: adapter.find_by_conversation("conv-1"), repeat
        ),
        "find_by_conversation (new adapter)": median_ms(
            lambda: HelpdeskAdapter(server.url, server.token, queue=1).find_by_conversation("x"),
            max(1, repeat // 2),
        ),
        "list_updated_since": median_ms(
            lambda: adapter.list_updated_since(EPOCH, None, 50), max(1, repeat // 2)
        ),
    }
    raw_post = median_ms(lambda: raw.post(f"{server.api_url}tickets/", json=body), repeat)
    create = median_ms(lambda: adapter.create_ticket(ticket(-1)), repeat)
    raw.close()
    base = rows["raw GET tickets/ID/ (baseline)"]
    print(f"\n{size} tickets{'':26} {'ms':>8} {'× baseline':>11}")
    for label, value in rows.items():
        print(f"{label:36} {value:8.1f} {value / base:11.2f}")
    print(f"{'raw POST tickets/ (baseline)':36} {raw_post:8.1f} {1.0:11.2f}")
    print(f"{'create_ticket':36} {create:8.1f} {create / raw_post:11.2f}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--sizes", type=int, nargs="+", default=[10, 200, 700])
    parser.add_argument("--repeat", type=int, default=5)
    args = parser.parse_args()
    with (
        tempfile.TemporaryDirectory() as scratch,
        HelpdeskServer(Path(scratch) / "hd", free_port()) as server,
    ):
        adapter = HelpdeskAdapter(server.url, server.token, queue=server.queue_id)
        count = 0
        for size in sorted(args.sizes):
            while count < size:
                adapter.create_ticket(ticket(count))
                count += 1
            measure(server, adapter, size, args.repeat)
            count += 2 * args.repeat  # the create measurements added tickets too
        adapter.close()


if __name__ == "__main__":
    main()
