"""Tag quality on the bundled Bitext sample: do tags describe the problem?

Every conversation of the sample (flows/demo/data, 560, 27 intents) is redacted and tagged as
learning does (customer message + agent reply, one shared vocabulary). Two figures:

* agreement within an intent: for each intent, the share of its cases that carry the intent's
  most common tag, averaged over intents (higher: cases of one problem get the same tag);
* tags shared across intents: the share of tag uses whose tag also tags another intent
  (lower: a tag tells problems apart).

Usage::

    python benchmarks/tags.py
"""

from __future__ import annotations

import gzip
import json
import sys
import tempfile
from collections import Counter, defaultdict
from collections.abc import Callable, Sequence
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import retrieval
from ingestion.cases import Tagger, Vocabulary, default_encoder
from ingestion.cases.redact import Redactor

SAMPLE = Path(__file__).resolve().parents[1] / "flows" / "demo" / "data" / "bitext_sample.jsonl.gz"


def quality(intents: Sequence[str], tags: Sequence[Sequence[str]]) -> dict[str, float]:
    """Agreement within intents and sharing across them."""
    by_intent: dict[str, list[Sequence[str]]] = defaultdict(list)
    for intent, case_tags in zip(intents, tags, strict=True):
        by_intent[intent].append(case_tags)
    agreement = []
    for cases in by_intent.values():
        counts = Counter(t for case_tags in cases for t in set(case_tags))
        agreement.append(counts.most_common(1)[0][1] / len(cases) if counts else 0.0)
    intents_of: dict[str, set[str]] = defaultdict(set)
    for intent, case_tags in zip(intents, tags, strict=True):
        for t in case_tags:
            intents_of[t].add(intent)
    uses = [t for case_tags in tags for t in case_tags]
    shared = sum(1 for t in uses if len(intents_of[t]) > 1) / max(1, len(uses))
    return {
        "agreement_within_intent": sum(agreement) / len(agreement),
        "shared_across_intents": shared,
        "vocabulary": float(len(intents_of)),
    }


def run(tagger: Tagger, texts: Sequence[str], intents: Sequence[str]) -> dict[str, float]:
    """Tag ``texts`` in batches of 64 (as learning does) and score them."""
    vocabulary = Vocabulary()
    tags: list[tuple[str, ...]] = []
    for start in range(0, len(texts), 64):
        tags.extend(tagger.tag_many(texts[start : start + 64], vocabulary))
    return quality(intents, tags)


def main(extra: Callable[[object], Tagger] | None = None) -> None:
    with gzip.open(SAMPLE, "rt", encoding="utf-8") as lines:
        rows = [json.loads(line) for line in lines]
    redactor = Redactor()
    texts = ["\n".join(redactor.redact([r["message"], r["reply"]]).texts) for r in rows]
    intents = [r["intent"] for r in rows]
    with tempfile.TemporaryDirectory() as folder, retrieval.open_index(Path(folder)) as index:
        encoder = default_encoder(index)
        if extra is not None:
            print("before", run(extra(encoder), texts, intents))
        print("now   ", run(Tagger(encoder, screen=redactor.detects), texts, intents))


if __name__ == "__main__":
    main()
