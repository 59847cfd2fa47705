"""Personal data out of case text before anything is stored or indexed.

Each detector finds spans of one kind; overlapping spans are resolved by priority (a URL that
carries a token wins over the e-mail inside it, an IBAN over the digits a phone matcher would
also claim) and every kept span is replaced by a typed placeholder such as ``[EMAIL]``.

What is detected, and with what:
    URL     URLs with credentials (``user:pass@``), secret-looking query parameters
            (token, key, signature, password, …) or long random path segments
    EMAIL   e-mail addresses (pattern)
    IBAN    IBANs, validated with python-stdnum (checksum and country format)
    CARD    12–19 digit numbers that pass the Luhn check (python-stdnum)
    IP      IPv4 and IPv6 addresses, validated with `ipaddress`
    PHONE   phone numbers found by Google's libphonenumber port (`phonenumbers`) for the
            configured regions, plus international ``+``-prefixed numbers anywhere, plus
            phone-shaped runs of 9+ digits starting with ``+``, ``00`` or ``0`` that it rejects
    NAME    the customer's own name (whole name and each part) when the ticket knows it
    EMAIL   the customer's own e-mail, and its local part as ``[USER]``

Names written freely in text (someone other than the customer, or the customer's name when the
ticket does not know it), postal addresses, dates of birth and account numbers without a checksum
are NOT detected: see ``docs/learning.md``.
"""

from __future__ import annotations

import ipaddress
import re
from collections import Counter
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from urllib.parse import parse_qsl, urlsplit

import phonenumbers
from stdnum import iban as stdnum_iban
from stdnum import luhn

PLACEHOLDERS: Mapping[str, str] = {
    kind: f"[{kind}]" for kind in ("URL", "EMAIL", "IBAN", "CARD", "IP", "PHONE", "NAME", "USER")
}

_URL = re.compile(r"\b(?:https?|ftp)://[^\s<>\"')\]]+", re.IGNORECASE)
_EMAIL = re.compile(r"\b[A-Za-z0-9._%+'-]+@[A-Za-z0-9-]+(?:\.[A-Za-z0-9-]+)*\.[A-Za-z]{2,}\b")
_IBAN = re.compile(r"\b[A-Z]{2}\d{2}(?:[ -]?[A-Z0-9]{1,4}){3,8}\b")
_CARD = re.compile(r"(?<![\d.+])\d(?:[ -]?\d){11,18}(?!\d)")  # "+44 …" is a phone
# Phone-shaped digit runs the libphonenumber matcher rejects as impossible numbers.
_PHONE_SHAPED = re.compile(r"(?<![\w+])(?:\+|00|0)\d[\d ()./-]{6,}\d(?!\w)")
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
class Finding:
    """One detected span of personal data."""

    kind: str
    start: int
    end: int


@dataclass(frozen=True, slots=True)
class Redaction:
    """Redacted text and how many spans of each kind were replaced."""

    text: str
    counts: Mapping[str, int] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class Redactor:
    """Finds and replaces personal data. ``regions`` are the phone-number regions tried."""

    regions: tuple[str, ...] = ("US", "GB", "DE", "FR")

    def redact(
        self, text: str, *, customer_name: Known = None, customer_email: Known = None
    ) -> Redaction:
        """Replace every finding in ``text`` by its placeholder.

        ``customer_name`` and ``customer_email`` take one value or several (a ticket and its
        escalations may know the customer under more than one).
        """
        kept = _resolve(self.find(text, customer_name=customer_name, customer_email=customer_email))
        pieces: list[str] = []
        cursor = 0
        for finding in kept:
            pieces.append(text[cursor : finding.start])
            pieces.append(PLACEHOLDERS[finding.kind])
            cursor = finding.end
        pieces.append(text[cursor:])
        return Redaction("".join(pieces), dict(Counter(f.kind for f in kept)))

    def find(
        self, text: str, *, customer_name: Known = None, customer_email: Known = None
    ) -> list[Finding]:
        """All findings in priority order (overlaps not yet resolved)."""
        emails, names = _known(customer_email), _known(customer_name)
        findings = [
            *_urls(text),
            *(f for email in emails for f in _known_email(text, email)),
            *_matches("EMAIL", _EMAIL, text),
            *_ibans(text),
            *_cards(text),
            *_ips(text),
            *self._phones(text),
            *(f for name in names for f in _known_name(text, name)),
        ]
        return findings

    def _phones(self, text: str) -> Iterator[Finding]:
        # libphonenumber is the slow part of redaction: skip it when no 7 digits stand together.
        if not any(len(re.sub(r"\D", "", m.group())) >= 7 for m in _DIGIT_RUN.finditer(text)):
            return
        # None as region finds "+CC …" numbers of any country; the regions add national formats.
        for region in (None, *self.regions):
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
    pattern = re.compile(rf"(?<!\w){re.escape(value)}(?!\w)", re.IGNORECASE)
    yield from _matches(kind, pattern, text)
