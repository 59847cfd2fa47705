"""Start-up of the local django-helpdesk: cached template copy vs migrating from scratch.

Baseline (measured in the same run): a fresh cache folder, so the instance migrates its database
and bootstraps the admin, token and queue before serving (what a naive launcher does every time).
Measured: a new instance whose data folder is copied from the cached template and re-keyed.
Also: a restart of an existing data folder. Prints medians and the ratio to the baseline.

    python benchmarks/helpdesk_startup.py [--runs 3]
"""

from __future__ import annotations

import argparse
import socket
import statistics
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

from flows.helpdesk import HelpdeskServer


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def timed(make: Callable[[], HelpdeskServer]) -> float:
    server = make()
    started = time.perf_counter()
    server.start()
    elapsed = time.perf_counter() - started
    server.stop()
    return elapsed


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--runs", type=int, default=3)
    runs = parser.parse_args().runs
    with tempfile.TemporaryDirectory() as scratch:
        root = Path(scratch)
        cold = [
            timed(
                lambda n=n: HelpdeskServer(root / f"cold{n}", free_port(), cache_dir=root / f"c{n}")
            )
            for n in range(runs)
        ]
        warm = [
            timed(lambda n=n: HelpdeskServer(root / f"warm{n}", free_port(), cache_dir=root / "c0"))
            for n in range(runs)
        ]
        again = [
            timed(lambda: HelpdeskServer(root / "warm0", free_port(), cache_dir=root / "c0"))
            for _ in range(runs)
        ]
    base = statistics.median(cold)
    print(f"{'start-up to first API 200':32} {'median s':>9} {'× baseline':>11}")
    for label, values in (
        ("migrate from scratch (baseline)", cold),
        ("copy cached template", warm),
        ("restart existing data folder", again),
    ):
        median = statistics.median(values)
        print(f"{label:32} {median:9.2f} {median / base:11.2f}")


if __name__ == "__main__":
    main()
