"""The demo's own parts without the running stack: sample, schedule, drop, ledger, report, ports."""

from __future__ import annotations

import gzip
import json
import socket
from pathlib import Path

import pytest

from evaluation.drop import escalation_drop
from flows.demo.errors import DemoError, PortInUse
from flows.demo.ledger import Ledger, Outcome
from flows.demo.report import RunFacts, write_report
from flows.demo.sample import SAMPLE_PATH, load_sample
from flows.demo.stack import ensure_free


def test_bundled_sample_is_complete_and_licensed() -> None:
    sample = load_sample()
    assert sample.days == 6
    assert all(len(sample.day(day)) == 80 for day in range(1, 7))
    assert len(sample.calibration) == 80
    ids = [c.id for c in sample.conversations + sample.calibration]
    assert len(ids) == len(set(ids)), "a row is used twice"
    # Calibration questions include problems never seen as conversations (right action: escalate).
    seen = {c.intent for c in sample.conversations}
    assert {c.intent for c in sample.calibration} - seen
    assert sum(1 for c in sample.conversations if c.internal_note) > 50
    # django-helpdesk renders follow-up text as a Django template: no template syntax may remain.
    texts = [t for c in sample.conversations for t in (c.message, c.reply, c.internal_note or "")]
    assert not [t for t in texts if "{{" in t or "{%" in t or "{#" in t]
    licence = (SAMPLE_PATH.parent / "LICENSE.txt").read_text()
    assert "Community Data License Agreement" in licence
    assert "Sharing" in licence
    assert "CDLA-Sharing-1.0" in (SAMPLE_PATH.parent / "ATTRIBUTION.md").read_text()


def test_schedule_takes_the_first_conversations_of_each_day_in_time_order() -> None:
    days = load_sample().schedule(3, 5)
    assert [len(day) for day in days] == [5, 5, 5]
    assert [{c.day for c in day} for day in days] == [{1}, {2}, {3}]
    assert all([c.minute for c in day] == sorted(c.minute for c in day) for day in days)


@pytest.mark.parametrize(
    ("days", "per_day", "message"),
    [(1, 5, "--days: at least 2"), (7, 5, "--days: the sample holds 6"), (2, 81, "holds 80")],
)
def test_schedule_refuses_what_the_sample_cannot_give(
    days: int, per_day: int, message: str
) -> None:
    with pytest.raises(DemoError, match=message):
        load_sample().schedule(days, per_day)


def test_a_broken_sample_line_is_refused_with_its_number_and_field(tmp_path: Path) -> None:
    with gzip.open(SAMPLE_PATH, "rt") as handle:
        good = json.loads(handle.readline())
    bad = {**good, "split": "training"}
    path = tmp_path / "sample.jsonl.gz"
    with gzip.open(path, "wt") as handle:
        handle.write(json.dumps(good) + "\n" + json.dumps(bad) + "\n")
    with pytest.raises(DemoError, match=r"line 2: split: "):
        load_sample(path)


def _outcome(sid: str, day: int, action: str, **extra: object) -> Outcome:
    return Outcome(sid, sid, day, "track_order", action, **extra)  # type: ignore[arg-type]


def test_ledger_counts_answers_replies_and_leaked_notes() -> None:
    ledger = Ledger()
    ledger.record(_outcome("a", 1, "escalated", replies=["hello"], note_sent="secret audit"))
    ledger.record(_outcome("b", 2, "answered", served_intent="track_order"))
    ledger.record(_outcome("c", 2, "answered", served_intent="cancel_order"))
    ledger.record(_outcome("d", 2, "escalated", replies=["hi", "secret audit"]))
    ledger.tickets_by_day = {1: {"1"}, 2: {"2"}}
    ledger.learned_by_day = {1: 1}
    one, two = ledger.table()
    assert (one.escalations, one.replies_forwarded, one.notes_forwarded, one.cases_learned) == (
        1,
        1,
        0,
        1,
    )
    assert (two.answered_right, two.answered_wrong, two.escalations, two.tickets_created) == (
        1,
        1,
        1,
        1,
    )
    assert (two.replies_forwarded, two.notes_forwarded) == (1, 1)


def test_report_has_the_table_the_drop_and_a_png(tmp_path: Path) -> None:
    ledger = Ledger()
    for i in range(4):
        ledger.record(_outcome(f"x{i}", 1, "escalated", replies=["r"]))
        ledger.record(
            _outcome(f"y{i}", 2, "answered" if i else "escalated", served_intent="track_order")
        )
    table = ledger.table()
    drop = escalation_drop([True] * 4, [True, False, False, False])
    facts = RunFacts(
        2, 4, "fitted on held-out rows", {"min_score": 0.5}, "http://h", "http://s", "flow", 1.0
    )
    path = write_report(tmp_path / "out", table, drop, facts)
    text = path.read_text()
    assert "| 1 | 4 | 0 | 0 | 4 |" in text
    assert "escalation drop, first day → last day: 75%" in text
    assert "fitted on held-out rows" in text
    png = (tmp_path / "out" / "escalations.png").read_bytes()
    assert png.startswith(b"\x89PNG")


def test_a_taken_port_is_reported_with_the_option_to_change_it() -> None:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        sock.listen()
        port = sock.getsockname()[1]
        with pytest.raises(PortInUse, match=f"port {port} .* --service-port"):
            ensure_free(port, "the caseloop service", "--service-port")


def test_public_api_is_small_and_sorted() -> None:
    import flows.demo

    assert flows.demo.__all__ == sorted(flows.demo.__all__)
    assert set(flows.demo.__all__) == {
        "DemoError",
        "DemoOptions",
        "DemoResult",
        "InvariantBroken",
        "PortInUse",
        "run_demo",
    }


def test_the_state_folder_is_emptied_only_when_a_demo_made_it(tmp_path: Path) -> None:
    from flows.demo.simulation import fresh_dir

    state = fresh_dir(tmp_path / "state")
    (state / "old.db").write_text("yesterday")
    assert list(fresh_dir(state).iterdir()) == [state / ".caseloop-demo"]
    older = tmp_path / "older"  # a state folder from before the marker existed
    (older / "helpdesk").mkdir(parents=True)
    (older / "caseloop.db-wal").write_text("")
    assert list(fresh_dir(older).iterdir()) == [older / ".caseloop-demo"]
    precious = tmp_path / "home"
    precious.mkdir()
    (precious / "thesis.tex").write_text("years of work")
    with pytest.raises(DemoError, match=r"--state-dir: .* not made by `caseloop demo`"):
        fresh_dir(precious)
    assert (precious / "thesis.tex").exists()
