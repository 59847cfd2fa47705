"""Regenerate migration 0001 from `ingestion/schema.py` (allowed until the first release).

Usage: .venv/bin/python scripts/regenerate_initial_migration.py
After the first release, add new revisions with Alembic instead of rewriting this one.
"""

from __future__ import annotations

import subprocess
import sys
import tempfile
from pathlib import Path

from alembic import command
from alembic.config import Config
from sqlalchemy import create_engine

from ingestion.store import MIGRATIONS

target = MIGRATIONS / "versions" / "0001_initial_store.py"
target.unlink(missing_ok=True)
with tempfile.TemporaryDirectory() as tmp:
    engine = create_engine(f"sqlite:///{Path(tmp) / 'empty.db'}")
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS))
    config.attributes["engine"] = engine
    command.revision(config, message="initial store", autogenerate=True, rev_id="0001")
subprocess.run([sys.executable, "-m", "ruff", "format", "-q", str(target)], check=True)
subprocess.run([sys.executable, "-m", "ruff", "check", "--fix", "-q", str(target)], check=False)
print(f"wrote {target}")
