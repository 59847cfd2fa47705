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
import json
from collections import defaultdict
from collections.abc import Mapping
from typing import Any, Literal

from sqlalchemy import create_engine, text
from sqlalchemy.exc import SQLAlchemyError

from evaluation.dataset import Case, Dataset, Query
from evaluation.errors import ConversionError

Relevance = Literal["own", "tags"]

_CASES = (
    "SELECT case_id, ticket_id, version, problem, resolution, tags, metadata, created_at "
    "FROM case_summaries WHERE state = 'active' ORDER BY case_id, version"
)
_QUERIES = (
    "SELECT id, session_id, tenant, payload, ticket_id, created_at FROM escalations "
    "WHERE kind = 'create' ORDER BY created_at, id"
)


def _json(value: Any) -> Any:
    return json.loads(value) if isinstance(value, str) else value


def _utc(value: Any) -> dt.datetime:
    when = dt.datetime.fromisoformat(value) if isinstance(value, str) else value
    if not isinstance(when, dt.datetime):
        raise ConversionError(f"cannot read the store: {value!r} is not a time")
    return when.replace(tzinfo=dt.UTC) if when.tzinfo is None else when.astimezone(dt.UTC)


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


def _read(url: str) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    engine = create_engine(url)
    try:
        with engine.connect() as conn:
            cases = [dict(row._mapping) for row in conn.execute(text(_CASES))]
            escalations = [dict(row._mapping) for row in conn.execute(text(_QUERIES))]
    except SQLAlchemyError as exc:
        raise ConversionError(f"cannot read the store: {exc}") from exc
    finally:
        engine.dispose()
    return cases, escalations


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
        tags = tuple(str(t) for t in _json(row["tags"]) or [])
        case = Case(
            case_id=row["case_id"],
            problem=row["problem"] or "(empty)",
            resolution=row["resolution"] or "",
            resolved_at=_utc(row["created_at"]),
            tags=tags,
            metadata=_flat(_json(row["metadata"]) or {}),
        )
        cases.append(case)
        by_ticket[row["ticket_id"]].append(case.case_id)
        for tag in tags:
            by_tag[tag].add(case.case_id)
    tenants = any("tenant" in case.metadata for case in cases)
    tags_of = {case.case_id: case.tags for case in cases}
    queries = []
    for row in escalations:
        asked = _utc(row["created_at"])
        if (since and asked < since) or (until and asked >= until):
            continue
        question = _question(_json(row["payload"]) or {})
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
