"""Settings of the ingestion side (store, ticketing, relay, webhooks, sync, channel).

Built once at an entry point (`IngestionSettings.load()`) and passed down; importing this module
reads nothing. Every field maps to an environment variable ``CASELOOP_<FIELD>`` (upper case) and
may also come from an env file. The README lists them all; a test keeps that list complete.

List settings take a single value, a comma-separated list or a JSON list. A malformed value makes
`load` raise `SettingsError` with one line naming the variable and what it expects.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated, Any, Literal

from pydantic import Field, SecretStr, ValidationError, field_validator
from pydantic_settings import BaseSettings, NoDecode, SettingsConfigDict

from ingestion.errors import SettingsError
from ingestion.tenancy import DEFAULT_TENANT, TENANT_PATTERN

LIST_EXPECTS = "a single value, a comma-separated list, or a JSON list of strings"


def split_list(value: Any) -> Any:
    """A list setting from the environment: one value, ``a,b`` or ``["a", "b"]``."""
    if not isinstance(value, str):
        return value
    text = value.strip()
    if text.startswith("["):
        try:
            items = json.loads(text)
        except json.JSONDecodeError:
            raise ValueError(f"expects {LIST_EXPECTS}") from None
        if not isinstance(items, list) or not all(isinstance(i, str) for i in items):
            raise ValueError(f"expects {LIST_EXPECTS}")
        return items
    return [part.strip() for part in text.split(",") if part.strip()]


def _one_line(error: ValidationError, prefix: str) -> str:
    """The first problem of a settings error as ``VARIABLE: what it expects``."""
    first = error.errors(include_url=False)[0]
    name = f"{prefix}{first['loc'][0]}".upper() if first["loc"] else prefix.rstrip("_")
    message = str(first["msg"]).removeprefix("Value error, ")
    return f"{name}: {message} (see the settings table in the README)"


class IngestionSettings(BaseSettings):
    """Configuration of the store, the ticketing adapter and the workers around it."""

    model_config = SettingsConfigDict(env_prefix="CASELOOP_", extra="ignore", frozen=True)

    data_dir: Path = Field(Path(".caseloop"), description="Folder for the embedded defaults.")
    database_url: str | None = Field(
        None, description="SQLAlchemy URL; default: a SQLite file in data_dir."
    )
    # Ticketing system
    ticketing: str = Field(
        "helpdesk", description="Adapter: helpdesk (django-helpdesk), rt or generic."
    )
    helpdesk_url: str = Field("http://127.0.0.1:8801", description="django-helpdesk base URL.")
    helpdesk_token: SecretStr = Field(SecretStr(""), description="django-helpdesk API token.")
    helpdesk_queue: int = Field(1, description="django-helpdesk queue id for new tickets.")
    ticketing_timeout: float = Field(10.0, description="Seconds per ticketing API call.")
    # Request Tracker 5 (ingestion.adapters.rt) and the generic mapped adapter (…generic)
    rt_url: str = Field("http://127.0.0.1:8811", description="Request Tracker site root URL.")
    rt_token: SecretStr = Field(SecretStr(""), description="RT auth token (preferred over basic).")
    rt_username: str = Field("", description="RT user (basic auth; marks the bot's replies).")
    rt_password: SecretStr = Field(SecretStr(""), description="RT password for basic auth.")
    rt_queue: str = Field("General", description="RT queue (name or id) for new tickets.")
    rt_conversation_field: str = Field(
        "caseloop-conversation", description="RT ticket custom field holding the conversation id."
    )
    generic_mapping: Path | None = Field(
        None, description="Mapping file (YAML) of the generic adapter."
    )
    generic_url: str = Field("", description="Base URL of the system the mapping describes.")
    generic_token: SecretStr = Field(SecretStr(""), description="Secret for the mapping's auth.")
    generic_username: str = Field("", description="User for the mapping's basic auth.")
    generic_variables: dict[str, str] = Field(
        default_factory=dict, description="Values for the mapping's variables (JSON object)."
    )
    # Escalation API and service
    max_payload_bytes: int = Field(1_000_000, description="Largest escalation body accepted.")
    service_host: str = Field("127.0.0.1", description="Bind address of `caseloop serve`.")
    service_port: int = Field(8700, description="Port of `caseloop serve`.")
    multi_tenant: bool = Field(False, description="Require a tenant on every request.")
    allowed_hosts: Annotated[list[str], NoDecode] = Field(
        default_factory=lambda: ["*"],
        description="Host header values the service answers (e.g. caseloop.example.com); * any.",
    )
    require_api_keys: bool = Field(
        True, description="Require a bearer API key on every route but health and webhooks."
    )
    api_key_cache_seconds: float = Field(
        5.0, description="How long a verified key is trusted before it is re-read (revocation)."
    )
    # Outbox relay; the lease and retry settings are those of every work queue (ingestion.queue:
    # outbox, webhook inbox, pushes to the orchestrator)
    relay_batch_size: int = Field(20, description="Outbox rows claimed per relay round.")
    relay_lease_seconds: float = Field(
        60.0, description="A claimed row's lease (every queue); expired ones are re-taken."
    )
    relay_max_attempts: int = Field(
        10, description="Attempts before a row is dead-lettered (every queue)."
    )
    relay_max_age_seconds: float = Field(
        86_400.0, description="Age after which a failing row is dead-lettered (every queue)."
    )
    relay_base_delay: float = Field(
        1.0, description="First retry delay (seconds), doubled per attempt."
    )
    relay_max_delay: float = Field(300.0, description="Longest retry delay (seconds).")
    relay_poll_interval: float = Field(
        1.0, description="Idle wait of the long-running relay (seconds)."
    )
    # Webhooks
    webhook_secrets: Annotated[list[SecretStr], NoDecode] = Field(
        default_factory=list,
        description="Standard Webhooks secrets (whsec_…): one, a comma-separated or JSON list.",
    )
    helpdesk_webhook_token: SecretStr = Field(
        SecretStr(""), description="Secret the operator puts in django-helpdesk's webhook URL."
    )
    webhook_tolerance_seconds: int = Field(300, description="Accepted clock skew, past and future.")
    webhook_dedupe_days: float = Field(
        7.0, description="How long delivery ids are kept for dedupe."
    )
    # Webhook receiver and inbox worker (updates)
    webhook_sources: Annotated[list[str], NoDecode] = Field(
        default_factory=list,
        description="Sources accepted at POST /webhooks/{source} besides `ticketing` and the adapter's name.",
    )
    webhook_max_body_bytes: int = Field(
        1_000_000, description="Largest webhook body accepted (HTTP 413 above)."
    )
    webhook_max_pending: int = Field(
        10_000, description="Pending inbox deliveries above which the receiver answers 429."
    )
    webhook_rejection_flush_seconds: float = Field(
        5.0, description="Webhook rejections are counted in memory and written at most this often."
    )
    webhook_retry_after_seconds: int = Field(
        30, description="Retry-After sent with a back-pressure 429."
    )
    inbox_batch_size: int = Field(50, description="Deliveries the inbox worker takes per round.")
    inbox_poll_interval: float = Field(
        1.0, description="Idle wait of `caseloop webhooks worker` (seconds)."
    )
    messages_page_limit: int = Field(
        200, description="Most messages returned by one GET /sessions/{id}/messages."
    )
    # Polling sync
    sync_overlap_seconds: float = Field(120.0, description="Overlap re-read behind the cursor.")
    sync_page_size: int = Field(50, description="Tickets per sync page.")
    sync_interval: float = Field(30.0, description="Seconds between polls of `caseloop sync`.")
    # Channel back to the orchestrator
    orchestrator_url: str | None = Field(
        None, description="Where agent replies are pushed (optional)."
    )
    orchestrator_secret: SecretStr = Field(
        SecretStr(""), description="whsec_ secret signing pushes."
    )
    bot_note_after_forward: bool = Field(
        False, description="Add an internal note after forwarding."
    )
    # Learning from resolved tickets (ingestion.cases) and the ticket_sync flow
    learning_summariser: str = Field(
        "extractive", description="Summariser: extractive (offline) or llm (OpenAI-compatible)."
    )
    learning_summary_words: int = Field(80, description="Word budget of a case summary.")
    learning_llm_url: str | None = Field(
        None,
        description="Base URL of the OpenAI-compatible endpoint (…/v1) for the llm summariser.",
    )
    learning_llm_model: str = Field("gpt-4o-mini", description="Model name sent to that endpoint.")
    learning_llm_api_key: SecretStr = Field(SecretStr(""), description="API key of that endpoint.")
    learning_llm_timeout: float = Field(30.0, description="Seconds per summariser call.")
    learning_max_tags: int = Field(3, description="Most tags per case (1–3 words each ≤ 2).")
    learning_batch_size: int = Field(
        64, description="Cases summarised, tagged and indexed together."
    )
    learning_phone_regions: Annotated[list[str], NoDecode] = Field(
        default_factory=lambda: ["US", "GB", "DE", "FR"],
        description="Regions whose national phone formats redaction recognises.",
    )
    learning_ner: bool = Field(
        True,
        description="Redact names, addresses and dates of birth with the named-entity model too.",
    )
    learning_source: Literal["escalated", "queue", "all"] = Field(
        "queue",
        description="Tickets learned from: escalated (caseloop's own), queue (every ticket of the "
        "configured queue) or all (every ticket the adapter lists).",
    )
    learning_tenant: str = Field(
        DEFAULT_TENANT,
        pattern=TENANT_PATTERN,
        description="Tenant the tickets caseloop did not open are learned for (in multi-tenant "
        "mode only that tenant's queries find their cases).",
    )
    retention_raw_days: int = Field(
        0,
        ge=0,
        description="Days raw conversation text is kept after a ticket is resolved, then "
        "replaced by its redaction (0: keep).",
    )
    learning_write_note: bool = Field(
        False, description="Write 'Resolution summary' back to the ticket as an internal note."
    )
    learning_ticketing_concurrency: int = Field(
        4, description="Most concurrent ticketing calls from the learning and sync flows."
    )
    learning_cron: str = Field("17 2 * * *", description="Cron of the served nightly_learning.")
    learning_cron_timezone: str = Field(
        "UTC", description="IANA time zone the learning cron is read in (default UTC)."
    )
    sync_flow_interval_seconds: int = Field(
        300, description="Interval of the served ticket_sync flow."
    )
    sync_stuck_after_seconds: float = Field(
        900.0, description="Outbox rows pending longer than this are re-driven by ticket_sync."
    )

    _lists = field_validator(
        "webhook_secrets",
        "webhook_sources",
        "learning_phone_regions",
        "allowed_hosts",
        mode="before",
    )(split_list)

    @classmethod
    def load(cls, env_file: Path | None = None) -> IngestionSettings:
        """Read the environment (and ``env_file`` when given): call this at entry points only.

        Raises `SettingsError` (one line: the variable and what it expects) on a malformed value.
        """
        try:
            return cls(_env_file=env_file) if env_file else cls()  # type: ignore[call-arg]
        except ValidationError as exc:
            raise SettingsError(_one_line(exc, "CASELOOP_")) from None

    @property
    def resolved_database_url(self) -> str:
        if self.database_url:
            return self.database_url
        return f"sqlite:///{(self.data_dir / 'caseloop.db').as_posix()}"
