"""The operational store → the evaluation format: resolved tickets as cases, escalations as queries.

Cases are the latest ``active`` version of each case summary (``case_summaries``), with the time
the summary was made as ``resolved_at`` (the moment it could first be retrieved, which is what a
replay must respect) and its tags and metadata. Queries are the ``create`` escalations: the
customer's words in the transcript as the text, ``created_at`` as ``asked_at`` and the tenant as a
filter when the cases carry tenants.

Labels are what a store can say without a person: a query's relevant cases are the case built
from its own ticket (``own``), or additionally every case sharing a tag with it (``tags``, the
default: tags are the learning pipeline's 1–2 word names of the issue). The own case is resolved
after the question, so the replay never shows it to that query; it makes *later* questions about
the same issue answerable. Review and correct labels before publishing figures from them.
"""

from __future__ import annotations

import datetime as dt
from collections import defaultdict
from collections.abc import Mapping
from typing import Any, Literal

from sqlalchemy import select

from evaluation import store_reader
from evaluation.dataset import Case, Dataset, Query
from evaluation.errors import ConversionError
from evaluation.store_reader import CASE_SUMMARIES, ESCALATIONS

Relevance = Literal["own", "tags"]

_CASES = (
    select(CASE_SUMMARIES)
    .where(CASE_SUMMARIES.c.state == "active")
    .order_by(CASE_SUMMARIES.c.case_id, CASE_SUMMARIES.c.version)
)
_QUERIES = (
    select(ESCALATIONS)
    .where(ESCALATIONS.c.kind == "create")
    .order_by(ESCALATIONS.c.created_at, ESCALATIONS.c.id)
)


def _question(payload: Mapping[str, Any]) -> str:
    """The customer's words; else the orchestrator's summary; else the whole transcript."""
    transcript = payload.get("transcript", [])
    customer = [m.get("text", "") for m in transcript if m.get("role") == "customer"]
    summary = str((payload.get("context") or {}).get("summary", ""))
    for words in (customer, [summary], [m.get("text", "") for m in transcript]):
        joined = " ".join(w.strip() for w in words if w.strip())
        if joined:
            return joined
    return ""


def _flat(metadata: Mapping[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in metadata.items() if isinstance(v, str | int | float | bool)}


def _read(url: str) -> tuple[list[store_reader.Row], list[store_reader.Row]]:
    rows = store_reader.read(url, {"cases": _CASES, "escalations": _QUERIES})
    return rows["cases"], rows["escalations"]


def convert_store(
    url: str,
    *,
    since: dt.datetime | None = None,
    until: dt.datetime | None = None,
    relevance: Relevance = "tags",
) -> Dataset:
    """Cases and queries from the store at ``url`` (escalations asked in ``[since, until)``)."""
    rows, escalations = _read(url)
    latest: dict[str, Mapping[str, Any]] = {
        row["case_id"]: row for row in rows
    }  # last version wins
    cases, by_ticket, by_tag = [], defaultdict(list), defaultdict(set)
    for row in latest.values():
        tags = tuple(str(t) for t in row["tags"] or [])
        case = Case(
            case_id=row["case_id"],
            problem=row["problem"] or "(empty)",
            resolution=row["resolution"] or "",
            resolved_at=row["created_at"],  # UTC, as the reader returns times
            tags=tags,
            metadata=_flat(row["metadata"] or {}),
        )
        cases.append(case)
        by_ticket[row["ticket_id"]].append(case.case_id)
        for tag in tags:
            by_tag[tag].add(case.case_id)
    tenants = any("tenant" in case.metadata for case in cases)
    tags_of = {case.case_id: case.tags for case in cases}
    queries = []
    for row in escalations:
        asked: dt.datetime = row["created_at"]
        if (since and asked < since) or (until and asked >= until):
            continue
        question = _question(row["payload"] or {})
        if not question:
            raise ConversionError(f"escalation {row['id']}: the payload holds no text to replay")
        own = set(by_ticket.get(row["ticket_id"], ()))
        relevant = set(own)
        if relevance == "tags":
            for case_id in own:
                for tag in tags_of[case_id]:
                    relevant |= by_tag[tag]
        queries.append(
            Query(
                query_id=str(row["id"]),
                text=question,
                relevant=frozenset(relevant),
                asked_at=asked,
                filters={"tenant": row["tenant"]} if tenants and row["tenant"] else {},
            )
        )
    return Dataset(cases=tuple(cases), queries=tuple(queries))
