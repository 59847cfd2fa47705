"""`learn` on SQLite and PostgreSQL with the real applier and a real embedded index."""

from __future__ import annotations

import threading
from collections.abc import Callable, Sequence

import pytest
from sqlalchemy import select

import retrieval
from ingestion.cases import build_summariser, learn
from ingestion.schema import CaseSummary, TagVocabulary
from ingestion.settings import IngestionSettings
from ingestion.store import Store
from tests.ingestion.cases.counting import CountingIndex
from tests.ingestion.cases.world import World

SETTINGS = IngestionSettings()
RESET = (
    "Go to Settings > Security and choose Reset password. The reset e-mail comes from "
    "noreply and can land in the spam folder; the link is valid for 24 hours."
)
REFUND = (
    "Refunds go back to the original payment method. The refund was issued today and "
    "takes 5 to 7 business days to appear on the card statement."
)


def _rows(store: Store) -> list[CaseSummary]:
    with store.transaction() as tx:
        return list(
            tx.scalars(select(CaseSummary).order_by(CaseSummary.case_id, CaseSummary.version))
        )


def _world(store: Store) -> World:
    world = World(store)
    world.escalate("1", "I cannot reset my password, the reset mail never arrives")
    world.resolve("1", RESET)
    world.escalate("2", "Where is my refund for order 1234? It has been a week", intent="refund")
    world.resolve("2", REFUND)
    world.escalate("3", "The app crashes on start", intent="app_crash")  # still open
    world.escalate("4", "Please close my account", intent="close_account")
    world.comment("4", "Closing as requested.", public=False)  # internal only
    world.set_status("4", "resolved")
    return world


def test_resolved_tickets_with_a_public_agent_answer_become_cases(
    store: Store, index: CountingIndex
) -> None:
    _world(store)
    report = learn(store, None, index, SETTINGS)
    assert sorted(o.case_id for o in report.created) == ["sim:1", "sim:2"]
    assert {o.case_id: o.reason for o in report.skipped} == {
        "sim:4": "no customer-visible agent comment"
    }
    assert report.failed == []
    rows = _rows(store)
    assert [(r.case_id, r.version, r.state) for r in rows] == [
        ("sim:1", 1, "active"),
        ("sim:2", 1, "active"),
    ]
    reset = rows[0]
    assert "reset my password" in reset.problem
    assert "Intent: reset_password" in reset.problem
    assert "spam folder" in reset.resolution
    assert reset.summary.startswith("Problem:")
    assert 1 <= len(reset.tags) <= 3
    assert all(1 <= len(t.split()) <= 2 for t in reset.tags)
    assert reset.case_metadata["evidence_ids"] == ["kb-7"]
    assert reset.case_metadata["tenant"] == "acme"
    assert reset.case_metadata["first_reply_seconds"] == 7 * 60
    assert reset.indexed_hash == reset.content_hash
    assert index.inner.count() == 2
    hits = index.inner.search("password reset e-mail does not arrive", k=2)
    assert hits[0].case_id == "sim:1"
    assert hits[0].metadata["version"] == 1


def test_a_rerun_with_nothing_new_writes_nothing(store: Store, index: CountingIndex) -> None:
    _world(store)
    learn(store, None, index, SETTINGS)
    writes, rows = index.writes, _rows(store)
    with store.transaction() as tx:
        vocabulary = {(t.tag, t.uses) for t in tx.scalars(select(TagVocabulary))}
    again = learn(store, None, index, SETTINGS)
    assert again.learned == 0
    assert again.retracted == []
    assert again.failed == []
    assert index.writes == writes
    assert [(r.id, r.content_hash, r.state) for r in _rows(store)] == [
        (r.id, r.content_hash, r.state) for r in rows
    ]
    with store.transaction() as tx:
        assert {(t.tag, t.uses) for t in tx.scalars(select(TagVocabulary))} == vocabulary


def test_reopen_retracts_and_a_second_resolve_reindexes(store: Store, index: CountingIndex) -> None:
    world = _world(store)
    learn(store, None, index, SETTINGS)
    world.comment("1", "Still no mail, sorry", role="customer")
    world.set_status("1", "reopened")
    report = learn(store, None, index, SETTINGS)
    assert [(o.case_id, o.reason) for o in report.retracted] == [("sim:1", "reopened")]
    assert index.retractions[-1] == ["sim:1"]
    assert [h.case_id for h in index.inner.search("reset password mail", k=5)] == ["sim:2"]
    assert [(r.version, r.state, r.withdrawn_reason) for r in _rows(store)][:1] == [
        (1, "withdrawn", "reopened")
    ]
    world.resolve("1", "Your domain blocked our sender; we whitelisted it and resent the link.")
    report = learn(store, None, index, SETTINGS)
    assert [(o.case_id, o.version) for o in report.updated] == [("sim:1", 2)]
    rows = [r for r in _rows(store) if r.case_id == "sim:1"]
    assert [(r.version, r.state) for r in rows] == [(1, "withdrawn"), (2, "active")]
    assert "whitelisted" in rows[1].resolution
    top = index.inner.search("reset password mail", k=1)[0]
    assert (top.case_id, top.metadata["version"]) == ("sim:1", 2)


def test_delete_and_duplicate_retract(store: Store, index: CountingIndex) -> None:
    world = _world(store)
    learn(store, None, index, SETTINGS)
    world.set_status("1", "deleted")
    world.set_status("2", "duplicate")
    report = learn(store, None, index, SETTINGS)
    assert sorted((o.case_id, o.reason) for o in report.retracted) == [
        ("sim:1", "deleted"),
        ("sim:2", "duplicate"),
    ]
    assert index.inner.count() == 0


def test_since_window_still_repairs_cases_missing_from_the_index(
    store: Store, index: CountingIndex
) -> None:
    _world(store)
    first = learn(store, None, index, SETTINGS)
    assert first.learned == 2
    index.inner.retract(["sim:2"])
    with store.transaction() as tx:  # as if the process died between the store and the index
        row = tx.scalars(select(CaseSummary).where(CaseSummary.case_id == "sim:2")).one()
        row.indexed_hash = None
    from tests.ingestion.cases.world import T0

    report = learn(store, None, index, SETTINGS, since=T0.replace(year=2030))
    assert [o.case_id for o in report.reindexed] == ["sim:2"]
    assert index.inner.count() == 2


def test_run_learning_keeps_the_books_and_windows(store: Store, index: CountingIndex) -> None:
    from ingestion.cases import run_learning
    from ingestion.cases.runs import LEARNING
    from ingestion.schema import FlowRun

    _world(store)
    first = run_learning(store, None, index, SETTINGS)
    second = run_learning(store, None, index, SETTINGS)
    assert (first.learned, second.learned) == (2, 0)
    with store.transaction() as tx:
        runs = list(
            tx.scalars(select(FlowRun).where(FlowRun.flow == LEARNING).order_by(FlowRun.id))
        )
    assert [r.status for r in runs] == ["completed", "completed"]
    assert runs[0].window_start is None
    assert runs[1].window_start == runs[0].started_at == second.window_start
    everything = run_learning(store, None, index, SETTINGS, everything=True)
    assert everything.window_start is None


def test_a_run_that_raises_is_recorded_as_failed(store: Store, index: CountingIndex) -> None:
    from ingestion.cases import run_learning
    from ingestion.schema import FlowRun

    class Unreachable:
        def pull(self, since: object) -> dict[int, str]:
            raise RuntimeError("ticketing system down")

        def write_notes(self, case_ids: object) -> int:
            return 0

    with pytest.raises(RuntimeError, match="down"):
        run_learning(store, Unreachable(), index, SETTINGS)
    with store.transaction() as tx:
        run = tx.scalars(select(FlowRun)).one()
    assert (run.status, run.report) == ("failed", {"error": "ticketing system down"})


def test_each_case_is_embedded_once_for_its_tags_and_the_index(
    store: Store, index: CountingIndex
) -> None:
    _world(store)
    report = learn(store, None, index, SETTINGS)
    assert report.learned == 2
    # Every upserted case came with the vector its tags were ranked against.
    assert index.embedded_before == index.upserts == [["sim:1", "sim:2"]]
    assert [h.case_id for h in index.search("password reset mail never arrives", k=1)] == ["sim:1"]


class _GatedIndex(CountingIndex):
    """Embeds each batch on the embedding thread only once the next case is summarised (or 10
    s have passed): records, per batch, the thread it ran on and whether that happened."""

    def __init__(self, inner: CountingIndex, next_summarised: threading.Event) -> None:
        super().__init__(inner.inner)
        self.next_summarised = next_summarised
        self.batches: list[tuple[str, bool]] = []

    def embedder(self) -> Callable[[Sequence[str]], retrieval.index.DocumentVectors]:
        bound = self.inner.embedder()

        def gated(texts: Sequence[str]) -> retrieval.index.DocumentVectors:
            overlapped = self.next_summarised.wait(10) if not self.batches else True
            self.batches.append((threading.current_thread().name, overlapped))
            return bound(texts)

        return gated


class _Signalling:
    """The default summariser, setting an event when it summarises its second case."""

    def __init__(self, event: threading.Event) -> None:
        self.inner, self.event, self.calls = build_summariser(SETTINGS), event, 0
        self.name = self.inner.name

    def summarise(self, problem: str, resolution: str) -> str:
        self.calls += 1
        if self.calls == 2:
            self.event.set()
        return self.inner.summarise(problem, resolution)


def test_a_batch_is_embedded_while_the_next_is_read_redacted_and_summarised(
    store: Store, index: CountingIndex
) -> None:
    _world(store)
    summarised = threading.Event()
    gated = _GatedIndex(index, summarised)
    settings = IngestionSettings(learning_batch_size=1)
    report = learn(store, None, gated, settings, summariser=_Signalling(summarised))
    assert sorted(o.case_id for o in report.created) == ["sim:1", "sim:2"]
    # The first case's vectors were computed while the second case was being planned, off
    # this thread; each upserted case still came with the vector its tags were ranked against.
    assert [overlapped for _, overlapped in gated.batches] == [True, True]
    assert {name for name, _ in gated.batches} != {threading.current_thread().name}
    assert gated.embedded_before == gated.upserts == [["sim:1"], ["sim:2"]]


def test_an_encoder_failure_stops_the_run_before_anything_is_stored(
    store: Store, index: CountingIndex
) -> None:
    class Broken(CountingIndex):
        def embedder(self) -> Callable[[Sequence[str]], retrieval.index.DocumentVectors]:
            def broken(texts: Sequence[str]) -> retrieval.index.DocumentVectors:
                raise RuntimeError("encoder out of memory")

            return broken

    _world(store)
    with pytest.raises(RuntimeError, match="out of memory"):
        learn(store, None, Broken(index.inner), IngestionSettings(learning_batch_size=1))
    assert _rows(store) == []
    # Nothing was lost: the next run learns both cases.
    assert learn(store, None, index, SETTINGS).learned == 2
