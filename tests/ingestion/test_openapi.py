"""The OpenAPI document is whole and valid, and the service answers as it says.

The fuzz (schemathesis) generates requests from the service's own document, valid and invalid,
sends them over real HTTP to a real uvicorn on SQLite and on PostgreSQL, and checks every answer:
never a 5xx, a documented status, the documented content type and body schema. Bounded by
`EXAMPLES` per operation so that it fits the test command.
"""

from __future__ import annotations

import collections
import json
import re
from collections.abc import Iterator
from typing import Any

import pytest
import schemathesis
from fastapi import FastAPI
from hypothesis import HealthCheck, settings
from openapi_spec_validator import validate
from schemathesis.checks import not_a_server_error
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    response_schema_conformance,
    status_code_conformance,
)

from ingestion.http import create_app
from ingestion.settings import IngestionSettings
from ingestion.store import Store
from tests.support.fake_ticketing import escalation_payload
from tests.support.keys import bearer
from tests.support.loopback import serve

EXAMPLES = 25
SETTINGS = IngestionSettings(webhook_rejection_flush_seconds=3600.0)
#: Requests sent and statuses seen by the fuzz, for the closing figures (printed with -s).
SEEN: collections.Counter[str] = collections.Counter()
CURRENT: dict[str, dict[str, str]] = {}


def document() -> dict[str, Any]:
    app: FastAPI = create_app(SETTINGS, None)  # type: ignore[arg-type]  # the document needs no store
    return app.openapi()


def test_document_is_valid_openapi() -> None:
    validate(document())  # raises on any violation of the OpenAPI 3.1 specification


def test_every_reference_resolves_in_the_document() -> None:
    doc = document()
    text = json.dumps(doc)
    refs = set(re.findall(r'"\$ref": "([^"]+)"', text))
    assert refs
    for ref in refs:
        assert ref.startswith("#/components/schemas/"), ref
        assert ref.rsplit("/", 1)[1] in doc["components"]["schemas"], ref
    assert "$defs" not in text


def test_every_status_the_routes_give_is_documented() -> None:
    paths = document()["paths"]
    guarded = {"401", "403", "422"}
    for path, operations in paths.items():
        for method, operation in operations.items():
            statuses = set(operation["responses"])
            if path != "/healthz" and not path.startswith("/webhooks/"):
                takes_input = path != "/metrics"  # a scrape has no parameters or body: no 422
                assert guarded - (set() if takes_input else {"422"}) <= statuses, (method, path)
                assert operation["security"] == [{"bearer": []}]
            if method == "post" and not path.startswith("/webhooks/"):
                assert {"413", "415"} <= statuses, (method, path)
    webhook = set(paths["/webhooks/{source}"]["post"]["responses"])
    assert {"200", "202", "400", "401", "404", "413", "429"} <= webhook
    assert set(paths["/escalations/{escalation_id}"]["get"]["responses"]) >= {"404"}


def test_escalation_example_validates_against_the_documented_schema() -> None:
    import jsonschema

    doc = document()
    schema = {"$ref": "#/components/schemas/EscalationRequest", **doc}
    jsonschema.validate(escalation_payload(), schema)


@pytest.fixture
def api(store: Store) -> Iterator[schemathesis.BaseSchema]:
    with serve(create_app(SETTINGS, store)) as url:
        schema = schemathesis.openapi.from_dict(document())
        schema.config.update(base_url=url)
        CURRENT["auth"] = bearer(store)  # the schema is copied per operation: keep the key here
        yield schema


fuzz = schemathesis.pytest.from_fixture("api")


@fuzz.parametrize()
@settings(
    max_examples=EXAMPLES,
    deadline=None,
    derandomize=True,
    suppress_health_check=list(HealthCheck),
)
def test_fuzz_no_5xx_and_answers_match_the_document(case: schemathesis.Case) -> None:
    # A valid key always (the generated ones are random strings: 401 is tested in test_http_auth),
    # so that every generated body, path and query reaches the handlers.
    headers = {k: v for k, v in (case.headers or {}).items() if k.lower() != "authorization"}
    headers.update(CURRENT["auth"])
    case.headers = headers
    response = case.call(headers=headers)
    SEEN["requests"] += 1
    SEEN[f"{case.operation.method.upper()} {case.operation.path}"] += 1
    SEEN[f"status {response.status_code}"] += 1
    if response.status_code >= 500:
        SEEN["5xx"] += 1
    case.validate_response(
        response,
        checks=[
            not_a_server_error,
            status_code_conformance,
            content_type_conformance,
            response_schema_conformance,
        ],
    )


def test_fuzz_figures() -> None:
    """Runs after the fuzz in this module: prints what it sent (for the issue's closing note)."""
    print(f"\nfuzz: {dict(sorted(SEEN.items()))}")
    assert SEEN["5xx"] == 0


def test_every_json_success_answer_has_a_schema() -> None:
    """Generated clients are typed: each 2xx JSON answer names its model (checked by the fuzz)."""
    paths = document()["paths"]
    named = {}
    for path, operations in paths.items():
        for method, operation in operations.items():
            for status, answer in operation["responses"].items():
                if status.startswith("2") and path not in ("/healthz", "/metrics"):
                    schema = answer["content"]["application/json"]["schema"]
                    named[(method, path, status)] = schema["$ref"].rsplit("/", 1)[1]
    assert named[("get", "/sessions/{session_id}/messages", "200")] == "MessagePage"
    assert {named[("post", "/escalations", s)] for s in ("200", "201")} == {"EscalationState"}
    assert named[("get", "/escalations/{escalation_id}", "200")] == "EscalationState"
    assert set(named.values()) == {"EscalationState", "MessagePage", "OutcomeState", "WebhookAck"}
