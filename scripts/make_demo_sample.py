"""Build the demo's bundled sample from the Bitext customer-support CSV.

    python scripts/make_demo_sample.py PATH/TO/Bitext_Sample_Customer_Support_Training_Dataset.csv

Writes ``flows/demo/data/bitext_sample.jsonl.gz`` (deterministic: fixed seed, gzip mtime 0) and
copies the data set's ``LICENSE.txt`` (CDLA-Sharing-1.0, found beside the CSV) next to it. The
sample is derived data and stays under CDLA-Sharing-1.0; `flows/demo/data/ATTRIBUTION.md` says so.

Each line is one customer conversation::

    {"id": "bitext-00042", "split": "conversation", "day": 1, "minute": 545,
     "intent": "cancel_order", "category": "ORDER", "customer": "customer-017",
     "message": "how can I cancel purchase 113542617735902?", "reply": "I understand …",
     "internal_note": "Checked …" | null}

``split`` is ``conversation`` (the simulated days) or ``calibration`` (held-out questions used to
fit the verdict policy; they never appear as conversations). ``intent`` is the ground truth: a
bot answer is right when the case it answers from was learned from a conversation with the same
intent. Some intents only start on a later day (new problems), some appear only in calibration
(problems never learned: the right action is to escalate).
"""

from __future__ import annotations

import argparse
import csv
import gzip
import io
import json
import random
import re
import shutil
from pathlib import Path

SEED = 20240611
DAYS = 6
PER_DAY = 80
#: Held-out questions for the night-1 calibration. The no-match guard is a conformal quantile of
#: the questions about problems not learned yet: with fewer than about 40 of them it can only sit
#: above the most confident one, and 80 questions in all left too few answers above it to show
#: 90% precision (`docs/demo.md`, "The verdict is calibrated").
CALIBRATION_IN_SCOPE = 280
CALIBRATION_OUT_OF_SCOPE = 80
#: Problems the customers bring from day 1 on.
STEADY_INTENTS = (
    "cancel_order",
    "change_shipping_address",
    "check_cancellation_fee",
    "check_invoice",
    "delete_account",
    "delivery_options",
    "get_refund",
    "newsletter_subscription",
    "payment_issue",
    "recover_password",
    "track_order",
    "track_refund",
)
#: New problems that first appear on day 3.
LATE_INTENTS = ("check_payment_methods", "registration_problems")
LATE_FROM_DAY = 3
#: A customer asking for a person: the chatbot always hands these over.
HUMAN_INTENT = "contact_human_agent"
HUMAN_SHARE = 0.05
#: Never seen as conversations: calibration questions whose right answer is "escalate".
OUT_OF_SCOPE_INTENTS = ("place_order", "review", "switch_account")
NOTE_SHARE = 0.35
NOTES = (
    "Internal: checked the {category} records for this customer, nothing unusual. Sending the standard procedure.",
    "Internal: customer history looks clean; {intent} handled with the usual steps. Do not share the audit notes.",
    "Internal: verified identity against the CRM before replying (ref {ref}).",
)
#: Bitext writes slots as ``{{Slot Name}}``. They are filled with plain values: the text then
#: reads like a real reply, and django-helpdesk renders follow-up text as a Django template,
#: where ``{{Website Name}}`` is a syntax error.
SLOT_VALUES = {
    "Customer Support Phone Number": "0800 555 0199",
    "Support Phone Number": "0800 555 0199",
    "Phone": "0800 555 0199",
    "Customer Support Email": "support@example-shop.com",
    "Customer Support Email Address": "support@example-shop.com",
    "Support Email": "support@example-shop.com",
    "Email": "support@example-shop.com",
    "Website Name": "example-shop.com",
    "Website/App Name": "example-shop.com",
    "Website or App": "example-shop.com",
    "Website URL": "https://example-shop.com",
    "Customer Support Availability": "from 8am to 8pm, Monday to Saturday",
    "Support Team Availability": "from 8am to 8pm, Monday to Saturday",
}
SLOT = re.compile(r"\{\{\s*([^{}]*?)\s*\}\}")
OUTPUT = Path(__file__).resolve().parent.parent / "flows" / "demo" / "data"


def read_rows(path: Path) -> dict[str, list[dict[str, str]]]:
    """The CSV rows grouped by intent, each row tagged with its line number as a stable id."""
    by_intent: dict[str, list[dict[str, str]]] = {}
    with path.open(newline="", encoding="utf-8") as handle:
        for number, row in enumerate(csv.DictReader(handle)):
            for field in ("instruction", "intent", "category", "response"):
                if not (row.get(field) or "").strip():
                    raise SystemExit(f"{path}: row {number}: field {field!r} is empty")
            row["id"] = f"bitext-{number:05d}"
            by_intent.setdefault(row["intent"], []).append(row)
    return by_intent


def fill_slots(text: str) -> str:
    """Replace ``{{Slot}}`` placeholders with a value (or the slot's own name, e.g. a menu label)."""

    def value(match: re.Match[str]) -> str:
        name = match.group(1)
        if name.endswith("Anonymized"):
            return "the number you gave us"
        return SLOT_VALUES.get(name, name)

    return SLOT.sub(value, text)


def day_intents(day: int, rng: random.Random) -> str:
    """Draw the intent of one conversation on ``day``."""
    if rng.random() < HUMAN_SHARE:
        return HUMAN_INTENT
    pool = STEADY_INTENTS + (LATE_INTENTS if day >= LATE_FROM_DAY else ())
    return rng.choice(pool)


def record(row: dict[str, str], split: str, day: int, minute: int, rng: random.Random) -> dict:
    note = None
    if split == "conversation" and rng.random() < NOTE_SHARE:
        note = rng.choice(NOTES).format(
            category=row["category"].lower(), intent=row["intent"], ref=rng.randrange(10**5, 10**6)
        )
    return {
        "id": row["id"],
        "split": split,
        "day": day,
        "minute": minute,
        "intent": row["intent"],
        "category": row["category"],
        "customer": f"customer-{rng.randrange(1000):03d}",
        "message": fill_slots(" ".join(row["instruction"].split())),
        "reply": fill_slots(row["response"].replace("\r\n", "\n").strip()),
        "internal_note": note,
    }


def build(by_intent: dict[str, list[dict[str, str]]]) -> list[dict]:
    rng = random.Random(SEED)
    pools = {intent: rng.sample(rows, len(rows)) for intent, rows in sorted(by_intent.items())}
    for intent in (*STEADY_INTENTS, *LATE_INTENTS, HUMAN_INTENT, *OUT_OF_SCOPE_INTENTS):
        if intent not in pools:
            raise SystemExit(f"intent {intent!r} is missing from the source data")
    out: list[dict] = []
    for day in range(1, DAYS + 1):
        minutes = sorted(rng.sample(range(8 * 60, 20 * 60), PER_DAY))
        for minute in minutes:
            row = pools[day_intents(day, rng)].pop()
            out.append(record(row, "conversation", day, minute, rng))
    in_scope = (*STEADY_INTENTS, *LATE_INTENTS)
    for index in range(CALIBRATION_IN_SCOPE):
        out.append(record(pools[in_scope[index % len(in_scope)]].pop(), "calibration", 0, 0, rng))
    for index in range(CALIBRATION_OUT_OF_SCOPE):
        intent = OUT_OF_SCOPE_INTENTS[index % len(OUT_OF_SCOPE_INTENTS)]
        out.append(record(pools[intent].pop(), "calibration", 0, 0, rng))
    return out


def write(records: list[dict], target: Path) -> None:
    buffer = io.BytesIO()
    # mtime=0 and a fixed filename keep the archive byte-identical across runs.
    with gzip.GzipFile(filename="bitext_sample.jsonl", mode="wb", fileobj=buffer, mtime=0) as gz:
        for item in records:
            gz.write((json.dumps(item, ensure_ascii=False, sort_keys=True) + "\n").encode())
    target.write_bytes(buffer.getvalue())


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("source", type=Path, help="the Bitext customer-support CSV")
    parser.add_argument("--out", type=Path, default=OUTPUT, help="output folder")
    args = parser.parse_args()
    licence = args.source.parent / "LICENSE.txt"
    if not licence.is_file():
        raise SystemExit(f"{licence}: the CDLA-Sharing-1.0 licence text must sit beside the CSV")
    records = build(read_rows(args.source))
    args.out.mkdir(parents=True, exist_ok=True)
    write(records, args.out / "bitext_sample.jsonl.gz")
    shutil.copyfile(licence, args.out / "LICENSE.txt")
    print(f"wrote {len(records)} rows to {args.out / 'bitext_sample.jsonl.gz'}")


if __name__ == "__main__":
    main()
