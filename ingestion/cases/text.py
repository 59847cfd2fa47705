"""Plain-text helpers shared by the summariser and the tagger: sentences and content words."""

from __future__ import annotations

import re
from functools import cache
from importlib import resources

_SENTENCE_END = re.compile(r"(?<=[.!?])\s+(?=[\"'(\[]?[A-Z0-9])|\n{2,}|\n(?=[-*•] )")
# Letters of any script (not digits, not "_"), with inner apostrophes and hyphens: "arrivé",
# "g'day" and "e-mail" are one word each; "abc123" is the word "abc".
_WORD = re.compile(r"[^\W\d_](?:[^\W\d_]|['’-](?=[^\W\d_]))*")
_PLACEHOLDER = re.compile(r"\[[A-Z]+\]")


@cache
def stopwords() -> frozenset[str]:
    """English function words and support-chat filler (``stopwords.txt``, one a line)."""
    text = resources.files("ingestion.cases").joinpath("stopwords.txt").read_text("utf-8")
    return frozenset(w.strip() for w in text.split() if w.strip() and not w.startswith("#"))


# Abbreviations whose full stop does not end a sentence ("Dr. Haddad", "e.g. the app").
_ABBREVIATION = re.compile(
    r"(?:^|\s)(?:dr|mr|mrs|ms|mx|prof|st|sr|sra|jr|mme|mlle|no|nr|vs|etc|approx|inc|ltd|co|"
    r"dept|ref|tel|fig|e\.g|i\.e|z\.b|u\.a|ca|bzw|cf|p\.s|[a-z])\.$",
    re.IGNORECASE,
)


def sentences(text: str) -> list[str]:
    """Sentences of ``text``: end punctuation followed by a capital or digit, blank lines and
    bullets; not after an abbreviation ("Dr.", "e.g."), inside decimals ("19.99") or URLs
    (both lack the space a sentence end needs)."""
    merged: list[str] = []
    for part in (p.strip() for p in _SENTENCE_END.split(text.strip())):
        if not part:
            continue
        if merged and _ABBREVIATION.search(merged[-1]):
            merged[-1] = f"{merged[-1]} {part}"
        else:
            merged.append(part)
    return [" ".join(p.split()) for p in merged]


def words(text: str) -> list[str]:
    """Lower-case words, placeholders such as ``[EMAIL]`` removed."""
    return [w.replace("’", "'") for w in _WORD.findall(_PLACEHOLDER.sub(" ", text).lower())]


def proper_nouns(text: str) -> frozenset[str]:
    """Lower-cased words written capitalised inside sentences and never in lower case: names
    the redactor did not know ("Paloma"), brands, places. Never tags."""
    capitalised: set[str] = set()
    lower: set[str] = set()
    for sentence in sentences(_PLACEHOLDER.sub(" ", text)):
        for i, word in enumerate(_WORD.findall(sentence)):
            if word[0].isupper() and not word.isupper() and i > 0:
                capitalised.add(word.lower())
            elif word[0].islower():
                lower.add(word)
    return frozenset(capitalised - lower)


def content_words(text: str) -> list[str]:
    """Words that are not stop words and have at least three letters."""
    stop = stopwords()
    return [w for w in words(text) if len(w) >= 3 and w not in stop]
