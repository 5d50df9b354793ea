"""The entity rules the stages look up: one module per entity with what is its own (see base.EntityRules)."""

from __future__ import annotations

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


class CreditRules(EntityRules):
    entity = Entity.CREDIT


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
