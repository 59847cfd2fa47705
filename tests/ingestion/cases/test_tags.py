"""Tags: short phrases ranked with the index's MiniLM, one tag per idea across word orders."""

from __future__ import annotations

import pytest

from ingestion.cases import Tagger, Vocabulary, tag_key
from ingestion.cases.tags import candidate_phrases
from ingestion.cases.text import words
from tests.ingestion.cases.counting import CountingIndex


def test_tag_key_ignores_word_order_and_plurals() -> None:
    assert tag_key("password reset") == tag_key("reset password") == tag_key("Passwords Reset")
    assert tag_key("refund") != tag_key("refund delay")


def test_candidates_skip_stop_words_and_placeholders() -> None:
    phrases = candidate_phrases("Hi [NAME], please reset the password; the password reset link", 5)
    assert "password reset" in phrases
    assert not {"hi", "please", "name", "the"} & set(phrases)


@pytest.fixture
def tagger(index: CountingIndex) -> Tagger:
    from ingestion.cases import default_encoder

    return Tagger(default_encoder(index), max_tags=3)


def test_tags_are_one_to_three_short_phrases_about_the_case(tagger: Tagger) -> None:
    vocabulary = Vocabulary()
    (tags,) = tagger.tag_many(
        ["My refund has not arrived. The refund was issued to your card and takes 5 days."],
        vocabulary,
    )
    assert 1 <= len(tags) <= 3
    assert all(1 <= len(t.split()) <= 2 for t in tags)
    assert any("refund" in t for t in tags)
    assert vocabulary.size == len(vocabulary.added) == len(tags)


def test_reordered_phrase_maps_to_the_tag_in_use(tagger: Tagger) -> None:
    vocabulary = Vocabulary.of(["password reset"])
    (tags,) = tagger.tag_many(
        ["How do I reset password? Use reset password on the login page to reset password."],
        vocabulary,
    )
    assert "password reset" in tags
    assert "reset password" not in tags
    assert "password reset" not in vocabulary.added


def test_the_vocabulary_grows_slower_than_the_cases(tagger: Tagger) -> None:
    vocabulary = Vocabulary()
    texts = [
        f"I need a refund for order {n}. The refund was sent back to your card." for n in range(20)
    ]
    tagged = tagger.tag_many(texts, vocabulary)
    assert len({t for tags in tagged for t in tags}) == vocabulary.size <= 3


# Issue 12: tags that describe the problem, never a greeting, a name, a number or a secret.
@pytest.mark.parametrize(
    "greeting", ["Bonjour", "Hola", "Guten Tag", "G'day", "Buongiorno", "Hallo", "Merci"]
)
def test_greetings_never_become_candidates(greeting: str) -> None:
    text = f"{greeting}! My parcel never arrived. {greeting}, the parcel tracking is stuck."
    phrases = candidate_phrases(text, 20)
    assert all(greeting.lower() not in p and "tag" not in p.split() for p in phrases)
    assert "parcel" in phrases


def test_words_are_unicode_aware() -> None:
    assert "arrivé" in words("Mon colis n'est jamais arrivé, trop remboursé")
    assert "remboursé" in candidate_phrases("colis jamais arrivé, remboursé, remboursé", 5)
    assert not any(
        p.endswith(("arriv", "rembours"))
        for p in candidate_phrases("jamais arrivé, être remboursé", 5)
    )


def test_phrases_never_span_placeholders_or_numbers() -> None:
    phrases = candidate_phrases("my password [SECRET] reset failed, order 48213 refund", 20)
    assert "password reset" not in phrases
    assert "order refund" not in phrases
    assert not any(any(c.isdigit() for c in p) for p in phrases)


def test_names_written_capitalised_inside_sentences_are_not_candidates() -> None:
    text = "The courier told Aaliyah the parcel was lost. Ask Aaliyah again about the parcel."
    assert not any("aaliyah" in p for p in candidate_phrases(text, 20))


def test_the_screen_drops_what_the_redactor_would_replace(index: CountingIndex) -> None:
    from ingestion.cases import default_encoder

    tagger = Tagger(default_encoder(index), screen=lambda phrase: "hunter" in phrase)
    tags = tagger.tag_many(["hunter hunter hunter password reset"], Vocabulary())[0]
    assert tags
    assert not any("hunter" in t for t in tags)
