"""The README's orchestrator example runs as written, against a real index and a real service."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

import retrieval
from ingestion import get_escalation
from ingestion.escalations import escalation_key
from ingestion.http import create_app
from ingestion.keys import create_key
from ingestion.settings import IngestionSettings
from ingestion.store import Store
from tests.support.loopback import serve

README = (Path(__file__).resolve().parents[1] / "README.md").read_text(encoding="utf-8")


def orchestrator_example() -> str:
    section = README.split("## The orchestrator's side", 1)[1]
    match = re.search(r"```python\n(.*?)```", section, flags=re.DOTALL)
    assert match, "the README has no orchestrator example"
    return match.group(1)


def test_example_is_about_ten_lines() -> None:
    code = [line for line in orchestrator_example().splitlines() if line.strip()]
    assert len(code) <= 14


def test_orchestrator_example_answers_and_escalates(
    tmp_path: Path, sqlite_store: Store, monkeypatch: pytest.MonkeyPatch
) -> None:
    index_dir = tmp_path / "index"
    writer = retrieval.open_index(str(index_dir))
    writer.upsert(
        [
            retrieval.CaseDocument(
                case_id="T-1",
                text="My refund never arrived after I returned the shoes",
                summary="Refunds take 5 business days; we re-issued it to the original card.",
                tags=["refund"],
                metadata={"tenant": "acme"},
            )
        ]
    )
    writer.close()
    key, _ = create_key(sqlite_store, tenant="acme", scopes=["escalate"])
    monkeypatch.setenv("CASELOOP_API_KEY", key)
    with serve(create_app(IngestionSettings(), sqlite_store)) as url:
        code = orchestrator_example()
        code = code.replace('".caseloop/index"', repr(str(index_dir)))
        code = code.replace('"http://127.0.0.1:8700"', repr(url))
        namespace: dict[str, object] = {}
        exec(compile(code, "README.md", "exec"), namespace)
        handle = namespace["handle"]
        assert callable(handle)
        answer = handle("s-1", "e-1", "My refund never arrived after I returned the shoes")
        assert answer.startswith("Refunds take 5 business days")
        reply = handle("s-2", "e-1", "Can your drone deliver pizza to the lighthouse tonight?")
        assert reply == "A colleague will answer here shortly."
    view = get_escalation(sqlite_store, escalation_key("s-2", "e-1", "acme"))
    assert view.session_id == "s-2"
    assert view.state == "pending"  # no relay runs here: the escalation waits in the outbox
