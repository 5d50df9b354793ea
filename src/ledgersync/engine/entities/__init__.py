"""The entity rules the stages look up: one module per entity with what is its own (see base.EntityRules)."""

from __future__ import annotations

from typing import TYPE_CHECKING

from ledgersync.engine.entities.base import EntityRules
from ledgersync.engine.entities.bill import BillPaymentRules, BillRules
from ledgersync.engine.entities.contact import ContactRules
from ledgersync.engine.entities.credit_note import CreditNoteRules
from ledgersync.engine.entities.invoice import InvoiceRules
from ledgersync.engine.entities.item import ItemRules
from ledgersync.engine.entities.payment import PaymentRules
from ledgersync.engine.entities.purchase_order import PurchaseOrderRules
from ledgersync.engine.entities.refund import RefundRules
from ledgersync.engine.entities.sales_receipt import SalesReceiptRules
from ledgersync.engine.entities.supplier import SupplierRules
from ledgersync.model import Entity
from ledgersync.store import StoredRecord

if TYPE_CHECKING:
    from ledgersync.engine.context import CycleContext


class CreditRules(EntityRules):
    entity = Entity.CREDIT

    def wanted(self, ctx: CycleContext, rec: StoredRecord) -> bool:
        """A credit split off an overpaid payment goes only to the platforms whose split made it (each
        connection splits a payment its own way, engine/credit.py); any other credit goes everywhere."""
        with ctx.store.session() as s:
            made_by = ctx.store.credit_splits(s, [rec.app_id]).get(rec.app_id)
        if made_by is None:
            return True
        # Sent once its payment is there: a payment the platform refused is split afresh (another credit).
        payment_id = getattr(rec.record, "payment_id", None)
        if payment_id is None:
            return ctx.conn_id in made_by
        return ctx.conn_id in made_by and ctx.to_remote_id(Entity.PAYMENT, payment_id) is not None


RULES: dict[Entity, EntityRules] = {
    r.entity: r
    for r in (
        ContactRules(),
        ItemRules(),
        InvoiceRules(),
        PaymentRules(),
        CreditRules(),
        CreditNoteRules(),
        RefundRules(),
        SalesReceiptRules(),
        SupplierRules(),
        PurchaseOrderRules(),
        BillRules(),
        BillPaymentRules(),
    )
}


def rules_for(entity: Entity) -> EntityRules:
    return RULES[entity]


__all__ = ["RULES", "EntityRules", "rules_for"]
