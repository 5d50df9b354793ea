"""The store's repository: every read and write the engine and the app make, each in its own transaction."""

from __future__ import annotations

import copy
import datetime as dt
import hashlib
import json
import secrets
import uuid
from collections.abc import Iterable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

from sqlalchemy import (
    Engine,
    String,
    Table,
    Text,
    and_,
    bindparam,
    cast,
    delete,
    func,
    insert,
    literal_column,
    null,
    or_,
    select,
    update,
)
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.exc import DBAPIError, IntegrityError
from sqlalchemy.orm import Session, sessionmaker

from ledgersync.model import Entity, Record, SyncError, record_from_json
from ledgersync.providers.base import OAuthToken
from ledgersync.store.crypto import SecretBox
from ledgersync.store.database import check_schema, make_engine, migrate, session_factory
from ledgersync.store.lease import FencedSession, Lease, fence_info, holder_dead, new_owner
from ledgersync.store.outbox import Outbox
from ledgersync.store.tables import (
    ApiKey,
    AppEvent,
    AppRecord,
    Base,
    Connection,
    Cursor,
    Event,
    InboundWebhook,
    Link,
    OAuthState,
    Organisation,
    PaymentSplit,
    PlatformFields,
    SignInThrottle,
    SyncLease,
    SyncState,
    WebhookAttempt,
    WebhookDelivery,
    WebhookEndpoint,
    WebSession,
    utcnow,
)

STATES = (
    "not_synced",
    "pending",
    "syncing",
    "synced",
    "failed",
    "skipped",
    "excluded",
    "needs_review",
    # Edited on both sides and the policy could not settle it; found different by verify (store.divergence).
    "conflict",
    "drifted",
)


def new_id(prefix: str) -> str:
    return f"{prefix}_{uuid.uuid4().hex[:20]}"


_REF_FIELDS = (
    ("contact_id", "contact"),
    ("parent_id", "contact"),
    ("supplier_id", "supplier"),
    ("credit_note_id", "credit_note"),
    ("credit_id", "credit"),
    ("purchase_order_id", "purchase_order"),
)


def _refs(record: Record) -> list[str]:
    """The records this one names (`entity:app id`), read off its fields (no dump of the record)."""
    refs: list[str] = []
    for field, kind in _REF_FIELDS:
        value = getattr(record, field, None)
        if value:
            refs.append(f"{kind}:{value}")
    for alloc in getattr(record, "allocations", None) or []:
        if hasattr(alloc, "invoice_id"):
            refs.append(f"invoice:{alloc.invoice_id}")
        if hasattr(alloc, "bill_id"):
            refs.append(f"bill:{alloc.bill_id}")
    return refs


@dataclass(frozen=True)
class StoredRecord:
    entity: Entity
    app_id: str
    record: Record
    hash: str
    version: int
    deleted: bool
    updated_at: dt.datetime


@dataclass(frozen=True)
class StateChange:
    """One sync-state change, as `Store.set_state` takes it; `Store.set_states` writes a batch of them."""

    app_id: str
    state: str
    error: SyncError | None = None
    doc_number: str | None = None
    write_key: str | None = None
    write_version: int | None = None
    failed_hash: str | None = None
    next_attempt_at: dt.datetime | None = None
    count_attempt: bool = False


@dataclass(frozen=True)
class LinkChange:
    """One link to create or update, as `Store.save_link` takes it; `Store.save_links` writes a batch."""

    app_id: str
    remote_id: str
    remote_version: str | None
    app_hash: str | None
    remote_hash: str | None
    removed: bool = False


@dataclass(frozen=True)
class LinkRow:
    """A link as a plain row (no ORM object), read set-wise by `Store.link_rows`."""

    id: int
    app_id: str
    remote_id: str
    remote_version: str | None
    app_hash: str | None
    remote_hash: str | None
    removed: bool

    def update(self, **changes: Any) -> dict[str, Any]:
        """This link's columns with `changes`, as `Store.update_links` takes them."""
        return {
            "b_id": self.id,
            "remote_version": self.remote_version,
            "app_hash": self.app_hash,
            "remote_hash": self.remote_hash,
            "removed": self.removed,
            **changes,
        }


@dataclass(frozen=True)
class RecordMeta:
    """What `save_records` needs of a stored record, without its data (`Store.record_meta`)."""

    app_id: str
    hash: str
    version: int
    deleted: bool
    updated_at: dt.datetime


@dataclass(frozen=True)
class StateRow:
    """What the plan reads of a sync state, as a plain row (no ORM object), by `Store.state_rows`."""

    app_id: str
    state: str
    attempts: int | None
    failed_hash: str | None
    next_attempt_at: dt.datetime | None


_STATE_FIELDS = (
    "state",
    "doc_number",
    "write_key",
    "write_version",
    "next_attempt_at",
    "error_code",
    "error_message",
    "hint",
    "platform_code",
    "platform_message",
    "actions",
    "failed_hash",
    "attempts",
    "updated_at",
)
_NEW_STATE: dict[str, Any] = {f: None for f in _STATE_FIELDS} | {"attempts": 0, "actions": []}


def _next_state(row: dict[str, Any], change: StateChange, now: dt.datetime) -> dict[str, Any]:
    """A state row's values after `change` (the one rule for set_state and set_states)."""
    assert change.state in STATES, change.state
    row["state"] = change.state
    if change.doc_number is not None:
        row["doc_number"] = change.doc_number
    row["write_key"] = change.write_key
    row["write_version"] = change.write_version
    row["next_attempt_at"] = change.next_attempt_at
    error = change.error
    if error is not None:
        row["error_code"] = error.code.value
        row["error_message"] = error.message
        row["hint"] = error.hint
        row["platform_code"] = error.platform_code
        row["platform_message"] = error.platform_message
        row["actions"] = [a.value for a in error.actions]
        row["failed_hash"] = change.failed_hash
    elif change.state != "pending":
        row["error_code"] = row["error_message"] = row["hint"] = None
        row["platform_code"] = row["platform_message"] = None
        row["actions"] = []
        row["failed_hash"] = None
    if change.count_attempt:
        row["attempts"] = (row["attempts"] or 0) + 1
    elif change.state in ("synced", "skipped", "excluded"):
        row["attempts"] = 0
    row["updated_at"] = now
    return row


# Built once per (dialect, table, columns): building `excluded` makes a proxy of every column each time.
_UPSERTS: dict[tuple[str, str, tuple[str, ...]], Any] = {}


def _t(model: Any) -> Table:
    """A mapped class's table, typed for Core statements."""
    table = model.__table__
    assert isinstance(table, Table)
    return table


def _record_fields(record: Record) -> dict[str, Any]:
    """The columns of `records` that follow from the record's content (all but version, deleted, updated_at)."""
    name = getattr(record, "name", None)
    email = getattr(record, "email", None)
    data = record.to_json()
    return {
        "data": data,
        "hash": record.content_hash(data),
        "name": name.lower() if name else None,
        "email": email.lower() if email else None,
        "number": getattr(record, "number", None) or getattr(record, "code", None),
        "refs": _refs(record),
    }


def _literal(value: object) -> Any:
    """NULL, an empty JSON list or 0 as SQL text (no bound parameter)."""
    if value is None:
        return null()
    return literal_column("'[]'" if value == [] else str(value))


_RECORD_UPDATES: dict[tuple[str, ...], Any] = {}


def _record_update(columns: tuple[str, ...]) -> Any:
    """The executemany UPDATE of these `records` columns by (org, entity, app id), built once per column set."""
    stmt = _RECORD_UPDATES.get(columns)
    if stmt is None:
        table = _t(AppRecord)
        stmt = _RECORD_UPDATES[columns] = (
            update(table)
            .where(
                table.c.org_id == bindparam("b_org"),
                table.c.entity == bindparam("b_entity"),
                table.c.app_id == bindparam("b_app_id"),
            )
            .values({c: bindparam(c) for c in columns})
        )
    return stmt


def _stored(row: AppRecord) -> StoredRecord:
    entity = Entity(row.entity)
    return StoredRecord(
        entity=entity,
        app_id=row.app_id,
        record=record_from_json(entity, dict(row.data)),
        hash=row.hash,
        version=row.version,
        deleted=row.deleted,
        updated_at=row.updated_at,
    )


def token_to_bytes(token: OAuthToken) -> bytes:
    return json.dumps(
        {
            "access_token": token.access_token,
            "refresh_token": token.refresh_token,
            "expires_at": token.expires_at.isoformat(),
            "scope": token.scope,
            "token_type": token.token_type,
        }
    ).encode()


def token_from_bytes(blob: bytes) -> OAuthToken:
    data = json.loads(blob)
    return OAuthToken(
        access_token=data["access_token"],
        refresh_token=data["refresh_token"],
        expires_at=dt.datetime.fromisoformat(data["expires_at"]),
        scope=data.get("scope", ""),
        token_type=data.get("token_type", "Bearer"),
    )


class Store:
    """Truth for one deployment. Safe to share between threads; each method is one transaction."""

    def __init__(self, engine: Engine, box: SecretBox) -> None:
        self.engine = engine
        self.box = box
        self._sessions: sessionmaker[Session] = session_factory(engine)
        # Never fenced (Store.fenced replaces _sessions only): tokens and the lease itself.
        self._plain = self._sessions
        self.lease: Lease | None = None
        self.outbox = Outbox(self)

    @classmethod
    def open(cls, url: str | None, box: SecretBox, *, run_migrations: bool = True) -> Store:
        engine = make_engine(url)
        if run_migrations:
            migrate(engine, box)
        else:
            check_schema(engine)
        return cls(engine, box)

    @property
    def dialect(self) -> str:
        return self.engine.dialect.name

    # Rows written in one go after which PostgreSQL's planner statistics are refreshed (see `analyze`).
    ANALYZE_AFTER = 1000

    def analyze(self, *tables: str) -> None:
        """Refresh PostgreSQL's planner statistics of these tables (`ANALYZE`, a sampled read, ~0.1 s at 50k
        rows). Called after bulk writes: on a store filled faster than autovacuum looks at it, a table without
        statistics is planned as if it held one row, and the push-candidates join became a nested loop over
        every link for each record (17 s for one entity of 10k contacts, against 0.03 s once analysed).
        SQLite plans from its indexes alone here; nothing to do there."""
        if self.dialect != "postgresql" or not tables:
            return
        known = {t.name for t in Base.metadata.sorted_tables}
        unknown = [t for t in tables if t not in known]
        if unknown:
            raise ValueError(f"not a ledgersync table: {', '.join(unknown)}")
        try:
            with self.engine.begin() as conn:
                conn.exec_driver_sql("ANALYZE " + ", ".join(tables))
        except DBAPIError:
            # Statistics are advice to the planner: a role that may not analyse (not the tables' owner), or a
            # busy server, leaves them to autovacuum; the writes before this call stand either way.
            return

    @contextmanager
    def session(self) -> Iterator[Session]:
        with self._sessions.begin() as s:
            yield s

    # -- organisations -------------------------------------------------------------------------------
    def create_org(self, name: str, org_id: str | None = None, settings: dict[str, Any] | None = None) -> str:
        org_id = org_id or new_id("org")
        with self.session() as s:
            s.add(Organisation(id=org_id, name=name, settings=settings or {}))
        return org_id

    def get_org(self, org_id: str) -> Organisation | None:
        with self.session() as s:
            return s.get(Organisation, org_id)

    def set_org_setting(self, org_id: str, name: str, value: object | None) -> None:
        """Set one of an organisation's own settings (None removes it: the engine's default applies again)."""
        with self.session() as s:
            org = s.get(Organisation, org_id, with_for_update=True)
            if org is None:
                raise KeyError(f"no organisation {org_id}")
            settings = {k: v for k, v in (org.settings or {}).items() if k != name}
            if value is not None:
                settings[name] = value
            org.settings = settings

    def list_orgs(self) -> list[Organisation]:
        with self.session() as s:
            return list(s.scalars(select(Organisation).order_by(Organisation.created_at)))

    # -- connections ---------------------------------------------------------------------------------
    def create_connection(
        self, org_id: str, provider: str, config: dict[str, str], credentials: dict[str, str] | None = None
    ) -> str:
        """A new connection: `config` is what may be shown; `credentials` (secrets) are stored encrypted."""
        conn_id = new_id("conn")
        blob = self._seal(credentials) if credentials else None
        with self.session() as s:
            s.add(Connection(id=conn_id, org_id=org_id, provider=provider, config=config, credentials=blob))
        return conn_id

    def _seal(self, credentials: dict[str, str]) -> bytes:
        return self.box.encrypt(json.dumps(credentials, sort_keys=True).encode())

    def credentials(self, conn_id: str) -> dict[str, str]:
        """The connection's secrets, decrypted ({} when it has none)."""
        with self.session() as s:
            blob = s.scalar(select(Connection.credentials).where(Connection.id == conn_id))
        if not blob:
            return {}
        data = json.loads(self.box.decrypt(blob))
        return {str(k): str(v) for k, v in data.items()}

    def save_credentials(self, conn_id: str, credentials: dict[str, str], **values: Any) -> None:
        """Replace the connection's secrets (and set other columns in the same transaction)."""
        blob = self._seal(credentials) if credentials else None
        with self.session() as s:
            s.execute(update(Connection).where(Connection.id == conn_id).values(credentials=blob, **values))

    def get_connection(self, conn_id: str) -> Connection:
        with self.session() as s:
            conn = s.get(Connection, conn_id)
            if conn is None:
                raise KeyError(f"no connection {conn_id}")
            return conn

    def connections(self, org_id: str | None = None) -> list[Connection]:
        with self.session() as s:
            q = select(Connection).order_by(Connection.created_at)
            if org_id:
                q = q.where(Connection.org_id == org_id)
            return list(s.scalars(q))

    def update_connection(self, conn_id: str, **values: Any) -> None:
        with self.session() as s:
            s.execute(update(Connection).where(Connection.id == conn_id).values(**values))

    def save_platform_settings(self, conn_id: str, settings: dict[str, Any] | None) -> None:
        """The organisation's settings as its platform last told them (providers/org.OrgSettings.to_json).
        Unfenced: what the platform says is true whichever worker read it."""
        stmt = update(Connection).where(Connection.id == conn_id).values(platform_settings=settings)
        with self._plain.begin() as s:
            s.execute(stmt)

    def add_calls(self, conn_id: str, n: int) -> None:
        if n:
            with self.session() as s:
                s.execute(update(Connection).where(Connection.id == conn_id).values(calls=Connection.calls + n))

    # Tokens go through the unfenced sessions: a refresh the platform has done must be saved even by a worker
    # that lost its lease (the old refresh token may already be dead).
    def save_token(self, conn_id: str, token: OAuthToken, s: Session | None = None) -> None:
        blob = self.box.encrypt(token_to_bytes(token))
        stmt = update(Connection).where(Connection.id == conn_id).values(token=blob)
        if s is not None:
            s.execute(stmt)
            return
        with self._plain.begin() as s2:
            s2.execute(stmt)

    def load_token(self, conn_id: str, s: Session | None = None) -> OAuthToken | None:
        if s is None:
            with self._plain.begin() as s2:
                blob = s2.scalar(select(Connection.token).where(Connection.id == conn_id))
        else:
            blob = s.scalar(select(Connection.token).where(Connection.id == conn_id))
        return token_from_bytes(self.box.decrypt(blob)) if blob else None

    def token_with_status(self, conn_id: str) -> tuple[str, str | None, bytes | None]:
        """(status, status reason, the encrypted token) of a connection in one read (KeyError: no connection)."""
        with self._plain.begin() as s:
            row = s.execute(
                select(Connection.status, Connection.status_reason, Connection.token).where(Connection.id == conn_id)
            ).first()
        if row is None:
            raise KeyError(f"no connection {conn_id}")
        return str(row.status), row.status_reason, row.token

    def open_token(self, blob: bytes) -> OAuthToken:
        return token_from_bytes(self.box.decrypt(blob))

    @contextmanager
    def connection_row_lock(self, conn_id: str) -> Iterator[Session]:
        """A transaction holding the connection's row lock (PostgreSQL FOR UPDATE; SQLite takes the write
        lock up front), so token refreshes in several processes run one at a time. Never fenced."""
        with self._plain.begin() as s:
            if self.dialect == "sqlite":
                # Take SQLite's write lock now with a no-op write, before reading the token.
                s.execute(update(Connection).where(Connection.id == conn_id).values(id=Connection.id))
            else:
                s.execute(select(Connection.id).where(Connection.id == conn_id).with_for_update())
            yield s

    # -- the sync lease -----------------------------------------------------------------------------------
    def acquire_lease(self, conn_id: str, seconds: float) -> Lease | None:
        """Lease the connection to this worker for `seconds`, or None while another holds it. A lease is free
        once expired (whichever host held it) or when its holder is a process of this machine that has died.
        Every acquisition increments the connection's fencing token."""
        now = utcnow()
        with self._plain.begin() as s:
            if s.get(Connection, conn_id) is None:
                raise KeyError(f"no connection {conn_id}")
            # The first statement writes: on SQLite that takes the write lock before the lease row is read, so
            # two acquirers cannot both read it free (a read first, then a write, let both win); on PostgreSQL
            # ON CONFLICT waits for a concurrent first insert, and FOR UPDATE then locks the row.
            s.execute(self._insert_lease(conn_id))
            row = s.scalars(select(SyncLease).where(SyncLease.connection_id == conn_id).with_for_update()).one()
            held = row.owner is not None and row.expires_at is not None and row.expires_at > now
            if held and not holder_dead(row.owner or ""):
                return None
            lease = Lease(conn_id, new_owner(), row.token + 1, now + dt.timedelta(seconds=seconds), seconds)
            row.owner, row.token, row.expires_at, row.acquired_at = lease.owner, lease.token, lease.expires_at, now
        return lease

    def _insert_lease(self, conn_id: str) -> Any:
        values = {"connection_id": conn_id, "token": 0}
        if self.dialect == "postgresql":
            return pg_insert(SyncLease).values(**values).on_conflict_do_nothing(index_elements=["connection_id"])
        return sqlite_insert(SyncLease).values(**values).on_conflict_do_nothing(index_elements=["connection_id"])

    def renew_lease(self, lease: Lease) -> bool:
        """Push the lease's expiry out by its length again. False when another worker holds the connection now
        (the lease was taken over after it expired, or released)."""
        with self._plain.begin() as s:
            done = s.execute(
                update(SyncLease)
                .where(*self._held(lease))
                .values(expires_at=utcnow() + dt.timedelta(seconds=lease.seconds))
            )
        return bool(getattr(done, "rowcount", 0))

    def release_lease(self, lease: Lease) -> None:
        """Give the connection back (a no-op when the lease was already taken over); the token stays."""
        with self._plain.begin() as s:
            s.execute(update(SyncLease).where(*self._held(lease)).values(owner=None, expires_at=None))

    @staticmethod
    def _held(lease: Lease) -> tuple[Any, ...]:
        return (
            SyncLease.connection_id == lease.connection_id,
            SyncLease.owner == lease.owner,
            SyncLease.token == lease.token,
        )

    def lease_row(self, conn_id: str) -> SyncLease | None:
        """The connection's lease row as stored (holder, expiry, token), for display and tests."""
        with self._plain.begin() as s:
            return s.get(SyncLease, conn_id)

    def fenced(self, lease: Lease) -> Store:
        """This store (same engine and keys) with every write transaction fenced by `lease`: its commit runs
        only while the lease row still names this owner and token, else it rolls back and raises LeaseLost.
        Tokens are the exception: a refreshed OAuth token is saved whoever holds the lease (see unfenced)."""
        return self._with_sessions(
            sessionmaker(self.engine, class_=FencedSession, expire_on_commit=False, info=fence_info(lease)), lease
        )

    @property
    def unfenced(self) -> Store:
        """The same store without a fence. What stays true whoever holds the connection goes through it: OAuth
        tokens (the platform already rotated the refresh token), the lease itself, and calls already made."""
        return self if self.lease is None else self._with_sessions(self._plain, None)

    def _with_sessions(self, sessions: sessionmaker[Session], lease: Lease | None) -> Store:
        other = copy.copy(self)
        other._sessions, other.lease = sessions, lease
        # Repositories that open sessions of their own must open the new store's, not share this one's.
        other.outbox = Outbox(other)
        return other

    # -- OAuth state ---------------------------------------------------------------------------------
    def save_oauth_state(self, state: str, conn_id: str) -> None:
        with self.session() as s:
            s.add(OAuthState(state=state, connection_id=conn_id))

    def pop_oauth_state(self, state: str, max_age: float = 900) -> str | None:
        with self.session() as s:
            row = s.get(OAuthState, state)
            if row is None:
                return None
            s.delete(row)
            if (utcnow() - row.created_at).total_seconds() > max_age:
                return None
            return row.connection_id

    # -- the app's records ---------------------------------------------------------------------------
    def upsert_record(self, org_id: str, record: Record, *, s: Session | None = None) -> tuple[int, bool]:
        """Save the app's version of a record. Returns (version, changed): the version grows only when
        what the app owns changed; platform-owned fields (totals, amount due) are saved without a bump."""
        if s is None:
            with self.session() as s2:
                return self.upsert_record(org_id, record, s=s2)
        entity = record.entity.value
        data = record.to_json()
        h = record.content_hash(data)
        s.info.get("parsed", {}).pop((entity, record.id), None)
        row = s.get(AppRecord, (org_id, entity, record.id))
        name = getattr(record, "name", None)
        email = getattr(record, "email", None)
        number = getattr(record, "number", None) or getattr(record, "code", None)
        if row is None:
            s.add(
                AppRecord(
                    org_id=org_id,
                    entity=entity,
                    app_id=record.id,
                    data=data,
                    hash=h,
                    version=1,
                    name=name.lower() if name else None,
                    email=email.lower() if email else None,
                    number=number,
                    refs=_refs(record),
                    updated_at=utcnow(),
                )
            )
            return 1, True
        changed = row.hash != h or row.deleted
        if changed:
            row.version += 1
            row.updated_at = utcnow()
        row.data = data
        row.hash = h
        row.deleted = False
        row.name = name.lower() if name else None
        row.email = email.lower() if email else None
        row.number = number
        row.refs = _refs(record)
        return row.version, changed

    def delete_record(self, org_id: str, entity: Entity, app_id: str, s: Session | None = None) -> bool:
        if s is None:
            with self.session() as s2:
                return self.delete_record(org_id, entity, app_id, s2)
        row = s.get(AppRecord, (org_id, entity.value, app_id))
        if row is None or row.deleted:
            return False
        row.deleted = True
        row.version += 1
        row.updated_at = utcnow()
        self._forget_unsent(s, org_id, entity, app_id)
        return True

    def _forget_unsent(self, s: Session, org_id: str, entity: Entity, app_id: str) -> None:
        """After a deletion in the app. Where the record is on a platform (a live link), an earlier failure
        (an edit the platform refused: deleting does not change the hash it was held on) no longer holds it:
        the removal is planned on the next sync, and held again only if the removal itself is refused. Where it
        never reached the platform there is nothing to remove: the connection's failure (or wait) goes and it
        is shown not synced and deleted. A write whose outcome is unknown (`syncing`) stays: it may have
        landed, and then reconciling links it and the removal follows."""
        conns = select(Connection.id).where(Connection.org_id == org_id)
        linked = select(Link.connection_id).where(
            Link.connection_id.in_(conns), Link.entity == entity.value, Link.app_id == app_id, Link.removed.is_(False)
        )
        s.execute(
            update(SyncState)
            .where(
                SyncState.connection_id.in_(linked),
                SyncState.entity == entity.value,
                SyncState.app_id == app_id,
                SyncState.state == "failed",
            )
            .values(failed_hash=None, next_attempt_at=None)
        )
        s.execute(
            delete(SyncState).where(
                SyncState.connection_id.in_(conns),
                SyncState.connection_id.not_in(linked),
                SyncState.entity == entity.value,
                SyncState.app_id == app_id,
                SyncState.state.in_(("failed", "pending", "needs_review", "not_synced")),
            )
        )

    def get_record(self, org_id: str, entity: Entity, app_id: str, s: Session | None = None) -> StoredRecord | None:
        if s is None:
            with self.session() as s2:
                return self.get_record(org_id, entity, app_id, s2)
        parsed = s.info.get("parsed")
        if parsed is not None and (entity.value, app_id) in parsed:
            return parsed[(entity.value, app_id)]  # type: ignore[no-any-return]
        row = s.get(AppRecord, (org_id, entity.value, app_id))
        return _stored(row) if row else None

    def records(self, org_id: str, entity: Entity, *, include_deleted: bool = False) -> list[StoredRecord]:
        with self.session() as s:
            q = select(AppRecord).where(AppRecord.org_id == org_id, AppRecord.entity == entity.value)
            if not include_deleted:
                q = q.where(AppRecord.deleted.is_(False))
            return [_stored(r) for r in s.scalars(q.order_by(AppRecord.app_id))]

    def count_records(self, org_id: str, entity: Entity) -> int:
        with self.session() as s:
            return int(
                s.scalar(
                    select(func.count())
                    .select_from(AppRecord)
                    .where(AppRecord.org_id == org_id, AppRecord.entity == entity.value, AppRecord.deleted.is_(False))
                )
                or 0
            )

    def find_records(
        self,
        org_id: str,
        entity: Entity,
        *,
        name: str | None = None,
        email: str | None = None,
        number: str | None = None,
        s: Session,
    ) -> list[StoredRecord]:
        q = select(AppRecord).where(
            AppRecord.org_id == org_id, AppRecord.entity == entity.value, AppRecord.deleted.is_(False)
        )
        if name is not None:
            q = q.where(AppRecord.name == name.lower())
        if email is not None:
            q = q.where(AppRecord.email == email.lower())
        if number is not None:
            q = q.where(AppRecord.number == number)
        return [_stored(r) for r in s.scalars(q)]

    def records_referring(self, org_id: str, entity: Entity, refs: Iterable[str], s: Session) -> list[StoredRecord]:
        """Records of `entity` that refer to any of `refs` (e.g. payments on an invoice)."""
        out: dict[str, StoredRecord] = {}
        for ref in refs:
            q = select(AppRecord).where(
                AppRecord.org_id == org_id,
                AppRecord.entity == entity.value,
                AppRecord.deleted.is_(False),
                cast(AppRecord.refs, String).like(f'%"{ref}"%'),
            )
            for row in s.scalars(q):
                out[row.app_id] = _stored(row)
        return list(out.values())

    def referring_ids(self, s: Session, org_id: str, entity: Entity, refs: Sequence[str]) -> set[str]:
        """App ids of live records of `entity` that refer to any of `refs`, in one read per 200 refs (the
        payments on a page of invoices)."""
        out: set[str] = set()
        for start in range(0, len(refs), 200):
            likes = [cast(AppRecord.refs, String).like(f'%"{ref}"%') for ref in refs[start : start + 200]]
            q = select(AppRecord.app_id).where(
                AppRecord.org_id == org_id,
                AppRecord.entity == entity.value,
                AppRecord.deleted.is_(False),
                or_(*likes),
            )
            out.update(s.scalars(q))
        return out

    def referenced(self, org_id: str, prefix: str) -> set[str]:
        """Every id referred to with `prefix` (e.g. 'contact:') by any live record of the organisation."""
        with self.session() as s:
            rows = s.scalars(select(AppRecord.refs).where(AppRecord.org_id == org_id, AppRecord.deleted.is_(False)))
            return {r[len(prefix) :] for refs in rows for r in (refs or []) if r.startswith(prefix)}

    def _push_candidates_query(self, org_id: str, conn_id: str, entity: Entity, *columns: Any) -> Any:
        """App records whose content differs from what was last synced (or never synced), as plain columns of
        the records and their links on this connection."""
        rec, link = _t(AppRecord).c, _t(Link).c
        return (
            select(*columns)
            .select_from(_t(AppRecord))
            .outerjoin(
                _t(Link),
                and_(link.connection_id == conn_id, link.entity == rec.entity, link.app_id == rec.app_id),
            )
            .where(rec.org_id == org_id, rec.entity == entity.value)
            .where(
                or_(
                    link.id.is_(None) & rec.deleted.is_(False),
                    (link.app_hash != rec.hash) & rec.deleted.is_(False),
                    link.app_hash.is_(None) & rec.deleted.is_(False),
                    rec.deleted.is_(True) & link.id.is_not(None) & link.removed.is_(False),
                )
            )
            .order_by(rec.updated_at, rec.app_id)
        )

    def push_candidates(
        self, org_id: str, conn_id: str, entity: Entity, app_ids: Sequence[str] | None = None
    ) -> list[tuple[StoredRecord, LinkRow | None]]:
        """App records whose content differs from what was last synced (or never synced), in one query of plain
        rows (no ORM objects); with `app_ids` (at most a few hundred), only those of them that still are."""
        rec, link = _t(AppRecord).c, _t(Link).c
        q = self._push_candidates_query(
            org_id,
            conn_id,
            entity,
            rec.app_id,
            cast(rec.data, Text).label("data"),
            rec.hash,
            rec.version,
            rec.deleted,
            rec.updated_at,
            link.id.label("link_id"),
            link.remote_id,
            link.remote_version,
            link.app_hash,
            link.remote_hash,
            link.removed,
        )
        if app_ids is not None:
            q = q.where(rec.app_id.in_(list(app_ids)))
        out: list[tuple[StoredRecord, LinkRow | None]] = []
        with self.session() as s:
            for r in s.execute(q):
                stored = StoredRecord(
                    entity=entity,
                    app_id=r.app_id,
                    record=record_from_json(entity, r.data),
                    hash=r.hash,
                    version=r.version,
                    deleted=bool(r.deleted),
                    updated_at=r.updated_at,
                )
                found = None
                if r.link_id is not None:
                    found = LinkRow(
                        r.link_id, r.app_id, r.remote_id, r.remote_version, r.app_hash, r.remote_hash, bool(r.removed)
                    )
                out.append((stored, found))
        return out

    def push_candidate_ids(self, org_id: str, conn_id: str, entity: Entity) -> list[str]:
        """The ids of `push_candidates`, in the same order: a plan loads the records a chunk at a time."""
        with self.session() as s:
            return list(s.scalars(self._push_candidates_query(org_id, conn_id, entity, _t(AppRecord).c.app_id)))

    # -- links ---------------------------------------------------------------------------------------
    def link_by_app(self, conn_id: str, entity: Entity, app_id: str, s: Session) -> Link | None:
        return s.scalar(
            select(Link).where(Link.connection_id == conn_id, Link.entity == entity.value, Link.app_id == app_id)
        )

    def link_by_remote(self, conn_id: str, entity: Entity, remote_id: str, s: Session) -> Link | None:
        return s.scalar(
            select(Link).where(Link.connection_id == conn_id, Link.entity == entity.value, Link.remote_id == remote_id)
        )

    def links(self, conn_id: str, entity: Entity, app_ids: Iterable[str] | None = None) -> dict[str, Link]:
        """Links of one entity keyed by app id (all of them, or the given ones)."""
        with self.session() as s:
            q = select(Link).where(Link.connection_id == conn_id, Link.entity == entity.value)
            if app_ids is not None:
                ids = list(app_ids)
                out: dict[str, Link] = {}
                for i in range(0, len(ids), 500):
                    for link in s.scalars(q.where(Link.app_id.in_(ids[i : i + 500]))):
                        out[link.app_id] = link
                return out
            return {link.app_id: link for link in s.scalars(q)}

    def remote_links(self, conn_id: str, entity: Entity, remote_ids: Iterable[str], s: Session) -> dict[str, Link]:
        ids = list(remote_ids)
        out: dict[str, Link] = {}
        q = select(Link).where(Link.connection_id == conn_id, Link.entity == entity.value)
        for i in range(0, len(ids), 500):
            for link in s.scalars(q.where(Link.remote_id.in_(ids[i : i + 500]))):
                out[link.remote_id] = link
        return out

    def save_link(
        self,
        s: Session,
        conn_id: str,
        entity: Entity,
        app_id: str,
        remote_id: str,
        *,
        remote_version: str | None,
        app_hash: str | None,
        remote_hash: str | None,
        removed: bool = False,
        known: Link | bool | None = True,
    ) -> None:
        """Create or update the link of one app record.

        `known` is the caller's already-loaded link (None: it has none), given only when the caller also
        knows `remote_id` is linked to no other app record; the default True looks both up."""
        checked = known is not True
        link = known if isinstance(known, Link) else None if checked else self.link_by_app(conn_id, entity, app_id, s)
        if link is None:
            # A remote id may have been linked to another app record (e.g. a merge): move it.
            other = None if checked else self.link_by_remote(conn_id, entity, remote_id, s)
            if other is not None:
                s.delete(other)
                s.flush()
            s.add(
                Link(
                    connection_id=conn_id,
                    entity=entity.value,
                    app_id=app_id,
                    remote_id=remote_id,
                    remote_version=remote_version,
                    app_hash=app_hash,
                    remote_hash=remote_hash,
                    removed=removed,
                    synced_at=utcnow(),
                )
            )
            return
        if link.remote_id != remote_id:
            other = self.link_by_remote(conn_id, entity, remote_id, s)
            if other is not None and other.id != link.id:
                s.delete(other)
                s.flush()
        link.remote_id = remote_id
        link.remote_version = remote_version
        link.app_hash = app_hash
        link.remote_hash = remote_hash
        link.removed = removed
        link.synced_at = utcnow()

    # -- sync states ---------------------------------------------------------------------------------
    def set_state(
        self,
        s: Session,
        conn_id: str,
        entity: Entity,
        app_id: str,
        state: str,
        *,
        error: SyncError | None = None,
        doc_number: str | None = None,
        write_key: str | None = None,
        write_version: int | None = None,
        failed_hash: str | None = None,
        next_attempt_at: dt.datetime | None = None,
        count_attempt: bool = False,
    ) -> None:
        assert state in STATES, state
        row = s.get(SyncState, (conn_id, entity.value, app_id))
        if row is None:
            row = SyncState(connection_id=conn_id, entity=entity.value, app_id=app_id, attempts=0, actions=[])
            s.add(row)
        values = _next_state(
            {c: getattr(row, c) for c in _STATE_FIELDS},
            StateChange(
                app_id,
                state,
                error=error,
                doc_number=doc_number,
                write_key=write_key,
                write_version=write_version,
                failed_hash=failed_hash,
                next_attempt_at=next_attempt_at,
                count_attempt=count_attempt,
            ),
            utcnow(),
        )
        for column, value in values.items():
            if getattr(row, column) != value or column == "updated_at":
                setattr(row, column, value)

    def states(self, conn_id: str, entity: Entity | None = None, state: str | None = None) -> list[SyncState]:
        with self.session() as s:
            q = select(SyncState).where(SyncState.connection_id == conn_id)
            if entity is not None:
                q = q.where(SyncState.entity == entity.value)
            if state is not None:
                q = q.where(SyncState.state == state)
            return list(s.scalars(q.order_by(SyncState.entity, SyncState.app_id)))

    def state_map(
        self, conn_id: str, entity: Entity, app_ids: Sequence[str] | None = None, s: Session | None = None
    ) -> dict[str, SyncState]:
        """States of one entity keyed by app id: all of them, or just the given ids (loaded in chunks)."""
        if s is None:
            with self.session() as s2:
                return self.state_map(conn_id, entity, app_ids, s2)
        q = select(SyncState).where(SyncState.connection_id == conn_id, SyncState.entity == entity.value)
        if app_ids is None:
            return {row.app_id: row for row in s.scalars(q)}
        out: dict[str, SyncState] = {}
        for chunk in chunks(list(app_ids), 500):
            out.update((row.app_id, row) for row in s.scalars(q.where(SyncState.app_id.in_(chunk))))
        return out

    def state_rows(
        self, conn_id: str, entity: Entity, app_ids: Sequence[str], s: Session | None = None
    ) -> dict[str, StateRow]:
        """`state_map` as plain rows of what a plan reads (per 500 ids; no ORM objects)."""
        if s is None:
            with self.session() as s2:
                return self.state_rows(conn_id, entity, app_ids, s2)
        c = _t(SyncState).c
        out: dict[str, StateRow] = {}
        for chunk in chunks(list(dict.fromkeys(app_ids)), 500):
            q = select(c.app_id, c.state, c.attempts, c.failed_hash, c.next_attempt_at).where(
                c.connection_id == conn_id, c.entity == entity.value, c.app_id.in_(chunk)
            )
            for r in s.execute(q):
                out[r.app_id] = StateRow(r.app_id, r.state, r.attempts, r.failed_hash, r.next_attempt_at)
        return out

    # -- set-wise paths for the record stage: one read of what a batch needs, then executemany / upserts ---------
    # Core statements through the session: the fence (store.lease) counts them as writes like any flush. They
    # never touch ORM objects, so a caller must not also hold ORM copies of the same rows in the session.
    def _upsert(self, s: Session, table: Any, rows: Sequence[dict[str, Any]], keys: Sequence[str]) -> None:
        """INSERT ... ON CONFLICT (keys) DO UPDATE of every other column given, on SQLite and PostgreSQL."""
        if not rows:
            return
        columns = tuple(rows[0])
        stmt = _UPSERTS.get((self.dialect, table.name, columns))
        if stmt is None:
            ins = (pg_insert if self.dialect == "postgresql" else sqlite_insert)(table)
            stmt = ins.on_conflict_do_update(
                index_elements=list(keys), set_={c: ins.excluded[c] for c in columns if c not in keys}
            )
            _UPSERTS[(self.dialect, table.name, columns)] = stmt
        for chunk in chunks(rows, 500):
            s.execute(stmt, list(chunk))

    def save_platform_fields(
        self, s: Session, conn_id: str, entity: Entity, rows: Sequence[tuple[str, str, str | None, dict[str, Any]]]
    ) -> None:
        """What this connection's platform computed, per (app id, platform id, platform version, fields): one
        upsert per 500. The last row of an app id wins."""
        by_app = {a: (r, v, f) for a, r, v, f in rows}
        self._upsert(
            s,
            _t(PlatformFields),
            [
                {
                    "connection_id": conn_id,
                    "entity": entity.value,
                    "app_id": a,
                    "remote_id": r,
                    "remote_version": v,
                    "fields": f,
                }
                for a, (r, v, f) in by_app.items()
            ],
            ("connection_id", "entity", "app_id"),
        )

    def platform_fields(
        self, s: Session, conn_id: str, entity: Entity, app_ids: Sequence[str] | None = None
    ) -> dict[str, dict[str, Any]]:
        """This connection's platform-computed fields by app id, only where they are still its own: the link
        names the same platform record at the same (known) version. One read per 500 ids."""
        pf, link = _t(PlatformFields), _t(Link)
        q = (
            select(pf.c.app_id, pf.c.fields)
            .join(
                link,
                (link.c.connection_id == pf.c.connection_id)
                & (link.c.entity == pf.c.entity)
                & (link.c.app_id == pf.c.app_id),
            )
            .where(
                pf.c.connection_id == conn_id,
                pf.c.entity == entity.value,
                link.c.remote_id == pf.c.remote_id,
                link.c.remote_version == pf.c.remote_version,
                link.c.removed.is_(False),
            )
        )
        if app_ids is None:
            return {a: dict(f) for a, f in s.execute(q)}
        out: dict[str, dict[str, Any]] = {}
        for chunk in chunks(list(dict.fromkeys(app_ids)), 500):
            out.update({a: dict(f) for a, f in s.execute(q.where(pf.c.app_id.in_(chunk)))})
        return out

    # -- each connection's split of an overpaid payment (engine/credit.py) ----------------------------
    def save_split(
        self, s: Session, conn_id: str, payment_id: str, credit_id: str | None, split: dict[str, Any]
    ) -> None:
        self._upsert(
            s,
            _t(PaymentSplit),
            [{"connection_id": conn_id, "payment_id": payment_id, "credit_id": credit_id, "split": split}],
            ("connection_id", "payment_id"),
        )

    def drop_split(self, s: Session, conn_id: str, payment_id: str) -> None:
        """Stop applying this connection's split (its platform refused it: the next plan splits afresh). The
        credit record it made stays this connection's until the new split keeps, changes or deletes it."""
        row = s.get(PaymentSplit, (conn_id, payment_id))
        if row is not None:
            row.split = {**row.split, "source": None}

    def splits(self, s: Session, conn_id: str, payment_ids: Sequence[str] | None = None) -> dict[str, dict[str, Any]]:
        """This connection's splits by app payment id (all, or these; one read per 500 ids)."""
        ps = _t(PaymentSplit).c
        q = select(ps.payment_id, ps.split).where(ps.connection_id == conn_id)
        if payment_ids is None:
            return {p: dict(v) for p, v in s.execute(q)}
        out: dict[str, dict[str, Any]] = {}
        for chunk in chunks(list(dict.fromkeys(payment_ids)), 500):
            out.update({p: dict(v) for p, v in s.execute(q.where(ps.payment_id.in_(chunk)))})
        return out

    def credit_splits(self, s: Session, credit_ids: Sequence[str]) -> dict[str, set[str]]:
        """The connections whose split made each of these credit records (an app credit no split made: absent)."""
        ps = _t(PaymentSplit).c
        out: dict[str, set[str]] = {}
        for chunk in chunks(list(dict.fromkeys(credit_ids)), 500):
            for conn, credit in s.execute(select(ps.connection_id, ps.credit_id).where(ps.credit_id.in_(chunk))):
                out.setdefault(credit, set()).add(conn)
        return out

    def set_states(self, s: Session, conn_id: str, entity: Entity, changes: Sequence[StateChange]) -> None:
        """`set_state` for a batch: one read of the rows, one upsert (changes to one record apply in order)."""
        if not changes:
            return
        table = _t(SyncState)
        ids = list(dict.fromkeys(c.app_id for c in changes))
        if self._set_states_unread(s, conn_id, entity, changes, ids):
            return
        current: dict[str, dict[str, Any]] = {}
        cols = [table.c[f] for f in _STATE_FIELDS]
        for chunk in chunks(ids, 500):
            q = select(table.c.app_id, *cols).where(
                table.c.connection_id == conn_id, table.c.entity == entity.value, table.c.app_id.in_(chunk)
            )
            for r in s.execute(q):
                current[r.app_id] = {f: r._mapping[f] for f in _STATE_FIELDS}
        now = utcnow()
        for change in changes:
            row = current.get(change.app_id) or dict(_NEW_STATE, actions=[])
            current[change.app_id] = _next_state(row, change, now)
        rows = [
            {"connection_id": conn_id, "entity": entity.value, "app_id": app_id, **current[app_id]} for app_id in ids
        ]
        self._upsert(s, table, rows, ("connection_id", "entity", "app_id"))

    def _set_states_unread(
        self, s: Session, conn_id: str, entity: Entity, changes: Sequence[StateChange], ids: Sequence[str]
    ) -> bool:
        """set_states without reading the rows, when the new values do not depend on the old ones but for what
        the database can keep itself: one state for the batch, one change per record, no attempt counted, and
        every error column either set or cleared (not a pending without an error, which keeps the last error).
        A missing document number keeps the stored one (COALESCE); attempts are kept, or reset by synced,
        skipped and excluded. False (nothing written) when the batch does not qualify."""
        state = changes[0].state
        if len(ids) < len(changes) or any(
            c.state != state or c.count_attempt or (c.error is None and c.state == "pending") for c in changes
        ):
            return False
        now = utcnow()
        resets = state in ("synced", "skipped", "excluded")
        keys = ("connection_id", "entity", "app_id")
        rows = []
        for change in changes:
            row = _next_state(dict(_NEW_STATE, actions=[]), change, now)
            rows.append({"connection_id": conn_id, "entity": entity.value, "app_id": change.app_id, **row})
        # What every row of the batch sets to the same NULL, [] or 0 (the error columns cleared, no retry due) is
        # written as a literal of the statement rather than bound and converted once per row.
        same = tuple(
            c
            for c, v in rows[0].items()
            if c not in keys and (v is None or v == [] or (type(v) is int and v == 0)) and all(r[c] == v for r in rows)
        )
        literals = {c: rows[0][c] for c in same}
        if same:
            rows = [{c: v for c, v in r.items() if c not in literals} for r in rows]
        key = (
            self.dialect,
            "sync_states:unread",
            (state if resets else "", *sorted(rows[0]), "|", *(f"{c}={literals[c]!r}" for c in same)),
        )
        stmt = _UPSERTS.get(key)
        if stmt is None:
            table = _t(SyncState)
            ins = (pg_insert if self.dialect == "postgresql" else sqlite_insert)(table)
            ins = ins.values({c: bindparam(c) for c in rows[0]} | {c: _literal(literals[c]) for c in same})
            set_: dict[str, Any] = {c: ins.excluded[c] for c in (*rows[0], *same) if c not in keys}
            set_["doc_number"] = func.coalesce(ins.excluded.doc_number, table.c.doc_number)
            if not resets:
                del set_["attempts"]  # kept as stored (a new row gets 0)
            stmt = ins.on_conflict_do_update(index_elements=list(keys), set_=set_)
            _UPSERTS[key] = stmt
        for chunk in chunks(rows, 500):
            s.execute(stmt, list(chunk))
        return True

    def save_links(self, s: Session, conn_id: str, entity: Entity, changes: Sequence[LinkChange]) -> None:
        """`save_link` for a batch: a platform id linked to another app record is moved (its old link deleted),
        then one upsert by app id. Two changes naming one app or platform id go one by one, in order."""
        if not changes:
            return
        if len({c.app_id for c in changes}) < len(changes) or len({c.remote_id for c in changes}) < len(changes):
            for c in changes:
                self.save_link(
                    s,
                    conn_id,
                    entity,
                    c.app_id,
                    c.remote_id,
                    remote_version=c.remote_version,
                    app_hash=c.app_hash,
                    remote_hash=c.remote_hash,
                    removed=c.removed,
                )
                s.flush()
            return
        table = _t(Link)
        wants = {c.remote_id: c.app_id for c in changes}
        stale: list[int] = []
        for chunk in chunks(list(wants), 500):
            q = select(table.c.id, table.c.app_id, table.c.remote_id).where(
                table.c.connection_id == conn_id, table.c.entity == entity.value, table.c.remote_id.in_(chunk)
            )
            stale.extend(r.id for r in s.execute(q) if r.app_id != wants[r.remote_id])
        for chunk in chunks(stale, 500):
            s.execute(delete(table).where(table.c.id.in_(list(chunk))))
        now = utcnow()
        rows = [
            {
                "connection_id": conn_id,
                "entity": entity.value,
                "app_id": c.app_id,
                "remote_id": c.remote_id,
                "remote_version": c.remote_version,
                "app_hash": c.app_hash,
                "remote_hash": c.remote_hash,
                "removed": c.removed,
                "synced_at": now,
            }
            for c in changes
        ]
        self._upsert(s, table, rows, ("connection_id", "entity", "app_id"))

    def link_rows(self, s: Session, conn_id: str, entity: Entity, remote_ids: Sequence[str]) -> dict[str, LinkRow]:
        """The links of these platform ids, by platform id, as plain rows in one read (per 500)."""
        table = _t(Link)
        out: dict[str, LinkRow] = {}
        cols = (
            table.c.id,
            table.c.app_id,
            table.c.remote_id,
            table.c.remote_version,
            table.c.app_hash,
            table.c.remote_hash,
            table.c.removed,
        )
        for chunk in chunks(list(dict.fromkeys(remote_ids)), 500):
            q = select(*cols).where(
                table.c.connection_id == conn_id, table.c.entity == entity.value, table.c.remote_id.in_(chunk)
            )
            for r in s.execute(q):
                out[r.remote_id] = LinkRow(
                    r.id, r.app_id, r.remote_id, r.remote_version, r.app_hash, r.remote_hash, bool(r.removed)
                )
        return out

    def links_by_app(self, s: Session, conn_id: str, entity: Entity, app_ids: Sequence[str]) -> dict[str, LinkRow]:
        """The links of these app records, by app id, as plain rows in one read (per 500)."""
        table = _t(Link)
        out: dict[str, LinkRow] = {}
        for chunk in chunks(list(dict.fromkeys(app_ids)), 500):
            q = select(
                table.c.id,
                table.c.app_id,
                table.c.remote_id,
                table.c.remote_version,
                table.c.app_hash,
                table.c.remote_hash,
                table.c.removed,
            ).where(table.c.connection_id == conn_id, table.c.entity == entity.value, table.c.app_id.in_(chunk))
            for r in s.execute(q):
                out[r.app_id] = LinkRow(
                    r.id, r.app_id, r.remote_id, r.remote_version, r.app_hash, r.remote_hash, bool(r.removed)
                )
        return out

    def update_links(self, s: Session, rows: Sequence[dict[str, Any]]) -> None:
        """Links changed in place (from `LinkRow.update`): one executemany UPDATE by id."""
        if not rows:
            return
        table = _t(Link)
        stmt = (
            update(table)
            .where(table.c.id == bindparam("b_id"))
            .values({c: bindparam(c) for c in ("remote_version", "app_hash", "remote_hash", "removed")})
        )
        for chunk in chunks(rows, 500):
            s.execute(stmt, list(chunk))

    def record_map(self, s: Session, org_id: str, entity: Entity, app_ids: Sequence[str]) -> dict[str, StoredRecord]:
        """The app records of a batch by app id, in one read of plain rows (no ORM objects)."""
        table = _t(AppRecord)
        out: dict[str, StoredRecord] = {}
        for chunk in chunks(list(dict.fromkeys(app_ids)), 500):
            q = select(
                table.c.app_id, table.c.data, table.c.hash, table.c.version, table.c.deleted, table.c.updated_at
            ).where(table.c.org_id == org_id, table.c.entity == entity.value, table.c.app_id.in_(chunk))
            for r in s.execute(q):
                out[r.app_id] = StoredRecord(
                    entity=entity,
                    app_id=r.app_id,
                    record=record_from_json(entity, dict(r.data)),
                    hash=r.hash,
                    version=r.version,
                    deleted=r.deleted,
                    updated_at=r.updated_at,
                )
        return out

    def record_meta(self, s: Session, org_id: str, entity: Entity, app_ids: Sequence[str]) -> dict[str, RecordMeta]:
        """`record_map` without the records' data (nothing parsed): for saving records the caller already holds."""
        table = _t(AppRecord)
        out: dict[str, RecordMeta] = {}
        for chunk in chunks(list(dict.fromkeys(app_ids)), 500):
            q = select(table.c.app_id, table.c.hash, table.c.version, table.c.deleted, table.c.updated_at).where(
                table.c.org_id == org_id, table.c.entity == entity.value, table.c.app_id.in_(chunk)
            )
            for r in s.execute(q):
                out[r.app_id] = RecordMeta(r.app_id, r.hash, r.version, bool(r.deleted), r.updated_at)
        return out

    def save_records(
        self,
        s: Session,
        org_id: str,
        updates: Sequence[tuple[Record, StoredRecord | RecordMeta]],
        hashes: dict[str, str] | None = None,
        dumped: dict[str, dict[str, Any]] | None = None,
    ) -> dict[str, tuple[int, bool]]:
        """`upsert_record` for records that exist (with the stored copy each was read as): one executemany
        UPDATE. Returns (version, changed) by app id; the version grows only when the content hash changed.
        `hashes`, when given, receives each saved record's content hash by app id; `dumped`, its `to_json()`
        (the saved data: not to be changed)."""
        if not updates:
            return {}
        now = utcnow()
        out: dict[str, tuple[int, bool]] = {}
        rows: list[dict[str, Any]] = []
        # Same hash, not deleted: what the app owns is the same (name, email and number with it), so only the
        # data (platform-computed fields) and the references (a platform-owned customer) can differ.
        same: list[dict[str, Any]] = []
        parsed = s.info.get("parsed", {})
        for record, current in updates:
            parsed.pop((record.entity.value, record.id), None)
            fields = _record_fields(record)
            if hashes is not None:
                hashes[record.id] = fields["hash"]
            if dumped is not None:
                dumped[record.id] = fields["data"]
            changed = current.hash != fields["hash"] or current.deleted
            version = current.version + 1 if changed else current.version
            out[record.id] = (version, changed)
            key = {"b_org": org_id, "b_entity": record.entity.value, "b_app_id": record.id}
            if not changed:
                same.append({**key, "data": fields["data"], "refs": fields["refs"]})
                continue
            rows.append({**key, **fields, "version": version, "deleted": False, "updated_at": now})
        for batch in (rows, same):
            if not batch:
                continue
            stmt = _record_update(tuple(c for c in batch[0] if not c.startswith("b_")))
            for chunk in chunks(batch, 500):
                s.execute(stmt, list(chunk))
        return out

    def pin_referenced(self, s: Session, org_id: str, records: Sequence[Record]) -> None:
        """Read the records these refer to (an invoice's contact, a payment's invoices) once for the transaction,
        parsed (`s.info["parsed"]`, dropped when the record is saved in it; plain rows, no ORM objects), so
        `get_record` on them finds them without a query each. Their ids
        stay in `s.info["referenced"]` (kind -> ids) for what else a caller reads about them at once."""
        wanted: dict[str, set[str]] = {}
        for record in records:
            for ref in _refs(record):
                kind, _, ref_id = ref.partition(":")
                wanted.setdefault(kind, set()).add(ref_id)
        referenced: dict[str, set[str]] = s.info.setdefault("referenced", {})
        parsed: dict[tuple[str, str], StoredRecord] = s.info.setdefault("parsed", {})
        table = _t(AppRecord)
        c = table.c
        for kind, ids in wanted.items():
            referenced.setdefault(kind, set()).update(ids)
            entity = Entity(kind)
            for chunk in chunks(sorted(ids), 500):
                # Plain rows, the data as JSON text parsed by pydantic at once (no ORM objects, no dict).
                q = select(
                    c.app_id, cast(c.data, Text).label("data"), c.hash, c.version, c.deleted, c.updated_at
                ).where(c.org_id == org_id, c.entity == kind, c.app_id.in_(chunk))
                for r in s.execute(q):
                    parsed[(kind, r.app_id)] = StoredRecord(
                        entity=entity,
                        app_id=r.app_id,
                        record=record_from_json(entity, r.data),
                        hash=r.hash,
                        version=r.version,
                        deleted=bool(r.deleted),
                        updated_at=r.updated_at,
                    )

    @staticmethod
    def event_row(kind: str, **fields: Any) -> dict[str, Any]:
        """One event-log row as `log` writes it, for `log_many`."""
        entity = fields.pop("entity", None)
        return {
            "connection_id": fields.pop("connection_id", None),
            "org_id": fields.pop("org_id", None),
            "kind": kind,
            "entity": entity.value if entity else None,
            "app_id": fields.pop("app_id", None),
            "remote_id": fields.pop("remote_id", None),
            "doc_number": fields.pop("doc_number", None),
            "outcome": fields.pop("outcome", "ok"),
            "message": fields.pop("message", None),
            "details": fields.pop("details", None) or {},
            "at": utcnow(),
            **({} if not fields else _unknown(fields)),
        }

    def log_many(self, s: Session, rows: Sequence[dict[str, Any]]) -> None:
        """Event-log rows (from `event_row`) in one executemany INSERT."""
        if rows:
            s.execute(insert(_t(Event)), list(rows))

    def emit_many(self, s: Session, rows: Sequence[dict[str, Any]]) -> None:
        """App events (org_id, type, entity, app_id, payload) in one executemany INSERT."""
        if rows:
            now = utcnow()
            s.execute(insert(_t(AppEvent)), [{"at": now, **r} for r in rows])

    def preload(self, s: Session, org_id: str, conn_id: str, entity: Entity, app_ids: Sequence[str]) -> dict[str, Link]:
        """Load a batch's states, records and links into the session with a few queries, so the per-record
        writes that follow find them in the identity map instead of querying one by one.

        The session's identity map holds unmodified objects weakly: loaded and dropped, they are collected at
        once and every `get` queries again. So what is loaded is pinned in `s.info` for the transaction."""
        pinned: list[object] = s.info.setdefault("pinned", [])
        pinned.extend(self.state_map(conn_id, entity, app_ids, s).values())
        for chunk in chunks(list(app_ids), 500):
            pinned.extend(
                s.scalars(
                    select(AppRecord).where(
                        AppRecord.org_id == org_id, AppRecord.entity == entity.value, AppRecord.app_id.in_(chunk)
                    )
                )
            )
        out: dict[str, Link] = {}
        q = select(Link).where(Link.connection_id == conn_id, Link.entity == entity.value)
        for chunk in chunks(list(app_ids), 500):
            out.update((link.app_id, link) for link in s.scalars(q.where(Link.app_id.in_(chunk))))
        return out

    def link_pairs(self, conn_id: str, entity: Entity) -> list[tuple[str, str, bool]]:
        """(app id, remote id, removed) of every link of one entity, as plain tuples (cheap to load)."""
        with self.session() as s:
            rows = s.execute(
                select(Link.app_id, Link.remote_id, Link.removed).where(
                    Link.connection_id == conn_id, Link.entity == entity.value
                )
            )
            return [(a, r, bool(rm)) for a, r, rm in rows]

    def get_state(self, conn_id: str, entity: Entity, app_id: str) -> SyncState | None:
        with self.session() as s:
            return s.get(SyncState, (conn_id, entity.value, app_id))

    def state_counts(self, conn_id: str) -> dict[str, dict[str, int]]:
        with self.session() as s:
            rows = s.execute(
                select(SyncState.entity, SyncState.state, func.count())
                .where(SyncState.connection_id == conn_id)
                .group_by(SyncState.entity, SyncState.state)
            ).all()
            out: dict[str, dict[str, int]] = {}
            for entity, state, n in rows:
                out.setdefault(entity, {})[state] = int(n)
            return out

    # -- cursors -------------------------------------------------------------------------------------
    def get_cursor(self, conn_id: str, entity: Entity) -> str | None:
        with self.session() as s:
            row = s.get(Cursor, (conn_id, entity.value))
            return row.value if row else None

    def get_checkpoint(self, conn_id: str, entity: Entity) -> tuple[str | None, str | None]:
        """(cursor, resume): where the next pull starts, and where an unfinished one continues."""
        with self.session() as s:
            row = s.get(Cursor, (conn_id, entity.value))
            return (row.value, row.resume) if row else (None, None)

    def set_cursor(
        self, s: Session, conn_id: str, entity: Entity, value: str | None, resume: str | None = None
    ) -> None:
        row = s.get(Cursor, (conn_id, entity.value))
        if row is None:
            s.add(Cursor(connection_id=conn_id, entity=entity.value, value=value, resume=resume, updated_at=utcnow()))
        else:
            row.value = value
            row.resume = resume
            row.updated_at = utcnow()

    def reset_cursors(self, conn_id: str) -> None:
        with self.session() as s:
            s.execute(delete(Cursor).where(Cursor.connection_id == conn_id))

    # -- event log -----------------------------------------------------------------------------------
    def log(
        self,
        kind: str,
        *,
        connection_id: str | None = None,
        org_id: str | None = None,
        entity: Entity | None = None,
        app_id: str | None = None,
        remote_id: str | None = None,
        doc_number: str | None = None,
        outcome: str = "ok",
        message: str | None = None,
        details: dict[str, Any] | None = None,
        s: Session | None = None,
    ) -> None:
        row = Event(
            connection_id=connection_id,
            org_id=org_id,
            kind=kind,
            entity=entity.value if entity else None,
            app_id=app_id,
            remote_id=remote_id,
            doc_number=doc_number,
            outcome=outcome,
            message=message,
            details=details or {},
            at=utcnow(),
        )
        if s is not None:
            s.add(row)
            return
        with self.session() as s2:
            s2.add(row)

    def events(
        self,
        *,
        org_id: str | None = None,
        connection_id: str | None = None,
        doc_number: str | None = None,
        kind: str | None = None,
        outcome: str | None = None,
        entity: Entity | None = None,
        app_id: str | None = None,
        search: str | None = None,
        limit: int = 100,
        before_id: int | None = None,
    ) -> list[Event]:
        """Newest first. With `org_id`, only that organisation's rows: tagged with it or with one of its
        connections (some engine rows carry only the connection)."""
        with self.session() as s:
            q = select(Event)
            if org_id is not None:
                conn_ids = list(s.scalars(select(Connection.id).where(Connection.org_id == org_id)))
                q = q.where(or_(Event.org_id == org_id, Event.connection_id.in_(conn_ids)))
            if connection_id:
                q = q.where(Event.connection_id == connection_id)
            if doc_number:
                q = q.where(Event.doc_number == doc_number)
            if kind:
                q = q.where(Event.kind == kind)
            if outcome:
                q = q.where(Event.outcome == outcome)
            if entity:
                q = q.where(Event.entity == entity.value)
            if app_id:
                q = q.where(Event.app_id == app_id)
            if search and search.strip():
                # Case-insensitive "contains", with LIKE's own wildcards in the term taken literally.
                term = search.strip()
                q = q.where(
                    or_(
                        Event.doc_number.icontains(term, autoescape=True),
                        Event.app_id.icontains(term, autoescape=True),
                        Event.message.icontains(term, autoescape=True),
                    )
                )
            if before_id:
                q = q.where(Event.id < before_id)
            return list(s.scalars(q.order_by(Event.id.desc()).limit(limit)))

    def prune_events(self, older_than: dt.timedelta) -> int:
        with self.session() as s:
            result = s.execute(delete(Event).where(Event.at < utcnow() - older_than))
            return int(getattr(result, "rowcount", 0) or 0)

    def emit(
        self, s: Session, org_id: str, type_: str, entity: Entity | None, app_id: str | None, payload: dict[str, Any]
    ) -> None:
        s.add(
            AppEvent(
                org_id=org_id,
                type=type_,
                entity=entity.value if entity else None,
                app_id=app_id,
                payload=payload,
                at=utcnow(),
            )
        )

    def app_events(self, org_id: str, after_id: int = 0, limit: int = 100) -> list[AppEvent]:
        with self.session() as s:
            q = (
                select(AppEvent)
                .where(AppEvent.org_id == org_id, AppEvent.id > after_id)
                .order_by(AppEvent.id)
                .limit(limit)
            )
            return list(s.scalars(q))

    # -- REST API: record pages, org-wide event search, API keys, webhook endpoints and deliveries ----------
    def record_page(
        self,
        org_id: str,
        entity: Entity,
        *,
        conn_id: str | None = None,
        state: str | None = None,
        limit: int = 50,
        offset: int = 0,
    ) -> tuple[list[StoredRecord], int]:
        """One page of the app's live records of `entity` (ordered by app id) and the total; with `state`,
        only those in that sync state on `conn_id` (not_synced also matches records with no state yet)."""
        with self.session() as s:
            q = select(AppRecord).where(
                AppRecord.org_id == org_id, AppRecord.entity == entity.value, AppRecord.deleted.is_(False)
            )
            if state is not None and conn_id is not None:
                q = q.outerjoin(
                    SyncState,
                    and_(
                        SyncState.connection_id == conn_id,
                        SyncState.entity == AppRecord.entity,
                        SyncState.app_id == AppRecord.app_id,
                    ),
                )
                if state == "not_synced":
                    q = q.where(or_(SyncState.state.is_(None), SyncState.state == "not_synced"))
                else:
                    q = q.where(SyncState.state == state)
            total = int(s.scalar(select(func.count()).select_from(q.subquery())) or 0)
            rows = s.scalars(q.order_by(AppRecord.app_id).offset(offset).limit(limit))
            return [_stored(r) for r in rows], total

    def create_api_key(self, org_id: str, name: str, role: str, token_hash: str, prefix: str) -> ApiKey:
        with self.session() as s:
            row = ApiKey(
                id=new_id("key"),
                org_id=org_id,
                name=name,
                role=role,
                prefix=prefix,
                hash=token_hash,
                created_at=utcnow(),
            )
            s.add(row)
            return row

    def api_key_by_hash(self, token_hash: str) -> ApiKey | None:
        """The live key with this hash; its last use is stamped (at most once a minute, to spare writes)."""
        with self.session() as s:
            row = s.scalar(select(ApiKey).where(ApiKey.hash == token_hash, ApiKey.revoked_at.is_(None)))
            if row is not None:
                now = utcnow()
                if row.last_used_at is None or (now - row.last_used_at).total_seconds() > 60:
                    row.last_used_at = now
            return row

    def api_keys(self, org_id: str) -> list[ApiKey]:
        with self.session() as s:
            return list(s.scalars(select(ApiKey).where(ApiKey.org_id == org_id).order_by(ApiKey.created_at)))

    def revoke_api_key(self, org_id: str, key_id: str) -> bool:
        with self.session() as s:
            row = s.get(ApiKey, key_id)
            if row is None or row.org_id != org_id or row.revoked_at is not None:
                return False
            row.revoked_at = utcnow()
            return True

    def create_webhook_endpoint(
        self, org_id: str, url: str, secret: str, event_types: list[str], description: str | None = None
    ) -> WebhookEndpoint:
        with self.session() as s:
            row = WebhookEndpoint(
                id=new_id("whe"),
                org_id=org_id,
                url=url,
                description=description,
                secret=self.box.encrypt(secret.encode()),
                event_types=event_types,
                active=True,
                created_at=utcnow(),
            )
            s.add(row)
            return row

    def webhook_endpoints(self, org_id: str | None = None, *, active_only: bool = False) -> list[WebhookEndpoint]:
        with self.session() as s:
            q = select(WebhookEndpoint).order_by(WebhookEndpoint.created_at)
            if org_id is not None:
                q = q.where(WebhookEndpoint.org_id == org_id)
            if active_only:
                q = q.where(WebhookEndpoint.active.is_(True))
            return list(s.scalars(q))

    def get_webhook_endpoint(self, endpoint_id: str) -> WebhookEndpoint | None:
        with self.session() as s:
            return s.get(WebhookEndpoint, endpoint_id)

    def webhook_secret(self, endpoint: WebhookEndpoint) -> str:
        return self.box.decrypt(endpoint.secret).decode()

    def update_webhook_endpoint(self, endpoint_id: str, **values: Any) -> None:
        if "secret" in values:
            values["secret"] = self.box.encrypt(str(values["secret"]).encode())
        with self.session() as s:
            s.execute(update(WebhookEndpoint).where(WebhookEndpoint.id == endpoint_id).values(**values))

    def fan_out_app_events(self, limit: int = 500) -> int:
        """Turn queued app events into one delivery per matching active endpoint of their organisation.

        An event is claimed by stamping its `delivered_at` (a conditional update, so two processes never fan
        the same event out twice); events of organisations without an endpoint stay queued. Returns the
        number of deliveries created."""
        created = 0
        with self.session() as s:
            endpoints: dict[str, list[WebhookEndpoint]] = {}
            for ep in s.scalars(select(WebhookEndpoint).where(WebhookEndpoint.active.is_(True))):
                endpoints.setdefault(ep.org_id, []).append(ep)
            if not endpoints:
                return 0
            events = list(
                s.scalars(
                    select(AppEvent)
                    .where(AppEvent.delivered_at.is_(None), AppEvent.org_id.in_(list(endpoints)))
                    .order_by(AppEvent.id)
                    .limit(limit)
                )
            )
            now = utcnow()
            for ev in events:
                claimed = s.execute(
                    update(AppEvent)
                    .where(AppEvent.id == ev.id, AppEvent.delivered_at.is_(None))
                    .values(delivered_at=now)
                )
                if not getattr(claimed, "rowcount", 0):
                    continue
                for ep in endpoints[ev.org_id]:
                    # An endpoint hears only of what happened after it was registered, and only what it asked for.
                    if ev.at < ep.created_at or (ep.event_types and ev.type not in ep.event_types):
                        continue
                    s.add(
                        WebhookDelivery(
                            endpoint_id=ep.id,
                            org_id=ev.org_id,
                            app_event_id=ev.id,
                            message_id=f"msg_{uuid.uuid4().hex}",
                            event_type=ev.type,
                            payload={
                                "type": ev.type,
                                "timestamp": ev.at.isoformat(),
                                "data": {
                                    "organisation_id": ev.org_id,
                                    "event_id": ev.id,
                                    "entity": ev.entity,
                                    "app_id": ev.app_id,
                                    **({"record": ev.payload} if ev.entity else dict(ev.payload)),
                                },
                            },
                            status="pending",
                            attempts=0,
                            next_attempt_at=now,
                            created_at=now,
                        )
                    )
                    created += 1
        return created

    def claim_due_deliveries(self, lease_seconds: float, limit: int = 50) -> list[WebhookDelivery]:
        """Deliveries whose next attempt is due, each claimed by pushing `next_attempt_at` out by the lease
        (a conditional update: another process that read the same row loses the claim)."""
        now = utcnow()
        out: list[WebhookDelivery] = []
        with self.session() as s:
            rows = list(
                s.scalars(
                    select(WebhookDelivery)
                    .where(
                        WebhookDelivery.status.in_(("pending", "retrying")),
                        WebhookDelivery.next_attempt_at <= now,
                    )
                    .order_by(WebhookDelivery.next_attempt_at, WebhookDelivery.id)
                    .limit(limit)
                )
            )
            for row in rows:
                seen = row.next_attempt_at
                lease = now + dt.timedelta(seconds=lease_seconds)
                won = s.execute(
                    update(WebhookDelivery)
                    .where(WebhookDelivery.id == row.id, WebhookDelivery.next_attempt_at == seen)
                    .values(next_attempt_at=lease)
                    .execution_options(synchronize_session=False)
                )
                if getattr(won, "rowcount", 0):
                    out.append(row)
        return out

    def record_delivery_attempt(
        self,
        delivery_id: int,
        *,
        status: str,
        response_code: int | None,
        error: str | None,
        duration_ms: int | None,
        next_attempt_at: dt.datetime | None,
    ) -> None:
        with self.session() as s:
            row = s.get(WebhookDelivery, delivery_id)
            if row is None:
                return
            row.attempts = (row.attempts or 0) + 1
            row.status = status
            row.response_code = response_code
            row.last_error = error
            row.next_attempt_at = next_attempt_at
            if status == "delivered":
                row.delivered_at = utcnow()
            s.add(
                WebhookAttempt(
                    delivery_id=delivery_id,
                    attempt=row.attempts,
                    at=utcnow(),
                    response_code=response_code,
                    error=error,
                    duration_ms=duration_ms,
                    next_attempt_at=next_attempt_at,
                )
            )

    def webhook_deliveries(
        self,
        org_id: str,
        *,
        endpoint_id: str | None = None,
        status: str | None = None,
        event_type: str | None = None,
        limit: int = 50,
        offset: int = 0,
    ) -> tuple[list[WebhookDelivery], int]:
        with self.session() as s:
            q = select(WebhookDelivery).where(WebhookDelivery.org_id == org_id)
            if endpoint_id:
                q = q.where(WebhookDelivery.endpoint_id == endpoint_id)
            if status:
                q = q.where(WebhookDelivery.status == status)
            if event_type:
                q = q.where(WebhookDelivery.event_type == event_type)
            total = int(s.scalar(select(func.count()).select_from(q.subquery())) or 0)
            rows = list(s.scalars(q.order_by(WebhookDelivery.id.desc()).offset(offset).limit(limit)))
            return rows, total

    def get_webhook_delivery(self, delivery_id: int) -> WebhookDelivery | None:
        with self.session() as s:
            return s.get(WebhookDelivery, delivery_id)

    def webhook_attempts(self, delivery_id: int) -> list[WebhookAttempt]:
        with self.session() as s:
            return list(
                s.scalars(
                    select(WebhookAttempt).where(WebhookAttempt.delivery_id == delivery_id).order_by(WebhookAttempt.id)
                )
            )

    def redeliver(self, delivery_id: int) -> None:
        """Send a delivery again now (keeps its webhook-id, so a receiver can still de-duplicate)."""
        with self.session() as s:
            s.execute(
                update(WebhookDelivery)
                .where(WebhookDelivery.id == delivery_id)
                .values(status="retrying", next_attempt_at=utcnow())
            )

    # -- security: paged lists, dashboard sessions, sign-in throttling, inbound webhook de-duplication ---------
    def states_page(
        self, conn_id: str, entity: Entity | None = None, state: str | None = None, *, limit: int, offset: int = 0
    ) -> tuple[list[SyncState], int]:
        """One page of `states` and the total, read page by page (a connection may hold a million states)."""
        with self.session() as s:
            q = select(SyncState).where(SyncState.connection_id == conn_id)
            if entity is not None:
                q = q.where(SyncState.entity == entity.value)
            if state is not None:
                q = q.where(SyncState.state == state)
            total = int(s.scalar(select(func.count()).select_from(q.subquery())) or 0)
            rows = list(s.scalars(q.order_by(SyncState.entity, SyncState.app_id).offset(offset).limit(limit)))
            return rows, total

    def count_live_api_keys(self, org_id: str) -> int:
        with self.session() as s:
            q = select(func.count()).where(ApiKey.org_id == org_id, ApiKey.revoked_at.is_(None))
            return int(s.scalar(q) or 0)

    def count_webhook_endpoints(self, org_id: str) -> int:
        with self.session() as s:
            q = select(func.count()).where(WebhookEndpoint.org_id == org_id, WebhookEndpoint.active.is_(True))
            return int(s.scalar(q) or 0)

    def create_web_session(self, user_id: str) -> str:
        """A new server-side session for the user; returns the id for the cookie (only its hash is kept)."""
        sid = secrets.token_urlsafe(32)
        now = utcnow()
        with self.session() as s:
            s.add(WebSession(id=_sha256(sid), user_id=user_id, created_at=now, last_seen_at=now))
        return sid

    def live_web_session(
        self, sid: str, *, idle_seconds: float, max_seconds: float, touch_every: float = 60.0
    ) -> str | None:
        """The user id of a live session: not revoked, used within `idle_seconds`, younger than `max_seconds`.
        A session found expired is revoked on the spot. Its last use is stamped at most every `touch_every`."""
        now = utcnow()
        with self.session() as s:
            row = s.get(WebSession, _sha256(sid))
            if row is None or row.revoked_at is not None:
                return None
            idle = (now - row.last_seen_at).total_seconds()
            if idle > idle_seconds or (now - row.created_at).total_seconds() > max_seconds:
                row.revoked_at = now
                return None
            if idle > touch_every:
                row.last_seen_at = now
            return row.user_id

    def revoke_web_session(self, sid: str) -> None:
        with self.session() as s:
            s.execute(
                update(WebSession)
                .where(WebSession.id == _sha256(sid), WebSession.revoked_at.is_(None))
                .values(revoked_at=utcnow())
            )

    def revoke_user_sessions(self, user_id: str) -> int:
        """End every session of a user (a password change, a removed user); returns how many were live."""
        with self.session() as s:
            result = s.execute(
                update(WebSession)
                .where(WebSession.user_id == user_id, WebSession.revoked_at.is_(None))
                .values(revoked_at=utcnow())
            )
            return int(getattr(result, "rowcount", 0) or 0)

    def sign_in_attempt(self, keys: Sequence[tuple[str, int]], *, base: float, cap: float, window: float) -> float:
        """Count one sign-in attempt against each (key, free failures) before the password is checked.

        Returns 0 when the attempt may go ahead, else the seconds until it may (nothing is counted then). The
        count is taken first and under the rows' write lock, so a burst of parallel guesses cannot all slip
        in before the first failure is recorded: once `free` attempts are spent, each further one sets the
        wait for the next (base * 2**k, capped). A success undoes its count (`sign_in_succeeded`)."""
        now = utcnow()
        for _ in range(3):  # two first attempts racing to insert the same row: the loser retries
            try:
                with self.session() as s:
                    if self.dialect == "sqlite":
                        # Take SQLite's write lock before reading, as connection_row_lock does: two attempts
                        # must not both read the same count.
                        first = keys[0][0]
                        s.execute(
                            update(SignInThrottle).where(SignInThrottle.key == first).values(key=SignInThrottle.key)
                        )
                    rows: list[tuple[SignInThrottle, int]] = []
                    for key, free in keys:
                        row = s.get(SignInThrottle, key, with_for_update=self.dialect != "sqlite")
                        if row is None:
                            row = SignInThrottle(key=key, failures=0, first_failed_at=now, last_failed_at=now)
                            s.add(row)
                            s.flush()
                        elif (now - row.last_failed_at).total_seconds() > window:
                            row.failures, row.first_failed_at, row.locked_until = 0, now, None
                        rows.append((row, free))
                    wait = max(((r.locked_until - now).total_seconds() for r, _ in rows if r.locked_until), default=0.0)
                    if wait > 0:
                        return wait
                    for row, free in rows:
                        row.failures = (row.failures or 0) + 1
                        row.last_failed_at = now
                        if row.failures >= free:
                            delay = min(cap, base * 2 ** (row.failures - free))
                            row.locked_until = now + dt.timedelta(seconds=delay)
                    return 0.0
            except IntegrityError:
                continue
        return base

    def sign_in_succeeded(self, account_key: str, other_keys: Sequence[tuple[str, int]]) -> None:
        """A right password: the account's failures are forgotten; a shared key (a client address) only
        gives back the count this attempt took, so one good account cannot launder another's guesses."""
        with self.session() as s:
            s.execute(delete(SignInThrottle).where(SignInThrottle.key == account_key))
            for key, free in other_keys:
                row = s.get(SignInThrottle, key)
                if row is None:
                    continue
                row.failures = max(0, (row.failures or 0) - 1)
                if row.failures < free:
                    row.locked_until = None

    def sign_in_lock(self, key: str) -> SignInThrottle | None:
        with self.session() as s:
            return s.get(SignInThrottle, key)

    def clear_sign_in_failures(self, key: str) -> bool:
        """Lift a lockout (an owner's decision); True when there was something to lift."""
        with self.session() as s:
            result = s.execute(delete(SignInThrottle).where(SignInThrottle.key == key))
            return bool(getattr(result, "rowcount", 0))

    def prune_security(
        self, *, sessions_after: dt.timedelta, failures_after: dt.timedelta, inbound_after: dt.timedelta
    ) -> int:
        """Drop sessions older than their absolute lifetime (or revoked that long ago), sign-in failures whose
        window has passed and inbound event keys past the dedupe window. Returns rows deleted."""
        now = utcnow()
        n = 0
        with self.session() as s:
            for stmt in (
                delete(WebSession).where(
                    or_(WebSession.created_at < now - sessions_after, WebSession.revoked_at < now - sessions_after)
                ),
                delete(SignInThrottle).where(
                    SignInThrottle.last_failed_at < now - failures_after,
                    or_(SignInThrottle.locked_until.is_(None), SignInThrottle.locked_until < now),
                ),
                delete(InboundWebhook).where(InboundWebhook.received_at < now - inbound_after),
            ):
                n += int(getattr(s.execute(stmt), "rowcount", 0) or 0)
        return n

    def first_seen(self, conn_id: str, keys: Iterable[str], window: float) -> list[str]:
        """Of these inbound event keys, the ones not seen on this connection within `window` seconds; they
        are recorded in the same transaction, so of two processes racing on one event only one gets it."""
        now = utcnow()
        fresh: list[str] = []
        with self.session() as s:
            s.execute(delete(InboundWebhook).where(InboundWebhook.received_at < now - dt.timedelta(seconds=window)))
            for key in dict.fromkeys(keys):
                try:
                    with s.begin_nested():
                        s.add(InboundWebhook(connection_id=conn_id, key=key, received_at=now))
                except IntegrityError:
                    continue
                fresh.append(key)
        return fresh


def _unknown(fields: dict[str, Any]) -> dict[str, Any]:
    raise TypeError(f"unknown event-log fields: {sorted(fields)}")


def _sha256(value: str) -> str:
    return hashlib.sha256(value.encode()).hexdigest()


def chunks(seq: Sequence[Any], n: int) -> Iterator[Sequence[Any]]:
    for i in range(0, len(seq), n):
        yield seq[i : i + n]
