"""The published OpenAPI document, whole and true.

FastAPI's own document misses what the routes do by hand: the request bodies are read raw (to
answer 413 and name every bad field), so their schemas are added here with every nested model in
``components`` (pydantic would put them under ``$defs``, which the document does not contain); every
error answer gets the one `PROBLEM` schema all of them follow; guarded routes declare the bearer
scheme. `tests/ingestion/test_openapi.py` validates the document and fuzzes the service from it.
"""

from __future__ import annotations

from typing import Any

from fastapi import FastAPI
from fastapi.openapi.utils import get_openapi
from pydantic import BaseModel

from ingestion.escalations import EscalationRequest
from ingestion.outcomes import OutcomeReport

BODIES: dict[str, type[BaseModel]] = {
    "/escalations": EscalationRequest,
    "/sessions/{session_id}/outcome": OutcomeReport,
}
_LOC = {"type": "array", "items": {"anyOf": [{"type": "string"}, {"type": "integer"}]}}
#: Every 4xx/5xx body: ``detail`` is a message or one entry per problem.
PROBLEM: dict[str, Any] = {
    "type": "object",
    "required": ["detail"],
    "properties": {
        "title": {"type": "string"},
        "error": {"type": "string"},
        "detail": {
            "anyOf": [
                {"type": "string"},
                {
                    "type": "array",
                    "items": {
                        "type": "object",
                        "required": ["loc", "msg"],
                        "properties": {
                            "loc": _LOC,
                            "msg": {"type": "string"},
                            "field": {"type": "string"},
                            "type": {"type": "string"},
                        },
                    },
                },
            ]
        },
    },
}
JSON_ONLY = {"description": "The body is not declared as JSON (Content-Type: application/json)."}


def _body_schema(model: type[BaseModel], components: dict[str, Any]) -> dict[str, Any]:
    schema = model.model_json_schema(ref_template="#/components/schemas/{model}")
    components.update(schema.pop("$defs", {}))
    components[model.__name__] = schema
    return {"$ref": f"#/components/schemas/{model.__name__}"}


def _problems(operation: dict[str, Any]) -> None:
    for status, answer in operation.get("responses", {}).items():
        if status[0] in "45":
            answer["content"] = {
                "application/json": {"schema": {"$ref": "#/components/schemas/Problem"}}
            }


def build(app: FastAPI) -> dict[str, Any]:
    """The service's OpenAPI document (built once per app)."""
    document = get_openapi(
        title=app.title, version=app.version, summary=app.summary, routes=app.routes
    )
    components = document.setdefault("components", {}).setdefault("schemas", {})
    components["Problem"] = PROBLEM
    document["components"]["securitySchemes"] = {
        "bearer": {"type": "http", "scheme": "bearer", "description": "caseloop keys create"}
    }
    for path, operations in document["paths"].items():
        for method, operation in operations.items():
            if method == "post" and path in BODIES:
                content = operation["requestBody"]["content"]["application/json"]
                content["schema"] = _body_schema(BODIES[path], components)
                operation["responses"]["415"] = dict(JSON_ONLY)
            if "401" in operation["responses"] and not path.startswith("/webhooks/"):
                operation["security"] = [{"bearer": []}]
            _problems(operation)
    return document


def install(app: FastAPI) -> None:
    """Serve `build`'s document at /openapi.json (and /docs)."""
    cache: dict[str, Any] = {}

    def openapi() -> dict[str, Any]:
        if not cache:
            cache.update(build(app))
        return cache

    app.openapi = openapi  # type: ignore[method-assign]
