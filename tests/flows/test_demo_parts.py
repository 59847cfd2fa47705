"""The demo's own parts without the running stack: sample, schedule, drop, ledger, report, ports."""

from __future__ import annotations

import gzip
import json
import secrets
import socket
from pathlib import Path

import pytest
from matplotlib.backends.backend_agg import FigureCanvasAgg

from evaluation.drop import escalation_drop
from flows.demo.display import handover
from flows.demo.errors import DemoError, PortInUse
from flows.demo.ledger import Ledger, Outcome
from flows.demo.report import RunFacts, days_figure, write_report
from flows.demo.sample import SAMPLE_PATH, load_sample
from flows.demo.stack import Ports, ensure_free


def test_bundled_sample_is_complete_and_licensed() -> None:
    sample = load_sample()
    assert sample.days == 6
    assert all(len(sample.day(day)) == 80 for day in range(1, 7))
    assert len(sample.calibration) == 360
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


def test_the_plot_gives_counts_and_rates_their_own_axes_and_a_legend_off_the_bars() -> None:
    ledger = Ledger()
    for day, escalated in ((1, 30), (2, 12), (3, 4)):
        for i in range(40):
            kind = "escalated" if i < escalated else "answered"
            ledger.record(_outcome(f"d{day}-{i}", day, kind, served_intent="track_order"))
    table = ledger.table()
    figure = days_figure(table)
    FigureCanvasAgg(figure).draw()
    counts, rates = figure.axes  # two panels, no twin axis laid over the bars
    assert counts.get_ylabel() == "conversations"
    assert counts.get_ylim()[0] == 0
    assert counts.get_ylim()[1] >= 40
    assert rates.get_ylabel() == "escalation rate"
    assert rates.get_ylim() == (0, 1)
    assert rates.yaxis.get_major_formatter()(0.5, 0) == "50%"
    assert [round(y, 3) for y in rates.lines[0].get_ydata()] == [0.75, 0.3, 0.1]
    legend = counts.get_legend()
    labels = [text.get_text() for text in legend.get_texts()]
    assert labels == ["escalated to an agent", "bot answered, right", "bot answered, wrong"]
    renderer = figure.canvas.get_renderer()
    legend_box = legend.get_window_extent(renderer)
    assert not legend_box.overlaps(counts.get_window_extent(renderer))  # outside the bars
    assert legend_box.y0 >= counts.get_window_extent(renderer).y1
    assert legend_box.x1 <= figure.bbox.x1  # and inside the picture


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


@pytest.mark.parametrize(
    ("helpdesk", "service", "message"),
    [
        (99999, 8700, "--helpdesk-port 99999 is not a port: choose one from 1 to 65535"),
        (8801, 0, "--service-port 0 is not a port: choose one from 1 to 65535"),
        (-1, 8700, "--helpdesk-port -1 is not a port"),
        (8700, 8700, "--helpdesk-port and --service-port are both 8700: the helpdesk and"),
    ],
)
def test_impossible_ports_are_refused_before_anything_starts(
    helpdesk: int, service: int, message: str
) -> None:
    with pytest.raises(DemoError) as refused:
        Ports(helpdesk=helpdesk, service=service)
    assert str(refused.value).startswith(message)
    assert "\n" not in str(refused.value)


def test_the_login_lines_fit_an_80_column_terminal() -> None:
    from flows.helpdesk.project.bootstrap import ADMIN_USERNAME

    password = secrets.token_urlsafe(18)  # what the helpdesk launcher generates
    lines = handover(
        "http://127.0.0.1:65535/helpdesk/", ADMIN_USERNAME, password, "http://127.0.0.1:65534"
    )
    assert max(len(line) for line in lines) <= 80
    assert f"  login {ADMIN_USERNAME} / {password}" in lines
