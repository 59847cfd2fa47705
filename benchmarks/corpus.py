"""Seeded synthetic case summaries for the latency benchmarks (Zipf vocabulary, real lengths).

Words are drawn from a Zipf law (exponent 1.07) over a vocabulary whose head is real support
vocabulary and whose tail is pronounceable made-up words, so BM25 sees a natural spread of
document frequencies; lengths are log-normal around 60 words (a problem plus a resolution).
Queries take 10–23 words of one case plus 2 random words (chat-length questions), so each has a lexical and a
semantic neighbour. Everything derives from the seed: two runs build the same corpus.
"""

from __future__ import annotations

import itertools

import numpy as np

HEAD = """refund card order payment account password login delivery parcel courier tracking charge fee
transfer bank app crash update subscription cancel invoice address email phone verify identity
blocked pending declined balance limit top up exchange rate currency cash withdrawal atm pin
contactless virtual physical replacement lost stolen fraud dispute merchant statement missing
late damaged return exchange warranty size colour stock discount coupon code voucher gift
loyalty points upgrade downgrade plan trial renewal reset link expired error message screen
page checkout basket shipping international customs duty tax receipt copy reopen ticket agent
support chat help request issue problem question resolved fixed reinstalled cleared cache
browser android iphone version settings notification sms code two factor authentication
security lock unlock profile name change document upload photo selfie passport licence proof
residence salary direct debit standing order scheduled recurring cancelled failed reversed
refunded credited debited twice duplicate wrong amount overcharged""".split()  # noqa: SIM905 - a word list reads better as prose
_SYLLABLES = [
    "ka",
    "lo",
    "mi",
    "ran",
    "tes",
    "vo",
    "qui",
    "ber",
    "sul",
    "dar",
    "nen",
    "po",
    "ty",
    "zel",
]


def vocabulary(size: int, rng: np.random.Generator) -> list[str]:
    words = list(dict.fromkeys(HEAD))
    seen = set(words)
    while len(words) < size:
        word = "".join(rng.choice(_SYLLABLES, size=int(rng.integers(2, 5))))
        if word not in seen:
            seen.add(word)
            words.append(word)
    return words


class Corpus:
    """``n`` case texts and tenant labels, drawn from ``seed``."""

    def __init__(self, n: int, seed: int = 7, vocab_size: int = 30_000, tenants: int = 20) -> None:
        rng = np.random.default_rng(seed)
        self.words = np.array(vocabulary(vocab_size, rng))
        ranks = np.arange(1, vocab_size + 1, dtype=np.float64)
        self._p = ranks**-1.07 / np.sum(ranks**-1.07)
        self._rng = rng
        lengths = np.clip(rng.lognormal(np.log(60), 0.45, size=n), 12, 250).astype(int)
        draws = rng.choice(vocab_size, size=int(lengths.sum()), p=self._p)
        bounds = np.concatenate([[0], np.cumsum(lengths)])
        self.texts = [" ".join(self.words[draws[a:b]]) for a, b in itertools.pairwise(bounds)]
        self.tenants = [f"tenant-{t}" for t in rng.zipf(1.5, size=n) % tenants]

    def queries(self, count: int) -> list[str]:
        out = []
        for i in self._rng.choice(len(self.texts), size=count, replace=False):
            words = self.texts[int(i)].split()
            take = int(self._rng.integers(10, 24))
            start = int(self._rng.integers(0, max(1, len(words) - take)))
            extra = self.words[self._rng.choice(len(self.words), size=2, p=self._p)]
            out.append(" ".join([*words[start : start + take], *extra]))
        return out
