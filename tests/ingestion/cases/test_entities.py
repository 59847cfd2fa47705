"""The named-entity model reads only the windows of a text where a finding can be, and finds
exactly what it finds reading the whole text: checked on data the windows were not tuned on
(a Faker corpus in other locales and with another seed than the leak tests', and the bundled
Bitext conversations with personal data of that corpus inside)."""

from __future__ import annotations

import pytest

from flows.demo.sample import load_sample
from ingestion.cases.entities import EntityModel, model_windows
from ingestion.cases.redact import CaseTexts, Redactor
from tests.ingestion.cases.pii import people

# Not the leak tests' locales nor seed: the windows were measured on those.
FRESH_LOCALES = ("en_IE", "de_AT", "fr_CH", "es_MX", "nl_BE", "pt_PT", "pl_PL", "sv_SE", "fi_FI")


@pytest.fixture(scope="module")
def model() -> EntityModel:
    return EntityModel()


@pytest.fixture(scope="module")
def whole_model() -> EntityModel:
    return EntityModel(whole_texts=True)


def _tokens(model: EntityModel, text: str) -> object:
    return model._analyzer.nlp_engine.nlp["en"].tokenizer(text)


def _fresh_cases() -> list[CaseTexts]:
    corpus = people(63, seed=918273, locales=FRESH_LOCALES)
    conversations = load_sample().conversations[::4]  # 140 of the 560
    cases = [
        CaseTexts((p.message(), f"Thanks {p.first}, done.", "Login"), p.name, p.email)
        for p in corpus
    ]
    cases += [CaseTexts((p.message(),)) for p in corpus]  # the customer's name not known
    for c, p in zip(conversations, corpus * 3, strict=False):
        # A bare third-party name inside a long agent reply: far from the text's edges.
        sentences = c.reply.split(". ")
        middle = len(sentences) // 2
        reply = ". ".join([*sentences[:middle], p.sentences()[-2], *sentences[middle:]])
        cases.append(CaseTexts((c.message, reply, c.message[:80])))
    return cases


def test_windowed_model_finds_what_the_whole_text_model_finds(
    model: EntityModel, whole_model: EntityModel
) -> None:
    cases = _fresh_cases()
    texts = [t for case in cases for t in case.texts]
    windowed, whole = model.find_many(texts), whole_model.find_many(texts)
    differing = [t for t, a, b in zip(texts, windowed, whole, strict=True) if a != b]
    assert differing == []
    assert sum(len(f) for f in whole) > 500  # the corpus gives the model work to do
    # And so the redaction is the same, byte for byte, counts included.
    assert Redactor(entities=model).redact_many(cases) == Redactor(
        entities=whole_model
    ).redact_many(cases)


def test_windows_leave_out_most_of_long_agent_replies(model: EntityModel) -> None:
    replies = [c.reply for c in load_sample().conversations[1::4]]
    read = total = 0
    for reply in replies:
        read += sum(end - start for start, end in model_windows(reply, _tokens(model, reply)))
        total += len(reply)
    assert read < 0.7 * total  # measured: about half of the characters


def test_a_name_deep_in_a_long_text_is_inside_a_window(model: EntityModel) -> None:
    filler = "please check the settings page and try again later. " * 12
    text = f"{filler}Karim Haddad at the shop said it would be fixed. {filler}"
    windows = model_windows(text, _tokens(model, text))
    assert len(windows) == 1
    start, end = windows[0]
    piece = text[start:end]
    assert "Karim Haddad" in piece
    assert len(piece) < len(text) / 3
    # Whole words at both ends (the tokenizer reads a window as it read the text).
    assert start == 0 or text[start - 1].isspace()
    assert end == len(text) or text[end].isspace()
    assert [(f.kind, text[f.start : f.end]) for f in model.find(text)] == [("NAME", "Karim Haddad")]


def test_text_with_nothing_a_name_can_be_is_not_read(model: EntityModel) -> None:
    text = "please reset my password, the app says it is wrong. thanks a lot!"
    assert model_windows(text, _tokens(model, text)) == []
    # A capitalised word written in lower case elsewhere cannot be a kept name either.
    text = "Reset fails. I tried to reset it twice."
    assert model_windows(text, _tokens(model, text)) == []
    # A date right after a birth cue can be a date of birth: read.
    text = "date of birth 12 march 1985, please update it."
    assert model_windows(text, _tokens(model, text)) == [(0, len(text))]


def test_artifacts_read_from_arrays_are_presidios_own(model: EntityModel) -> None:
    from presidio_analyzer.nlp_engine import SpacyNlpEngine

    engine = model._analyzer.nlp_engine
    texts = [c.reply for c in load_sample().conversations[:40]]
    texts += ["", "Karim Haddad was born on 12 March 1985 in Lyon."]
    for ours_doc, theirs_doc in zip(
        engine.nlp["en"].pipe(texts), engine.nlp["en"].pipe(texts), strict=True
    ):
        ours = engine._doc_to_nlp_artifact(ours_doc, "en")
        theirs = SpacyNlpEngine._doc_to_nlp_artifact(engine, theirs_doc, "en")
        assert ours.lemmas == theirs.lemmas
        assert ours.tokens_indices == theirs.tokens_indices
        assert ours.keywords == theirs.keywords
        assert ours.scores == theirs.scores
        assert [(e.start_char, e.end_char, e.label_) for e in ours.entities] == [
            (e.start_char, e.end_char, e.label_) for e in theirs.entities
        ]
        assert type(engine) is not SpacyNlpEngine  # the array reader is the one in use
