"""The helpdesk's database: a migrated template built once, copied and re-keyed per instance.

Migrating django-helpdesk (67 migrations) and bootstrapping its admin costs seconds, so the
launcher does it once per *cache key* (the versions of Django, django-helpdesk and DRF and the
text of our project files) into ``<cache_dir>/template-<key>.sqlite3``. A new instance copies that
file and then, with plain SQLite statements, gives its admin a fresh random password and API
token, so no two instances share credentials.
"""

from __future__ import annotations

import base64
import hashlib
import importlib.metadata
import json
import os
import secrets
import shutil
import sqlite3
import subprocess
import sys
import tempfile
from dataclasses import asdict, dataclass
from pathlib import Path

from flows.helpdesk.errors import HelpdeskServerError
from flows.helpdesk.project.bootstrap import ADMIN_USERNAME

PROJECT_DIR = Path(__file__).parent / "project"
DATABASE_NAME = "helpdesk.sqlite3"
CREDENTIALS_NAME = "credentials.json"
# The password is 144 random bits, so a slow hash adds no safety here: Django's default work
# factor (1,000,000 rounds, ~0.7 s on a loaded core) would be most of a warm start. Django
# accepts the hash as it is and upgrades it to its own work factor at the first login.
PBKDF2_ITERATIONS = 1_000


@dataclass(frozen=True, slots=True)
class Credentials:
    """The admin account, token and queue of one helpdesk instance."""

    username: str
    password: str
    token: str
    user_id: int
    queue_id: int


def default_cache_dir() -> Path:
    """Where templates are cached across runs (``$XDG_CACHE_HOME/caseloop/helpdesk``)."""
    base = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(base) / "caseloop" / "helpdesk"


def cache_key() -> str:
    """A digest of everything that shapes the migrated schema and the bootstrap rows."""
    digest = hashlib.sha256()
    for dist in ("django", "django-helpdesk", "djangorestframework"):
        digest.update(f"{dist}={importlib.metadata.version(dist)};".encode())
    for path in sorted(PROJECT_DIR.glob("*.py")):
        digest.update(path.read_bytes())
    return digest.hexdigest()[:16]


def child_environment(data_dir: Path, extra: dict[str, str] | None = None) -> dict[str, str]:
    """The environment of a helpdesk subprocess serving ``data_dir``."""
    env = dict(os.environ)
    env.update(extra or {})
    env["DJANGO_SETTINGS_MODULE"] = "flows.helpdesk.project.settings"
    env["CASELOOP_HELPDESK_DATA_DIR"] = str(data_dir)
    env.setdefault("PYTHONUNBUFFERED", "1")
    return env


def ensure_template(cache_dir: Path) -> tuple[Path, dict[str, int]]:
    """The template database for the current cache key, built now if missing."""
    cache_dir.mkdir(parents=True, exist_ok=True)
    key = cache_key()
    database = cache_dir / f"template-{key}.sqlite3"
    ids_file = cache_dir / f"template-{key}.json"
    if database.exists() and ids_file.exists():
        return database, json.loads(ids_file.read_text())
    # Build in a private folder and move into place atomically: parallel builders cannot
    # leave a half-migrated template behind.
    with tempfile.TemporaryDirectory(dir=cache_dir) as scratch:
        proc = subprocess.run(
            [sys.executable, "-m", "flows.helpdesk.project.bootstrap"],
            env=child_environment(Path(scratch)),
            capture_output=True,
            text=True,
            timeout=300,
            check=False,
        )
        if proc.returncode != 0:
            raise HelpdeskServerError(f"migrating the helpdesk template failed:\n{proc.stderr}")
        ids = json.loads(proc.stdout.strip().splitlines()[-1])
        ids_scratch = Path(scratch) / "ids.json"
        ids_scratch.write_text(json.dumps({k: ids[k] for k in ("user_id", "queue_id")}))
        os.replace(Path(scratch) / DATABASE_NAME, database)
        os.replace(ids_scratch, ids_file)
    return database, json.loads(ids_file.read_text())


def django_password_hash(password: str) -> str:
    """A ``pbkdf2_sha256`` hash in the format Django's default hasher stores."""
    salt = secrets.token_hex(11)
    raw = hashlib.pbkdf2_hmac("sha256", password.encode(), salt.encode(), PBKDF2_ITERATIONS)
    return f"pbkdf2_sha256${PBKDF2_ITERATIONS}${salt}${base64.b64encode(raw).decode()}"


def provision(data_dir: Path, cache_dir: Path) -> Credentials:
    """Give ``data_dir`` a database and credentials, reusing both if it already has them."""
    data_dir.mkdir(parents=True, exist_ok=True)
    database = data_dir / DATABASE_NAME
    credentials_file = data_dir / CREDENTIALS_NAME
    if database.exists() and credentials_file.exists():
        return Credentials(**json.loads(credentials_file.read_text()))
    if database.exists():
        # Never overwrite a database that may hold tickets just because its key file is gone.
        raise HelpdeskServerError(
            f"{data_dir} holds a helpdesk database but no {CREDENTIALS_NAME}: restore that "
            "file, or remove the folder to start from an empty helpdesk"
        )
    template, ids = ensure_template(cache_dir)
    scratch = data_dir / f".{DATABASE_NAME}.new"
    shutil.copyfile(template, scratch)
    credentials = Credentials(
        username=ADMIN_USERNAME,
        password=secrets.token_urlsafe(18),
        token=secrets.token_hex(20),
        user_id=ids["user_id"],
        queue_id=ids["queue_id"],
    )
    with sqlite3.connect(scratch) as conn:
        conn.execute(
            "UPDATE auth_user SET password = ? WHERE id = ?",
            (django_password_hash(credentials.password), credentials.user_id),
        )
        conn.execute(
            "UPDATE authtoken_token SET key = ? WHERE user_id = ?",
            (credentials.token, credentials.user_id),
        )
    conn.close()
    os.replace(scratch, database)
    credentials_file.write_text(json.dumps(asdict(credentials)))
    credentials_file.chmod(0o600)
    return credentials
