"""Unsync: a record a person excluded takes what depends on it out of sync with it, quietly. A customer's
invoices and payments (a supplier's purchase orders, bills and bill payments) show as Excluded, with the reason,
never as Failed; including the record again brings them back.

A record excluded along with another is told apart from one a person excluded by its stored reason code
(missing_dependency on an excluded state; a person's exclusion stores none)."""

from __future__ import annotations

from sqlalchemy import select
from sqlalchemy.orm import Session

from ledgersync.engine.context import doc_of
from ledgersync.model import Entity, ErrorCode, Record, SyncError
from ledgersync.store import Store, StoredRecord
from ledgersync.store.tables import SyncState

# What follows a record into exclusion: entities whose records refer to it, transitively (payments follow
# invoices, bill payments follow bills).
FOLLOWERS: dict[Entity, tuple[Entity, ...]] = {
    Entity.CONTACT: (
        Entity.CONTACT,
        Entity.INVOICE,
        Entity.PAYMENT,
        Entity.CREDIT,
        Entity.CREDIT_NOTE,
        Entity.REFUND,
        Entity.SALES_RECEIPT,
    ),
    Entity.INVOICE: (Entity.PAYMENT, Entity.CREDIT_NOTE),
    Entity.SUPPLIER: (Entity.PURCHASE_ORDER, Entity.BILL, Entity.BILL_PAYMENT),
    Entity.PURCHASE_ORDER: (Entity.BILL,),
    Entity.BILL: (Entity.BILL_PAYMENT,),
}


def reason(dep_entity: Entity, label: str) -> SyncError:
    return SyncError(
        code=ErrorCode.MISSING_DEPENDENCY,
        message=f"Not synced: its {dep_entity.value.replace('_', ' ')} '{label}' is excluded from sync.",
        hint=f"Include the {dep_entity.value.replace('_', ' ')} to sync it and everything that follows it.",
    )


def exclude_with(
    store: Store, s: Session, conn_id: str, entity: Entity, record: Record, dep_entity: Entity, label: str
) -> None:
    """Mark one record excluded because the record it depends on is."""
    store.set_state(
        s, conn_id, entity, record.id, "excluded", error=reason(dep_entity, label), doc_number=doc_of(record)
    )


def _followers(store: Store, s: Session, org_id: str, entity: Entity, app_id: str) -> list[StoredRecord]:
    out: list[StoredRecord] = []
    for follower in FOLLOWERS.get(entity, ()):
        out.extend(store.records_referring(org_id, follower, [f"{entity.value}:{app_id}"], s))
    return out


def cascade_exclude(store: Store, org_id: str, conn_id: str, entity: Entity, app_id: str, label: str) -> int:
    """Take the records that follow an excluded one out of sync (those not already on the platform: a synced
    invoice stays where it is). Returns how many were excluded."""
    count = 0
    with store.session() as s:
        todo = [(entity, app_id, label)]
        seen: set[tuple[str, str]] = set()
        while todo:
            dep_entity, dep_id, dep_label = todo.pop()
            for rec in _followers(store, s, org_id, dep_entity, dep_id):
                entity_of = rec.record.entity
                if (entity_of.value, rec.app_id) in seen:
                    continue
                seen.add((entity_of.value, rec.app_id))
                linked = store.link_by_app(conn_id, entity_of, rec.app_id, s) is not None
                st = s.get(SyncState, (conn_id, entity_of.value, rec.app_id))
                if linked or (st is not None and st.state in ("synced", "skipped", "excluded")):
                    continue
                exclude_with(store, s, conn_id, entity_of, rec.record, dep_entity, dep_label)
                count += 1
                todo.append((entity_of, rec.app_id, doc_of(rec.record) or rec.app_id))
    return count


def cascade_include(store: Store, org_id: str, conn_id: str, entity: Entity, app_id: str) -> int:
    """Bring back the records excluded along with one that is included again (they go pending)."""
    count = 0
    with store.session() as s:
        todo = [(entity, app_id)]
        while todo:
            dep_entity, dep_id = todo.pop()
            for rec in _followers(store, s, org_id, dep_entity, dep_id):
                entity_of = rec.record.entity
                st = s.get(SyncState, (conn_id, entity_of.value, rec.app_id))
                if st is None or st.state != "excluded" or st.error_code != ErrorCode.MISSING_DEPENDENCY.value:
                    continue
                store.set_state(s, conn_id, entity_of, rec.app_id, "pending", doc_number=st.doc_number)
                count += 1
                todo.append((entity_of, rec.app_id))
    return count


def excluded_along(store: Store, conn_id: str) -> list[SyncState]:
    """The records excluded along with another (for the dashboard's Excluded list)."""
    with store.session() as s:
        q = select(SyncState).where(
            SyncState.connection_id == conn_id,
            SyncState.state == "excluded",
            SyncState.error_code == ErrorCode.MISSING_DEPENDENCY.value,
        )
        return list(s.scalars(q))
