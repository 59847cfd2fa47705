"""Learning throughput: resolved tickets → CASE_SUMMARY documents, against embedding alone.

Builds N resolved tickets (default 5,000) in a temporary SQLite store from the bundled Bitext
sample (flows/demo/data, CDLA-Sharing-1.0; messages cycled, each with generated personal data so
redaction has work to do), then measures in the same run, with the named-entity model (the
default setting) and with rules alone (``--ner both``, the default; ``on`` or ``off`` for one):

* embedding alone: the index's MiniLM encoder over the same N index texts, in learning's
  batches (the floor: learning cannot be faster than embedding what it indexes);
* end to end: `ingestion.cases.learn` on an empty embedded index (redact + summarise + tag +
  embed + upsert + store), as cases per second and as a ratio to embedding alone; per case,
  the median and p95 over batches of a batch's time divided by its cases (both sides), and the
  CPU time per case (``learn`` embeds each batch on a second thread while it redacts the next:
  on two cores its CPU time is above its wall-clock time; the floor runs the encoder as
  configured, ``CASELOOP_RETRIEVAL_ENCODER_THREADS``, default 1);
* with the model: a re-run with nothing new (median of 3) over every resolved ticket
  (``since=None``, the worst case: each case is rebuilt, redacted and hashed): its time and its
  index writes (must be 0); and the nightly re-run with nothing new (window since the last run);
* first, the redaction cost per message (300 bundled messages), rules alone and with the
  named-entity model, one message per call and 64 per call (``redact_many``, as learning does).

The sample has 560 distinct conversations, cycled: beyond that, phrase embeddings for tags hit
the tagger's cache more often than a corpus of all-distinct tickets would.

Usage::

    python benchmarks/learning.py [--cases 5000] [--ner both|on|off] [--redaction-only]
"""

from __future__ import annotations

import argparse
import datetime as dt
import gzip
import json
import statistics
import sys
import tempfile
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import retrieval
from ingestion.cases import LearningReport, default_encoder, learn
from ingestion.cases.redact import build_redactor
from ingestion.schema import Escalation, Ticket, TicketComment, TicketEvent
from ingestion.settings import IngestionSettings
from ingestion.store import Store, open_store

SAMPLE = Path(__file__).resolve().parents[1] / "flows" / "demo" / "data" / "bitext_sample.jsonl.gz"
T0 = dt.datetime(2026, 1, 5, 9, 0, tzinfo=dt.UTC)


class CountingIndex:
    """The real index with its write calls counted."""

    def __init__(self, index: retrieval.Index) -> None:
        self.inner, self.writes = index, 0

    def upsert(
        self,
        docs: Sequence[retrieval.CaseDocument],
        vectors: retrieval.index.DocumentVectors | None = None,
    ) -> int:
        self.writes += 1
        return self.inner.upsert(docs, vectors)

    def retract(self, case_ids: Sequence[str]) -> None:
        self.writes += 1
        self.inner.retract(case_ids)

    def __getattr__(self, name: str) -> Any:
        return getattr(self.inner, name)


def conversations() -> list[dict[str, Any]]:
    with gzip.open(SAMPLE, "rt", encoding="utf-8") as handle:
        return [json.loads(line) for line in handle if line.strip()]


def populate(store: Store, count: int) -> None:
    """``count`` resolved tickets with an escalation payload, an agent reply and an event."""
    sample = conversations()
    with store.transaction() as tx:
        for n in range(count):
            line = sample[n % len(sample)]
            name, email = f"Customer{n} Example", f"customer{n}@mail.example"
            message = f"{line['message']} (I'm {name}, reach me at {email} or +44 20 7946 {n % 10000:04d})"
            at = T0 + dt.timedelta(minutes=n)
            ticket = Ticket(
                source="bench",
                external_id=str(n),
                session_id=f"s{n}",
                tenant="acme",
                url=f"https://tickets.example/{n}",
                title=line["message"][:80],
                status="resolved",
                raw_status="resolved",
                customer_name=name,
                customer_email=email,
                created_at=at,
                synced_at=at,
            )
            tx.add(ticket)
            tx.flush()
            payload = {
                "transcript": [{"role": "customer", "text": message, "at": at.isoformat()}],
                "context": {"summary": "", "intent": line["intent"]},
                "customer": {"name": name, "email": email},
                "evidence": [],
            }
            tx.add(
                Escalation(
                    id=f"e{n}",
                    session_id=f"s{n}",
                    escalation_event_id="1",
                    tenant="acme",
                    reason="no_evidence",
                    intent=line["intent"],
                    payload=payload,
                    payload_hash=str(n),
                    kind="create",
                    state="delivered",
                    ticket_id=ticket.id,
                    created_at=at,
                )
            )
            tx.add(
                TicketComment(
                    ticket_id=ticket.id,
                    external_id=f"c{n}",
                    author="agent",
                    author_role="agent",
                    visibility="public",
                    body=line["reply"],
                    created_at=at + dt.timedelta(minutes=30),
                    mirrored_at=at + dt.timedelta(minutes=30),
                )
            )
            tx.add(
                TicketEvent(
                    ticket_id=ticket.id,
                    from_status="escalated",
                    to_status="resolved",
                    cause="bench",
                    occurred_at=at + dt.timedelta(hours=1),
                    recorded_at=at + dt.timedelta(hours=1),
                )
            )


def index_texts(store: Store) -> list[str]:
    """What the index embeds for each case, built the way learning builds it."""
    from sqlalchemy import select

    from ingestion.cases.document import build_draft
    from ingestion.cases.redact import Redactor

    redactor = Redactor()
    with store.transaction() as tx:
        tickets = list(tx.scalars(select(Ticket).order_by(Ticket.id)))
        drafts = [build_draft(tx, t, redactor) for t in tickets]
    return [d.index_text for d in drafts if d is not None]


def redaction_cost(messages: Sequence[str]) -> None:
    """Milliseconds per message, rules alone and rules + the named-entity model (same run):
    one message per call, and 64 messages per call (``redact_many``, as learning batches)."""
    from ingestion.cases.redact import CaseTexts, build_redactor

    for label, ner in (("rules alone", False), ("rules + named-entity model", True)):
        redactor = build_redactor(IngestionSettings(learning_ner=ner))
        redactor.redact(messages[0])  # warm up: the model loads on first use
        single = []
        for message in messages:
            t0 = time.perf_counter()
            redactor.redact(message)
            single.append((time.perf_counter() - t0) * 1000)
        batched = []
        for start in range(0, len(messages), 64):
            chunk = [CaseTexts((m,)) for m in messages[start : start + 64]]
            t0 = time.perf_counter()
            redactor.redact_many(chunk)
            batched.append((time.perf_counter() - t0) * 1000 / len(chunk))
        print(
            f"redaction, {label}: one message per call median {statistics.median(single):.1f} "
            f"ms, p95 {_p95(single):.1f} ms; 64 per call median {statistics.median(batched):.1f} "
            f"ms a message, p95 {_p95(batched):.1f} ms"
        )


def _p95(values: Sequence[float]) -> float:
    return statistics.quantiles(values, n=20)[-1] if len(values) > 1 else values[0]


class BatchClock:
    """Milliseconds per case of each learning batch (from ``learn``'s progress calls)."""

    def __init__(self) -> None:
        self.per_case: list[float] = []
        self._done, self._at = 0, time.perf_counter()

    def __call__(self, done: int, total: int) -> None:
        now = time.perf_counter()
        self.per_case.append((now - self._at) * 1000 / max(1, done - self._done))
        self._done, self._at = done, now


def embedding_alone(
    encoder: Any, texts: Sequence[str], batch: int
) -> tuple[float, float, list[float]]:
    """Seconds to embed ``texts`` in learning's batches (wall clock, CPU), and milliseconds per
    text per batch."""
    encoder.encode(texts[:32])  # warm up: model load and first-call costs
    per_case = []
    t0, cpu0 = time.perf_counter(), time.process_time()
    for start in range(0, len(texts), batch):
        chunk = texts[start : start + batch]
        t1 = time.perf_counter()
        encoder.encode(chunk)
        per_case.append((time.perf_counter() - t1) * 1000 / len(chunk))
    return time.perf_counter() - t0, time.process_time() - cpu0, per_case


def end_to_end(cases: int, ner: bool, reruns: bool) -> None:
    """Embedding alone, then ``learn`` over the same cases, in one fresh store and index."""
    settings = IngestionSettings(learning_ner=ner)
    label = "rules + named-entity model" if ner else "rules alone"
    with tempfile.TemporaryDirectory() as folder:
        store = open_store(f"sqlite:///{Path(folder) / 'bench.db'}")
        t0 = time.perf_counter()
        populate(store, cases)
        print(f"\n== redaction: {label} ==")
        print(f"setup: {cases} resolved tickets in {time.perf_counter() - t0:.1f} s")
        with retrieval.open_index(Path(folder) / "index") as opened:
            index = CountingIndex(opened)
            encoder = default_encoder(index)
            print(f"encoder: {index.encoder_choice.describe()}")
            embed_s, embed_cpu, embed_per_case = embedding_alone(
                encoder, index_texts(store), settings.learning_batch_size
            )
            build_redactor(settings).redact("Warm up, Ada Lovelace.")  # the model loads once
            clock = BatchClock()
            started = dt.datetime.now(dt.UTC)
            t0, cpu0 = time.perf_counter(), time.process_time()
            report = learn(store, None, index, settings, encoder=encoder, progress=clock)
            learn_s, learn_cpu = time.perf_counter() - t0, time.process_time() - cpu0
            summary(
                cases, (embed_s, embed_cpu), embed_per_case, (learn_s, learn_cpu), clock, report
            )
            if reruns:
                rerun(store, index, settings, started)
        store.dispose()


def rerun(
    store: Store, index: CountingIndex, settings: IngestionSettings, started: dt.datetime
) -> None:
    """The nightly re-run (window since the last run) and full re-runs, nothing new."""
    encoder = default_encoder(index)
    t0 = time.perf_counter()
    windowed = learn(store, None, index, settings, encoder=encoder, since=started)
    window_s = time.perf_counter() - t0
    times: list[float] = []
    writes_before, report = index.writes, LearningReport()  # after the windowed run
    for _ in range(3):
        t0 = time.perf_counter()
        report = learn(store, None, index, settings, encoder=encoder)
        times.append(time.perf_counter() - t0)
    print(
        f"re-run with nothing new: median {statistics.median(times):.2f} s over 3 runs, "
        f"{report.learned} learned, {index.writes - writes_before} index writes, "
        f"{len(report.skipped)} skipped as unchanged"
    )
    print(
        f"nightly re-run (window since the last run, nothing new): {window_s:.2f} s, "
        f"{windowed.learned} learned, {len(windowed.skipped)} looked at"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--cases", type=int, default=5000)
    parser.add_argument("--redaction-only", action="store_true", help="only the redaction cost")
    parser.add_argument(
        "--ner",
        choices=("on", "off", "both"),
        default="both",
        help="end to end with the named-entity model (the default setting), without, or both",
    )
    args = parser.parse_args()
    with gzip.open(SAMPLE, "rt", encoding="utf-8") as lines:
        redaction_cost([json.loads(line)["message"] for line in lines][:300])
    if args.redaction_only:
        return
    for ner in (True, False):
        if args.ner in ("both", "on" if ner else "off"):
            end_to_end(args.cases, ner, reruns=ner)


def summary(
    cases: int,
    embed: tuple[float, float],
    embed_per_case: Sequence[float],
    learning: tuple[float, float],
    clock: BatchClock,
    report: LearningReport,
) -> None:
    """``embed`` and ``learning``: (wall-clock seconds, CPU seconds)."""
    (embed_s, embed_cpu), (learn_s, learn_cpu) = embed, learning
    learn_per_case = clock.per_case
    embed_rate, learn_rate = cases / embed_s, report.learned / learn_s
    print(
        f"embedding alone (floor): {embed_rate:8.1f} docs/s  ({embed_s:.1f} s for {cases}; "
        f"per case median {statistics.median(embed_per_case):.1f} ms, "
        f"p95 {_p95(embed_per_case):.1f} ms over batches)"
    )
    print(
        f"learn end to end:        {learn_rate:8.1f} cases/s ({learn_s:.1f} s; "
        f"{report.learned} learned, {len(report.failed)} failed; per case median "
        f"{statistics.median(learn_per_case):.1f} ms, p95 {_p95(learn_per_case):.1f} ms)"
    )
    print(f"ratio end-to-end / embedding alone: {learn_rate / embed_rate:.2f}")
    print(
        f"CPU time per case: learn {learn_cpu * 1000 / max(1, report.learned):.1f} ms, "
        f"embedding alone {embed_cpu * 1000 / cases:.1f} ms"
    )
    print(f"tags in the vocabulary: {report.vocabulary_after} for {report.learned} cases")


if __name__ == "__main__":
    main()
