"""SQLAlchemy 2 tables of the store: organisations, connections, the app's records, links, states, cursors, log."""

from __future__ import annotations

import datetime as dt
from typing import Any

from sqlalchemy import (
    JSON,
    BigInteger,
    Boolean,
    DateTime,
    ForeignKey,
    Index,
    Integer,
    LargeBinary,
    MetaData,
    String,
    Text,
    UniqueConstraint,
)
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column
from sqlalchemy.types import TypeDecorator


class UTCDateTime(TypeDecorator[dt.datetime]):
    """Timezone-aware UTC datetimes on every backend (SQLite drops the zone; PostgreSQL keeps it)."""

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: dt.datetime | None, dialect: object) -> dt.datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("naive datetime given to the store; use UTC-aware datetimes")
        return value.astimezone(dt.UTC)

    def process_result_value(self, value: dt.datetime | None, dialect: object) -> dt.datetime | None:
        if value is None:
            return None
        return value.replace(tzinfo=dt.UTC) if value.tzinfo is None else value.astimezone(dt.UTC)


def utcnow() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


NAMING = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}


class Base(DeclarativeBase):
    metadata = MetaData(naming_convention=NAMING)


class Organisation(Base):
    __tablename__ = "organisations"
    id: Mapped[str] = mapped_column(String(64), primary_key=True)
    name: Mapped[str] = mapped_column(String(255))
    settings: Mapped[dict[str, object]] = mapped_column(JSON, default=dict)
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow)


class Connection(Base):
    """One organisation's link to one platform tenant. Tokens and credentials are encrypted at rest."""

    __tablename__ = "connections"
    id: Mapped[str] = mapped_column(String(64), primary_key=True)
    org_id: Mapped[str] = mapped_column(ForeignKey("organisations.id"), index=True)
    provider: Mapped[str] = mapped_column(String(32))
    config: Mapped[dict[str, str]] = mapped_column(JSON, default=dict)
    tenant_id: Mapped[str | None] = mapped_column(String(64))
    tenant_name: Mapped[str | None] = mapped_column(String(255))
    token: Mapped[bytes | None] = mapped_column(LargeBinary)
    # The connection's secret settings and submitted credentials (client secret, webhook key, API key, the
    # Web Connector password's hash) as encrypted JSON; `config` holds only what may be shown.
    credentials: Mapped[bytes | None] = mapped_column(LargeBinary)
    # connected | needs_reconnect | parked | disconnected | pending_consent | choose_organisation
    status: Mapped[str] = mapped_column(String(32), default="pending_consent")
    status_reason: Mapped[str | None] = mapped_column(Text)
    parked_until: Mapped[dt.datetime | None] = mapped_column(UTCDateTime)
    last_sync_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime)
    last_success_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime)
    calls: Mapped[int] = mapped_column(Integer, default=0)
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow)
    # The scheduler's (migration 0009): this connection's own cadence (None: its platform's default, 0: off)
    # and when a cycle is next due (None: as soon as the scheduler looks).
    sync_every_seconds: Mapped[int | None] = mapped_column(Integer)
    next_sync_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime)
    # The organisation's settings as the platform last told them (providers/org.OrgSettings as JSON: home
    # currency, multicurrency, the currencies it takes; migration 0011). None: not read yet.
    platform_settings: Mapped[dict[str, Any] | None] = mapped_column(JSON)
    # The organisations one consent reached, [{"id", "name"}], while the person chooses the one this connection
    # is for (status `choose_organisation`, migration 0013); None otherwise.
    pending_tenants: Mapped[list[dict[str, str]] | None] = mapped_column(JSON)


class SyncLease(Base):
    """Which worker may sync a connection, until when, and the fencing token of that grant: every acquisition
    increments `token`, and a fenced write commits only while the row still names its owner and token."""

    __tablename__ = "sync_leases"
    connection_id: Mapped[str] = mapped_column(ForeignKey("connections.id"), primary_key=True)
    owner: Mapped[str | None] = mapped_column(String(160))
    token: Mapped[int] = mapped_column(BigInteger, default=0, server_default="0")
    expires_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime)
    acquired_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime)


class OAuthState(Base):
    """A pending consent: the `state` sent to the platform, checked when it comes back."""

    __tablename__ = "oauth_states"
    state: Mapped[str] = mapped_column(String(128), primary_key=True)
    connection_id: Mapped[str] = mapped_column(ForeignKey("connections.id"))
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow)


class AppRecord(Base):
    """The app's own copy of a record, by the app's id; `version` grows with every change of its content."""

    __tablename__ = "records"
    org_id: Mapped[str] = mapped_column(ForeignKey("organisations.id"), primary_key=True)
    entity: Mapped[str] = mapped_column(String(32), primary_key=True)
    app_id: Mapped[str] = mapped_column(String(128), primary_key=True)
    data: Mapped[dict[str, object]] = mapped_column(JSON)
    hash: Mapped[str] = mapped_column(String(64))
    version: Mapped[int] = mapped_column(Integer, default=1)
    deleted: Mapped[bool] = mapped_column(Boolean, default=False)
    # Denormalised for matching and search: contact name / email, document number.
    name: Mapped[str | None] = mapped_column(String(255))
    email: Mapped[str | None] = mapped_column(String(255))
    number: Mapped[str | None] = mapped_column(String(255))
    # The app records that this one hangs off (an invoice's contact, a payment's invoices), for dependencies.
    refs: Mapped[list[str]] = mapped_column(JSON, default=list)
    updated_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow)

    __table_args__ = (
        Index("ix_records_name", "org_id", "entity", "name"),
        Index("ix_records_number", "org_id", "entity", "number"),
        Index("ix_records_email", "org_id", "entity", "email"),
        # Covers the push candidates query (migration 0016): read in its order, without the records' data.
        Index("ix_records_push", "org_id", "entity", "updated_at", "app_id", "hash", "deleted"),
    )


class Link(Base):
    """App id <-> platform id for one connection, with both sides' content hash at the last sync."""

    __tablename__ = "links"
    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    connection_id: Mapped[str] = mapped_column(ForeignKey("connections.id"))
    entity: Mapped[str] = mapped_column(String(32))
    app_id: Mapped[str] = mapped_column(String(128))
    remote_id: Mapped[str] = mapped_column(String(128))
    remote_version: Mapped[str | None] = mapped_column(String(64))
    app_hash: Mapped[str | None] = mapped_column(String(64))
    remote_hash: Mapped[str | None] = mapped_column(String(64))
    removed: Mapped[bool] = mapped_column(Boolean, default=False)
    synced_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow)

    __table_args__ = (
        UniqueConstraint("connection_id", "entity", "app_id", name="uq_links_app"),
        UniqueConstraint("connection_id", "entity", "remote_id", name="uq_links_remote"),
        # Covers the push candidates query's side of the links (migration 0016).
        Index("ix_links_push", "connection_id", "entity", "app_id", "app_hash", "removed"),
    )


class SyncState(Base):
    """Per record and connection: not_synced, pending, syncing, synced, failed, skipped, excluded."""

    __tablename__ = "sync_states"
    connection_id: Mapped[str] = mapped_column(ForeignKey("connections.id"), primary_key=True)
    entity: Mapped[str] = mapped_column(String(32), primary_key=True)
    app_id: Mapped[str] = mapped_column(String(128), primary_key=True)
    state: Mapped[str] = mapped_column(String(16), default="not_synced")
    doc_number: Mapped[str | None] = mapped_column(String(255))
    # While `syncing`: the idempotency key of the write whose outcome is not yet known.
    write_key: Mapped[str | None] = mapped_column(String(128))
    write_version: Mapped[int | None] = mapped_column(Integer)
    error_code: Mapped[str | None] = mapped_column(String(32))
    error_message: Mapped[str | None] = mapped_column(Text)
    hint: Mapped[str | None] = mapped_column(Text)
    platform_code: Mapped[str | None] = mapped_column(String(64))
    platform_message: Mapped[str | None] = mapped_column(Text)
    actions: Mapped[list[str]] = mapped_column(JSON, default=list)
    # The record's hash when it failed on a data error: an edit clears the failure, nothing else does.
    failed_hash: Mapped[str | None] = mapped_column(String(64))
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    next_attempt_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime)
    updated_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow)

    __table_args__ = (Index("ix_sync_states_state", "connection_id", "state"),)


class Divergence(Base):
    """Why a record is `conflict` (edited on both sides, the policy could not settle it) or `drifted` (the
    checker found the sides different): both versions side by side and the fields that differ, until a person
    keeps one (migration 0010)."""

    __tablename__ = "divergences"
    connection_id: Mapped[str] = mapped_column(ForeignKey("connections.id"), primary_key=True)
    entity: Mapped[str] = mapped_column(String(32), primary_key=True)
    app_id: Mapped[str] = mapped_column(String(128), primary_key=True)
    kind: Mapped[str] = mapped_column(String(16))
    # The app's record and the platform's, both in the app's terms (app ids, the app's codes).
    app_version: Mapped[dict[str, object]] = mapped_column(JSON)
    platform_version: Mapped[dict[str, object] | None] = mapped_column(JSON)
    # [{"field", "app", "platform"}], as the checker lists them.
    fields: Mapped[list[dict[str, object]]] = mapped_column(JSON, default=list)
    remote_id: Mapped[str | None] = mapped_column(String(128))
    remote_version: Mapped[str | None] = mapped_column(String(64))
    found_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow)


class RecordOrigin(Base):
    """The connection whose platform a record came in from (created in the app by a pull). Another connection
    sends it only when the organisation asks for it (`relay_between_platforms`) (migration 0010)."""

    __tablename__ = "record_origins"
    org_id: Mapped[str] = mapped_column(ForeignKey("organisations.id"), primary_key=True)
    entity: Mapped[str] = mapped_column(String(32), primary_key=True)
    app_id: Mapped[str] = mapped_column(String(128), primary_key=True)
    connection_id: Mapped[str] = mapped_column(String(64))


class PlatformFields(Base):
    """What one connection's platform computed for a record (its `remote_owned` fields and status: an invoice's
    total, tax, amount due and paid, PAID), as that platform last said, for the platform record and version the
    link names (migration 0013). The app record holds whichever platform was read last; this row is this
    connection's own, valid only while the link still names `remote_id` at `remote_version`."""

    __tablename__ = "platform_fields"
    connection_id: Mapped[str] = mapped_column(ForeignKey("connections.id"), primary_key=True)
    entity: Mapped[str] = mapped_column(String(32), primary_key=True)
    app_id: Mapped[str] = mapped_column(String(128), primary_key=True)
    remote_id: Mapped[str] = mapped_column(String(128))
    remote_version: Mapped[str | None] = mapped_column(String(64))
    fields: Mapped[dict[str, object]] = mapped_column(JSON, default=dict)


class PaymentSplit(Base):
    """How one connection sent an app payment larger than what its invoices owed on that platform (migration
    0014): the allocations and amount it sent, the credit beyond them (its own credit record, or held in the
    payment), and the payment's money as the app had it then (`source`: the split holds only while that is
    unchanged). The app's payment stays as the app recorded it; another connection decides its own split."""

    __tablename__ = "payment_splits"
    connection_id: Mapped[str] = mapped_column(ForeignKey("connections.id"), primary_key=True)
    payment_id: Mapped[str] = mapped_column(String(128), primary_key=True)
    credit_id: Mapped[str | None] = mapped_column(String(128), index=True)
    split: Mapped[dict[str, object]] = mapped_column(JSON, default=dict)


class Cursor(Base):
    __tablename__ = "cursors"
    connection_id: Mapped[str] = mapped_column(ForeignKey("connections.id"), primary_key=True)
    entity: Mapped[str] = mapped_column(String(32), primary_key=True)
    # The provider's pull position: a stamp, or a JSON window set (migration 0015 made it Text).
    value: Mapped[str | None] = mapped_column(Text)
    # Where an unfinished pull continues (the provider's opaque page/iterator state); None when the last pull
    # finished. Saved with the page it follows, so a driver can do one page per call and resume after a restart.
    resume: Mapped[str | None] = mapped_column(Text)
    updated_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow)


class OutboxRow(Base):
    """One planned platform write: what the plan stage decided to send, in order, until its result is recorded.

    `batch` groups the rows of one provider call; batches run in ascending order. `status` is `planned` until
    the execute stage claims the batch (then `sent`, with the records marked `syncing` in the same
    transaction); the record stage deletes the rows with the results. A `sent` row left by a crash is an
    unknown outcome, reconciled by lookup before anything is sent again."""

    __tablename__ = "outbox"
    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    connection_id: Mapped[str] = mapped_column(ForeignKey("connections.id", ondelete="CASCADE"))
    entity: Mapped[str] = mapped_column(String(32))
    app_id: Mapped[str] = mapped_column(String(128))
    # write (create or update), remove (void / delete / archive), replace (remove before re-entering)
    op: Mapped[str] = mapped_column(String(16))
    batch: Mapped[int] = mapped_column(Integer)
    idempotency_key: Mapped[str] = mapped_column(String(96))
    version: Mapped[int] = mapped_column(Integer)
    # The app record's content hash as planned: what the link vouches for once the write lands.
    app_hash: Mapped[str] = mapped_column(String(64))
    remote_id: Mapped[str | None] = mapped_column(String(128))
    remote_version: Mapped[str | None] = mapped_column(String(128))
    # The outgoing record in the platform's namespace, as the provider receives it.
    payload: Mapped[dict[str, object]] = mapped_column(JSON)
    status: Mapped[str] = mapped_column(String(16), default="planned")
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow)

    __table_args__ = (Index("ix_outbox_conn_batch", "connection_id", "status", "batch"),)


class Event(Base):
    """The event log: one row per platform call and per outcome a person may need to look up."""

    __tablename__ = "events"
    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    connection_id: Mapped[str | None] = mapped_column(String(64))
    org_id: Mapped[str | None] = mapped_column(String(64))
    at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow)
    kind: Mapped[str] = mapped_column(String(32))
    entity: Mapped[str | None] = mapped_column(String(32))
    app_id: Mapped[str | None] = mapped_column(String(128))
    remote_id: Mapped[str | None] = mapped_column(String(128))
    doc_number: Mapped[str | None] = mapped_column(String(255))
    outcome: Mapped[str] = mapped_column(String(32), default="ok")
    message: Mapped[str | None] = mapped_column(Text)
    details: Mapped[dict[str, object]] = mapped_column(JSON, default=dict)

    __table_args__ = (
        Index("ix_events_conn_at", "connection_id", "at"),
        Index("ix_events_doc", "doc_number"),
    )


class AppEvent(Base):
    """Changes the platform side made to the app's records, queued for the app (outbound webhooks)."""

    __tablename__ = "app_events"
    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    org_id: Mapped[str] = mapped_column(String(64), index=True)
    type: Mapped[str] = mapped_column(String(64))
    entity: Mapped[str | None] = mapped_column(String(32))
    app_id: Mapped[str | None] = mapped_column(String(128))
    payload: Mapped[dict[str, object]] = mapped_column(JSON, default=dict)
    at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow)
    delivered_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime)


class WebUser(Base):
    """A person who signs in to the dashboard; the password is kept only as a salted scrypt hash."""

    __tablename__ = "web_users"
    id: Mapped[str] = mapped_column(String(64), primary_key=True)
    email: Mapped[str] = mapped_column(String(255), unique=True)
    name: Mapped[str] = mapped_column(String(255))
    password_hash: Mapped[str] = mapped_column(String(255))
    active: Mapped[bool] = mapped_column(Boolean, default=True)
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow)
    last_login_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime)


class WebMembership(Base):
    """A user's role in one organisation: owner, admin or member."""

    __tablename__ = "web_memberships"
    user_id: Mapped[str] = mapped_column(ForeignKey("web_users.id"), primary_key=True)
    org_id: Mapped[str] = mapped_column(ForeignKey("organisations.id"), primary_key=True, index=True)
    role: Mapped[str] = mapped_column(String(16), default="member")
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow)


# -- REST API (migration 0002): API keys, outbound webhook endpoints and their delivery log ---------------------


class ApiKey(Base):
    """An organisation's API key. Only a SHA-256 of the token is kept; the token is shown once at creation."""

    __tablename__ = "api_keys"
    id: Mapped[str] = mapped_column(String(64), primary_key=True)
    org_id: Mapped[str] = mapped_column(ForeignKey("organisations.id"), index=True)
    name: Mapped[str] = mapped_column(String(255))
    role: Mapped[str] = mapped_column(String(16))  # owner | admin | member
    # The first characters of the token, so a person can tell keys apart without the secret.
    prefix: Mapped[str] = mapped_column(String(16))
    hash: Mapped[str] = mapped_column(String(64), unique=True)
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow)
    last_used_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime)
    revoked_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime)


class WebhookEndpoint(Base):
    """Where an organisation wants to hear about changes; the signing secret (whsec_...) is encrypted at rest."""

    __tablename__ = "webhook_endpoints"
    id: Mapped[str] = mapped_column(String(64), primary_key=True)
    org_id: Mapped[str] = mapped_column(ForeignKey("organisations.id"), index=True)
    url: Mapped[str] = mapped_column(Text)
    description: Mapped[str | None] = mapped_column(String(255))
    secret: Mapped[bytes] = mapped_column(LargeBinary)
    # Event types to send; empty means every type.
    event_types: Mapped[list[str]] = mapped_column(JSON, default=list)
    active: Mapped[bool] = mapped_column(Boolean, default=True)
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow)


class WebhookDelivery(Base):
    """One message to one endpoint: the same webhook-id across its attempts; `next_attempt_at` drives retries."""

    __tablename__ = "webhook_deliveries"
    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    endpoint_id: Mapped[str] = mapped_column(ForeignKey("webhook_endpoints.id"), index=True)
    org_id: Mapped[str] = mapped_column(String(64), index=True)
    app_event_id: Mapped[int | None] = mapped_column(Integer)
    message_id: Mapped[str] = mapped_column(String(64))
    event_type: Mapped[str] = mapped_column(String(64))
    payload: Mapped[dict[str, object]] = mapped_column(JSON, default=dict)
    # pending | retrying | delivered | failed
    status: Mapped[str] = mapped_column(String(16), default="pending")
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    response_code: Mapped[int | None] = mapped_column(Integer)
    last_error: Mapped[str | None] = mapped_column(Text)
    next_attempt_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime)
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow)
    delivered_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime)

    __table_args__ = (
        UniqueConstraint("endpoint_id", "app_event_id", name="uq_webhook_deliveries_event"),
        Index("ix_webhook_deliveries_due", "status", "next_attempt_at"),
    )


class WebhookAttempt(Base):
    """One HTTP attempt of a delivery, for the delivery log."""

    __tablename__ = "webhook_attempts"
    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    delivery_id: Mapped[int] = mapped_column(ForeignKey("webhook_deliveries.id"), index=True)
    attempt: Mapped[int] = mapped_column(Integer)
    at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow)
    response_code: Mapped[int | None] = mapped_column(Integer)
    error: Mapped[str | None] = mapped_column(Text)
    duration_ms: Mapped[int | None] = mapped_column(Integer)
    next_attempt_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime)


# -- security (migration 0006): dashboard sessions, sign-in throttling, inbound webhook de-duplication ----------


class WebSession(Base):
    """A dashboard sign-in, kept server-side so sign-out and timeouts end it whatever the cookie says.

    The cookie carries a random session id; only its SHA-256 is stored, so a copy of the table opens nothing."""

    __tablename__ = "web_sessions"
    id: Mapped[str] = mapped_column(String(64), primary_key=True)
    user_id: Mapped[str] = mapped_column(ForeignKey("web_users.id"), index=True)
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow)
    last_seen_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow)
    revoked_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime)


class SignInThrottle(Base):
    """Failed sign-ins per account ("account:<email>") and per client address ("address:<ip>")."""

    __tablename__ = "sign_in_throttle"
    key: Mapped[str] = mapped_column(String(320), primary_key=True)
    failures: Mapped[int] = mapped_column(Integer, default=0)
    first_failed_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow)
    last_failed_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow)
    locked_until: Mapped[dt.datetime | None] = mapped_column(UTCDateTime)


class InboundWebhook(Base):
    """An inbound platform event already acted on: by the platform's event id, else the digest of the signed
    body. The primary key makes a replay (in this process or any other) a no-op."""

    __tablename__ = "inbound_webhooks"
    connection_id: Mapped[str] = mapped_column(String(64), primary_key=True)
    key: Mapped[str] = mapped_column(String(128), primary_key=True)
    received_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow, index=True)


# -- QuickBooks Web Connector sessions (issue 10) --------------------------------------------------------------
class QbwcSession(Base):
    """One Web Connector session (a ticket), kept in the store so its SOAP calls may land on any process and a
    restart between two calls loses nothing. `worker` is the process running the session's sync cycle
    (`store.lease.new_owner()` form, so a dead one is recognised) and `worker_seen_at` its heartbeat."""

    __tablename__ = "qbwc_sessions"
    ticket: Mapped[str] = mapped_column(String(64), primary_key=True)
    connection_id: Mapped[str] = mapped_column(String(64), index=True)
    company_file: Mapped[str | None] = mapped_column(Text)
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow)
    last_seen_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow)
    closed_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime)
    # idle (no cycle yet) · running · done · failed
    cycle_state: Mapped[str] = mapped_column(String(16), default="idle")
    cycles: Mapped[int] = mapped_column(Integer, default=0)
    worker: Mapped[str | None] = mapped_column(String(200))
    worker_seen_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime)
    last_error: Mapped[str | None] = mapped_column(Text)
    message: Mapped[str | None] = mapped_column(Text)
    answered: Mapped[int] = mapped_column(Integer, default=0)


class QbwcRequest(Base):
    """One qbXML request of a session's cycle, waiting in the mailbox: `pending` until sendRequestXML hands it
    to the Web Connector (`sent`), then `answered` with the response receiveResponseXML brought (or `failed`
    with the Web Connector's error); `abandoned` when the cycle that asked for it is gone."""

    __tablename__ = "qbwc_requests"
    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    ticket: Mapped[str] = mapped_column(String(64))
    connection_id: Mapped[str] = mapped_column(String(64))
    request_id: Mapped[str] = mapped_column(String(50))
    kind: Mapped[str] = mapped_column(String(64))
    is_write: Mapped[bool] = mapped_column(Boolean, default=False)
    body: Mapped[str] = mapped_column(Text)
    state: Mapped[str] = mapped_column(String(16), default="pending")
    response: Mapped[str | None] = mapped_column(Text)
    error: Mapped[str | None] = mapped_column(Text)
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow)
    sent_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime)
    answered_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime)

    __table_args__ = (Index("ix_qbwc_requests_ticket_state", "ticket", "state", "id"),)


class Attachment(Base):
    """A file the app attached to one of its records (the invoice's PDF): its bytes and their SHA-256, by file
    name (migration 0012). The bytes live in the database, not beside it: they commit with their row, every
    worker of a shared PostgreSQL sees them, and a backup holds them; the platforms' limits (10 MB on Xero,
    100 MB on QuickBooks Online) keep them within what both databases store well."""

    __tablename__ = "attachments"
    org_id: Mapped[str] = mapped_column(ForeignKey("organisations.id"), primary_key=True)
    entity: Mapped[str] = mapped_column(String(32), primary_key=True)
    app_id: Mapped[str] = mapped_column(String(128), primary_key=True)
    filename: Mapped[str] = mapped_column(String(255), primary_key=True)
    content_type: Mapped[str] = mapped_column(String(255))
    size: Mapped[int] = mapped_column(BigInteger)
    sha256: Mapped[str] = mapped_column(String(64))
    data: Mapped[bytes] = mapped_column(LargeBinary)
    # Shown with the document where the platform offers it (Xero's IncludeOnline, QuickBooks' IncludeOnSend).
    include_online: Mapped[bool] = mapped_column(Boolean, default=False)
    updated_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow)


class AttachmentSync(Base):
    """Where one attachment stands on one connection: pending, syncing (sent, answer not yet recorded), synced,
    failed; the platform's id of the file and the hash it holds (migration 0012)."""

    __tablename__ = "attachment_syncs"
    connection_id: Mapped[str] = mapped_column(ForeignKey("connections.id"), primary_key=True)
    entity: Mapped[str] = mapped_column(String(32), primary_key=True)
    app_id: Mapped[str] = mapped_column(String(128), primary_key=True)
    filename: Mapped[str] = mapped_column(String(255), primary_key=True)
    state: Mapped[str] = mapped_column(String(16), default="pending")
    remote_id: Mapped[str | None] = mapped_column(String(128))
    # The content the platform holds (synced), and while syncing the content on its way with its key.
    sha256: Mapped[str | None] = mapped_column(String(64))
    sending_sha256: Mapped[str | None] = mapped_column(String(64))
    write_key: Mapped[str | None] = mapped_column(String(128))
    # A platform's earlier copy to delete once the new one is there (where a file name does not replace).
    replaces_remote_id: Mapped[str | None] = mapped_column(String(128))
    error_code: Mapped[str | None] = mapped_column(String(32))
    error_message: Mapped[str | None] = mapped_column(Text)
    hint: Mapped[str | None] = mapped_column(Text)
    platform_code: Mapped[str | None] = mapped_column(String(64))
    platform_message: Mapped[str | None] = mapped_column(Text)
    # The content that failed on a data error: only a changed file (or Retry) sends it again.
    failed_sha256: Mapped[str | None] = mapped_column(String(64))
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    updated_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow)
