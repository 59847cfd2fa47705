"""Personal data and secrets out of case text before anything is stored or indexed.

One entry point, ``Redactor.redact``: each detector finds spans of one kind; overlapping spans
are resolved by priority (a URL that carries a token wins over the e-mail inside it, an IBAN over
the digits a phone matcher would also claim), every kept span is replaced by a typed placeholder
such as ``[EMAIL]``, and the result counts replacements per kind (never the values).

What is detected, and with what (priority order):
    URL         URLs with credentials (``user:pass@``), secret-looking query parameters
                (token, key, signature, password, …) or long random path segments
    SECRET      secrets.py: detect-secrets' plugins (API keys and tokens of known formats),
                context rules (passwords, PINs, one-time codes, keys after their cue words) and
                random-looking tokens
    EMAIL       e-mail addresses (pattern), spelled-out ones ("jo dot doe at gmail dot com"),
                the customer's own address; its local part as ``[USER]``
    IBAN        IBANs, validated with python-stdnum (checksum and country format)
    CARD        12–19 digit numbers that pass the Luhn check (python-stdnum)
    NATIONAL_ID entities.py: national ids python-stdnum validates
    NUMBER      card-shaped 13–19 digit numbers that fail Luhn (a typo is still a card)
    IP          IPv4 and IPv6 addresses, validated with `ipaddress`
    PHONE       phone numbers found by Google's libphonenumber port (`phonenumbers`) for the
                configured regions, plus international ``+``-prefixed numbers anywhere, plus
                phone-shaped runs of 9+ digits starting with ``+``, ``00`` or ``0``; always the
                whole number
    DOB         entities.py: a date right after a birth cue
    ADDRESS     entities.py: street addresses and postcode + town
    NAME        the customer's own name (whole and each part) when the ticket knows it, names
                found by rules (titles, relations, self-introductions, sign-offs) and by the
                named-entity model; a name found once is replaced everywhere in the case

What is not caught is listed in ``docs/learning.md``.
"""

from __future__ import annotations

import ipaddress
import re
from collections import Counter
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from functools import cache, lru_cache
from urllib.parse import parse_qsl, urlsplit

import phonenumbers
from stdnum import iban as stdnum_iban
from stdnum import luhn

from ingestion.cases.entities import EntityModel, find_rules
from ingestion.cases.finding import Finding
from ingestion.cases.secrets import find_random_tokens, find_secrets
from ingestion.settings import IngestionSettings

KINDS = (
    "URL",
    "SECRET",
    "EMAIL",
    "USER",
    "IBAN",
    "CARD",
    "NATIONAL_ID",
    "NUMBER",
    "IP",
    "PHONE",
    "DOB",
    "ADDRESS",
    "NAME",
)
"""Every placeholder kind, in priority order."""
PLACEHOLDERS: Mapping[str, str] = {kind: f"[{kind}]" for kind in KINDS}

_URL = re.compile(r"\b(?:https?|ftp)://[^\s<>\"')\]]+", re.IGNORECASE)
_EMAIL = re.compile(r"\b[A-Za-z0-9._%+'-]+@[A-Za-z0-9-]+(?:\.[A-Za-z0-9-]+)*\.[A-Za-z]{2,}\b")
_IBAN = re.compile(r"\b[A-Z]{2}\d{2}(?:[ -]?[A-Z0-9]{1,4}){3,8}\b")
_CARD = re.compile(r"(?<![\d.+])\d(?:[ -]?\d){11,18}(?!\d)")  # "+44 …" is a phone
_CARD_SHAPED = re.compile(r"(?<![\d.+])[1-9]\d{3}(?:[ -]?\d{4}){2,3}(?:[ -]?\d{1,3})?(?![\d])")
_SPELLED_DOT = r"\s*(?:\(dot\)|\[dot\]|\bdot\b|\.)\s*"
_SPELLED_AT = r"\s*(?:\(at\)|\[at\]|\bat\b|@)\s*"
_SPELLED_EMAIL = re.compile(
    rf"\b[\w+-]+(?:{_SPELLED_DOT}[\w+-]+)*{_SPELLED_AT}[\w-]+(?:{_SPELLED_DOT}[\w-]+)*"
    rf"{_SPELLED_DOT}(?:com|org|net|edu|gov|io|co|uk|de|fr|es|it|nl|pl|be|ch|at|eu|info|me|ie"
    r"|ca|au|us)\b",
    re.IGNORECASE,
)
# Phone-shaped digit runs the libphonenumber matcher rejects as impossible numbers.
_PHONE_SHAPED = re.compile(r"(?<![\w+])(?:\+|00|0)\d[\d ()./-]{6,}\d(?!\w)")
_PLUS = re.compile("[+\uff0b]")  # the plus signs libphonenumber reads
_DIGIT_RUN = re.compile(r"\d[\d\s().\-/]*\d")
_DATE = re.compile(r"\d{4}[-./]\d{1,2}[-./]\d{1,2}|\d{1,2}[-./]\d{1,2}[-./]\d{2,4}")
_IPV4 = re.compile(r"(?<![\d.])(?:\d{1,3}\.){3}\d{1,3}(?!\d|\.\d)")
_IPV6 = re.compile(r"(?<![0-9A-Fa-f:])[0-9A-Fa-f]{0,4}(?::[0-9A-Fa-f]{0,4}){2,7}(?![0-9A-Fa-f:])")
_SECRET_PARAM = re.compile(
    r"(token|key|secret|sig|signature|password|passwd|pwd|auth|session|code|credential|otp)",
    re.IGNORECASE,
)
_RANDOM_SEGMENT = re.compile(r"^(?=.*\d)(?=.*[A-Za-z])[A-Za-z0-9_-]{20,}$")


Known = str | Iterable[str | None] | None
"""One known value of the customer's, several, or none."""


def _known(value: Known) -> list[str]:
    values = [value] if isinstance(value, str) else list(value or ())
    # Longest first: the full name is replaced before its parts.
    return sorted({v.strip() for v in values if v and v.strip()}, key=lambda v: (-len(v), v))


@dataclass(frozen=True, slots=True)
class Redaction:
    """Redacted texts and how many spans of each kind were replaced (never the values)."""

    texts: tuple[str, ...]
    counts: Mapping[str, int] = field(default_factory=dict)

    @property
    def text(self) -> str:
        """The redacted text (the first, when several were redacted together)."""
        return self.texts[0] if self.texts else ""


@dataclass(frozen=True, slots=True)
class CaseTexts:
    """The texts of one case and what the ticket knows of its customer, to redact together."""

    texts: tuple[str, ...]
    customer_name: Known = None
    customer_email: Known = None


@dataclass(frozen=True, slots=True)
class Redactor:
    """Finds and replaces personal data and secrets.

    ``regions`` are the phone-number regions tried; ``entities`` is the named-entity model
    (None: rules only, for a measured comparison or a machine without the model).
    """

    regions: tuple[str, ...] = ("US", "GB", "DE", "FR")
    entities: EntityModel | None = None

    def redact(
        self,
        text: str | Sequence[str],
        *,
        customer_name: Known = None,
        customer_email: Known = None,
    ) -> Redaction:
        """Replace every finding by its placeholder, in one text or in the texts of one case.

        ``customer_name`` and ``customer_email`` take one value or several (a ticket and its
        escalations may know the customer under more than one). A name found in any of the
        texts is replaced in all of them.
        """
        texts = (text,) if isinstance(text, str) else tuple(text)
        (redaction,) = self.redact_many([CaseTexts(texts, customer_name, customer_email)])
        return redaction

    def redact_many(self, cases: Sequence[CaseTexts]) -> list[Redaction]:
        """`redact` for each case, in order; the named-entity model reads every text of every
        case in one batch (the same findings as one call per text, faster)."""
        model = self._model_findings([t for case in cases for t in case.texts])
        redactions = []
        for case in cases:
            emails, names = _known(case.customer_email), _known(case.customer_name)
            found = [self._find(t, names, emails, next(model)) for t in case.texts]
            redactions.append(_redaction(case.texts, found, names))
        return redactions

    def detects(self, text: str) -> bool:
        """Whether ``text`` holds anything this redactor would replace (tags are screened)."""
        return bool(self.find(text))

    def find(
        self, text: str, *, customer_name: Known = None, customer_email: Known = None
    ) -> list[Finding]:
        """All findings in priority order (overlaps not yet resolved)."""
        model = next(self._model_findings([text]))
        return self._find(text, _known(customer_name), _known(customer_email), model)

    def _model_findings(self, texts: Sequence[str]) -> Iterator[list[Finding]]:
        if self.entities is None:
            return iter([[] for _ in texts])
        return iter(self.entities.find_many(texts))

    def _find(
        self, text: str, names: Sequence[str], emails: Sequence[str], model: Sequence[Finding]
    ) -> list[Finding]:
        rules = list(find_rules(text))
        return [
            *_urls(text),
            *find_secrets(text),
            *(f for email in emails for f in _known_email(text, email)),
            *_matches("EMAIL", _EMAIL, text),
            *_spelled_emails(text),
            *_ibans(text),
            *_cards(text),
            *_kind(rules, "NATIONAL_ID"),
            *_matches("NUMBER", _CARD_SHAPED, text),
            *_ips(text),
            *self._phones(text),
            *find_random_tokens(text),
            *_kind([*rules, *model], "DOB"),
            *_kind(rules, "ADDRESS"),
            *(f for name in names for f in _known_name(text, name)),
            *_kind([*rules, *model], "NAME"),
        ]

    def _phones(self, text: str) -> Iterator[Finding]:
        # libphonenumber is the slow part of redaction: skip it when no 7 digits stand together.
        if not any(len(re.sub(r"\D", "", m.group())) >= 7 for m in _DIGIT_RUN.finditer(text)):
            return
        # None as region finds "+CC …" numbers of any country (libphonenumber parses a number
        # without a region only when it starts with a plus sign); the regions add national formats.
        for region in (None, *self.regions) if _PLUS.search(text) else self.regions:
            matcher = phonenumbers.PhoneNumberMatcher(
                text, region, leniency=phonenumbers.Leniency.POSSIBLE
            )
            for phone in matcher:
                # Some regions allow very short numbers: years, order and version numbers.
                raw = phone.raw_string
                if len(re.sub(r"\D", "", raw)) < 7 or _DATE.fullmatch(raw):
                    continue
                if not _inside_identifier(text, phone.start, phone.end):
                    yield Finding("PHONE", phone.start, phone.end)
        for match in _PHONE_SHAPED.finditer(text):
            if len(re.sub(r"\D", "", match.group())) >= 9:
                yield Finding("PHONE", match.start(), match.end())


@cache
def _shared_entity_model() -> EntityModel:
    """One model per process: loading the spaCy pipeline takes seconds."""
    return EntityModel()


def build_redactor(settings: IngestionSettings) -> Redactor:
    """The redactor ``settings`` describe (phone regions, named-entity model on or off)."""
    return Redactor(
        regions=tuple(settings.learning_phone_regions),
        entities=_shared_entity_model() if settings.learning_ner else None,
    )


def _redaction(
    texts: Sequence[str], found: Sequence[Sequence[Finding]], known_names: Sequence[str]
) -> Redaction:
    """Replace the findings of one case's texts; a name found in any text goes in all."""
    names = [*known_names, *_found_names(texts, found)]
    counts: Counter[str] = Counter()
    redacted = []
    for t, findings in zip(texts, found, strict=True):
        spread = [f for name in names for f in _known_name(t, name)]
        kept = _whole_numbers(t, _resolve([*findings, *spread]))
        counts.update(f.kind for f in kept)
        redacted.append(_replace(t, kept))
    return Redaction(tuple(redacted), dict(counts))


def _kind(findings: Iterable[Finding], kind: str) -> Iterator[Finding]:
    return (f for f in findings if f.kind == kind)


def _replace(text: str, kept: Sequence[Finding]) -> str:
    pieces: list[str] = []
    cursor = 0
    for finding in kept:
        pieces.append(text[cursor : finding.start])
        pieces.append(PLACEHOLDERS[finding.kind])
        cursor = finding.end
    pieces.append(text[cursor:])
    return "".join(pieces)


def _found_names(texts: Sequence[str], found: Sequence[Sequence[Finding]]) -> list[str]:
    """Names the rules or the model found anywhere in the case, to replace everywhere."""
    names = {
        t[f.start : f.end]
        for t, fs in zip(texts, found, strict=True)
        for f in fs
        if f.kind == "NAME"
    }
    return _known(names)


def _whole_numbers(text: str, kept: list[Finding]) -> list[Finding]:
    """Widen phone and number findings to the whole digit group they sit in: never
    ``0151 [PHONE]`` nor ``(0141) [PHONE]``."""
    widened = [
        Finding(f.kind, *_digit_group(text, f.start, f.end))
        if f.kind in {"PHONE", "NUMBER", "CARD"}
        else f
        for f in kept
    ]
    return _resolve_sorted(widened)


_NUMBER_GLUE = " -./()"


def _digit_group(text: str, start: int, end: int) -> tuple[int, int]:
    """Grow ``start``/``end`` over digits and up to two separators between digits."""
    while True:
        j = start - 1
        while j >= 0 and start - j <= 3 and text[j] in _NUMBER_GLUE:
            j -= 1
        if j < 0 or not text[j].isdigit():
            break
        start = j
    while start > 0 and text[start - 1] == "(" and ")" in text[start:end]:
        start -= 1
    while True:
        j = end
        while j < len(text) and j - end < 3 and text[j] in _NUMBER_GLUE:
            j += 1
        if j >= len(text) or not text[j].isdigit():
            break
        end = j + 1
    return start, end


def _resolve_sorted(findings: list[Finding]) -> list[Finding]:
    """Merge findings that overlap after widening (the earlier one absorbs the later)."""
    merged: list[Finding] = []
    for finding in sorted(findings, key=lambda f: f.start):
        if merged and finding.start < merged[-1].end:
            last = merged[-1]
            merged[-1] = Finding(last.kind, last.start, max(last.end, finding.end))
        else:
            merged.append(finding)
    return merged


def _spelled_emails(text: str) -> Iterator[Finding]:
    for match in _SPELLED_EMAIL.finditer(text):
        spelled = match.group().lower()
        # "jo.doe@x.com" is the plain pattern's; here a spelled "at" or "dot" must be present.
        if re.search(r"\bat\b|\(at\)|\[at\]", spelled) or re.search(r"\bdot\b", spelled):
            yield Finding("EMAIL", match.start(), match.end())


def _resolve(findings: Iterable[Finding]) -> list[Finding]:
    """Keep findings in priority order, dropping any that overlaps one already kept."""
    kept: list[Finding] = []
    for finding in findings:
        if finding.end <= finding.start:
            continue
        if all(finding.end <= k.start or finding.start >= k.end for k in kept):
            kept.append(finding)
    return sorted(kept, key=lambda f: f.start)


def _inside_identifier(text: str, start: int, end: int) -> bool:
    """Whether a span is glued to letters, as in ``INV-2024-0042`` or ``SKU2024123``."""
    before = text[max(0, start - 2) : start]
    after = text[end : end + 2]
    return bool(re.search(r"[A-Za-z][-_/]?$", before) or re.match(r"^[-_/]?[A-Za-z]", after))


def _matches(kind: str, pattern: re.Pattern[str], text: str) -> Iterator[Finding]:
    for match in pattern.finditer(text):
        yield Finding(kind, match.start(), match.end())


def _urls(text: str) -> Iterator[Finding]:
    for match in _URL.finditer(text):
        url = match.group().rstrip(".,;:!?")
        if _carries_secret(url):
            yield Finding("URL", match.start(), match.start() + len(url))


def _carries_secret(url: str) -> bool:
    try:
        parts = urlsplit(url)
    except ValueError:
        return True  # unparseable: cannot prove it is harmless
    if "@" in parts.netloc:
        return True
    if any(_SECRET_PARAM.search(key) for key, _ in parse_qsl(parts.query, keep_blank_values=True)):
        return True
    if _SECRET_PARAM.search(parts.fragment):
        return True
    return any(_RANDOM_SEGMENT.match(segment) for segment in parts.path.split("/"))


def _ibans(text: str) -> Iterator[Finding]:
    for match in _IBAN.finditer(text):
        candidate = match.group()
        # The pattern may run into a following word: back off one group at a time.
        while len(candidate.replace(" ", "").replace("-", "")) >= 15:
            if stdnum_iban.is_valid(candidate):
                yield Finding("IBAN", match.start(), match.start() + len(candidate))
                break
            candidate = re.sub(r"[ -]?[A-Z0-9]{1,4}$", "", candidate)


def _cards(text: str) -> Iterator[Finding]:
    for match in _CARD.finditer(text):
        digits = re.sub(r"\D", "", match.group())
        if 12 <= len(digits) <= 19 and luhn.is_valid(digits):
            yield Finding("CARD", match.start(), match.end())


def _ips(text: str) -> Iterator[Finding]:
    for pattern in (_IPV4, _IPV6):
        for match in pattern.finditer(text):
            try:
                ipaddress.ip_address(match.group())
            except ValueError:
                continue
            yield Finding("IP", match.start(), match.end())


def _known_email(text: str, email: str | None) -> Iterator[Finding]:
    if not email or "@" not in email:
        return
    yield from _literal("EMAIL", email, text)
    local = email.split("@", 1)[0]
    if len(local) >= 4:
        yield from _literal("USER", local, text)


def _known_name(text: str, name: str | None) -> Iterator[Finding]:
    if not name or not name.strip():
        return
    yield from _literal("NAME", name.strip(), text)
    for part in re.split(r"[\s,]+", name.strip()):
        cleaned = part.strip(".")
        if len(cleaned) >= 3:  # "Al", "Jo": too short to tell apart from ordinary words
            yield from _literal("NAME", cleaned, text)


def _literal(kind: str, value: str, text: str) -> Iterator[Finding]:
    yield from _matches(kind, _whole_word(value), text)


@lru_cache(maxsize=4096)
def _whole_word(value: str) -> re.Pattern[str]:
    """``value`` as a whole word, any case (compiled once: each known name and address is
    looked for in every text of its case, and again when found names are spread)."""
    return re.compile(rf"(?<!\w){re.escape(value)}(?!\w)", re.IGNORECASE)
