"""Purchase orders: created in the app and sent to the platform; what it computes (totals, a number it assigns)
comes back. A purchase order marked `billed` (finished) in the app becomes a bill: the engine makes the app's
Bill from it (one per order, with a deterministic id, so a crash or a rerun never makes two) and the bill's
push links it to the order on the platform (QuickBooks LinkedTxn; Xero marks the order BILLED)."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from sqlalchemy.orm import Session

from ledgersync.engine.entities.base import EntityRules, rate_taken
from ledgersync.model import Bill, Entity, InvoiceStatus, PurchaseOrder, PurchaseOrderStatus, Record
from ledgersync.providers.base import RemoteRecord
from ledgersync.store import StoredRecord
from ledgersync.store.outbox import PlannedWrite

if TYPE_CHECKING:
    from ledgersync.engine.context import CycleContext

COMPUTED = ("total", "total_tax")


def bill_id_for(po_app_id: str) -> str:
    """The app id of the bill made from a purchase order: one per order, whoever makes it, however often."""
    return f"{po_app_id}-bill"


def bill_from(po: PurchaseOrder) -> Bill:
    """The bill a finished purchase order becomes: its supplier, lines, currency and tax basis; the order's
    number as the bill's (a person finds the bill by it; the supplier's own invoice number is not known)."""
    return Bill(
        id=bill_id_for(po.id),
        supplier_id=po.supplier_id,
        number=po.number,
        date=po.delivery_date or po.date,
        currency=po.currency,
        line_amount_types=po.line_amount_types,
        lines=list(po.lines),
        status=InvoiceStatus.AUTHORISED,
        purchase_order_id=po.id,
    )


def make_bills(ctx: CycleContext) -> int:
    """Make the app's bill for every billed purchase order that has none yet (the app may have made its own,
    naming the order in purchase_order_id). Runs every cycle before bills are planned, so a crash between a
    purchase order's push and its bill loses nothing. Returns how many bills were made."""
    billed = [
        r
        for r in ctx.store.records(ctx.org_id, Entity.PURCHASE_ORDER)
        if isinstance(r.record, PurchaseOrder) and r.record.status is PurchaseOrderStatus.BILLED
    ]
    if not billed:
        return 0
    have = ctx.store.referenced(ctx.org_id, "purchase_order:")
    made = 0
    with ctx.store.session() as s:
        for rec in billed:
            if rec.app_id in have or ctx.store.get_record(ctx.org_id, Entity.BILL, bill_id_for(rec.app_id), s):
                continue
            assert isinstance(rec.record, PurchaseOrder)
            bill = bill_from(rec.record)
            ctx.store.upsert_record(ctx.org_id, bill, s=s)
            ctx.store.emit(s, ctx.org_id, "bill.created", Entity.BILL, bill.id, {"purchase_order_id": rec.app_id})
            ctx.log(
                "bill_from_purchase_order",
                entity=Entity.BILL,
                app_id=bill.id,
                doc_number=bill.number,
                message=f"Bill made from purchase order {rec.record.number or rec.app_id}, which was marked billed",
                s=s,
            )
            made += 1
    return made


class PurchaseOrderRules(EntityRules):
    entity = Entity.PURCHASE_ORDER
    keeps_platform_fields = True

    def after_push(self, ctx: CycleContext, written: list[PlannedWrite], removed: list[PlannedWrite]) -> None:
        make_bills(ctx)

    def match(self, ctx: CycleContext, s: Session, remote: RemoteRecord) -> str | None:
        rec = remote.record
        assert isinstance(rec, PurchaseOrder)
        if rec.number:
            found = ctx.store.find_records(ctx.org_id, Entity.PURCHASE_ORDER, number=rec.number, s=s)
            if len(found) == 1 and ctx.to_remote_id(Entity.PURCHASE_ORDER, found[0].app_id) is None:
                return found[0].app_id
        return ""  # purchase orders flow from the app to the platform; the platform's own stay there

    def merge(
        self, ctx: CycleContext, current: StoredRecord, incoming: Record, remote: RemoteRecord, app_changed: bool
    ) -> Record | None:
        assert isinstance(current.record, PurchaseOrder) and isinstance(incoming, PurchaseOrder)
        update: dict[str, Any] = {f: getattr(incoming, f) for f in COMPUTED}
        if current.record.number is None and incoming.number:
            update["number"] = incoming.number
        if remote.deleted:
            update["status"] = PurchaseOrderStatus.DELETED
        return current.record.model_copy(update=update)

    def settle_pushed(self, record: Record, incoming: Record) -> Record | None:
        if not (isinstance(record, PurchaseOrder) and isinstance(incoming, PurchaseOrder)):
            return None
        update: dict[str, Any] = {f: getattr(incoming, f) for f in COMPUTED}
        update.update(rate_taken(record, incoming))
        if record.number is None and incoming.number:
            update["number"] = incoming.number
        return record.model_copy(update=update)

    def deleted_copy(self, record: Record) -> Record | None:
        if isinstance(record, PurchaseOrder):
            return record.model_copy(update={"status": PurchaseOrderStatus.DELETED})
        return None
