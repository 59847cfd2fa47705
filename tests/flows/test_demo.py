"""A small demo end to end against the real components, then its invariants checked from outside.

Real django-helpdesk (subprocess), real caseloop service (uvicorn on loopback), real relay and
inbox worker, the real learning flow and an embedded Qdrant index: nothing is mocked. The checks
read the demo's store and the helpdesk's own API, not the demo's ledger.
"""

from __future__ import annotations

import io
import json
import re
import threading
import time
from collections import Counter
from pathlib import Path

import pytest
from rich.console import Console
from sqlalchemy import select
from typer.testing import CliRunner

from flows.cli import app
from flows.demo import DemoOptions, run_demo
from flows.demo.sample import load_sample
from flows.demo.simulation import session_id
from flows.demo.stack import ensure_free
from ingestion.adapters import HelpdeskAdapter
from ingestion.schema import (
    Escalation,
    OutgoingMessage,
    SessionOutcome,
    Ticket,
    TicketComment,
)
from ingestion.store import open_store
from tests.support.loopback import free_port

DAYS, PER_DAY = 2, 14


@pytest.mark.helpdesk
@pytest.mark.usefixtures("prefect_harness")
def test_small_demo_end_to_end(tmp_path: Path) -> None:
    options = DemoOptions(
        days=DAYS,
        conversations=PER_DAY,
        state_dir=tmp_path / "state",
        report_dir=tmp_path / "report",
        helpdesk_port=free_port(),
        service_port=free_port(),
    )
    output = io.StringIO()
    result = run_demo(options, Console(file=output, width=200))
    printed = output.getvalue()

    first, last = result.table[0], result.table[-1]
    assert [row.conversations for row in result.table] == [PER_DAY] * DAYS
    assert first.escalations == PER_DAY, "nothing is learned before the first night"
    assert last.escalations < first.escalations
    assert first.cases_learned > 0
    assert all(row.notes_forwarded == 0 for row in result.table)
    assert result.problems == []

    sample = {session_id(c): c for day in load_sample().schedule(DAYS, PER_DAY) for c in day}
    store = open_store(f"sqlite:///{options.state_dir / 'caseloop.db'}", migrate=False)
    try:
        with store.transaction() as tx:
            escalated = Counter(tx.scalars(select(Escalation.session_id)).all())
            tickets = Counter(tx.scalars(select(Ticket.session_id)).all())
            outcomes = Counter(tx.scalars(select(SessionOutcome.outcome)).all())
            messages = tx.execute(
                select(
                    OutgoingMessage.session_id, OutgoingMessage.body, TicketComment.visibility
                ).join(TicketComment, TicketComment.id == OutgoingMessage.comment_id)
            ).all()
    finally:
        store.dispose()
    # Tickets = escalations, conversation by conversation.
    assert tickets == escalated
    assert set(escalated.values()) == {1}
    assert sum(escalated.values()) == sum(row.escalations for row in result.table)
    # The chatbot reported every session's outcome, as an orchestrator would.
    assert outcomes["escalated"] == sum(escalated.values())
    assert sum(outcomes.values()) == DAYS * PER_DAY
    assert result.online["sessions with a reported outcome"] == str(DAYS * PER_DAY)
    # Every agent's public reply forwarded exactly once; nothing internal forwarded.
    assert all(visibility == "public" for _, _, visibility in messages)
    forwarded = Counter(session for session, _, _ in messages)
    assert forwarded == escalated
    for session, body, _ in messages:
        conversation = sample[session]
        assert " ".join(body.split()) == " ".join(conversation.reply.split())
        assert conversation.internal_note is None or conversation.internal_note not in body
    assert any(sample[s].internal_note for s in escalated), "no internal note was exercised"

    # The demo printed its table and wrote its report; its servers are gone.
    assert "escalation drop, first day → last day" in printed
    assert (options.report_dir / "report.md").read_text().count("\n| ") >= DAYS + 1
    assert (options.report_dir / "escalations.png").read_bytes().startswith(b"\x89PNG")
    ensure_free(options.helpdesk_port, "helpdesk", "-")
    ensure_free(options.service_port, "service", "-")


@pytest.mark.helpdesk
@pytest.mark.usefixtures("prefect_harness")
def test_keep_running_forwards_a_person_s_public_reply_and_not_the_note(tmp_path: Path) -> None:
    options = DemoOptions(
        days=2,
        conversations=4,
        state_dir=tmp_path / "state",
        report_dir=tmp_path / "report",
        helpdesk_port=free_port(),
        service_port=free_port(),
        keep_running=True,
    )
    output = io.StringIO()
    stop = threading.Event()
    errors: list[BaseException] = []

    def run() -> None:
        try:
            run_demo(options, Console(file=output, width=400), stop=stop)
        except BaseException as exc:
            errors.append(exc)

    thread = threading.Thread(target=run)
    thread.start()
    try:
        waiting = _wait_for(output, r"A customer is waiting in ticket (\d+)", thread)
        assert f"http://127.0.0.1:{options.helpdesk_port}/helpdesk/" in output.getvalue()
        assert re.search(r"login \S+ / \S+", output.getvalue())
        # A person answers in the helpdesk: an internal note first, then a public reply.
        credentials = json.loads((options.state_dir / "helpdesk" / "credentials.json").read_text())
        person = HelpdeskAdapter(
            f"http://127.0.0.1:{options.helpdesk_port}",
            credentials["token"],
            queue=credentials["queue_id"],
        )
        person.add_comment(waiting, "NOTE-ONLY-FOR-AGENTS 7731", public=False)
        person.add_comment(waiting, "Hello from a real person, reply 4410.", public=True)
        person.close()
        _wait_for(
            output, r"reply reached the customer: Hello from a real person, reply 4410", thread
        )
        time.sleep(2.5)  # two more polls: the note must not follow
        assert "NOTE-ONLY-FOR-AGENTS" not in output.getvalue()
    finally:
        stop.set()
        thread.join(timeout=60)
    assert not thread.is_alive()
    assert errors == []
    ensure_free(options.helpdesk_port, "helpdesk", "-")
    ensure_free(options.service_port, "service", "-")


def _wait_for(output: io.StringIO, pattern: str, thread: threading.Thread) -> str:
    deadline = time.monotonic() + 240
    while time.monotonic() < deadline:
        found = re.search(pattern, output.getvalue())
        if found:
            return found.group(1) if found.groups() else found.group(0)
        assert thread.is_alive(), output.getvalue()[-2000:]
        time.sleep(0.2)
    raise AssertionError(f"no {pattern!r} in the demo's output:\n{output.getvalue()[-2000:]}")


def test_cli_reports_a_taken_port_and_leaves_the_state_alone(tmp_path: Path) -> None:
    import socket

    state = tmp_path / "state"
    state.mkdir()
    (state / ".caseloop-demo").write_text("")
    (state / "keep.txt").write_text("a running demo's file")
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        sock.listen()
        port = sock.getsockname()[1]
        result = CliRunner().invoke(
            app,
            [
                *("demo", "--service-port", str(port), "--helpdesk-port", str(free_port())),
                *("--state-dir", str(state)),
            ],
        )
    assert result.exit_code == 1
    assert f"port {port} on 127.0.0.1 is in use" in result.output
    assert "--service-port" in result.output
    assert (state / "keep.txt").exists()


def test_cli_refuses_more_days_than_the_sample_holds() -> None:
    result = CliRunner().invoke(app, ["demo", "--days", "9"])
    assert result.exit_code == 2
    assert "--days" in result.output
