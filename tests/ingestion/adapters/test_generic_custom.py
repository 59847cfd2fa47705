"""A team's own REST ticketing system, connected with a mapping file and no Python.

"Issues" is a small ticketing API served by uvicorn on loopback: text ids (``ISS-7``), basic
auth, an ``Idempotency-Key`` header, states in capitals, a "modified since" filter, notes whose
audience is ``customer`` or ``team``. The adapter contract suite runs against it through the
mapping below, and the tests after it check what only this kind of system exercises.
"""

from __future__ import annotations

import datetime as dt
import itertools
import secrets
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from fastapi import Depends, FastAPI, Header, HTTPException
from fastapi.security import HTTPBasic, HTTPBasicCredentials

from ingestion.adapters.generic import GenericAdapter
from ingestion.adapters.mappings import Mapping, MappingInvalid, load_mapping
from ingestion.errors import TicketingRejected
from tests.ingestion.adapters.contract import AdapterContract, new_ticket
from tests.support.loopback import free_port, serve

MAPPING = """
name: issues
source: issues
api_root: api/v1/
auth: {scheme: basic}
variables: {bot: caseloop-bot}
statuses: {OPEN: open, AGAIN: reopened, WAITING: pending, DONE: resolved, CLOSED: closed,
           DUPLICATE: duplicate, GONE: deleted}
ticket:
  get: {path: "issues/{id}"}
  id: key
  title: subject
  status: state
  updated_at: modified
  customer_email: requester
  url: "{base_url}/issues/{id}"
  conversation: {path: conversation}
comments:
  items: notes
  id: nid
  body: text
  created_at: at
  author: by
  visibility: {path: audience, public: [customer]}
  role_when: [{path: by, equals: "{bot}", role: bot}]
list:
  request: {path: issues, params: {modified_since: "{since}", page: "{page}"}}
  items: data
  next: more
  since_format: "%Y-%m-%dT%H:%M:%S.%f+00:00"
  server_side_since: true
create:
  request:
    method: POST
    path: issues
    body: {subject: "{title}", text: "{body}", requester: "{customer_email}",
           conversation: "{conversation}"}
  id: key
  idempotency_header: Idempotency-Key
comment:
  public: {method: POST, path: "issues/{id}/notes", body: {text: "{body}", audience: customer}}
  internal: {method: POST, path: "issues/{id}/notes", body: {text: "{body}", audience: team}}
  id: nid
status:
  request: {method: PATCH, path: "issues/{id}", body: {state: "{status}"}}
  values: {open: OPEN, reopened: AGAIN, pending: WAITING, resolved: DONE, closed: CLOSED,
           duplicate: DUPLICATE, deleted: GONE}
find:
  strategy: query
  request: {path: issues, params: {conversation: "{conversation}"}}
  items: data
"""
USER, PASSWORD = "caseloop-bot", "issues-password"
PAGE = 3


def issues_app() -> FastAPI:
    """The team's system: in memory, one lock, real HTTP semantics."""
    app = FastAPI()
    issues: dict[str, dict[str, Any]] = {}
    by_key: dict[str, str] = {}
    counter = itertools.count(1)
    lock = threading.Lock()

    def user(credentials: HTTPBasicCredentials = Depends(HTTPBasic())) -> str:  # noqa: B008
        ok = secrets.compare_digest(credentials.password, PASSWORD)
        if credentials.username != USER or not ok:
            raise HTTPException(401, "bad credentials")
        return credentials.username

    def now() -> str:
        return dt.datetime.now(dt.UTC).isoformat()

    def issue(key: str) -> dict[str, Any]:
        if key not in issues:
            raise HTTPException(404, f"no issue {key}")
        return issues[key]

    @app.post("/api/v1/issues", status_code=201)
    def create(
        body: dict[str, Any], by: str = Depends(user), key: str = Header(alias="Idempotency-Key")
    ) -> dict[str, Any]:
        with lock:
            if key in by_key:
                return issues[by_key[key]]
            new = {**body, "key": f"ISS-{next(counter)}", "state": "OPEN", "modified": now()}
            new["notes"] = []
            issues[new["key"]] = new
            by_key[key] = new["key"]
            return new

    @app.get("/api/v1/issues/{key}")
    def read(key: str, by: str = Depends(user)) -> dict[str, Any]:
        return issue(key)

    @app.get("/api/v1/issues")
    def listing(
        by: str = Depends(user),
        modified_since: str | None = None,
        conversation: str | None = None,
        page: int = 1,
    ) -> dict[str, Any]:
        rows = [
            i
            for i in issues.values()
            if (conversation is None or i["conversation"] == conversation)
            and (modified_since is None or i["modified"] >= modified_since)
        ]
        chunk = rows[(page - 1) * PAGE : page * PAGE]
        return {"data": chunk, "more": page * PAGE < len(rows)}

    @app.post("/api/v1/issues/{key}/notes", status_code=201)
    def note(key: str, body: dict[str, Any], by: str = Depends(user)) -> dict[str, Any]:
        with lock:
            target = issue(key)
            stamp = now()
            made = {**body, "nid": f"N-{next(counter)}", "by": by, "at": stamp}
            target["notes"].append(made)
            target["modified"] = stamp
            return made

    @app.patch("/api/v1/issues/{key}")
    def change(key: str, body: dict[str, Any], by: str = Depends(user)) -> dict[str, Any]:
        with lock:
            target = issue(key)
            target["state"], target["modified"] = body["state"], now()
            return target

    return app


@pytest.fixture(scope="module")
def issues_url() -> Iterator[str]:
    with serve(issues_app()) as url:
        yield url


@pytest.fixture
def mapping_file(tmp_path: Path) -> Path:
    path = tmp_path / "issues.yaml"
    path.write_text(MAPPING, encoding="utf-8")
    return path


class TestGenericOnACustomSystem(AdapterContract):
    @pytest.fixture
    def adapter(self, issues_url: str, mapping_file: Path) -> Iterator[GenericAdapter]:
        adapter = GenericAdapter(
            load_mapping(mapping_file), issues_url, username=USER, secret=PASSWORD
        )
        yield adapter
        adapter.close()

    @pytest.fixture
    def unreachable_adapter(self, mapping_file: Path) -> Iterator[GenericAdapter]:
        url = f"http://127.0.0.1:{free_port()}"
        adapter = GenericAdapter(load_mapping(mapping_file), url, username=USER, secret="x")
        yield adapter
        adapter.close()


def test_the_idempotency_key_makes_a_retried_create_return_the_same_issue(
    issues_url: str, mapping_file: Path
) -> None:
    adapter = GenericAdapter(load_mapping(mapping_file), issues_url, username=USER, secret=PASSWORD)
    assert adapter.capabilities.idempotency_key_header
    wanted = new_ticket()
    first = adapter.create_ticket(wanted)
    again = adapter.create_ticket(wanted)
    assert first.id == again.id
    assert first.id.startswith("ISS-")
    adapter.close()


def test_roles_come_from_the_mapping(issues_url: str, mapping_file: Path) -> None:
    adapter = GenericAdapter(load_mapping(mapping_file), issues_url, username=USER, secret=PASSWORD)
    created = adapter.create_ticket(new_ticket())
    adapter.add_comment(created.id, "sent by the bot", public=True)
    (comment,) = adapter.get_ticket(created.id).comments
    assert (comment.author, comment.author_role, comment.visibility) == (
        USER,
        "bot",
        "public",
    )
    adapter.close()


def test_wrong_credentials_are_rejected(issues_url: str, mapping_file: Path) -> None:
    adapter = GenericAdapter(load_mapping(mapping_file), issues_url, username=USER, secret="no")
    with pytest.raises(TicketingRejected, match="401"):
        adapter.get_ticket("ISS-1")
    adapter.close()


def test_a_wrong_path_or_an_unmapped_status_names_the_mapping_key(
    issues_url: str, tmp_path: Path
) -> None:
    good = GenericAdapter(
        load_mapping_text(tmp_path, MAPPING), issues_url, username=USER, secret=PASSWORD
    )
    created = good.create_ticket(new_ticket())
    good.set_status(created.id, "pending")
    good.close()
    wrong_path = MAPPING.replace("  title: subject\n", "  title: headline\n")
    adapter = GenericAdapter(
        load_mapping_text(tmp_path, wrong_path), issues_url, username=USER, secret=PASSWORD
    )
    with pytest.raises(TicketingRejected, match=r"ticket\.title names path 'headline'"):
        adapter.get_ticket(created.id)
    adapter.close()
    unmapped = MAPPING.replace(" WAITING: pending,", "")
    adapter = GenericAdapter(
        load_mapping_text(tmp_path, unmapped), issues_url, username=USER, secret=PASSWORD
    )
    with pytest.raises(TicketingRejected, match="status 'WAITING' is not mapped"):
        adapter.get_ticket(created.id)
    adapter.close()


def test_an_auth_template_may_hold_only_the_secret(tmp_path: Path) -> None:
    text = MAPPING.replace("auth: {scheme: basic}", 'auth: {template: "Bearer {token}"}')
    with pytest.raises(MappingInvalid, match=r"auth\.template: .*only the \{secret\}"):
        load_mapping_text(tmp_path, text)


def load_mapping_text(tmp_path: Path, text: str) -> Mapping:
    path = tmp_path / f"mapping-{len(list(tmp_path.iterdir()))}.yaml"
    path.write_text(text, encoding="utf-8")
    return load_mapping(path)
