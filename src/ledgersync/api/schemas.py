"""Request and response bodies of the REST API (canonical records are reused as they are)."""

from __future__ import annotations

import datetime as dt
from typing import Annotated, Any, Generic, Literal, TypeVar

from pydantic import AfterValidator, AnyHttpUrl, BaseModel, ConfigDict, Field, StringConstraints, UrlConstraints

from ledgersync import Role
from ledgersync.api.limits import single_line, text_value
from ledgersync.model import Record

R = TypeVar("R", bound=Record)

# What outbound webhooks can carry: platform-side changes queued by the engine, plus the sync path's own.
EVENT_TYPES = (
    "contact.created",
    "contact.updated",
    "contact.merged",
    "item.created",
    "item.updated",
    "invoice.created",
    "invoice.updated",
    "payment.created",
    "payment.updated",
    "payment.credit_recorded",
    "credit.created",
    "credit.updated",
    "sync.failed",
    "connection.needs_reconnect",
)


class Problem(BaseModel):
    """Every error answer: a plain message, and for platform errors the canonical code and a hint."""

    detail: str
    code: str | None = None
    hint: str | None = None


class Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


# A name a person gives something: one line, no control characters (NUL included), at most 255 characters.
Name = Annotated[str, Field(min_length=1, max_length=255), AfterValidator(single_line)]
Description = Annotated[str, Field(max_length=255), AfterValidator(text_value)]
# Connection settings: a bounded set of short keys with bounded values (JSON code maps fit in 16 KiB).
ConfigKey = Annotated[str, StringConstraints(min_length=1, max_length=64, pattern=r"^[A-Za-z][A-Za-z0-9_]*$")]
ConfigValue = Annotated[str, Field(max_length=16384), AfterValidator(text_value)]
MAX_CONFIG_KEYS = 50
WebhookUrl = Annotated[AnyHttpUrl, UrlConstraints(max_length=2048, allowed_schemes=["http", "https"])]


# -- organisations and keys ---------------------------------------------------------------------------------
class OrganisationCreate(Strict):
    name: Name
    id: str | None = Field(default=None, min_length=1, max_length=64, pattern=r"^[A-Za-z0-9_.-]+$")


class OrganisationOut(BaseModel):
    id: str
    name: str
    created_at: dt.datetime
    relay_between_platforms: bool = Field(
        False,
        description="In effect: documents that came in from one of the business's platforms are sent to its "
        "other connected platforms (contacts and items always are)",
    )
    relay_between_platforms_own: bool | None = Field(
        None, description="The organisation's own setting; null: the deployment's default applies"
    )


class OrganisationUpdate(Strict):
    relay_between_platforms: bool | None = Field(
        None, description="Send documents between the business's platforms; null: back to the deployment's default"
    )


class ApiKeyCreate(Strict):
    name: Name = "API key"
    role: Role = Role.MEMBER


class ApiKeyOut(BaseModel):
    id: str
    name: str
    role: Role
    prefix: str
    created_at: dt.datetime
    last_used_at: dt.datetime | None
    revoked: bool


class ApiKeyCreated(ApiKeyOut):
    token: str = Field(description="The key itself: shown only now, store it safely")


class OrganisationCreated(BaseModel):
    organisation: OrganisationOut
    owner_key: ApiKeyCreated


# -- connections --------------------------------------------------------------------------------------------
class ConnectionCreate(Strict):
    provider: str = Field(min_length=1, max_length=32)
    config: dict[ConfigKey, ConfigValue] = Field(
        default_factory=dict,
        max_length=MAX_CONFIG_KEYS,
        description="client_id, client_secret, redirect_uri, webhook_key ...; base_url only where the operator "
        "allows it (LEDGERSYNC_ALLOW_BASE_URLS)",
    )


class ConnectionUpdate(Strict):
    config: dict[ConfigKey, ConfigValue | None] = Field(
        max_length=MAX_CONFIG_KEYS, description="Keys to set; null removes a key"
    )


class CredentialFieldOut(BaseModel):
    name: str
    label: str
    secret: bool
    help: str = ""


class DownloadOut(BaseModel):
    name: str
    media_type: str
    content: str


class ConnectStartOut(BaseModel):
    """What to do next to connect, for the platform's flow (`kind`)."""

    connection_id: str
    kind: str = Field(
        description="redirect: send the browser to authorization_url; credentials: POST the fields to "
        "/v1/connections/{id}/credentials; web_connector: offer the .qwc file and show the password once"
    )
    status: str
    next_step: str
    authorization_url: str | None = None
    fields: list[CredentialFieldOut] = Field(default_factory=list)
    file: DownloadOut | None = Field(None, description="The Web Connector's .qwc file")
    user_name: str | None = None
    password: str | None = Field(None, description="The Web Connector password: shown only now, never stored")


class CredentialsSubmit(Strict):
    fields: dict[ConfigKey, ConfigValue] = Field(
        default_factory=dict,
        max_length=MAX_CONFIG_KEYS,
        description="The values the connect answer asked for (e.g. account_id, application_key)",
    )


class TenantChoiceOut(BaseModel):
    tenant_id: str
    name: str
    connected_by: str | None = Field(
        None, description="The business's connection already syncing with this organisation (choosing it is refused)"
    )


class TenantChoose(Strict):
    # Optional in the schema so that a connection of another organisation is a 404 before the body is judged.
    tenant_id: Annotated[str | None, Field(max_length=128, description="One of GET .../tenants' tenant_id")] = None


class ConnectionOut(BaseModel):
    id: str
    provider: str
    tenant_id: str | None
    tenant_name: str | None
    status: str
    status_reason: str | None
    last_sync_at: dt.datetime | None
    last_success_at: dt.datetime | None
    # Only which settings are present: secrets never leave the store.
    config_keys: list[str]
    webhook_path: str | None = Field(description="Where the platform should POST its webhooks, if supported")
    created_at: dt.datetime


class HealthOut(BaseModel):
    connection_id: str
    provider: str
    display_name: str
    tenant_name: str | None
    status: str
    status_reason: str | None
    last_sync_at: dt.datetime | None
    last_success_at: dt.datetime | None
    last_sync_phrase: str
    stale: bool
    calls: int
    counts: dict[str, dict[str, int]]
    failed_count: int
    currencies: str | None = Field(
        None, description="The organisation's currency settings as its platform last told them (issue 16)"
    )


# -- records and states ---------------------------------------------------------------------------------------
class RecordSync(BaseModel):
    connection_id: str
    provider: str
    state: str
    remote_id: str | None
    error: str | None
    hint: str | None
    actions: list[str]


class RecordOut(BaseModel, Generic[R]):
    entity: str
    app_id: str
    version: int
    deleted: bool
    updated_at: dt.datetime
    record: R
    state: str = Field(description="Sync state on the chosen (or the first) connection")
    remote_id: str | None = Field(description="The platform's id on that connection")
    sync: list[RecordSync] = Field(description="State and platform id on every connection of the organisation")


class RecordPage(BaseModel, Generic[R]):
    items: list[RecordOut[R]]
    total: int
    limit: int
    offset: int


class StateOut(BaseModel):
    entity: str
    app_id: str
    state: str
    doc_number: str | None
    error_code: str | None
    error_message: str | None
    hint: str | None
    platform_code: str | None
    platform_message: str | None
    actions: list[str]
    attempts: int
    next_attempt_at: dt.datetime | None
    updated_at: dt.datetime


class StatePage(BaseModel):
    items: list[StateOut]
    total: int
    limit: int
    offset: int


class ErrorOut(BaseModel):
    connection_id: str
    entity: str
    app_id: str
    state: str
    doc_number: str | None
    code: str | None
    message: str | None
    hint: str | None
    platform_code: str | None
    platform_message: str | None
    actions: list[str]
    attempts: int
    updated_at: dt.datetime


class DifferenceOut(BaseModel):
    field: str
    app: Any = Field(description="The app's value")
    platform: Any = Field(description="The platform's value")


class DivergenceOut(BaseModel):
    """A record in `conflict` (edited on both sides) or `drifted` (found different by verify): both versions
    side by side, in the app's terms, and the fixes (keep_app, keep_platform, skip)."""

    connection_id: str
    entity: str
    app_id: str
    kind: str = Field(description="conflict or drift")
    app_version: dict[str, Any]
    platform_version: dict[str, Any] | None = Field(description="None: the platform has no copy")
    fields: list[DifferenceOut]
    remote_id: str | None
    found_at: dt.datetime
    actions: list[str]


class VerifyRequest(Strict):
    sample: int | None = Field(default=None, ge=1, le=100_000, description="Compare this many, at random")
    call_budget: int | None = Field(default=None, ge=1, le=100_000, description="Platform calls it may use")


class VerifyOut(BaseModel):
    connection_id: str
    sampled: bool
    agree: bool
    summary: str
    compared: dict[str, int]
    drifted: list[dict[str, Any]] = Field(description="[{entity, app_id, fields}] now in the drifted state")
    resolved: int
    other: list[str] = Field(description="Differences about no single record (duplicates, unlinked)")
    calls: int
    budget_spent: bool


# -- sync and actions -----------------------------------------------------------------------------------------
class CycleReportOut(BaseModel):
    connection_id: str
    status: str
    message: str | None
    started_at: dt.datetime
    finished_at: dt.datetime | None
    pulled: dict[str, int]
    created_in_app: dict[str, int]
    pushed: dict[str, int]
    failed: dict[str, int]
    reconciled: int
    calls: int


class SyncRequest(Strict):
    entity: str | None = Field(default=None, description="With app_id: sync this record and what it needs")
    app_id: str | None = Field(default=None, min_length=1, max_length=128)
    everything_not_synced: bool = Field(default=False, description="Clear waiting backoffs first")


class RetryBody(Strict):
    now: bool = Field(default=True, description="Push the record at once (else on the next sync)")


class MergeBody(Strict):
    remote_id: str | None = Field(
        default=None, min_length=1, max_length=128, description="Platform contact; found by name if omitted"
    )


class LinkBody(Strict):
    remote_id: str = Field(min_length=1, max_length=128)


class ActionResult(BaseModel):
    action: str
    entity: str
    app_id: str
    state: str
    remote_id: str | None = None
    credit_id: str | None = None
    report: CycleReportOut | None = None


# -- event log ------------------------------------------------------------------------------------------------
class EventOut(BaseModel):
    id: int
    at: dt.datetime
    kind: str
    connection_id: str | None
    entity: str | None
    app_id: str | None
    remote_id: str | None
    doc_number: str | None
    outcome: str
    message: str | None
    details: dict[str, Any]


class EventPage(BaseModel):
    items: list[EventOut]
    next_before_id: int | None = Field(description="Pass as before_id for the next (older) page")


# -- outbound webhooks ----------------------------------------------------------------------------------------
class EndpointCreate(Strict):
    url: WebhookUrl = Field(description="A public http(s) URL (private addresses only where the operator allows)")
    event_types: list[Literal[EVENT_TYPES]] = Field(  # type: ignore[valid-type]
        default_factory=list, max_length=64, description="Empty: every event type"
    )
    description: Description | None = None


class EndpointUpdate(Strict):
    url: WebhookUrl | None = None
    event_types: list[Literal[EVENT_TYPES]] | None = Field(default=None, max_length=64)  # type: ignore[valid-type]
    description: Description | None = None
    active: bool | None = None


class EndpointOut(BaseModel):
    id: str
    url: str
    description: str | None
    event_types: list[str]
    active: bool
    created_at: dt.datetime


class EndpointCreated(EndpointOut):
    secret: str = Field(description="whsec_... signing secret (Standard Webhooks)")


class AttemptOut(BaseModel):
    attempt: int
    at: dt.datetime
    response_code: int | None
    error: str | None
    duration_ms: int | None
    next_attempt_at: dt.datetime | None


class DeliveryOut(BaseModel):
    id: int
    endpoint_id: str
    event_type: str
    message_id: str
    status: str
    attempts: int
    response_code: int | None
    last_error: str | None
    next_attempt_at: dt.datetime | None
    created_at: dt.datetime
    delivered_at: dt.datetime | None
    payload: dict[str, Any]
    attempt_log: list[AttemptOut]


class DeliveryPage(BaseModel):
    items: list[DeliveryOut]
    total: int
    limit: int
    offset: int
