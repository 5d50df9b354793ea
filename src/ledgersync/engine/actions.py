"""The action centre: failed records with their reasons, and the one-step fixes a person applies to them."""

from __future__ import annotations

import datetime as dt
import enum
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from ledgersync.engine.app import LedgerSync
from ledgersync.engine.credit import excess_of, split
from ledgersync.engine.lease import hold
from ledgersync.engine.picker import Candidate
from ledgersync.engine.picker import candidates as link_candidates
from ledgersync.engine.sync import Cycle, CycleReport, idempotency_key
from ledgersync.model import (
    Contact,
    ContactStatus,
    Entity,
    ErrorCode,
    Invoice,
    Payment,
    Record,
    SyncError,
    record_from_json,
)
from ledgersync.providers.base import RemoteRecord, Restores, Write
from ledgersync.store import Store, divergence
from ledgersync.store.tables import AppRecord, SyncState


class Role(enum.StrEnum):
    OWNER = "owner"
    ADMIN = "admin"
    MEMBER = "member"


@dataclass(frozen=True)
class Actor:
    """Who asks for an action. Owners and admins may change what syncs; members may view and retry."""

    name: str
    role: Role

    @property
    def can_manage(self) -> bool:
        return self.role in (Role.OWNER, Role.ADMIN)


SYSTEM = Actor("ledgersync", Role.OWNER)


class PermissionDenied(Exception):
    pass


class ActionError(Exception):
    """An action that cannot be applied, with a reason a person can act on."""


@dataclass(frozen=True)
class ErrorView:
    """One entry of the errors page: what, why in plain words, and the fixes that fit."""

    connection_id: str
    entity: Entity
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


MANAGE = frozenset(
    {
        "skip",
        "exclude",
        "include",
        "merge",
        "link",
        "record_credit",
        "restore",
        "create_new",
        "keep_app",
        "keep_platform",
    }
)
# States the errors page lists: failures, and records held until a person chooses (conflict, drifted).
LISTED = ("failed", "needs_review", "conflict", "drifted")
# A link's app hash no content hashes to: the app's copy reads as changed, so it goes out on the next sync
# (and an edit arriving from the platform meanwhile is met by the conflict policy, not silently taken).
KEPT_APP = "kept-app"


@dataclass(frozen=True)
class DivergenceView:
    """A record in `conflict` or `drifted`: both versions side by side, the fields that differ, the fixes."""

    connection_id: str
    entity: Entity
    app_id: str
    kind: str
    app_version: dict[str, Any]
    platform_version: dict[str, Any] | None
    fields: list[dict[str, Any]]
    remote_id: str | None
    remote_version: str | None
    found_at: dt.datetime
    actions: list[str]


class ActionCentre:
    """Every fix the errors page offers, enforced here (not only in a user interface)."""

    def __init__(self, ls: LedgerSync) -> None:
        self.ls = ls
        self.store = ls.store

    # -- reading -------------------------------------------------------------------------------------
    def errors(
        self, conn_id: str, entity: Entity | None = None, *, limit: int = 500, offset: int = 0
    ) -> list[ErrorView]:
        with self.store.session() as s:
            q = select(SyncState).where(
                SyncState.connection_id == conn_id, SyncState.state.in_(LISTED)
            )
            if entity is not None:
                q = q.where(SyncState.entity == entity.value)
            rows = list(s.scalars(q.order_by(SyncState.updated_at.desc()).offset(offset).limit(limit)))
        return [self._view(r) for r in rows]

    def failed_count(self, conn_id: str) -> int:
        counts = self.store.state_counts(conn_id)
        return sum(sum(c.get(state, 0) for state in LISTED) for c in counts.values())

    @staticmethod
    def _view(row: SyncState) -> ErrorView:
        return ErrorView(
            connection_id=row.connection_id,
            entity=Entity(row.entity),
            app_id=row.app_id,
            state=row.state,
            doc_number=row.doc_number,
            code=row.error_code,
            message=row.error_message,
            hint=row.hint,
            platform_code=row.platform_code,
            platform_message=row.platform_message,
            actions=list(row.actions),
            attempts=row.attempts,
            updated_at=row.updated_at,
        )

    # -- helpers -------------------------------------------------------------------------------------
    def _authorise(self, actor: Actor, action: str) -> None:
        if action in MANAGE and not actor.can_manage:
            raise PermissionDenied(
                f"only an owner or admin may {action.replace('_', ' ')}; {actor.name} is a {actor.role.value}"
            )

    def _record(self, conn_id: str, entity: Entity, app_id: str) -> tuple[str, Record]:
        org = self.store.get_connection(conn_id).org_id
        rec = self.store.get_record(org, entity, app_id)
        if rec is None:
            raise ActionError(f"no {entity.value} {app_id!r} in this organisation")
        return org, rec.record

    def _set(
        self,
        conn_id: str,
        entity: Entity,
        app_id: str,
        state: str,
        actor: Actor,
        action: str,
        message: str,
        doc: str | None = None,
    ) -> None:
        with self.store.session() as s:
            self.store.set_state(s, conn_id, entity, app_id, state, doc_number=doc)
            self.store.log(
                "action",
                connection_id=conn_id,
                entity=entity,
                app_id=app_id,
                doc_number=doc,
                message=message,
                details={"action": action, "actor": actor.name, "role": actor.role.value},
                s=s,
            )

    @contextmanager
    def _platform(self, conn_id: str) -> Iterator[tuple[Store, Cycle]]:
        """The connection's lease for an action that calls the platform (ConnectionBusy while a sync or another
        action holds it), and a Cycle over the fenced store: the action's writes commit only under the lease."""
        with hold(self.store, conn_id, self.ls.settings) as (store, _lease):
            conn = store.get_connection(conn_id)
            cycle = Cycle(store, self.ls.spec(conn.provider), conn_id, self.ls.settings, budget=self.ls.budget)
            try:
                yield store, cycle
            finally:
                cycle.provider.close()

    # -- actions -------------------------------------------------------------------------------------
    def retry(
        self, actor: Actor, conn_id: str, entity: Entity, app_id: str, *, now: bool = False
    ) -> CycleReport | None:
        """Try again: clears the failure and its backoff; with now=True pushes the record at once."""
        self._authorise(actor, "retry")
        self._record(conn_id, entity, app_id)
        self._set(conn_id, entity, app_id, "pending", actor, "retry", "retry requested")
        return self.sync_now(actor, conn_id, entity, app_id) if now else None

    def skip(self, actor: Actor, conn_id: str, entity: Entity, app_id: str) -> None:
        """Keep the app's copy as it is and take it off the error list (state Skipped) until retried."""
        self._authorise(actor, "skip")
        self._record(conn_id, entity, app_id)
        st = self.store.get_state(conn_id, entity, app_id)
        self._set(
            conn_id,
            entity,
            app_id,
            "skipped",
            actor,
            "skip",
            "skipped: the app's copy is kept, not sent",
            st.doc_number if st else None,
        )

    def exclude(self, actor: Actor, conn_id: str, entity: Entity, app_id: str) -> None:
        """Do not sync this record: no errors, nothing sent, until included again."""
        self._authorise(actor, "exclude")
        self._record(conn_id, entity, app_id)
        self._set(conn_id, entity, app_id, "excluded", actor, "exclude", "excluded from sync")
        # What follows it (a customer's invoices and payments) is excluded with it, quietly.
        from ledgersync.engine.context import doc_of
        from ledgersync.engine.exclusion import cascade_exclude

        org, record = self._record(conn_id, entity, app_id)
        cascade_exclude(self.store, org, conn_id, entity, app_id, doc_of(record) or app_id)

    def include(self, actor: Actor, conn_id: str, entity: Entity, app_id: str) -> None:
        self._authorise(actor, "include")
        org, _ = self._record(conn_id, entity, app_id)
        self._set(conn_id, entity, app_id, "pending", actor, "include", "included in sync again")
        from ledgersync.engine.exclusion import cascade_include

        cascade_include(self.store, org, conn_id, entity, app_id)

    def link(self, actor: Actor, conn_id: str, entity: Entity, app_id: str, remote_id: str) -> None:
        """Use a chosen existing platform record for this app record; the app's details are sent to it on the
        next sync (documents keep their own content; a contact's details win over the platform's)."""
        self._authorise(actor, "link")
        self._record(conn_id, entity, app_id)
        with self._platform(conn_id) as (store, cycle):
            self._attach(store, cycle, actor, entity, app_id, remote_id, take_platform=False, action="link")

    def link_candidates(
        self, actor: Actor, conn_id: str, entity: Entity, search: str = "", limit: int = 50
    ) -> list[Candidate]:
        """The platform's records to link to, searchable, the unlinked ones first (owner/admin: it lists
        the platform's customers)."""
        self._authorise(actor, "link")
        return link_candidates(self.ls, conn_id, entity, search, limit)

    def create_new(self, actor: Actor, conn_id: str, entity: Entity, app_id: str) -> CycleReport | None:
        """The alternative to Link: send the app record to the platform as a new one, now."""
        self._authorise(actor, "create_new")
        self._record(conn_id, entity, app_id)
        if self.store.links(conn_id, entity, [app_id]).get(app_id) is not None:
            raise ActionError(f"{entity.value} {app_id!r} is already linked; unlink it before creating a new one")
        self._set(conn_id, entity, app_id, "pending", actor, "create_new", "create a new platform record")
        return self.sync_now(actor, conn_id, entity, app_id)

    def merge(self, actor: Actor, conn_id: str, app_id: str, remote_id: str | None = None) -> str:
        """Use the existing platform contact from now on (found by name when not given). The platform's
        details are kept; this customer's invoices and payments follow it. Returns the platform id."""
        self._authorise(actor, "merge")
        _, record = self._record(conn_id, Entity.CONTACT, app_id)
        with self._platform(conn_id) as (store, cycle):
            if remote_id is None:
                write = Write(
                    key=app_id,
                    record=record.model_copy(update={"parent_id": None}),
                    idempotency_key=idempotency_key(conn_id, Entity.CONTACT, app_id, 0),
                )
                found = cycle.provider.find(Entity.CONTACT, [write])
                if app_id not in found:
                    raise ActionError(
                        f"no {cycle.caps.display_name} contact named {getattr(record, 'name', app_id)!r} "
                        "to merge into; choose one with Link"
                    )
                remote_id = found[app_id].remote_id
            self._attach(store, cycle, actor, Entity.CONTACT, app_id, remote_id, take_platform=True, action="merge")
        return remote_id

    def _attach(
        self,
        store: Store,
        cycle: Cycle,
        actor: Actor,
        entity: Entity,
        app_id: str,
        remote_id: str,
        *,
        take_platform: bool,
        action: str,
    ) -> None:
        """Link (or merge) under the lease `store` is fenced by."""
        conn_id = cycle.conn_id
        org, record = self._record(conn_id, entity, app_id)
        remotes = cycle.provider.fetch(entity, [remote_id])
        if not remotes:
            raise ActionError(f"{cycle.caps.display_name} has no {entity.value} {remote_id}")
        remote: RemoteRecord = remotes[0]
        with store.session() as s:
            current = store.link_by_remote(conn_id, entity, remote_id, s)
            if current is not None and current.app_id != app_id:
                if entity is not Entity.CONTACT or not take_platform:
                    raise ActionError(
                        f"that {entity.value} is already linked to {current.app_id}; merge instead, or unlink it"
                    )
                self._fold_contact(s, org, conn_id, current.app_id, app_id)
            incoming = cycle.app_view(remote, app_id)
            if take_platform and isinstance(incoming, Contact) and isinstance(record, Contact):
                merged = incoming.model_copy(update={"parent_id": incoming.parent_id or record.parent_id})
                store.upsert_record(org, merged, s=s)
                h = merged.content_hash()
                app_hash: str | None = h
            else:
                app_hash = None  # the app's content goes out on the next sync
            store.save_link(
                s,
                conn_id,
                entity,
                app_id,
                remote_id,
                remote_version=remote.version,
                app_hash=app_hash,
                remote_hash=incoming.content_hash() if incoming else None,
                removed=remote.deleted,
            )
            store.set_state(
                s,
                conn_id,
                entity,
                app_id,
                "synced" if app_hash else "pending",
                doc_number=remote.doc_number or getattr(record, "name", None),
            )
            if take_platform:
                store.emit(s, org, f"{entity.value}.updated", entity, app_id, {"merged_into": remote_id})
            store.log(
                "action",
                connection_id=conn_id,
                org_id=org,
                entity=entity,
                app_id=app_id,
                remote_id=remote_id,
                doc_number=remote.doc_number,
                message=f"{action}: now the same record as {cycle.caps.display_name} {remote_id}",
                details={"action": action, "actor": actor.name, "role": actor.role.value},
                s=s,
            )

    def _fold_contact(self, s: Session, org: str, conn_id: str, source: str, target: str) -> None:
        """Another app contact already stands for that platform contact: its invoices and payments move to
        `target`, it keeps no link, and the app is told (contact.merged) so it can merge its own side.

        Refused when another connection has synced the contact or its documents: moving them would change
        what that platform holds (an action on one connection never changes another's)."""
        others = [c for c in self.store.connections(org) if c.id != conn_id]
        touched = [f"contact:{source}"]
        for other in others:
            linked = self.store.link_by_app(other.id, Entity.CONTACT, source, s)
            refs = self.store.records_referring(org, Entity.INVOICE, touched, s) + self.store.records_referring(
                org, Entity.PAYMENT, touched, s
            )
            if linked is not None or any(
                self.store.link_by_app(other.id, r.entity, r.app_id, s) is not None for r in refs
            ):
                name = self.ls.spec(other.provider).capabilities.display_name
                raise ActionError(
                    f"the customer {source} and its documents are also synced with {name}; merging them here "
                    f"would change what {name} holds. Merge it on {name} too first, or link this record instead."
                )
        for row in list(s.scalars(select(AppRecord).where(AppRecord.org_id == org))):
            if f"contact:{source}" not in (row.refs or []):
                continue
            data = dict(row.data)
            for key in ("contact_id", "parent_id"):
                if data.get(key) == source:
                    data[key] = target
            rec = self.ls.store.get_record(org, Entity(row.entity), row.app_id, s)
            assert rec is not None
            moved = type(rec.record).model_validate(data)
            self.store.upsert_record(org, moved, s=s)
            link = self.store.link_by_app(conn_id, Entity(row.entity), row.app_id, s)
            if link is not None and link.app_hash == rec.hash:
                link.app_hash = moved.content_hash()  # the platform copy already points at the kept contact
        old = self.store.link_by_app(conn_id, Entity.CONTACT, source, s)
        if old is not None:
            s.delete(old)
            s.flush()
        self.store.set_state(
            s,
            conn_id,
            Entity.CONTACT,
            source,
            "skipped",
            error=SyncError(code=ErrorCode.CONFLICT, message=f"merged into {target}"),
        )
        self.store.emit(s, org, "contact.merged", Entity.CONTACT, source, {"source": source, "target": target})

    def record_credit(self, actor: Actor, conn_id: str, payment_id: str) -> str | None:
        """Pay the invoices in full and record what is left over as customer credit. Returns the credit's id
        (None when the platform holds the excess inside the payment)."""
        self._authorise(actor, "record_credit")
        org, record = self._record(conn_id, Entity.PAYMENT, payment_id)
        assert isinstance(record, Payment)
        with self._platform(conn_id) as (store, cycle):
            # What the invoices owe now, read from the platform, not from a possibly stale copy.
            remote_ids = [r for a in record.allocations if (r := cycle.to_remote_id(Entity.INVOICE, a.invoice_id))]
            cycle.refresh(Entity.INVOICE, remote_ids)
            with store.session() as s:
                invoices: dict[str, Invoice] = {}
                dues: dict[str, Decimal] = {}
                for alloc in record.allocations:
                    inv = store.get_record(org, Entity.INVOICE, alloc.invoice_id, s)
                    if inv is not None and isinstance(inv.record, Invoice):
                        invoices[alloc.invoice_id] = inv.record
                        if inv.record.amount_due is not None:
                            dues[alloc.invoice_id] = inv.record.amount_due
                excess = excess_of(record, dues, invoices)
                if excess is None:
                    raise ActionError(
                        "this payment is not larger than what its invoices owe; nothing to record as credit"
                    )
                _, credit = split(store, s, org, conn_id, excess, keep_in_payment=cycle.caps.payment_holds_credit)
                store.set_state(s, conn_id, Entity.PAYMENT, payment_id, "pending")
                store.log(
                    "action",
                    connection_id=conn_id,
                    org_id=org,
                    entity=Entity.PAYMENT,
                    app_id=payment_id,
                    message=f"excess of {excess.amount} recorded as customer credit",
                    details={"action": "record_credit", "actor": actor.name, "role": actor.role.value},
                    s=s,
                )
        return credit.id if credit else None

    def restore(self, actor: Actor, conn_id: str, contact_id: str) -> None:
        """Un-archive the platform contact (e.g. so a new invoice for it can go); its invoices retry."""
        self._authorise(actor, "restore")
        org, record = self._record(conn_id, Entity.CONTACT, contact_id)
        with self._platform(conn_id) as (store, cycle):
            remote_id = cycle.to_remote_id(Entity.CONTACT, contact_id)
            if remote_id is None:
                raise ActionError("this contact is not linked to a platform contact")
            if not isinstance(cycle.provider, Restores):
                raise ActionError(f"{cycle.caps.display_name} has no way to bring an archived contact back")
            result = cycle.provider.restore(
                Entity.CONTACT,
                Write(
                    key=contact_id,
                    record=record.model_copy(update={"id": remote_id}),
                    idempotency_key=idempotency_key(conn_id, Entity.CONTACT, contact_id, 0) + "-restore",
                    remote_id=remote_id,
                ),
            )
            if result.error is not None:
                raise ActionError(result.error.message)
            with store.session() as s:
                store.upsert_record(org, record.model_copy(update={"status": ContactStatus.ACTIVE}), s=s)
                # Documents that failed because the contact was archived go again.
                for row in list(
                    s.scalars(
                        select(SyncState).where(
                            SyncState.connection_id == conn_id, SyncState.error_code == ErrorCode.ARCHIVED_CONTACT.value
                        )
                    )
                ):
                    store.set_state(s, conn_id, Entity(row.entity), row.app_id, "pending")
                store.log(
                    "action",
                    connection_id=conn_id,
                    org_id=org,
                    entity=Entity.CONTACT,
                    app_id=contact_id,
                    remote_id=remote_id,
                    message="contact restored on the platform",
                    details={"action": "restore", "actor": actor.name, "role": actor.role.value},
                    s=s,
                )

    # -- conflict and drift: which version stays ---------------------------------------------------------
    def divergence(self, conn_id: str, entity: Entity, app_id: str) -> DivergenceView | None:
        """Both versions of a record in `conflict` or `drifted` (None: it is in neither)."""
        with self.store.session() as s:
            row = divergence.get(s, conn_id, entity, app_id)
            st = s.get(SyncState, (conn_id, entity.value, app_id))
            if row is None or st is None or st.state not in ("conflict", "drifted"):
                return None
            return DivergenceView(
                connection_id=conn_id,
                entity=entity,
                app_id=app_id,
                kind=row.kind,
                app_version=dict(row.app_version),
                platform_version=dict(row.platform_version) if row.platform_version is not None else None,
                fields=[dict(f) for f in row.fields],
                remote_id=row.remote_id,
                remote_version=row.remote_version,
                found_at=row.found_at,
                actions=list(st.actions),
            )

    def divergences(self, conn_id: str) -> list[DivergenceView]:
        with self.store.session() as s:
            keys = [(Entity(r.entity), r.app_id) for r in divergence.listed(s, conn_id)]
        return [v for e, a in keys if (v := self.divergence(conn_id, e, a)) is not None]

    def keep_app(self, actor: Actor, conn_id: str, entity: Entity, app_id: str, *, now: bool = False) -> None:
        """Keep the app's version: it is sent to the platform on the next sync (at once with now=True), over
        the platform's edit or the difference verify found."""
        self._authorise(actor, "keep_app")
        org, record = self._record(conn_id, entity, app_id)
        view = self._divergent(conn_id, entity, app_id)
        with self.store.session() as s:
            link = self.store.link_by_app(conn_id, entity, app_id, s)
            if link is not None:
                if view.remote_version is not None:
                    link.remote_version = view.remote_version
                if view.platform_version is None:
                    # Missing on the platform: enter it anew.
                    s.delete(link)
                else:
                    link.app_hash = KEPT_APP
            divergence.clear(s, conn_id, entity, app_id)
            # Counted as an attempt so the write gets a key of its own: the platform would replay the answer to
            # the key this version was first sent with.
            self.store.set_state(s, conn_id, entity, app_id, "pending", doc_number=_doc(record), count_attempt=True)
            self._log_choice(s, conn_id, org, entity, app_id, actor, "keep_app", "kept the app's version")
        if now:
            self.sync_now(actor, conn_id, entity, app_id)

    def keep_platform(self, actor: Actor, conn_id: str, entity: Entity, app_id: str) -> None:
        """Keep the platform's version: the app's record becomes what the platform has (the app is told)."""
        self._authorise(actor, "keep_platform")
        org, record = self._record(conn_id, entity, app_id)
        view = self._divergent(conn_id, entity, app_id)
        from ledgersync.engine.entities import rules_for

        with self.store.session() as s:
            if view.platform_version is None:
                gone = rules_for(entity).deleted_copy(record)
                if gone is None:
                    raise ActionError(f"the platform has no copy of this {entity.value} to keep")
                kept: Record = gone
            else:
                kept = record_from_json(entity, view.platform_version)
            self.store.upsert_record(org, kept, s=s)
            link = self.store.link_by_app(conn_id, entity, app_id, s)
            if link is not None:
                link.app_hash = kept.content_hash()
                if view.remote_version is not None:
                    link.remote_version = view.remote_version
            divergence.clear(s, conn_id, entity, app_id)
            self.store.set_state(s, conn_id, entity, app_id, "synced", doc_number=_doc(kept))
            self.store.emit(s, org, f"{entity.value}.updated", entity, app_id, kept.to_json())
            self._log_choice(s, conn_id, org, entity, app_id, actor, "keep_platform", "kept the platform's version")

    def _divergent(self, conn_id: str, entity: Entity, app_id: str) -> DivergenceView:
        view = self.divergence(conn_id, entity, app_id)
        if view is None:
            raise ActionError(f"this {entity.value} is neither in conflict nor drifted; nothing to choose")
        return view

    def _log_choice(
        self,
        s: Session,
        conn_id: str,
        org: str,
        entity: Entity,
        app_id: str,
        actor: Actor,
        action: str,
        message: str,
    ) -> None:
        st = s.get(SyncState, (conn_id, entity.value, app_id))
        self.store.log(
            "action",
            connection_id=conn_id,
            org_id=org,
            entity=entity,
            app_id=app_id,
            doc_number=st.doc_number if st else None,
            message=message,
            details={"action": action, "actor": actor.name, "role": actor.role.value},
            s=s,
        )

    def sync_now(
        self,
        actor: Actor,
        conn_id: str,
        entity: Entity | None = None,
        app_id: str | None = None,
        *,
        everything_not_synced: bool = False,
    ) -> CycleReport:
        """Sync now: one record (with what it depends on), one connection, or everything not yet synced
        (waiting backoffs are cleared first). A member may do this."""
        self._authorise(actor, "sync_now")
        if everything_not_synced:
            with self.store.session() as s:
                for row in list(
                    s.scalars(
                        select(SyncState).where(
                            SyncState.connection_id == conn_id,
                            SyncState.state.in_(("pending", "failed")),
                            SyncState.next_attempt_at.is_not(None),
                        )
                    )
                ):
                    row.next_attempt_at = None
        only: dict[Entity, set[str]] | None = None
        if entity is not None and app_id is not None:
            only = self._closure(conn_id, entity, app_id)
            with self.store.session() as s:
                for ent, ids in only.items():
                    for row in self.store.state_map(conn_id, ent, sorted(ids), s).values():
                        if row.state in ("pending", "failed"):
                            row.next_attempt_at = None
        self.store.log(
            "action",
            connection_id=conn_id,
            entity=entity,
            app_id=app_id,
            message="sync now",
            details={"action": "sync_now", "actor": actor.name, "role": actor.role.value},
        )
        return self.ls.sync(conn_id, only=only)

    def _closure(self, conn_id: str, entity: Entity, app_id: str) -> dict[Entity, set[str]]:
        """The record and everything it needs on the platform first (its contact, its invoices)."""
        org = self.store.get_connection(conn_id).org_id
        out: dict[Entity, set[str]] = {}
        todo = [(entity, app_id)]
        while todo:
            ent, rid = todo.pop()
            if rid in out.setdefault(ent, set()):
                continue
            out[ent].add(rid)
            rec = self.store.get_record(org, ent, rid)
            if rec is None:
                continue
            for ref in _refs_of(rec.record):
                todo.append(ref)
        return out


def _doc(record: Record) -> str | None:
    for attr in ("number", "name", "reference"):
        value = getattr(record, attr, None)
        if value:
            return str(value)
    return None


def _refs_of(record: Record) -> Iterable[tuple[Entity, str]]:
    for field, ent in (("contact_id", Entity.CONTACT), ("parent_id", Entity.CONTACT)):
        value = getattr(record, field, None)
        if value:
            yield ent, value
    for alloc in getattr(record, "allocations", None) or []:
        yield Entity.INVOICE, alloc.invoice_id


__all__ = [
    "SYSTEM",
    "ActionCentre",
    "ActionError",
    "Actor",
    "DivergenceView",
    "ErrorView",
    "PermissionDenied",
    "Role",
]
