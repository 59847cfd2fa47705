"""Bad escalation input gets an error naming the field and the problem."""

from __future__ import annotations

import json
from typing import Any

import pytest

from ingestion import IngestionSettings, InvalidEscalation, PayloadTooLarge, parse_escalation
from tests.support.fake_ticketing import escalation_payload

SETTINGS = IngestionSettings()


def problems(body: bytes, settings: IngestionSettings = SETTINGS) -> list[tuple[str, str]]:
    with pytest.raises(InvalidEscalation) as caught:
        parse_escalation(body, settings=settings)
    return caught.value.problems


def encoded(**changes: Any) -> bytes:
    return json.dumps(escalation_payload(**changes)).encode()


def test_valid_payload_parses() -> None:
    request = parse_escalation(encoded(), settings=SETTINGS)
    assert request.session_id == "sess-1"
    assert request.evidence[0].ranks == {"bm25": 3, "dense": 1}


def test_unknown_reason_code() -> None:
    [(field, message)] = problems(encoded(reason="bored"))
    assert field == "reason"
    assert message.startswith("unknown reason code 'bored'")
    assert "no_evidence" in message


def test_empty_transcript() -> None:
    [(field, message)] = problems(encoded(transcript=[]))
    assert field == "transcript"
    assert "at least 1 item" in message


def test_blank_message_text() -> None:
    transcript = [{"role": "customer", "text": "   ", "at": "2026-03-02T09:00:00Z"}]
    [(field, message)] = problems(encoded(transcript=transcript))
    assert field == "transcript[0].text"
    assert "at least 1 character" in message


def test_timestamp_without_zone() -> None:
    transcript = [{"role": "customer", "text": "hi", "at": "2026-03-02T09:00:00"}]
    [(field, message)] = problems(encoded(transcript=transcript))
    assert (field, message) == ("transcript[0].at", "Input should have timezone info")


def test_evidence_time_without_zone_and_mistyped_score() -> None:
    evidence = [
        {"doc_id": "d", "type": "article", "score": "high", "retrieved_at": "2026-03-02 09:00"}
    ]
    found = dict(problems(encoded(evidence=evidence)))
    assert set(found) == {"evidence[0].score", "evidence[0].retrieved_at"}
    assert "valid number" in found["evidence[0].score"]


def test_missing_and_unknown_fields_are_named() -> None:
    payload = escalation_payload()
    del payload["session_id"]
    payload["sugested_questions"] = []
    found = dict(problems(json.dumps(payload).encode()))
    assert found == {
        "session_id": "Field required",
        "sugested_questions": "Extra inputs are not permitted",
    }


def test_oversized_payload() -> None:
    small = IngestionSettings(max_payload_bytes=100)
    with pytest.raises(PayloadTooLarge) as caught:
        parse_escalation(encoded(), settings=small)
    [(field, message)] = caught.value.problems
    assert field == "body"
    assert message.endswith("over the limit of 100")


def test_invalid_utf8() -> None:
    body = encoded().replace(b"Ada", b"\xffda")
    [(field, message)] = problems(body)
    assert field == "body"
    assert message.startswith("invalid UTF-8 at byte ")


def test_malformed_json() -> None:
    [(field, message)] = problems(b'{"session_id": "s",')
    assert field == "body"
    assert message.startswith("malformed JSON at line 1 column 20")


def test_json_that_is_not_an_object() -> None:
    assert problems(b"[1, 2]") == [("body", "expected a JSON object")]


def test_tenant_required_when_multi_tenant() -> None:
    settings = IngestionSettings(multi_tenant=True)
    payload = escalation_payload()
    del payload["tenant"]
    assert problems(json.dumps(payload).encode(), settings) == [
        ("tenant", "required when CASELOOP_MULTI_TENANT is on")
    ]
