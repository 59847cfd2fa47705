"""A generated personal-data corpus (Faker, fixed seeds, seven locales) and leak detectors for it.

Every person carries the categories the redactor claims, in shapes it was not written against:
third-party names, street addresses with postcodes, dates of birth in several formats, national
ids, pasted passwords, PINs, one-time codes, API keys of several providers and spelled-out
e-mails. ``leaks_by_kind`` says which of a person's values are still readable in a text.
"""

from __future__ import annotations

import datetime as dt
import functools
import random
import re
import string
from collections.abc import Iterator
from dataclasses import dataclass

from faker import Faker

LOCALES = ("en_US", "en_GB", "de_DE", "fr_FR", "es_ES", "it_IT", "nl_NL")


@dataclass(frozen=True, slots=True)
class Person:
    """One customer's personal data, secrets and the people around them."""

    locale: str
    name: str
    email: str
    phone: str
    card: str
    iban: str
    ip: str
    token_url: str
    credential_url: str
    other_name: str  # a relative or colleague, named after a cue ("my daughter …")
    bare_name: str  # a third person named with no cue: only the named-entity model can tell
    address: str
    dob: str
    national_id: str | None  # None: the locale has no id python-stdnum validates
    password: str
    pin: str
    otp: str
    api_key: str
    spelled_email: str
    variant: int

    @property
    def first(self) -> str:
        return self.name.split(" ", 1)[0]

    def by_kind(self) -> dict[str, tuple[str, ...]]:
        """The values of each category (names split into their parts)."""
        return {
            "NAME": (self.name, *_parts(self.name), self.other_name, *_parts(self.other_name)),
            "EMAIL": (self.email, self.spelled_email),
            "PHONE": (self.phone,),
            "CARD": (self.card,),
            "IBAN": (self.iban,),
            "IP": (self.ip,),
            "URL": (self.token_url, self.credential_url),
            "ADDRESS": (self.address,),
            "DOB": (self.dob,),
            "NATIONAL_ID": (self.national_id,) if self.national_id else (),
            "SECRET": (self.password, self.pin, self.otp, self.api_key),
            "BARE_NAME": (self.bare_name, *_parts(self.bare_name)),
        }

    @property
    def values(self) -> tuple[str, ...]:
        return tuple(v for values in self.by_kind().values() for v in values)

    def message(self) -> str:
        """A customer's message that carries every category."""
        return " ".join(self.sentences())

    def sentences(self) -> list[str]:
        v = self.variant
        return [
            _pick(
                v,
                f"Hi, this is {self.name}.",
                f"Bonjour, {self.name} ici.",
                f"Hello team, my name is {self.name}.",
            ),
            f"My login {self.email} stopped working, call me on {self.phone}.",
            _pick(
                v,
                f"I tried my password {self.password} three times",
                f"my password is {self.password}",
                f"pwd: {self.password}",
            )
            + _pick(
                v,
                f" and my PIN is {self.pin}.",
                f", PIN {self.pin}.",
                f" and the pin code {self.pin} fails.",
            ),
            _pick(
                v,
                f"The one-time code {self.otp} never arrived.",
                f"Verification code: {self.otp} expired.",
                f"The SMS code {self.otp} is rejected.",
            ),
            f"Our integration key {self.api_key} was revoked.",
            f"You can also write to {self.spelled_email}.",
            f"I paid with card {self.card} (IBAN {self.iban}) from {self.ip}.",
            f"The reset link {self.token_url} fails and so does {self.credential_url}.",
            _pick(
                v,
                f"My daughter {self.other_name} set it up.",
                f"My colleague {self.other_name} has the same problem.",
                f"I spoke to {self.other_name} yesterday about it.",
            ),
            _pick(
                v,
                f"I live at {self.address}.",
                f"Please ship to {self.address}.",
                f"My address is {self.address}.",
            ),
            _pick(
                v, f"I was born on {self.dob}.", f"Date of birth: {self.dob}.", f"DOB {self.dob}."
            ),
            *([f"My national id is {self.national_id}."] if self.national_id else []),
            _pick(
                v,
                f"{self.bare_name} at the shop said it would be fixed.",
                f"Yesterday {self.bare_name} promised a refund.",
                f"The technician, {self.bare_name}, never came.",
            ),
            f"Thanks, {self.first}",
        ]


def _pick(variant: int, *options: str) -> str:
    return options[variant % len(options)]


def _parts(name: str) -> tuple[str, ...]:
    return tuple(p for p in re.split(r"[\s-]+", name) if len(p) >= 3)


def people(count: int, seed: int = 20261126, locales: tuple[str, ...] = LOCALES) -> list[Person]:
    """``count`` people spread over ``locales`` (phone, IBAN, address formats differ)."""
    return [_person(i, seed, locales) for i in range(count)]


def _person(i: int, seed: int, locales: tuple[str, ...] = LOCALES) -> Person:
    locale = locales[i % len(locales)]
    fake = Faker(locale)
    fake.seed_instance(seed + i)
    rng = random.Random(seed + i)
    first, last = fake.first_name(), fake.last_name()
    return Person(
        locale=locale,
        name=f"{first} {last}",
        email=fake.email(),
        phone=fake.phone_number(),
        card=fake.credit_card_number(),
        iban=fake.iban(),
        ip=fake.ipv4() if i % 2 else fake.ipv6(),
        token_url=f"https://{fake.domain_name()}/reset?token={fake.sha1()}",
        credential_url=(
            f"ftp://{fake.user_name()}:{fake.password(special_chars=False)}"
            f"@{fake.domain_name()}/export"
        ),
        other_name=f"{fake.first_name()} {fake.last_name()}",
        bare_name=f"{fake.first_name()} {fake.last_name()}",
        address=_address(fake),
        dob=_dob(fake, i),
        national_id=_national_id(fake, locale),
        password=fake.password(length=rng.randint(9, 14)),
        pin="".join(rng.choices(string.digits, k=rng.choice((4, 5, 6)))),
        otp="".join(rng.choices(string.digits, k=6)),
        api_key=_api_key(rng, i),
        spelled_email=_spelled(
            f"{fake.first_name()}.{fake.last_name()}{rng.randint(1, 99)}",
            fake.free_email_domain(),
            i,
        ),
        variant=i // len(locales),
    )


def _address(fake: Faker) -> str:
    return f"{fake.street_address()}, {fake.postcode()} {_city(fake)}".replace("\n", ", ")


def _city(fake: Faker) -> str:
    """A city; the same one for a seed whatever ``PYTHONHASHSEED`` is.

    Faker's ``it_IT`` provider builds its city list from a set, so the list's order, and the city
    a seed picks from it, changed from one interpreter to the next; pick from it sorted instead.
    """
    if fake.locales == ["it_IT"]:
        return str(fake.random_element(_italian_cities()))
    return str(fake.city())


@functools.cache
def _italian_cities() -> tuple[str, ...]:
    from faker.providers.address.it_IT import Provider

    return tuple(sorted(Provider.cities))


def _dob(fake: Faker, i: int) -> str:
    # Fixed bounds: date_of_birth counts from today, so the corpus would change every day.
    born = fake.date_between_dates(dt.date(1936, 1, 1), dt.date(2007, 12, 31))
    formats = ("%d/%m/%Y", "%Y-%m-%d", "%d %B %Y", "%B %d, %Y", "%d.%m.%Y")
    return born.strftime(formats[i % len(formats)])


def _national_id(fake: Faker, locale: str) -> str | None:
    if locale in {"en_US", "fr_FR", "it_IT"}:
        return str(fake.ssn())
    if locale == "es_ES":
        return str(fake.nif())
    return None


def _api_key(rng: random.Random, i: int) -> str:
    alnum = string.ascii_letters + string.digits

    def chars(n: int, alphabet: str = alnum) -> str:
        return "".join(rng.choices(alphabet, k=n))

    shapes = (
        f"sk_live_{chars(24)}",
        f"ghp_{chars(36)}",
        f"AKIA{chars(16, string.ascii_uppercase + string.digits)}",
        f"xoxb-{chars(11, string.digits)}-{chars(12, string.digits)}-{chars(24)}",
        f"rk_test_{chars(24)}",
        f"sk-proj-{chars(20)}T3BlbkFJ{chars(20)}",
    )
    return shapes[i % len(shapes)]


def _spelled(local: str, domain: str, i: int) -> str:
    """Someone else's address, spelled out the ways people dodge e-mail filters."""
    local = re.sub(r"[^\w.]", "", local.lower())
    host, _, tld = domain.rpartition(".")
    shapes = (
        f"{local.replace('.', ' dot ')} at {host} dot {tld}",
        f"{local.replace('.', '(dot)')}(at){host}(dot){tld}",
        f"{local} [at] {host} [dot] {tld}",
    )
    return shapes[i % len(shapes)]


def leaks_by_kind(person: Person, text: str) -> dict[str, list[str]]:
    """The values of ``person`` still readable in ``text``, by category."""
    found: dict[str, list[str]] = {}
    digits = re.sub(r"\D", "", text)
    for kind, values in person.by_kind().items():
        for value in values:
            if _readable(value, text, digits, kind):
                found.setdefault(kind, []).append(value)
    return found


def _readable(value: str, text: str, digits: str, kind: str) -> bool:
    if re.search(rf"(?<!\w){re.escape(value)}(?!\w)", text, re.IGNORECASE):
        return True
    value_digits = re.sub(r"\D", "", value)
    if kind in {"CARD", "IBAN", "PHONE", "NATIONAL_ID"} and len(value_digits) >= 7:
        return value_digits[-7:] in digits  # any 7 trailing digits left identify the number
    if kind == "ADDRESS":  # the street line is what identifies a home
        parts = [p.strip() for p in value.split(",")]
        street = ", ".join(parts[:2]) if parts[0].isdigit() else parts[0]  # "4, avenue de …"
        return bool(re.search(rf"(?<!\w){re.escape(street)}(?!\w)", text, re.IGNORECASE))
    return False


def leaks(person: Person, text: str) -> list[str]:
    """Every value of ``person`` still readable in ``text``."""
    return [v for values in leaks_by_kind(person, text).values() for v in values]


def people_by_kind(corpus: list[Person]) -> Iterator[tuple[str, int]]:
    """How many values of each category the corpus holds."""
    for kind in corpus[0].by_kind():
        yield kind, sum(len(p.by_kind()[kind]) for p in corpus)
