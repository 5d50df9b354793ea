"""Bills and bill payments, both ways. A bill made from a purchase order waits for the order's platform id (so
the platform links the two); bills and bill payments entered on the platform come into the app."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from sqlalchemy.orm import Session

import ledgersync.engine.record as record_stage
from ledgersync.engine.entities.base import EntityRules, rate_taken
from ledgersync.engine.translate import Unresolved
from ledgersync.model import Bill, BillPayment, Entity, InvoiceStatus, PaymentStatus, Record
from ledgersync.providers.base import RemoteRecord
from ledgersync.store import StoredRecord
from ledgersync.store.outbox import PlannedWrite

if TYPE_CHECKING:
    from ledgersync.engine.context import CycleContext

COMPUTED = ("total", "total_tax", "amount_due", "amount_paid")


class BillRules(EntityRules):
    entity = Entity.BILL
    keeps_platform_fields = True

    def prepare(self, ctx: CycleContext, s: Session, rec: StoredRecord) -> StoredRecord | None:
        """A bill made from a purchase order goes once the order is on the platform (where the platform takes
        purchase orders), so the platform can link the two; until then it waits behind the order (pending, or
        failed with the order's reason if the order cannot sync, excluded with it if it is excluded)."""
        bill = rec.record
        assert isinstance(bill, Bill)
        if (
            bill.purchase_order_id
            and Entity.PURCHASE_ORDER in ctx.caps.push_entities
            and ctx.to_remote_id(Entity.PURCHASE_ORDER, bill.purchase_order_id) is None
        ):
            record_stage.waiting(ctx, s, Entity.BILL, rec, Unresolved(Entity.PURCHASE_ORDER, bill.purchase_order_id))
            return None
        return rec

    def match(self, ctx: CycleContext, s: Session, remote: RemoteRecord) -> str | None:
        rec = remote.record
        assert isinstance(rec, Bill)
        if remote.deleted:
            return ""
        if rec.number:
            supplier = ctx.to_app_id(Entity.SUPPLIER, rec.supplier_id) if rec.supplier_id else None
            found = [
                r
                for r in ctx.store.find_records(ctx.org_id, Entity.BILL, number=rec.number, s=s)
                if ctx.to_remote_id(Entity.BILL, r.app_id) is None
                and isinstance(r.record, Bill)
                and (supplier is None or r.record.supplier_id == supplier)
            ]
            if len(found) == 1:
                return found[0].app_id
        return None  # a bill entered on the platform comes into the app

    def merge(
        self, ctx: CycleContext, current: StoredRecord, incoming: Record, remote: RemoteRecord, app_changed: bool
    ) -> Record | None:
        assert isinstance(current.record, Bill) and isinstance(incoming, Bill)
        computed: dict[str, Any] = {f: getattr(incoming, f) for f in COMPUTED}
        if remote.deleted or incoming.status in (InvoiceStatus.VOIDED, InvoiceStatus.DELETED):
            return current.record.model_copy(update={**computed, "status": incoming.status})
        if app_changed:
            # The app's edit goes out on the next push; only what the platform computes is taken now.
            status = incoming.status if incoming.status is InvoiceStatus.PAID else current.record.status
            return current.record.model_copy(update={**computed, "status": status})
        # An edit made on the platform: take it, keeping what the platform does not hold (the order it came from).
        return incoming.model_copy(
            update={"purchase_order_id": incoming.purchase_order_id or current.record.purchase_order_id}
        )

    def settle_pushed(self, record: Record, incoming: Record) -> Record | None:
        if not (isinstance(record, Bill) and isinstance(incoming, Bill)):
            return None
        update: dict[str, Any] = {f: getattr(incoming, f) for f in COMPUTED}
        update.update(rate_taken(record, incoming))
        if record.number is None and incoming.number:
            update["number"] = incoming.number
        if incoming.status is InvoiceStatus.PAID:
            update["status"] = InvoiceStatus.PAID
        return record.model_copy(update=update)

    def deleted_copy(self, record: Record) -> Record | None:
        if isinstance(record, Bill):
            return record.model_copy(update={"status": InvoiceStatus.DELETED})
        return None


class BillPaymentRules(EntityRules):
    entity = Entity.BILL_PAYMENT

    def nothing_to_send(self, outgoing: Record) -> bool:
        return isinstance(outgoing, BillPayment) and outgoing.status is PaymentStatus.DELETED

    def after_push(self, ctx: CycleContext, written: list[PlannedWrite], removed: list[PlannedWrite]) -> None:
        """Paying a bill changes its amount due and status: read the bills back now."""
        from ledgersync.engine import pull

        touched = {
            a.bill_id for w in [*written, *removed] if isinstance(w.record, BillPayment) for a in w.record.allocations
        }
        if touched:
            pull.refresh(ctx, Entity.BILL, sorted(touched))

    def match(self, ctx: CycleContext, s: Session, remote: RemoteRecord) -> str | None:
        rec = remote.record
        assert isinstance(rec, BillPayment)
        if remote.deleted or not rec.allocations:
            return ""
        bills = [ctx.to_app_id(Entity.BILL, a.bill_id) for a in rec.allocations]
        if any(b is None for b in bills):
            return ""  # a payment on a bill the app does not have
        for cand in ctx.store.records_referring(ctx.org_id, Entity.BILL_PAYMENT, [f"bill:{b}" for b in bills], s):
            if ctx.to_remote_id(Entity.BILL_PAYMENT, cand.app_id) is not None:
                continue
            p = cand.record
            assert isinstance(p, BillPayment)
            if p.amount == rec.amount and p.date == rec.date:
                return cand.app_id
        return None

    def merge(
        self, ctx: CycleContext, current: StoredRecord, incoming: Record, remote: RemoteRecord, app_changed: bool
    ) -> Record | None:
        assert isinstance(current.record, BillPayment)
        if remote.deleted:
            return current.record.model_copy(update={"status": PaymentStatus.DELETED})
        return None

    def deleted_copy(self, record: Record) -> Record | None:
        if isinstance(record, BillPayment):
            return record.model_copy(update={"status": PaymentStatus.DELETED})
        return None
