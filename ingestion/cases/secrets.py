"""Secrets in support text: pasted passwords, PINs, one-time codes, API keys and tokens.

Three detectors, all yielding ``SECRET`` spans:

* Yelp's ``detect-secrets`` plugins (AWS, Stripe, GitHub, GitLab, Slack, OpenAI, JWT, private
  keys, …): the maintained catalogue of key formats. A plugin may report only a key's prefix, so
  each hit is widened to the whole whitespace-delimited token.
* context rules: a value right after *password*, *PIN*, *one-time code*, *API key*, *token* … in
  English, French, German and Spanish, when it looks like a secret (the word after "password" in
  "password reset" is not one);
* random-looking tokens: 16+ characters mixing letters and digits with high Shannon entropy.
"""

from __future__ import annotations

import math
import re
from collections import Counter
from collections.abc import Iterator
from functools import cache
from typing import Any

from ingestion.cases.finding import Finding

# Words that may follow "password" without being one ("my password is not working").
_NOT_A_SECRET_WORDS = """a an the is was not no wrong incorrect invalid correct right expired reset change changed
    changing field box manager again anymore too being been still also and or but for to of in on
    at it that this which when doesn't does did didn't won't isn't wasn't keeps stopped works
    working request requests requested link email e-mail page screen rules requirement
    requirements policy same new old twice once three times hint"""
_NOT_A_SECRET = frozenset(_NOT_A_SECRET_WORDS.split())
_SECRET_WORDS = (
    r"pass(?:word|wd|code|phrase)s?|pwd|mot de passe|mdp|kennwort|passwort|contraseña|clave"
    r"|pin(?:[- ]?code| number)?|code pin|geheimzahl|"
    r"(?:one[- ]time|verification|security|confirmation|authentication|auth|sms|2fa|mfa|otp|"
    r"login|access|reset|bestätigungs)[- ]?(?:code|passcode|pin)|otp|tan"
    r"|(?:api|integration|access|secret|licen[cs]e|private)[- ]?key|secret(?:[- ]key)?|access[- ]?token|auth[- ]?token|bearer|token|private key"
)
_SECRET_CONTEXT = re.compile(
    rf"\b(?:{_SECRET_WORDS})\b(?P<link>\s*(?:(?:is|was|are|=|:|->|est|ist|es|lautet|"
    r"would be|should be|set to|changed to|now)\s*)*)[\"'“‘]?(?P<value>[^\s\"'”’]{3,})",
    re.IGNORECASE,
)
# Key formats detect-secrets does not know (test-mode and restricted Stripe keys, OpenAI
# project keys, Google API keys) or reports only partly.
_KEY_FORMATS = re.compile(
    r"\b(?:[spr]k_(?:live|test)_\w{8,}|sk-(?:proj-)?[\w-]{20,}|gh[pousr]_\w{20,}|"
    r"xox[abprs]-[\w-]{10,}|AKIA[0-9A-Z]{16}|AIza[\w-]{30,})"
)
_DIGITS_OR_SYMBOLS = re.compile(r"[\d!@#$%^&*()_+=\[\]{};:<>?/\\|~`-]")
_CANDIDATE_TOKEN = re.compile(r"[A-Za-z0-9_+/=.-]{16,}")
_PLACEHOLDER = re.compile(r"^\[[A-Z_]+\]")


def find_secrets(text: str) -> Iterator[Finding]:
    """Known key formats and values after a cue word (these outrank every other kind)."""
    yield from _scanner_findings(text)
    for match in _KEY_FORMATS.finditer(text):
        yield Finding("SECRET", match.start(), match.end())
    yield from _context_findings(text)


def find_random_tokens(text: str) -> Iterator[Finding]:
    """Random-looking tokens (ranked below IBANs, cards and URLs, which they also match)."""
    yield from _random_tokens(text)


def _context_findings(text: str) -> Iterator[Finding]:
    for match in _SECRET_CONTEXT.finditer(text):
        value = match.group("value").rstrip(".,;:!?)")
        if not value or _PLACEHOLDER.match(value):
            continue
        explicit = bool(match.group("link").strip())
        if value.lower() in _NOT_A_SECRET:
            continue
        # "password shamrock!2023" and "PIN 4821" are secrets; "password reset" is a topic.
        if explicit or _DIGITS_OR_SYMBOLS.search(value):
            start = match.start("value")
            yield Finding("SECRET", start, start + len(value))


def _random_tokens(text: str) -> Iterator[Finding]:
    for match in _CANDIDATE_TOKEN.finditer(text):
        token = match.group().strip(".-")
        has_letters = any(c.isalpha() for c in token)
        has_digits = sum(c.isdigit() for c in token) >= 2
        if has_letters and has_digits and _entropy(token) >= 3.5:
            start = text.index(token, match.start())
            yield Finding("SECRET", start, start + len(token))


def _entropy(token: str) -> float:
    counts = Counter(token)
    return -sum(n / len(token) * math.log2(n / len(token)) for n in counts.values())


def _scanner_findings(text: str) -> Iterator[Finding]:
    plugins = _plugins()
    offset = 0
    for line in text.splitlines(keepends=True):
        for plugin in plugins:
            for secret in plugin.analyze_line(filename="case.txt", line=line, line_number=1):
                value = secret.secret_value or ""
                at = line.find(value) if value else -1
                if at >= 0:
                    start, end = _widen(line, at, at + len(value))
                    yield Finding("SECRET", offset + start, offset + end)
        offset += len(line)


def _widen(line: str, start: int, end: int) -> tuple[int, int]:
    """The whole whitespace-delimited token around ``line[start:end]``, trailing punctuation off."""
    while start > 0 and not line[start - 1].isspace():
        start -= 1
    while end < len(line) and not line[end].isspace():
        end += 1
    while end > start and line[end - 1] in ".,;:!?)\"'":
        end -= 1
    return start, end


# Plugins that are not about secrets (public IPs: redaction has its own IP rule) or that flag
# ordinary words ("password: reset" in prose) better handled by the context rules above.
_SKIPPED_PLUGINS = frozenset({"IPPublicDetector", "KeywordDetector"})


@cache
def _plugins() -> tuple[Any, ...]:
    """detect-secrets' default plugins, built once (its settings are a process-wide singleton)."""
    from detect_secrets.settings import default_settings, get_plugins

    with default_settings():
        plugins = tuple(p for p in get_plugins() if type(p).__name__ not in _SKIPPED_PLUGINS)
    return plugins
