"""A reader process for the many-readers test: searches in a loop and reports what it sees.

Usage: python reader_process.py INDEX_FOLDER MODEL_DIR STOP_FILE. Prints one JSON line per
search ({"t": seconds, "ids": [...], "generation": ...}) or {"error": ...}, until STOP_FILE exists.
"""

from __future__ import annotations

import json
import sys
import time
from pathlib import Path

import retrieval


def main() -> None:
    folder, model_dir, stop = sys.argv[1], Path(sys.argv[2]), Path(sys.argv[3])
    settings = retrieval.RetrievalSettings(
        model_dir=model_dir, filter_keys=["tenant", "product"], reload_interval=0.2
    )
    index = retrieval.open_index(folder, settings=settings, create=False)
    while not stop.exists():
        try:
            hits = index.search("refund for my returned shoes or gift card", k=10)
            line = {
                "t": time.time(),
                "ids": sorted(h.case_id for h in hits),
                "generation": getattr(index.engine, "generation", None),
            }
        except retrieval.RetrievalError as exc:
            line = {"t": time.time(), "error": f"{type(exc).__name__}: {exc}"}
        print(json.dumps(line), flush=True)
        time.sleep(0.05)
    index.close()


if __name__ == "__main__":
    main()
