"""`caseloop tune`: a small fine-tune on bundled data, judged on later questions, switches or not.

The bundled BANKING77 slice (20 intents, 600 customer messages) becomes a history where each
intent has one resolved case whose text is the problem's short title ("top up reverted"), as a
store's case summaries often are, and the customers' messages are the questions, on a seeded
clock. The fine-tune is tiny (2 passes over 180 pairs, 1 CPU thread): seconds on an idle core.
"""

from __future__ import annotations

import datetime as dt
import random
from pathlib import Path

import pytest
from typer.testing import CliRunner

import retrieval
from evaluation import Case, Dataset, Query, write_dataset
from evaluation.casebase import case_document
from evaluation.converters.banking77 import convert_banking77, read_banking77
from evaluation.converters.intent_split import SplitPlan
from evaluation.folds import Promise
from flows.cli import app
from flows.tuning import TuneReport, drop_check, later_questions, reciprocal_ranks, split, tune
from retrieval.dense import load_encoder
from retrieval.finetune import TrainingPair, TuningParams, fine_tune
from retrieval.manifest import EncoderChoice
from retrieval.model import resolve_model

SAMPLE = Path(__file__).parents[2] / "evaluation" / "data" / "banking77" / "train-sample.csv"
START = dt.datetime(2026, 1, 1, tzinfo=dt.UTC)
SMALL = TuningParams(epochs=2, batch_size=32, learning_rate=1e-4)
# A promise this little history can keep (95% with 90% confidence answers nothing on it).
DAMAGING = TuningParams(epochs=2, batch_size=32, learning_rate=2e-3)  # on mismatched pairs
LOOSE = Promise(target_precision=0.8, confidence_level=0.0, no_match_escalation=0.8)


def titled_history(questions: int = 300) -> Dataset:
    messages = read_banking77(SAMPLE)
    intents = sorted({m.intent for m in messages})
    cases = tuple(Case(f"c-{i}", i.replace("_", " ").lower(), resolved_at=START) for i in intents)
    random.Random(0).shuffle(messages)
    queries = tuple(
        Query(f"q{n}", m.text, frozenset({f"c-{m.intent}"}), START + dt.timedelta(minutes=n + 1))
        for n, m in enumerate(messages[:questions])
    )
    return Dataset(cases, queries)


@pytest.fixture
def settings(tmp_path: Path) -> retrieval.RetrievalSettings:
    return retrieval.RetrievalSettings(
        encoder="torch",  # no ONNX export of the tuned model: the test stays short
        model_dir=tmp_path / "models",
        reload_interval=0.0,
        publish_interval=3600.0,
    )


def _index(folder: Path, settings: retrieval.RetrievalSettings, data: Dataset) -> retrieval.Index:
    index = retrieval.open_index(folder, settings=settings)
    index.upsert(case_document(case) for case in data.cases)
    index.publish()
    return index


def _generations(folder: Path) -> list[str]:
    return sorted(p.name for p in (folder / "generations").iterdir())


def test_the_held_out_slice_is_later_than_every_training_question() -> None:
    train, held = split(titled_history(), 0.4)
    assert (len(train), len(held)) == (180, 120)
    assert max(q.asked_at for q in train) < min(q.asked_at for q in held)  # type: ignore[type-var]


def test_reciprocal_ranks_respect_each_question_s_filters(
    settings: retrieval.RetrievalSettings,
) -> None:
    text = "my card payment was declined at the shop"
    cases = (
        Case("acme-1", text, metadata={"tenant": "acme"}),
        Case("beta-1", text + " today", metadata={"tenant": "beta"}),
        Case("acme-2", "how do I change my address", metadata={"tenant": "acme"}),
    )
    queries = (
        Query("free", text, frozenset({"beta-1"})),
        Query("acme", text, frozenset({"beta-1"}), filters={"tenant": "acme"}),
        Query("beta", text, frozenset({"beta-1"}), filters={"tenant": "beta"}),
    )
    encoder = load_encoder("onnx-int8", model_dir=settings.model_dir)
    ranks = reciprocal_ranks(encoder, Dataset(cases, queries), queries)
    assert ranks.tolist() == [0.5, 0.0, 1.0]


def test_a_small_fine_tune_improves_mrr_on_later_questions_and_switches(
    tmp_path: Path, settings: retrieval.RetrievalSettings
) -> None:
    data = titled_history()
    with _index(tmp_path / "index", settings, data) as index:
        before = _generations(tmp_path / "index")
        report = tune(index, data, settings=settings, params=SMALL, holdout=0.4, promise=LOOSE)
        assert report.switched, report.line()
        # the later questions were also replayed as escalations, and the drop did not fall
        assert report.drop is not None
        assert report.drop.queries == 120
        assert report.drop.difference["escalation_drop"].value >= 0  # type: ignore[operator]
        assert "escalation drop at 80% target" in report.line()
        policy = (index.engine.manifest() or {})["policy"]
        assert policy["samples"] == 120  # fitted on the tuned encoder's replay, stored with it
        assert report.current is not None
        assert report.tuned is not None
        assert report.gain is not None
        assert report.tuned.value > report.current.value  # type: ignore[operator]
        assert report.gain.low > 0  # type: ignore[operator]
        assert report.model is not None
        assert report.model.parent == settings.model_dir / "tuned"
        tuned = resolve_model(report.model)
        assert index.encoder_choice.model == tuned
    assert len(set(_generations(tmp_path / "index")) - set(before)) == 1
    follower = settings.following_index()
    with retrieval.open_index(tmp_path / "index", settings=follower, create=False) as reader:
        record = (reader.engine.manifest() or {})["encoder"]
        assert record["fingerprint"] == tuned.fingerprint
        assert record["source"] == str(report.model)
        assert reader.search("my top up was reverted", k=1)[0].case_id == "c-top_up_reverted"
    assert [p.name for p in (settings.model_dir / "tuned").iterdir()] == [report.model.name]


def test_a_tune_that_is_not_better_leaves_the_index_untouched(
    tmp_path: Path, settings: retrieval.RetrievalSettings
) -> None:
    # A learning rate of 0 trains a model equal to the current one: a gain of exactly 0.
    data = titled_history(120)
    write_dataset(data, tmp_path / "data")
    with _index(tmp_path / "index", settings, data) as index:
        manifest = index.engine.manifest()
    before = _generations(tmp_path / "index")
    result = CliRunner().invoke(
        app,
        ["tune", "--cases", str(tmp_path / "data" / "cases.jsonl"), "--queries",
         str(tmp_path / "data" / "queries.jsonl"), "--learning-rate", "0", "--epochs", "1",
         "--holdout", "0.3", "--json", str(tmp_path / "tune.json")],
        env={
            "CASELOOP_RETRIEVAL_LOCATION": str(tmp_path / "index"),
            "CASELOOP_RETRIEVAL_MODEL_DIR": str(settings.model_dir),
            "CASELOOP_RETRIEVAL_ENCODER": "torch",
        },
    )  # fmt: skip
    assert result.exit_code == 0, result.output
    assert "kept the current encoder" in result.output
    assert "gain 0.000 [0.000, 0.000]" in result.output
    assert _generations(tmp_path / "index") == before
    with retrieval.open_index(tmp_path / "index", settings=settings, create=False) as index:
        assert index.engine.manifest() == manifest
    assert not any((settings.model_dir / "tuned").iterdir())  # the tuned copy is gone
    assert '"switched": false' in (tmp_path / "tune.json").read_text()


def test_too_little_history_is_reported_not_tuned(
    tmp_path: Path, settings: retrieval.RetrievalSettings
) -> None:
    data = titled_history(20)
    with _index(tmp_path / "index", settings, data) as index:
        report = tune(index, data, settings=settings, params=SMALL)
    assert isinstance(report, TuneReport)
    assert not report.switched
    assert report.line().startswith("encoder tuning: not tuned (16 training pairs")


def test_tune_refuses_half_a_data_set_in_one_line(tmp_path: Path) -> None:
    (tmp_path / "cases.jsonl").write_text("")
    result = CliRunner().invoke(app, ["tune", "--cases", str(tmp_path / "cases.jsonl")])
    assert result.exit_code == 1
    assert "--cases and --queries go together" in result.output


def test_an_encoder_that_answers_fewer_customers_fails_the_escalation_check(
    tmp_path: Path, settings: retrieval.RetrievalSettings
) -> None:
    # BANKING77 messages as cases, later messages (10 intents without a case among them) as
    # questions; a model trained on mismatched pairs ranks worse and so answers fewer of them
    # at the promised precision: the check that stands between a tune and a switch says no.
    data = convert_banking77(SAMPLE, SplitPlan(max_queries=200))
    train, _ = split(data, 0.4)
    later = later_questions(data, train)
    assert later.queries
    assert not {q.query_id for q in train} & {q.query_id for q in later.queries}
    current = EncoderChoice(resolve_model("packaged"), "torch")
    cases = [case.problem for case in data.cases]
    random.Random(1).shuffle(cases)
    wrong = [
        TrainingPair(q.text, "x", text, frozenset()) for q, text in zip(train, cases, strict=False)
    ]
    worse = fine_tune(current.model, wrong, tmp_path / "worse", DAMAGING)
    check, replay = drop_check(later, current, worse, settings, LOOSE)
    assert check is not None
    assert replay is not None
    assert check.current.estimates["escalation_drop"].value > 0.2  # type: ignore[operator]
    assert check.difference["escalation_drop"].value < 0  # type: ignore[operator]
    assert not check.holds, check.line()


@pytest.mark.parametrize(
    ("option", "value", "message"),
    [
        ("--target-precision", "1.5", "target_precision: must be in (0, 1]"),
        ("--target-precision", "0", "target_precision: must be in (0, 1]"),
        ("--confidence", "1", "confidence_level: must be in [0, 1)"),
        ("--no-match-escalation", "-0.1", "no_match_escalation: must be in [0, 1)"),
    ],
)
def test_tune_refuses_an_impossible_promise_in_one_line_before_reading_data(
    tmp_path: Path, option: str, value: str, message: str
) -> None:
    data = titled_history(40)
    write_dataset(data, tmp_path / "data")
    result = CliRunner().invoke(
        app,
        ["tune", "--cases", str(tmp_path / "data" / "cases.jsonl"), "--queries",
         str(tmp_path / "data" / "queries.jsonl"), option, value],
        env={"CASELOOP_RETRIEVAL_LOCATION": str(tmp_path / "index")},
    )  # fmt: skip
    assert result.exit_code == 1
    assert message in result.output
    assert "Traceback" not in result.output
    assert not (tmp_path / "index").exists()  # refused before any index was opened
