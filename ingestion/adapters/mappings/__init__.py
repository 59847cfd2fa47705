"""Mapping files of the generic adapter: the schema, the loader and the shipped mappings.

A mapping is a YAML file describing a REST ticketing API: how to authenticate, which requests
read, create, comment on and change tickets, where in the JSON answers the fields live (dotted
paths such as ``followup_set`` or ``Creator.id``; on a list a number picks a position,
``items.0.id``, and ``field=value`` the first object with that field: ``CustomFields.name=x``),
how to page, and how the system's statuses map to caseloop's. `load_mapping` validates it and
raises `MappingInvalid` naming the file, the key and the problem. ``docs/adapters.md`` describes
every key; ``django-helpdesk.yaml`` and ``request-tracker.yaml`` here are complete examples.

Templates: request paths, parameters and bodies may hold ``{placeholders}`` (``id``, ``title``,
``body``, ``customer_email``, ``conversation``, ``tenant``, ``idempotency_key``, ``status``,
``since``, ``page``, ``base_url``, and the mapping's own ``variables``). A string that is exactly one placeholder is replaced by the
value itself (``{id:int}`` converts to an integer) and a key whose value is missing is dropped.
"""

from __future__ import annotations

import re
from importlib import resources
from pathlib import Path
from typing import Any, Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from ingestion.errors import CaseloopIngestionError
from ingestion.ticketing import AuthorRole, TicketStatus

__all__ = ["Mapping", "MappingInvalid", "load_mapping", "shipped_mapping"]

Method = Literal["GET", "POST", "PUT", "PATCH", "DELETE"]


class MappingInvalid(CaseloopIngestionError):
    """A mapping file is unreadable or does not fit the schema; the message names where."""


class _Spec(BaseModel):
    # Unknown keys are errors: a typo must not silently switch a feature off.
    model_config = ConfigDict(extra="forbid", frozen=True)


class RequestSpec(_Spec):
    """One HTTP request, relative to the API root."""

    method: Method = "GET"
    path: str
    params: dict[str, Any] = {}
    body: Any = None


class AuthSpec(_Spec):
    """``header``: the secret in a header through ``template``; ``basic``: user + secret."""

    scheme: Literal["header", "basic", "none"] = "header"
    header: str = "Authorization"
    template: str = "{secret}"

    @field_validator("template")
    @classmethod
    def _only_secret(cls, value: str) -> str:
        try:
            value.format(secret="")
        except (KeyError, IndexError, ValueError) as exc:
            raise ValueError(f"may hold only the {{secret}} placeholder ({exc!r})") from exc
        return value


class Condition(_Spec):
    path: str
    equals: Any


class RoleCondition(_Spec):
    """A comment whose value at ``path`` equals ``equals`` (a template) has author ``role``."""

    path: str
    equals: Any
    role: AuthorRole


class ConversationSpec(_Spec):
    """Where the conversation id is read: a field, or a regex (one group) over a field."""

    path: str
    pattern: str | None = None

    @field_validator("pattern")
    @classmethod
    def _one_group(cls, value: str | None) -> str | None:
        if value is not None:
            try:
                compiled = re.compile(value, re.MULTILINE)
            except re.error as exc:
                raise ValueError(f"not a regular expression: {exc}") from exc
            if compiled.groups != 1:
                raise ValueError("needs exactly one group (the conversation id)")
        return value


class TicketSpec(_Spec):
    """Reading one ticket: the request and the paths of its fields in the answer."""

    get: RequestSpec
    id: str
    title: str
    status: str
    updated_at: str | None = Field(None, description="None: the newest comment's time.")
    customer_email: str | None = None
    url: str
    conversation: ConversationSpec


class VisibilitySpec(_Spec):
    """A comment is public only if the value at ``path`` is one of ``public`` (default-deny)."""

    path: str
    public: list[Any]


class CommentsSpec(_Spec):
    """Comments of a ticket: inside the ticket answer, or from their own request."""

    request: RequestSpec | None = None
    items: str
    id: str
    body: str
    created_at: str
    author: str | None = None
    visibility: VisibilitySpec
    only_when: list[Condition] = []
    internal_when: list[Condition] = []
    role_when: list[RoleCondition] = []
    body_request: RequestSpec | None = None
    body_path: str | None = None


class ListSpec(_Spec):
    """Listing tickets page by page (``page`` placeholder), stopping when ``next`` is empty."""

    request: RequestSpec
    items: str
    next: str | None = None
    since_format: str = "%Y-%m-%dT%H:%M:%SZ"
    server_side_since: bool = False


class CreateSpec(_Spec):
    """Creating a ticket; ``idempotency_header`` names the header carrying the key, if the
    system honours one (then retried creates cannot duplicate)."""

    request: RequestSpec
    id: str
    idempotency_header: str | None = None


class CommentWriteSpec(_Spec):
    """Adding a comment; the new comment's id from the answer (``id``) or a header regex."""

    public: RequestSpec
    internal: RequestSpec
    id: str | None = None
    id_header: str | None = None
    id_pattern: str | None = None


class StatusWriteSpec(_Spec):
    """Changing status: ``values`` gives the system's value per canonical status."""

    request: RequestSpec
    values: dict[TicketStatus, Any]
    requests: dict[TicketStatus, RequestSpec] = {}
    verify: bool = False


class FindSpec(_Spec):
    """``scan``: list every ticket and match; ``query``: one request filtered server side."""

    strategy: Literal["scan", "query"]
    request: RequestSpec | None = None
    items: str | None = None


class CapabilitiesSpec(_Spec):
    webhooks: bool = False


class Mapping(_Spec):
    """A whole mapping file."""

    name: str
    source: str = Field(pattern=r"^[a-z][a-z0-9_-]*$")
    api_root: str = ""
    auth: AuthSpec = AuthSpec()
    capabilities: CapabilitiesSpec = CapabilitiesSpec()
    variables: dict[str, Any] = Field(default_factory=dict)
    statuses: dict[str, TicketStatus]
    ticket: TicketSpec
    comments: CommentsSpec
    list: ListSpec
    create: CreateSpec
    comment: CommentWriteSpec
    status: StatusWriteSpec
    find: FindSpec


def _location(loc: tuple[int | str, ...]) -> str:
    return ".".join(map(str, loc)) or "(top level)"


def load_mapping(path: Path) -> Mapping:
    """Read and validate a mapping file; `MappingInvalid` says file, key and problem."""
    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8"))
    except OSError as exc:
        raise MappingInvalid(f"{path}: cannot read the mapping: {exc.strerror}") from exc
    except yaml.YAMLError as exc:
        raise MappingInvalid(f"{path}: not valid YAML: {exc}") from exc
    if not isinstance(data, dict):
        raise MappingInvalid(f"{path}: (top level): a mapping of keys is required")
    try:
        return Mapping.model_validate(data)
    except ValidationError as exc:
        problems = "; ".join(f"{_location(e['loc'])}: {e['msg']}" for e in exc.errors())
        raise MappingInvalid(f"{path}: {problems}") from exc


def shipped_mapping(name: str) -> Path:
    """The path of a mapping shipped with caseloop (``django-helpdesk``, ``request-tracker``)."""
    path = Path(str(resources.files(__name__) / f"{name}.yaml"))
    if not path.is_file():
        raise MappingInvalid(f"{name}: no shipped mapping of that name")
    return path
