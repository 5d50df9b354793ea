"""The sync cycle for one connection: reconcile unknown writes, pull, match, apply, push, record."""

from __future__ import annotations

import datetime as dt
import hashlib
import logging
import threading
import time
import uuid
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

from sqlalchemy.orm import Session

from ledgersync.engine.credit import Excess, excess_of, split
from ledgersync.engine.settings import EngineSettings
from ledgersync.engine.translate import CodeMap, Resolver, Unresolved, translate
from ledgersync.model import (
    AUTH,
    Allocation,
    Contact,
    ContactStatus,
    Entity,
    ErrorCode,
    Invoice,
    InvoiceStatus,
    Payment,
    PaymentStatus,
    ProviderError,
    Record,
    SyncError,
)
from ledgersync.providers.base import CallInfo, Provider, ProviderSpec, RemoteRecord, Write, WriteResult
from ledgersync.store import Store, StoredRecord, StoreTokenStore
from ledgersync.store.tables import Link, SyncState, utcnow

log = logging.getLogger(__name__)

# States a push leaves alone until a person acts (or, for failed, until the record is edited).
HELD = frozenset({"skipped", "excluded", "needs_review"})


@dataclass
class CycleReport:
    connection_id: str
    started_at: dt.datetime
    finished_at: dt.datetime | None = None
    pulled: dict[str, int] = field(default_factory=dict)
    created_in_app: dict[str, int] = field(default_factory=dict)
    pushed: dict[str, int] = field(default_factory=dict)
    failed: dict[str, int] = field(default_factory=dict)
    reconciled: int = 0
    calls: int = 0
    status: str = "ok"
    message: str | None = None

    def bump(self, bucket: dict[str, int], entity: Entity, n: int = 1) -> None:
        if n:
            bucket[entity.value] = bucket.get(entity.value, 0) + n

    @property
    def seconds(self) -> float:
        end = self.finished_at or utcnow()
        return (end - self.started_at).total_seconds()


def idempotency_key(conn_id: str, entity: Entity, app_id: str, version: int, attempt: int = 0) -> str:
    """The key of one write. `attempt` counts the record's refused or failed tries: a platform replays the
    first answer to a repeated key, so a retry after a person's fix (or after a 5xx, where nothing was
    committed) needs a new key, while a write whose outcome is unknown is reconciled under its stored key."""
    digest = hashlib.sha256(f"{conn_id}|{entity.value}|{app_id}|{version}|{attempt}".encode()).hexdigest()
    return f"ls-{digest[:48]}"


class ConnectionBusy(Exception):
    """Another worker holds this connection's sync lease."""


class Cycle:
    """One run of the cycle. Built per run; holds per-run caches of links so lookups do not hit the store
    once per reference."""

    def __init__(
        self,
        store: Store,
        spec: ProviderSpec,
        conn_id: str,
        settings: EngineSettings,
        provider: Provider | None = None,
        progress: Callable[[str, int, int | None], None] | None = None,
    ) -> None:
        self.store = store
        self.spec = spec
        self.settings = settings
        self.conn = store.get_connection(conn_id)
        self.conn_id = conn_id
        self.org_id = self.conn.org_id
        self.tokens = StoreTokenStore(store, conn_id)
        self.provider = provider or spec.connect(dict(self.conn.config), self.conn.tenant_id or "", self.tokens)
        self.provider.on_call = self._on_call
        self.caps = self.provider.capabilities
        self.codes = CodeMap.from_config(self.conn.config)
        self.report = CycleReport(connection_id=conn_id, started_at=utcnow())
        self.progress = progress
        self._calls = 0
        self._calls_lock = threading.Lock()
        # (entity, app_id) -> remote_id and back, loaded lazily per entity.
        self._to_remote: dict[Entity, dict[str, str]] = {}
        self._to_app: dict[Entity, dict[str, str]] = {}
        self._referenced_contacts: set[str] | None = None
        # What each app invoice still owes, as far as this cycle knows (payments queued reduce it).
        self._dues: dict[str, Decimal] = {}
        self.only: dict[Entity, set[str]] | None = None
        self._waiting_for: set[str] = set()
        # Remote invoice ids whose amount due turned out stale (the platform refused an overpayment).
        self._stale_invoices: set[str] = set()

    # -- bookkeeping ---------------------------------------------------------------------------------
    def _on_call(self, info: CallInfo) -> None:
        with self._calls_lock:
            self._calls += 1
        if self.settings.log_calls:
            self._log(
                "call",
                outcome="ok" if info.status and info.status < 400 else "error",
                message=f"{info.method} {info.path} -> {info.status or info.error}",
                details={
                    "status": info.status,
                    "ms": round(info.duration_ms, 1),
                    "request_id": info.request_id,
                    "error": info.error,
                },
            )

    def _load_links(self, entity: Entity) -> None:
        if entity in self._to_remote:
            return
        pairs = self.store.link_pairs(self.conn_id, entity)
        self._to_remote[entity] = {a: r for a, r, removed in pairs if not removed}
        self._to_app[entity] = {r: a for a, r, _ in pairs}

    def _remember(self, entity: Entity, app_id: str, remote_id: str) -> None:
        self._load_links(entity)
        self._to_remote[entity][app_id] = remote_id
        self._to_app[entity][remote_id] = app_id

    def to_remote_id(self, entity: Entity, app_id: str) -> str | None:
        self._load_links(entity)
        return self._to_remote[entity].get(app_id)

    def to_app_id(self, entity: Entity, remote_id: str) -> str | None:
        self._load_links(entity)
        return self._to_app[entity].get(remote_id)

    # -- the cycle -----------------------------------------------------------------------------------
    def run(self, entities: Iterable[Entity] | None = None, only: dict[Entity, set[str]] | None = None) -> CycleReport:
        """One cycle. `only` narrows it to named app records (Sync now on one record): no pull, and only
        those records (and what they depend on, which the caller includes) are reconciled and pushed."""
        self.only = only
        wanted = set(entities) if entities else (set(only) if only else None)
        try:
            self._check_connection()
            for entity in Entity.push_order():
                if (wanted is None or entity in wanted) and entity in self.caps.push_entities:
                    self.reconcile(entity)
            for entity in Entity.push_order():
                if only is None and (wanted is None or entity in wanted) and entity in self.caps.pull_entities:
                    self.pull(entity)
            for entity in Entity.push_order():
                if (wanted is None or entity in wanted) and entity in self.caps.push_entities:
                    self.push(entity)
            self.report.status = "ok"
        except ProviderError as exc:
            self._stop_on(exc.error)
        finally:
            self.report.finished_at = utcnow()
            self.report.calls = self._calls
            values: dict[str, Any] = {"last_sync_at": self.report.finished_at}
            if self.report.status == "ok":
                values["last_success_at"] = self.report.finished_at
                conn = self.store.get_connection(self.conn_id)
                if conn.status == "parked":
                    values.update(status="connected", status_reason=None, parked_until=None)
            self.store.update_connection(self.conn_id, **values)
            self.store.add_calls(self.conn_id, self._calls)
            self._emit_outcome()
            self._log(
                "sync",
                outcome=self.report.status,
                message=self.report.message or "sync finished",
                details={
                    "pulled": self.report.pulled,
                    "pushed": self.report.pushed,
                    "failed": self.report.failed,
                    "created_in_app": self.report.created_in_app,
                    "calls": self._calls,
                    "seconds": round(self.report.seconds, 3),
                },
            )
            self.provider.close()
        return self.report

    def _emit_outcome(self) -> None:
        """Tell the app when a cycle stopped on an error or left records failed (sync.failed), and when this
        cycle is the one that found the connection needs a person (connection.needs_reconnect). Emitted here so
        every path that syncs (CLI, scheduler, API, dashboard, Python API) tells the app the same."""
        failed = sum(self.report.failed.values())
        base: dict[str, Any] = {
            "connection_id": self.conn_id,
            "provider": self.conn.provider,
            "status": self.report.status,
            "message": self.report.message,
        }
        with self.store.session() as s:
            if self.report.status == "needs_reconnect" and self.conn.status != "needs_reconnect":
                after = self.store.get_connection(self.conn_id)
                self.store.emit(
                    s, self.org_id, "connection.needs_reconnect", None, None, {**base, "reason": after.status_reason}
                )
            if self.report.status == "error" or failed:
                self.store.emit(s, self.org_id, "sync.failed", None, None, {**base, "failed": dict(self.report.failed)})

    def _check_connection(self) -> None:
        conn = self.store.get_connection(self.conn_id)
        if conn.status == "needs_reconnect":
            raise ProviderError(
                SyncError(
                    code=ErrorCode.AUTH_REVOKED,
                    message=conn.status_reason or "The connection needs to be re-authorised.",
                    hint="Use Refresh link to reconnect; links are kept and sync resumes where it stopped.",
                )
            )
        if conn.status == "parked" and conn.parked_until and conn.parked_until > utcnow():
            raise ProviderError(
                SyncError(
                    code=ErrorCode.DAILY_LIMIT,
                    message=conn.status_reason or "Paused until the platform's daily call budget resets.",
                    retry_after=(conn.parked_until - utcnow()).total_seconds(),
                )
            )

    def _stop_on(self, error: SyncError) -> None:
        self.report.message = error.message
        if error.code in AUTH:
            self.report.status = "needs_reconnect"
            self.store.update_connection(self.conn_id, status="needs_reconnect", status_reason=error.message)
        elif error.code is ErrorCode.DAILY_LIMIT:
            self.report.status = "parked"
            until = utcnow() + dt.timedelta(seconds=error.retry_after or 3600)
            self.store.update_connection(
                self.conn_id,
                status="parked",
                parked_until=until,
                status_reason=f"Paused: the platform's daily API limit is used up; resumes at {until:%H:%M} UTC.",
            )
        else:
            self.report.status = "error"

    # -- reconcile writes whose outcome is unknown ---------------------------------------------------
    def reconcile(self, entity: Entity) -> None:
        rows = self.store.states(self.conn_id, entity, "syncing")
        if self.only is not None:
            rows = [r for r in rows if r.app_id in self.only.get(entity, set())]
        if not rows:
            return
        self._reconcile_rows(entity, rows)

    def _reconcile_rows(self, entity: Entity, rows: Sequence[SyncState]) -> None:
        writes: list[Write] = []
        versions: dict[str, int | None] = {}
        stored: dict[str, StoredRecord] = {}
        for row in rows:
            rec = self.store.get_record(self.org_id, entity, row.app_id)
            if rec is None:
                continue
            stored[row.app_id] = rec
            versions[row.app_id] = row.write_version
            try:
                remote_rec = self._outgoing(
                    rec.record, self.to_remote_id(entity, rec.app_id) or rec.app_id, self.to_remote_id
                )
            except Unresolved:
                continue
            writes.append(
                Write(
                    key=rec.app_id,
                    record=remote_rec,
                    idempotency_key=row.write_key or idempotency_key(self.conn_id, entity, rec.app_id, rec.version),
                    remote_id=self.to_remote_id(entity, rec.app_id),
                )
            )
        found: dict[str, RemoteRecord] = {}
        size = max(1, self.caps.batch_size)
        for i in range(0, len(writes), size):
            found.update(self.provider.find(entity, writes[i : i + size]))
        with self.store.session() as s:
            for row in rows:
                rec = stored.get(row.app_id)
                if rec is None:
                    self.store.set_state(s, self.conn_id, entity, row.app_id, "not_synced")
                    continue
                remote = found.get(row.app_id)
                if remote is not None and self.to_app_id(entity, remote.remote_id) not in (None, row.app_id):
                    remote = None  # that platform record is another app record's: this write did not land
                if remote is None:
                    # The write never landed: push it again (same idempotency key while the version holds).
                    self.store.set_state(
                        s, self.conn_id, entity, row.app_id, "pending", doc_number=self._doc(rec.record)
                    )
                    continue
                same_version = versions.get(row.app_id) == rec.version
                self._link_pushed(s, entity, rec, remote, app_hash=rec.hash if same_version else None)
                self.report.reconciled += 1
                self._log(
                    "reconcile",
                    entity=entity,
                    app_id=rec.app_id,
                    remote_id=remote.remote_id,
                    doc_number=remote.doc_number or self._doc(rec.record),
                    message="an earlier write whose outcome was unknown had landed; linked, not re-sent",
                    s=s,
                )

    # -- pull ----------------------------------------------------------------------------------------
    def pull(self, entity: Entity) -> None:
        cursor = self.store.get_cursor(self.conn_id, entity)
        for page in self.provider.pull(entity, cursor):
            with self.store.session() as s:
                links = self.store.remote_links(self.conn_id, entity, [r.remote_id for r in page.records], s)
                for remote in page.records:
                    self._apply_remote(s, entity, remote, links.get(remote.remote_id))
                # The cursor moves in the same transaction that stored the page: never ahead of the data.
                self.store.set_cursor(s, self.conn_id, entity, page.cursor)
            self.report.bump(self.report.pulled, entity, len(page.records))
            if self.progress:
                self.progress(f"pull {entity.value}", len(page.records), None)

    def _apply_remote(self, s: Session, entity: Entity, remote: RemoteRecord, link: Link | None) -> None:
        if link is not None:
            if link.remote_version == remote.version and not (remote.deleted and not link.removed):
                return  # our own write coming back, or nothing new
            self._apply_linked(s, entity, remote, link)
            return
        app_id = self._match(s, entity, remote)
        if app_id == "":
            return
        if app_id is None:
            self._create_in_app(s, entity, remote)
            return
        link_row = self.store.link_by_app(self.conn_id, entity, app_id, s)
        if link_row is not None and link_row.remote_id != remote.remote_id:
            return  # that app record is linked elsewhere already; leave this one alone
        self._link_matched(s, entity, app_id, remote)

    def app_view(self, remote: RemoteRecord, app_id: str) -> Record | None:
        """A platform record in the app's terms: app ids and the app's codes (None: a reference isn't linked)."""
        try:
            return self.codes.back(translate(remote.record, app_id, self.to_app_id))
        except Unresolved:
            return None

    def _apply_linked(self, s: Session, entity: Entity, remote: RemoteRecord, link: Link) -> None:
        current = self.store.get_record(self.org_id, entity, link.app_id, s)
        if current is None:
            return
        incoming = self.app_view(remote, link.app_id)
        if incoming is None:
            if remote.deleted:
                self._mark_deleted(s, entity, current, remote, link)
            return
        app_changed = link.app_hash is not None and current.hash != link.app_hash
        merged = self._merge(entity, current, incoming, remote, app_changed)
        if merged is None:
            link.remote_version = remote.version
            return
        _, changed = self.store.upsert_record(self.org_id, merged, s=s)
        new_hash = merged.content_hash()
        if remote.deleted:
            link.removed = True
        link.remote_version = remote.version
        link.remote_hash = incoming.content_hash()
        if not app_changed:
            link.app_hash = new_hash
        if changed:
            self._tell_app(
                s, entity, link.app_id, remote, merged, "updated", f"updated in the app from {self.caps.display_name}"
            )
        self._remember(entity, link.app_id, remote.remote_id)

    def _mark_deleted(
        self, s: Session, entity: Entity, current: StoredRecord, remote: RemoteRecord, link: Link
    ) -> None:
        """A platform reports a deletion with no content (QuickBooks CDC gives just the id): mark the app's copy
        without translating anything."""
        record = current.record
        if isinstance(record, Invoice):
            record = record.model_copy(update={"status": InvoiceStatus.DELETED})
        elif isinstance(record, Payment):
            record = record.model_copy(update={"status": PaymentStatus.DELETED})
        else:
            return
        self.store.upsert_record(self.org_id, record, s=s)
        link.removed = True
        link.remote_version = remote.version
        link.app_hash = record.content_hash()
        self._tell_app(
            s,
            entity,
            link.app_id,
            remote,
            record,
            "updated",
            f"deleted in {self.caps.display_name}; marked deleted in the app",
        )

    def _log(self, kind: str, **fields: Any) -> None:
        """An event-log row of this connection (see Store.log for the fields)."""
        self.store.log(kind, connection_id=self.conn_id, org_id=self.org_id, **fields)

    def _tell_app(
        self, s: Session, entity: Entity, app_id: str, remote: RemoteRecord, record: Record, event: str, message: str
    ) -> None:
        """A platform-side change applied to the app's record: queue the app event and log it."""
        self.store.emit(s, self.org_id, f"{entity.value}.{event}", entity, app_id, record.to_json())
        self._log(
            "pull",
            entity=entity,
            app_id=app_id,
            remote_id=remote.remote_id,
            doc_number=remote.doc_number or self._doc(record),
            message=message,
            s=s,
        )

    def _merge(
        self, entity: Entity, current: StoredRecord, incoming: Record, remote: RemoteRecord, app_changed: bool
    ) -> Record | None:
        """What the app record becomes after a platform-side change, under the conflict policy."""
        if isinstance(current.record, Invoice) and isinstance(incoming, Invoice):
            # Invoices flow app -> platform: only what the platform computes comes back.
            update: dict[str, Any] = {
                f: getattr(incoming, f) for f in ("total", "total_tax", "amount_due", "amount_paid")
            }
            if current.record.number is None and incoming.number:
                update["number"] = incoming.number
            if incoming.status in (InvoiceStatus.PAID, InvoiceStatus.VOIDED, InvoiceStatus.DELETED):
                update["status"] = incoming.status
            elif current.record.status is InvoiceStatus.PAID and incoming.status is InvoiceStatus.AUTHORISED:
                update["status"] = InvoiceStatus.AUTHORISED  # a payment was removed on the platform
            return current.record.model_copy(update=update)
        if isinstance(current.record, Payment) and isinstance(incoming, Payment):
            if remote.deleted:
                return current.record.model_copy(update={"status": PaymentStatus.DELETED})
            return None  # payments are not edited in place on the platform side
        if isinstance(current.record, Contact) and isinstance(incoming, Contact):
            status = ContactStatus.ARCHIVED if remote.archived else ContactStatus.ACTIVE
            if app_changed and self._app_wins(current, remote):
                return current.record.model_copy(update={"status": status})
            # Keep what the platform does not carry (the app's own parent link) when the platform has none.
            keep_parent = incoming.parent_id or current.record.parent_id
            return incoming.model_copy(update={"status": status, "parent_id": keep_parent})
        return incoming

    def _app_wins(self, current: StoredRecord, remote: RemoteRecord) -> bool:
        policy = self.settings.conflict_policy
        if policy == "app_wins":
            return True
        if policy == "platform_wins":
            return False
        return remote.updated_at is None or current.updated_at >= remote.updated_at

    def _match(self, s: Session, entity: Entity, remote: RemoteRecord) -> str | None:
        """Find the app record a platform record without a link is. None: none, create one. '': ignore."""
        if remote.external_id and self.store.get_record(self.org_id, entity, remote.external_id, s):
            return remote.external_id
        rec = remote.record
        if isinstance(rec, Contact):
            candidates = self.store.find_records(self.org_id, entity, name=rec.name, s=s)
            unlinked = [c for c in candidates if self.to_remote_id(entity, c.app_id) is None]
            if len(unlinked) == 1:
                return unlinked[0].app_id
            if len(unlinked) > 1:
                for c in unlinked:
                    self.store.set_state(
                        s,
                        self.conn_id,
                        entity,
                        c.app_id,
                        "needs_review",
                        error=SyncError(
                            code=ErrorCode.CONFLICT,
                            message=f"Several customers are named '{rec.name}'; which one is the "
                            f"{self.caps.display_name} contact is not clear.",
                            hint="Link the right customer to the platform contact, or rename the others.",
                        ),
                        doc_number=rec.name,
                    )
                return ""
            return None
        if isinstance(rec, Invoice):
            if rec.number:
                found = self.store.find_records(self.org_id, entity, number=rec.number, s=s)
                if len(found) == 1 and self.to_remote_id(entity, found[0].app_id) is None:
                    return found[0].app_id
            return ""  # invoices are created in the app and flow out; platform-only invoices stay there
        if isinstance(rec, Payment):
            if remote.deleted or not rec.allocations:
                return ""
            app_invoices = [self.to_app_id(Entity.INVOICE, a.invoice_id) for a in rec.allocations]
            if any(i is None for i in app_invoices):
                return ""  # a payment on an invoice the app does not have
            for cand in self._unlinked_payments_on(s, {i for i in app_invoices if i}):
                p = cand.record
                assert isinstance(p, Payment)
                if p.amount == rec.amount and p.date == rec.date:
                    return cand.app_id
            return None
        return None

    def _unlinked_payments_on(self, s: Session, invoice_ids: set[str]) -> list[StoredRecord]:
        out: list[StoredRecord] = []
        for rec in self.store.records_referring(self.org_id, Entity.PAYMENT, [f"invoice:{i}" for i in invoice_ids], s):
            if self.to_remote_id(Entity.PAYMENT, rec.app_id) is None:
                out.append(rec)
        return out

    def _link_matched(self, s: Session, entity: Entity, app_id: str, remote: RemoteRecord) -> None:
        current = self.store.get_record(self.org_id, entity, app_id, s)
        incoming = self.app_view(remote, app_id)
        if current is None or incoming is None:
            return
        # The app's content is the one to keep for a record it already had; the next push sends it if the
        # two differ (app_hash None marks it unsent). Platform-computed fields are taken as they are.
        merged = self._merge(entity, current, incoming, remote, app_changed=True) or current.record
        self.store.upsert_record(self.org_id, merged, s=s)
        same = incoming.content_hash() == merged.content_hash()
        self.store.save_link(
            s,
            self.conn_id,
            entity,
            app_id,
            remote.remote_id,
            remote_version=remote.version,
            app_hash=merged.content_hash() if same else None,
            remote_hash=incoming.content_hash(),
            removed=remote.deleted,
        )
        self._remember(entity, app_id, remote.remote_id)
        if same:
            self.store.set_state(s, self.conn_id, entity, app_id, "synced", doc_number=self._doc(merged))
        self._log(
            "match",
            entity=entity,
            app_id=app_id,
            remote_id=remote.remote_id,
            doc_number=remote.doc_number or self._doc(merged),
            message=f"matched to the existing {self.caps.display_name} record",
            s=s,
        )

    def _create_in_app(self, s: Session, entity: Entity, remote: RemoteRecord) -> None:
        if remote.deleted:
            return
        app_id = f"{entity.value[:3]}_{uuid.uuid4().hex[:16]}"
        incoming = self.app_view(remote, app_id)
        if incoming is None:
            return
        if isinstance(incoming, Contact) and remote.archived:
            incoming = incoming.model_copy(update={"status": ContactStatus.ARCHIVED})
        self.store.upsert_record(self.org_id, incoming, s=s)
        h = incoming.content_hash()
        self.store.save_link(
            s,
            self.conn_id,
            entity,
            app_id,
            remote.remote_id,
            remote_version=remote.version,
            app_hash=h,
            remote_hash=h,
        )
        self._remember(entity, app_id, remote.remote_id)
        doc = remote.doc_number or self._doc(incoming)
        self.store.set_state(s, self.conn_id, entity, app_id, "synced", doc_number=doc)
        self._tell_app(
            s, entity, app_id, remote, incoming, "created", f"created in the app from {self.caps.display_name}"
        )
        self.report.bump(self.report.created_in_app, entity)

    # -- push ----------------------------------------------------------------------------------------
    def push(self, entity: Entity) -> None:
        # Sub-customers need their parent's platform id, and a batch can't see what it creates itself, so
        # contacts go in layers: parents first, then the children that were waiting for them (4 levels max).
        for _ in range(5):
            self._waiting_for = set()
            self._push_pass(entity)
            # Another layer only if a parent someone waited for got its platform id in this pass.
            if not any(self.to_remote_id(entity, parent) for parent in self._waiting_for):
                return

    def _push_pass(self, entity: Entity) -> None:
        candidates = self.store.push_candidates(self.org_id, self.conn_id, entity)
        if self.only is not None:
            candidates = [(r, link) for r, link in candidates if r.app_id in self.only.get(entity, set())]
        if not candidates:
            return
        states = self.store.state_map(self.conn_id, entity, [rec.app_id for rec, _ in candidates])
        now = utcnow()
        writes: list[tuple[Write, StoredRecord]] = []
        removals: list[tuple[StoredRecord, Link]] = []
        replace: list[tuple[StoredRecord, Link]] = []
        with self.store.session() as s:
            for rec, link in candidates:
                st = states.get(rec.app_id)
                if not self._due(st, rec, now):
                    continue
                if rec.deleted:
                    if link is not None:
                        removals.append((rec, link))
                    continue
                if not self._wanted(entity, rec):
                    continue
                if (
                    entity is Entity.PAYMENT
                    and link is not None
                    and not link.removed
                    and not self.caps.payments_editable
                ):
                    replace.append((rec, link))
                    continue
                remote_id = link.remote_id if link is not None and not link.removed else None
                if entity is Entity.PAYMENT and remote_id is None:
                    checked = self._check_overpayment(s, rec)
                    if checked is None:
                        continue
                    rec = checked
                try:
                    remote_rec = self._outgoing(rec.record, remote_id or rec.app_id)
                except Unresolved as exc:
                    self._waiting(s, entity, rec, exc)
                    continue
                named = self._apply_name_rules(s, entity, rec, remote_rec)
                if named is None:
                    continue
                remote_rec = named
                if isinstance(remote_rec, Payment) and remote_rec.status is PaymentStatus.DELETED:
                    continue  # never synced and already deleted in the app: nothing to send
                writes.append(
                    (
                        Write(
                            key=rec.app_id,
                            record=remote_rec,
                            idempotency_key=idempotency_key(
                                self.conn_id, entity, rec.app_id, rec.version, self._attempt(states, rec)
                            ),
                            remote_id=remote_id,
                            remote_version=link.remote_version if link is not None else None,
                        ),
                        rec,
                    )
                )
        for rec, link in removals:
            self._remove(entity, rec, link)
        for rec, link in replace:
            # The platform can't edit a payment: delete the old one, then enter the new version.
            if self._remove(entity, rec, link, replacing=True):
                self._load_links(entity)
                self._to_remote[entity].pop(rec.app_id, None)
                pay = rec.record
                assert isinstance(pay, Payment)
                if pay.status is PaymentStatus.DELETED:
                    continue
                try:
                    remote_rec = self._outgoing(pay, rec.app_id)
                except Unresolved:
                    continue
                writes.append(
                    (
                        Write(
                            key=rec.app_id,
                            record=remote_rec,
                            idempotency_key=idempotency_key(
                                self.conn_id, entity, rec.app_id, rec.version, self._attempt(states, rec)
                            ),
                        ),
                        rec,
                    )
                )
        size = max(1, self.caps.batch_size)
        for i in range(0, len(writes), size):
            self._push_batch(entity, writes[i : i + size])
            if self.progress:
                self.progress(f"push {entity.value}", len(writes[i : i + size]), len(writes))
        if entity is Entity.PAYMENT and (writes or removals or replace):
            # Paying or un-paying changes the invoices' status and amount due: read them back now rather
            # than leave the app showing them unpaid until the next pull.
            touched = {a.invoice_id for w, _ in writes if isinstance(w.record, Payment) for a in w.record.allocations}
            touched |= self._stale_invoices
            for rec, _link in [*removals, *replace]:
                if isinstance(rec.record, Payment):
                    touched.update(
                        r for a in rec.record.allocations if (r := self.to_remote_id(Entity.INVOICE, a.invoice_id))
                    )
            if len(touched) <= self.settings.readback_by_id_limit:
                self.refresh(Entity.INVOICE, sorted(touched))
            else:
                # Many invoices changed: one paged delta read (1,000 a page) beats reading them 50 at a time.
                self.pull(Entity.INVOICE)

    def refresh(self, entity: Entity, remote_ids: Sequence[str]) -> None:
        """Read named records now and apply them as a pull would (without moving the cursor)."""
        if not remote_ids:
            return
        records = self.provider.fetch(entity, remote_ids)
        with self.store.session() as s:
            links = self.store.remote_links(self.conn_id, entity, [r.remote_id for r in records], s)
            for remote in records:
                link = links.get(remote.remote_id)
                if link is not None:
                    self._apply_linked(s, entity, remote, link)

    @staticmethod
    def _attempt(states: dict[str, SyncState], rec: StoredRecord) -> int:
        st = states.get(rec.app_id)
        return st.attempts or 0 if st is not None else 0

    def _apply_name_rules(self, s: Session, entity: Entity, rec: StoredRecord, outgoing: Record) -> Record | None:
        """Check the platform's documented name rules before sending; fail with the exact rule, or clean the
        outgoing copy when configured to (the app keeps its own spelling)."""
        update: dict[str, str] = {}
        for rule in self.caps.name_rules:
            if rule.entity is not entity:
                continue
            value = getattr(outgoing, rule.field, None)
            if not isinstance(value, str):
                continue
            problems = rule.problems(value)
            if not problems:
                continue
            if self.settings.clean_names and rule.clean(value):
                update[rule.field] = rule.clean(value)
                continue
            error = SyncError(
                code=ErrorCode.INVALID_CHARACTERS,
                message=f"{self.caps.display_name} can't take the {rule.label.lower()} '{value}': "
                + "; ".join(problems)
                + ".",
                hint=f"Edit the {rule.label.lower()} and save; it syncs again on its own"
                + (" (or turn on automatic clean-up of names)." if not self.settings.clean_names else "."),
                platform_message=rule.source or None,
            )
            self._data_error(s, entity, rec, error, kind="check")
            return None
        return outgoing.model_copy(update=update) if update else outgoing

    def _check_overpayment(self, s: Session, rec: StoredRecord) -> StoredRecord | None:
        """A new payment larger than its invoices still owe: split off the excess as customer credit (or fail
        it with that fix offered). Never sent as is, so the platform never refuses it silently."""
        pay = rec.record
        assert isinstance(pay, Payment)
        if pay.status is PaymentStatus.DELETED or not pay.allocations:
            return rec
        invoices: dict[str, Invoice] = {}
        for alloc in pay.allocations:
            if alloc.invoice_id not in self._dues:
                inv = self.store.get_record(self.org_id, Entity.INVOICE, alloc.invoice_id, s)
                if inv is not None and isinstance(inv.record, Invoice) and inv.record.amount_due is not None:
                    self._dues[alloc.invoice_id] = inv.record.amount_due
                    invoices[alloc.invoice_id] = inv.record
            elif (inv := self.store.get_record(self.org_id, Entity.INVOICE, alloc.invoice_id, s)) is not None:
                assert isinstance(inv.record, Invoice)
                invoices[alloc.invoice_id] = inv.record
        excess = excess_of(pay, self._dues, invoices)
        if excess is None and pay.unapplied <= 0:
            self._consume_dues(pay.allocations)
            return rec
        if excess is None:
            # The app itself left part unapplied: that part is the customer's credit.
            excess = Excess(
                payment=pay,
                capped=list(pay.allocations),
                amount=pay.unapplied,
                contact_id=next((i.contact_id for i in invoices.values()), pay.contact_id),
            )
        if self.settings.overpayments == "ask":
            doc = next((i.number for i in invoices.values() if i.number), None)
            owed = sum((a.amount for a in excess.capped), Decimal(0))
            error = SyncError(
                code=ErrorCode.OVERPAYMENT,
                message=f"This payment of {pay.amount} is more than the {owed} outstanding"
                + (f" on {doc}" if doc else "")
                + f"; {self.caps.display_name} refuses payments over the amount due.",
                hint=f"Record the excess of {excess.amount} as customer credit, or correct the amount.",
            )
            self._data_error(s, Entity.PAYMENT, rec, error, kind="check", doc=doc)
            return None
        new_pay, credit = split(self.store, s, self.org_id, excess, keep_in_payment=self.caps.payment_holds_credit)
        self._log(
            "overpayment",
            entity=Entity.PAYMENT,
            app_id=rec.app_id,
            doc_number=self._doc(pay),
            message=f"{excess.amount} beyond the amount due recorded as customer credit"
            + (f" ({credit.id})" if credit else " (held in the payment)"),
            s=s,
        )
        self._consume_dues(new_pay.allocations)
        s.flush()
        fresh = self.store.get_record(self.org_id, Entity.PAYMENT, rec.app_id, s)
        return fresh

    def _consume_dues(self, allocations: list[Allocation]) -> None:
        for alloc in allocations:
            if alloc.invoice_id in self._dues:
                self._dues[alloc.invoice_id] -= alloc.amount

    def _wanted(self, entity: Entity, rec: StoredRecord) -> bool:
        if entity is Entity.CONTACT and self.settings.contacts == "with_transactions":
            if self._referenced_contacts is None:
                self._referenced_contacts = self.store.referenced(self.org_id, "contact:")
            return rec.app_id in self._referenced_contacts
        return True

    def _due(self, st: SyncState | None, rec: StoredRecord, now: dt.datetime) -> bool:
        if st is None:
            return True
        if st.state in HELD:
            return False
        if st.state == "failed" and st.failed_hash is not None and st.failed_hash == rec.hash:
            return False  # a data error stays until the record is edited or a person retries
        return not (st.next_attempt_at is not None and st.next_attempt_at > now)

    def _waiting(self, s: Session, entity: Entity, rec: StoredRecord, exc: Unresolved) -> None:
        if exc.entity is entity:
            self._waiting_for.add(exc.ref_id)
        dep_state = self.store.get_state(self.conn_id, exc.entity, exc.ref_id)
        dep = self.store.get_record(self.org_id, exc.entity, exc.ref_id, s)
        label = self._doc(dep.record) if dep else exc.ref_id
        if dep_state is not None and dep_state.state in ("failed", "skipped", "excluded", "needs_review"):
            self.store.set_state(
                s,
                self.conn_id,
                entity,
                rec.app_id,
                "failed",
                doc_number=self._doc(rec.record),
                error=SyncError(
                    code=ErrorCode.MISSING_DEPENDENCY,
                    message=f"Waiting for {exc.entity.value} '{label}', which is {dep_state.state}: "
                    f"{dep_state.error_message or 'it has not synced'}",
                    hint=f"Fix the {exc.entity.value} first; this record follows on the next sync.",
                ),
            )
            self.report.bump(self.report.failed, entity)
        else:
            self.store.set_state(s, self.conn_id, entity, rec.app_id, "pending", doc_number=self._doc(rec.record))

    def _push_batch(self, entity: Entity, batch: Sequence[tuple[Write, StoredRecord]]) -> None:
        with self.store.session() as s:
            for write, rec in batch:
                # Recorded before the call: if the process dies mid-call, the next run looks it up first.
                self.store.set_state(
                    s,
                    self.conn_id,
                    entity,
                    rec.app_id,
                    "syncing",
                    doc_number=self._doc(rec.record),
                    write_key=write.idempotency_key,
                    write_version=rec.version,
                )
        writes = [w for w, _ in batch]
        try:
            results = self.provider.push(entity, writes)
        except ProviderError as exc:
            if exc.error.code is ErrorCode.UNKNOWN_OUTCOME:
                rows = [
                    r for r in self.store.states(self.conn_id, entity, "syncing") if r.app_id in {w.key for w in writes}
                ]
                self._reconcile_rows(entity, rows)
                return
            if exc.error.code in AUTH or exc.error.code is ErrorCode.DAILY_LIMIT:
                self._back_to_pending(entity, batch, exc.error, count=False)
                raise
            self._back_to_pending(entity, batch, exc.error, count=True)
            return
        by_key = {r.key: r for r in results}
        with self.store.session() as s, s.no_autoflush:
            links = self.store.preload(s, self.org_id, self.conn_id, entity, [rec.app_id for _, rec in batch])
            for write, rec in batch:
                result = by_key.get(write.key) or WriteResult(
                    key=write.key,
                    error=SyncError(code=ErrorCode.UNKNOWN_OUTCOME, message="the platform returned no result"),
                )
                self._record_result(s, entity, write, rec, result, links.get(rec.app_id))

    def _record_result(
        self, s: Session, entity: Entity, write: Write, rec: StoredRecord, result: WriteResult, link: Link | None
    ) -> None:
        doc = self._doc(rec.record)
        if result.ok:
            assert result.remote is not None
            self._link_pushed(s, entity, rec, result.remote, app_hash=rec.hash, known=link)
            self.report.bump(self.report.pushed, entity)
            self._log(
                "push",
                entity=entity,
                app_id=rec.app_id,
                remote_id=result.remote.remote_id,
                doc_number=result.remote.doc_number or doc,
                message=("updated in " if write.remote_id else "created in ") + self.caps.display_name,
                details={"request_id": write.idempotency_key, "version": rec.version},
                s=s,
            )
            return
        error = result.error or SyncError(code=ErrorCode.VALIDATION, message="rejected without a reason")
        if error.code is ErrorCode.OVERPAYMENT and self.settings.overpayments == "record_credit":
            st = s.get(SyncState, (self.conn_id, entity.value, rec.app_id))
            if st is None or (st.attempts or 0) < 2:
                # Our copy of the amount due was stale: re-read the invoices and split on the next pass.
                self._stale_invoices.update(a.invoice_id for a in getattr(write.record, "allocations", []) or [])
                self.store.set_state(
                    s, self.conn_id, entity, rec.app_id, "pending", error=error, doc_number=doc, count_attempt=True
                )
                return
        if error.transient:
            self._transient(s, entity, rec, error)
            return
        self._data_error(s, entity, rec, error, kind="push", request_id=write.idempotency_key)

    def _data_error(
        self,
        s: Session,
        entity: Entity,
        rec: StoredRecord,
        error: SyncError,
        *,
        kind: str,
        doc: str | None = None,
        remote_id: str | None = None,
        request_id: str | None = None,
    ) -> None:
        """A refusal that stays until the record is edited or a person acts: Failed, counted, and logged with
        the platform's own words and the document number."""
        doc = doc or self._doc(rec.record)
        self.store.set_state(
            s,
            self.conn_id,
            entity,
            rec.app_id,
            "failed",
            error=error,
            doc_number=doc,
            failed_hash=rec.hash,
            count_attempt=True,
        )
        self.report.bump(self.report.failed, entity)
        self._log(
            kind,
            entity=entity,
            app_id=rec.app_id,
            remote_id=remote_id,
            doc_number=doc,
            outcome="failed",
            message=error.message,
            details={
                "code": error.code.value,
                "platform_code": error.platform_code,
                "platform_message": error.platform_message,
                "request_id": request_id,
            },
            s=s,
        )

    def _transient(self, s: Session, entity: Entity, rec: StoredRecord, error: SyncError) -> None:
        st = s.get(SyncState, (self.conn_id, entity.value, rec.app_id))
        attempts = (st.attempts if st else 0) + 1
        doc = self._doc(rec.record)
        if attempts >= self.settings.transient_failure_limit:
            # Persisting past the limit: show it as Failed (it is still retried on the backoff).
            self.store.set_state(
                s,
                self.conn_id,
                entity,
                rec.app_id,
                "failed",
                error=error,
                doc_number=doc,
                count_attempt=True,
                next_attempt_at=utcnow() + dt.timedelta(seconds=self._backoff(attempts)),
            )
            self.report.bump(self.report.failed, entity)
        else:
            self.store.set_state(
                s,
                self.conn_id,
                entity,
                rec.app_id,
                "pending",
                error=error,
                doc_number=doc,
                count_attempt=True,
                next_attempt_at=utcnow() + dt.timedelta(seconds=self._backoff(attempts)),
            )
        self._log(
            "push",
            entity=entity,
            app_id=rec.app_id,
            doc_number=doc,
            outcome="retrying",
            message=error.message,
            details={"attempt": attempts},
            s=s,
        )

    def _backoff(self, attempts: int) -> float:
        base = self.settings.retry_base_seconds
        return float(min(self.settings.retry_max_seconds, base * (2 ** (attempts - 1))))

    def _back_to_pending(
        self, entity: Entity, batch: Sequence[tuple[Write, StoredRecord]], error: SyncError, count: bool
    ) -> None:
        with self.store.session() as s:
            for _, rec in batch:
                if count:
                    self._transient(s, entity, rec, error)
                else:
                    self.store.set_state(
                        s, self.conn_id, entity, rec.app_id, "pending", doc_number=self._doc(rec.record)
                    )

    def _link_pushed(
        self,
        s: Session,
        entity: Entity,
        rec: StoredRecord,
        remote: RemoteRecord,
        app_hash: str | None,
        known: Link | bool | None = True,
    ) -> None:
        incoming = self.app_view(remote, rec.app_id)
        record = rec.record
        if incoming is not None and isinstance(record, Invoice) and isinstance(incoming, Invoice):
            # Totals, amount due and an auto-assigned number come back from the platform.
            update: dict[str, Any] = {
                f: getattr(incoming, f) for f in ("total", "total_tax", "amount_due", "amount_paid")
            }
            if record.number is None and incoming.number:
                update["number"] = incoming.number
            if incoming.status is InvoiceStatus.PAID:
                update["status"] = InvoiceStatus.PAID
            record = record.model_copy(update=update)
            _, changed = self.store.upsert_record(self.org_id, record, s=s)
            if changed and app_hash is not None:
                app_hash = record.content_hash()
        self.store.save_link(
            s,
            self.conn_id,
            entity,
            rec.app_id,
            remote.remote_id,
            remote_version=remote.version,
            app_hash=app_hash,
            remote_hash=incoming.content_hash() if incoming else None,
            removed=remote.deleted,
            # Vouching for the link skips two lookups per record, but only when no other record holds it.
            known=True if self.to_app_id(entity, remote.remote_id) not in (None, rec.app_id) else known,
        )
        self._remember(entity, rec.app_id, remote.remote_id)
        self.store.set_state(
            s,
            self.conn_id,
            entity,
            rec.app_id,
            "synced" if app_hash is not None else "pending",
            doc_number=remote.doc_number or self._doc(record),
        )

    def _remove(self, entity: Entity, rec: StoredRecord, link: Link, replacing: bool = False) -> bool:
        write = Write(
            key=rec.app_id,
            record=self._outgoing(rec.record, link.remote_id, lambda e, i: self.to_remote_id(e, i) or i),
            idempotency_key=idempotency_key(self.conn_id, entity, rec.app_id, rec.version) + "-rm",
            remote_id=link.remote_id,
            remote_version=link.remote_version,
        )
        try:
            result = self.provider.remove(entity, write)
        except ProviderError as exc:
            if exc.error.code in AUTH or exc.error.code is ErrorCode.DAILY_LIMIT:
                raise
            with self.store.session() as s:
                self._transient(s, entity, rec, exc.error)
            return False
        doc = self._doc(rec.record)
        with self.store.session() as s:
            if result.error is not None and result.error.code is not ErrorCode.NOT_FOUND:
                self._data_error(s, entity, rec, result.error, kind="remove", doc=doc, remote_id=link.remote_id)
                return False
            self.store.save_link(
                s,
                self.conn_id,
                entity,
                rec.app_id,
                link.remote_id,
                remote_version=result.remote.version if result.remote else link.remote_version,
                app_hash=None if replacing else rec.hash,
                remote_hash=link.remote_hash,
                removed=True,
            )
            if not replacing:
                self.store.set_state(s, self.conn_id, entity, rec.app_id, "synced", doc_number=doc)
            self._log(
                "remove",
                entity=entity,
                app_id=rec.app_id,
                remote_id=link.remote_id,
                doc_number=doc,
                message=("replaced in " if replacing else "voided/deleted in ") + self.caps.display_name,
                s=s,
            )
            self.report.bump(self.report.pushed, entity)
        return True

    def _outgoing(self, record: Record, remote_id: str, resolve: Resolver | None = None) -> Record:
        """The app record as the platform must receive it: platform ids and this connection's codes."""
        return self.codes.out(translate(record, remote_id, resolve or self.to_remote_id))

    @staticmethod
    def _doc(record: Record) -> str | None:
        for attr in ("number", "name", "reference", "code"):
            value = getattr(record, attr, None)
            if value:
                return str(value)
        return None


def run_cycle(
    store: Store,
    spec: ProviderSpec,
    conn_id: str,
    settings: EngineSettings | None = None,
    *,
    provider: Provider | None = None,
    entities: Iterable[Entity] | None = None,
    only: dict[Entity, set[str]] | None = None,
    wait: float = 0,
    progress: Callable[[str, int, int | None], None] | None = None,
) -> CycleReport:
    """Run one cycle under the connection's lease (one worker per connection at a time)."""
    settings = settings or EngineSettings()
    deadline = time.monotonic() + wait
    while True:
        owner = store.acquire_sync_lock(conn_id, settings.lease_seconds)
        if owner is not None:
            break
        if time.monotonic() >= deadline:
            raise ConnectionBusy(f"connection {conn_id} is being synced by another worker")
        time.sleep(0.2)
    try:
        return Cycle(store, spec, conn_id, settings, provider=provider, progress=progress).run(entities, only)
    finally:
        store.release_sync_lock(conn_id, owner)
