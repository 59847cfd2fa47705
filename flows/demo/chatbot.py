"""The simulated orchestrator: a small chatbot that uses caseloop exactly as a real one would.

It imports nothing of caseloop but the public `retrieval` API (an open `Index` and its
``assess``) and speaks HTTP to the caseloop service: ``POST /escalations`` to hand a conversation
over, ``GET /escalations/{id}`` to follow it, ``GET /sessions/{id}/messages`` to read the agents'
replies. It never looks into the store or the helpdesk.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

import httpx

from flows.demo.errors import DemoError
from flows.demo.ledger import Outcome
from flows.demo.sample import Conversation
from retrieval import Assessment, Hit, Index

TENANT = "demo"
HANDOVER = "I'm passing you to a colleague who can help; they will answer here shortly."


class Chatbot:
    """Answers from case summaries when the verdict allows, escalates otherwise."""

    def __init__(self, index: Index, service_url: str, *, client: httpx.Client) -> None:
        self._index = index
        self._url = service_url.rstrip("/")
        self._client = client

    def converse(
        self, conversation: Conversation, session_id: str, at: dt.datetime, *, force: bool = False
    ) -> Outcome:
        """One customer message: answer it, or escalate it with the evidence the bot had.

        ``force``: the customer insists on a person, so the bot escalates whatever it found.
        """
        assessment = self._index.assess(conversation.message)
        outcome = Outcome(
            conversation_id=conversation.id,
            session_id=session_id,
            day=conversation.day,
            intent=conversation.intent,
            action="answered" if assessment.action == "answer" and not force else "escalated",
            reason=assessment.reason or ("low_confidence" if force else None),
        )
        if outcome.action == "answered":
            outcome.served_case_id = assessment.hits[0].case_id
            return outcome
        view = self._escalate(conversation, session_id, at, assessment)
        outcome.escalation_id = str(view["id"])
        return outcome

    def _escalate(
        self, conversation: Conversation, session_id: str, at: dt.datetime, assessment: Assessment
    ) -> dict[str, Any]:
        payload = {
            "session_id": session_id,
            "escalation_event_id": "handover-1",
            "tenant": TENANT,
            "customer": {
                "id": conversation.customer,
                "name": conversation.customer.replace("-", " ").title(),
                "email": f"{conversation.customer}@example.com",
            },
            "transcript": [
                {"role": "customer", "text": conversation.message, "at": at.isoformat()},
                {"role": "bot", "text": HANDOVER, "at": at.isoformat()},
            ],
            "context": {"summary": conversation.message},
            "evidence": [_evidence(hit, at) for hit in assessment.hits[:3]],
            "reason": assessment.reason or "low_confidence",
        }
        response = self._client.post(f"{self._url}/escalations", json=payload)
        if response.status_code not in (200, 201, 202):
            raise DemoError(
                f"POST /escalations answered {response.status_code}: {response.text[:300]}"
            )
        body: dict[str, Any] = response.json()
        return body

    def report_outcome(
        self, session_id: str, outcome: str, confirmation: str, served: list[str]
    ) -> None:
        """``POST /sessions/{id}/outcome``: how the session ended, for the online metrics."""
        body = {
            "outcome": outcome,
            "confirmation": confirmation,
            "tenant": TENANT,
            "served_case_ids": served,
        }
        url = f"{self._url}/sessions/{session_id}/outcome"
        response = self._client.post(url, json=body)
        if response.status_code not in (200, 201):
            raise DemoError(f"POST {url} answered {response.status_code}: {response.text[:300]}")

    def escalation_state(self, escalation_id: str) -> dict[str, Any]:
        """``GET /escalations/{id}``: state (pending | delivered | dead) and the ticket."""
        response = self._client.get(f"{self._url}/escalations/{escalation_id}")
        if response.status_code != 200:
            raise DemoError(f"GET /escalations/{escalation_id} answered {response.status_code}")
        body: dict[str, Any] = response.json()
        return body

    def messages(self, session_id: str) -> list[str]:
        """Every agent message forwarded to this session so far, oldest first."""
        bodies: list[str] = []
        after: object = None
        while True:
            params = {"after": str(after)} if after is not None else {}
            url = f"{self._url}/sessions/{session_id}/messages"
            response = self._client.get(url, params=params)
            if response.status_code != 200:
                raise DemoError(f"GET {url} answered {response.status_code}: {response.text[:300]}")
            page = response.json()
            items = page.get("messages") if isinstance(page, dict) else None
            if not isinstance(items, list):
                raise DemoError(f"GET {url}: expected an object with a list of messages")
            if not items:
                return bodies
            bodies.extend(str(item["body"]) for item in items)
            after = page.get("next_after")


def _evidence(hit: Hit, at: dt.datetime) -> dict[str, Any]:
    return {
        "doc_id": hit.case_id,
        "type": "CASE_SUMMARY",
        "title": hit.summary[:120],
        "score": float(hit.score),
        "ranks": dict(hit.ranks),
        "retrieved_at": at.isoformat(),
    }
