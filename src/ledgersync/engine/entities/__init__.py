"""The entity rules the stages look up: one module per entity with what is its own (see base.EntityRules)."""

from __future__ import annotations

from ledgersync.engine.entities.base import EntityRules
from ledgersync.engine.entities.contact import ContactRules
from ledgersync.engine.entities.invoice import InvoiceRules
from ledgersync.engine.entities.payment import PaymentRules
from ledgersync.model import Entity


class ItemRules(EntityRules):
    entity = Entity.ITEM
    shared_everywhere = True


class CreditRules(EntityRules):
    entity = Entity.CREDIT


class CreditNoteRules(EntityRules):
    entity = Entity.CREDIT_NOTE


# The records added for refunds, sales receipts and the vendor side start with the base rules; their own
# modules (matching, settling what the platform computes) replace these as each is built.
class RefundRules(EntityRules):
    entity = Entity.REFUND


class SalesReceiptRules(EntityRules):
    entity = Entity.SALES_RECEIPT


class SupplierRules(EntityRules):
    entity = Entity.SUPPLIER


class PurchaseOrderRules(EntityRules):
    entity = Entity.PURCHASE_ORDER


class BillRules(EntityRules):
    entity = Entity.BILL


class BillPaymentRules(EntityRules):
    entity = Entity.BILL_PAYMENT


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
