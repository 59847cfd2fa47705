"""The encoder-tuning step after `nightly_learning`: off by default, reads the store when on."""

from __future__ import annotations

from pathlib import Path

import pytest

import retrieval
from flows.learning import nightly_learning
from flows.tuning_flow import encoder_tuning
from ingestion.settings import IngestionSettings
from ingestion.store import Store
from tests.ingestion.cases.world import World

pytestmark = pytest.mark.usefixtures("prefect_harness")


def _artifacts() -> list[str]:
    from prefect.client.orchestration import get_client
    from prefect.client.schemas.filters import ArtifactFilter, ArtifactFilterKey

    with get_client(sync_client=True) as client:
        found = client.read_artifacts(
            artifact_filter=ArtifactFilter(key=ArtifactFilterKey(any_=["encoder-tuning"]))
        )
    return [str(a.data) for a in found]


def _world(store: Store) -> None:
    world = World(store)
    world.escalate("1", "I was charged twice for my subscription", intent="double_charge")
    world.resolve("1", "We refunded the duplicate charge; it shows in 3 days.")


def test_learning_then_tuning_reads_the_store_and_reports(
    sqlite_store: Store, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    _world(sqlite_store)
    monkeypatch.setenv("CASELOOP_RETRIEVAL_TUNE_AFTER_LEARNING", "true")
    monkeypatch.setenv("CASELOOP_RETRIEVAL_MODEL_DIR", str(tmp_path / "models"))
    settings = IngestionSettings(database_url=str(sqlite_store.engine.url))
    seen = len(_artifacts())
    with retrieval.open_index(tmp_path / "index") as index:
        report = nightly_learning(
            settings=settings, store=sqlite_store, index=index, refresh_tickets=False
        )
        assert [o.case_id for o in report.created] == ["sim:1"]
        before = index.engine.manifest()
        tuned = encoder_tuning(settings=settings, index=index)  # the same step, standalone
        assert index.engine.manifest() == before
    assert not tuned.switched
    assert tuned.line().startswith("encoder tuning: not tuned (0 training pairs and 1 held-out")
    texts = _artifacts()[seen:]
    assert len(texts) == 2  # one after learning, one standalone
    assert all("not tuned" in text for text in texts)


def test_tuning_is_off_unless_asked(sqlite_store: Store, tmp_path: Path) -> None:
    _world(sqlite_store)
    seen = len(_artifacts())
    with retrieval.open_index(tmp_path / "index") as index:
        nightly_learning(
            settings=IngestionSettings(database_url=str(sqlite_store.engine.url)),
            store=sqlite_store,
            index=index,
            refresh_tickets=False,
        )
    assert len(_artifacts()) == seen
