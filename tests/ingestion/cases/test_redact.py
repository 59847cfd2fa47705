"""Redaction: typed placeholders for each kind of personal data, and nothing else touched."""

from __future__ import annotations

import pytest

from ingestion.cases.redact import Redactor
from tests.ingestion.cases.pii import leaks, people

REDACTOR = Redactor()


@pytest.mark.parametrize(
    ("text", "expected", "kind"),
    [
        ("mail me at jane.doe+x@mail.example.co.uk today", "mail me at [EMAIL] today", "EMAIL"),
        ("call +44 20 7946 0958 please", "call [PHONE] please", "PHONE"),
        ("call (415) 555-2671 please", "call [PHONE] please", "PHONE"),
        ("card 4111 1111 1111 1111 declined", "card [CARD] declined", "CARD"),
        ("IBAN DE89 3704 0044 0532 0130 00 attached", "IBAN [IBAN] attached", "IBAN"),
        ("IBAN GB82WEST12345698765432.", "IBAN [IBAN].", "IBAN"),
        ("from 203.0.113.9.", "from [IP].", "IP"),
        ("from 2001:db8::8a2e:370:7334 ok", "from [IP] ok", "IP"),
        ("open https://x.example/r?token=abc123 now", "open [URL] now", "URL"),
        ("open https://bob:hunter2@x.example/a now", "open [URL] now", "URL"),
        ("see https://x.example/s/9f8e7d6c5b4a39281706abcd now", "see [URL] now", "URL"),
    ],
)
def test_each_kind_becomes_its_placeholder(text: str, expected: str, kind: str) -> None:
    result = REDACTOR.redact(text)
    assert result.text == expected
    assert result.counts == {kind: 1}


@pytest.mark.parametrize(
    "text",
    [
        "Order 1234 shipped on 2024-05-01 at 10:30:45, see https://docs.example.com/returns",
        "Card ending 4242 was charged 19.99 EUR; invoice INV-2024-0042",
        "Version 1.2.3 fixed it; restart the router",
    ],
)
def test_ordinary_text_is_left_alone(text: str) -> None:
    assert REDACTOR.redact(text).text == text


def test_invalid_checksums_are_not_cards_or_ibans() -> None:
    assert "[CARD]" not in REDACTOR.redact("ref 4111 1111 1111 1112").text
    assert "[IBAN]" not in REDACTOR.redact("code DE89370400440532013001").text


def test_the_customers_own_name_and_email_are_replaced() -> None:
    text = "Dear Mrs. Okonkwo, Adaeze asked via adaeze.o@example.org and adaeze.o on chat"
    result = REDACTOR.redact(
        text, customer_name="Adaeze Okonkwo", customer_email="adaeze.o@example.org"
    )
    assert result.text == "Dear Mrs. [NAME], [NAME] asked via [EMAIL] and [USER] on chat"


def test_a_url_keeps_precedence_over_the_email_inside_it() -> None:
    text = "https://x.example/login?user=a@b.example&session=123abc"
    assert REDACTOR.redact(text).text == "[URL]"


def test_generated_corpus_has_zero_leaks() -> None:
    corpus = people(400)
    leaked = {}
    for person in corpus:
        text = REDACTOR.redact(
            person.message(), customer_name=person.name, customer_email=person.email
        ).text
        if found := leaks(person, text):
            leaked[person.name] = (found, text)
    assert leaked == {}
