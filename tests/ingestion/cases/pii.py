"""A generated personal-data corpus (Faker, fixed seeds) and a leak detector for it."""

from __future__ import annotations

import re
from dataclasses import dataclass

from faker import Faker

LOCALES = ("en_US", "en_GB", "de_DE", "fr_FR")


@dataclass(frozen=True, slots=True)
class Person:
    """One customer's personal data and a support message that mentions all of it."""

    name: str
    email: str
    phone: str
    card: str
    iban: str
    ip: str
    token_url: str
    credential_url: str

    @property
    def values(self) -> tuple[str, ...]:
        first, last = self.name.split(" ", 1)
        return (
            self.name,
            first,
            last,
            self.email,
            self.phone,
            self.card,
            self.iban,
            self.ip,
            self.token_url,
            self.credential_url,
        )

    def message(self) -> str:
        return (
            f"Hi, this is {self.name}. My login {self.email} stopped working, call me on "
            f"{self.phone}. I paid with card {self.card} (IBAN {self.iban}) from {self.ip}. "
            f"The reset link {self.token_url} fails and so does {self.credential_url}. "
            f"Thanks, {self.name.split(' ')[0]}"
        )


def people(count: int, seed: int = 20261126) -> list[Person]:
    """``count`` people spread over several locales (phone and IBAN formats differ)."""
    result = []
    for i in range(count):
        fake = Faker(LOCALES[i % len(LOCALES)])
        fake.seed_instance(seed + i)
        result.append(
            Person(
                name=f"{fake.first_name()} {fake.last_name()}",
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
            )
        )
    return result


def leaks(person: Person, text: str) -> list[str]:
    """The values of ``person`` still readable in ``text`` (names as whole words)."""
    found = []
    for value in person.values:
        pattern = rf"(?<!\w){re.escape(value)}(?!\w)"
        if re.search(pattern, text, re.IGNORECASE):
            found.append(value)
    digits = re.sub(r"\D", "", text)
    for number in (person.card, person.iban[4:]):
        if re.sub(r"\D", "", number) in digits:
            found.append(number)
    return found
