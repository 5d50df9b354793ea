"""Moving records between the app's namespace and a platform's: ids and references swapped through links."""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field

from ledgersync.model import (
    Allocation,
    Bill,
    BillAllocation,
    BillPayment,
    Contact,
    CreditNote,
    CustomerCredit,
    Entity,
    ErrorCode,
    Invoice,
    Payment,
    PurchaseOrder,
    Record,
    Refund,
    SalesReceipt,
    SyncError,
)

# Looks a reference up: (entity, id) -> the id on the other side, or None when not linked (yet).
Resolver = Callable[[Entity, str], str | None]


class Unresolved(Exception):
    """A record refers to another that has no counterpart on the other side yet."""

    def __init__(self, entity: Entity, ref_id: str) -> None:
        super().__init__(f"{entity.value} {ref_id} is not linked")
        self.entity = entity
        self.ref_id = ref_id


def _need(resolve: Resolver, entity: Entity, ref: str) -> str:
    found = resolve(entity, ref)
    if found is None:
        raise Unresolved(entity, ref)
    return found


def translate(record: Record, new_id: str, resolve: Resolver) -> Record:
    """The same record with its id replaced by `new_id` and every reference resolved across; raises
    Unresolved when a reference has no counterpart."""
    update: dict[str, object] = {"id": new_id}
    if isinstance(record, Contact) and record.parent_id:
        update["parent_id"] = _need(resolve, Entity.CONTACT, record.parent_id)
    if isinstance(record, Invoice | CreditNote | CustomerCredit):
        update["contact_id"] = _need(resolve, Entity.CONTACT, record.contact_id)
    if isinstance(record, CustomerCredit) and record.payment_id:
        update["payment_id"] = resolve(Entity.PAYMENT, record.payment_id)
    if isinstance(record, CreditNote | Payment) and record.allocations:
        update["allocations"] = [
            Allocation(invoice_id=_need(resolve, Entity.INVOICE, a.invoice_id), amount=a.amount)
            for a in record.allocations
        ]
    if isinstance(record, Payment | Refund) and record.contact_id:
        contact = resolve(Entity.CONTACT, record.contact_id)
        # A payment's contact is informative only (its invoice decides); an unlinked one is dropped.
        update["contact_id"] = contact
    if isinstance(record, SalesReceipt) and record.contact_id:
        update["contact_id"] = _need(resolve, Entity.CONTACT, record.contact_id)
    if isinstance(record, Refund) and record.credit_note_id:
        update["credit_note_id"] = _need(resolve, Entity.CREDIT_NOTE, record.credit_note_id)
    if isinstance(record, Refund) and record.credit_id:
        update["credit_id"] = _need(resolve, Entity.CREDIT, record.credit_id)
    if isinstance(record, PurchaseOrder | Bill):
        update["supplier_id"] = _need(resolve, Entity.SUPPLIER, record.supplier_id)
    if isinstance(record, Bill) and record.purchase_order_id:
        update["purchase_order_id"] = resolve(Entity.PURCHASE_ORDER, record.purchase_order_id)
    if isinstance(record, BillPayment):
        if record.supplier_id:
            update["supplier_id"] = resolve(Entity.SUPPLIER, record.supplier_id)
        update["allocations"] = [
            BillAllocation(bill_id=_need(resolve, Entity.BILL, a.bill_id), amount=a.amount)
            for a in record.allocations
        ]
    return record.model_copy(update=update)


class Unmapped(ValueError):
    """A record uses a tax code the connection's tax_codes map does not name: it fails with the map to fix."""

    def __init__(self, code: str, taxes: Mapping[str, str]) -> None:
        shown = json.dumps(dict(taxes), sort_keys=True)
        super().__init__(f"tax code {code!r} is not in the connection's tax_codes map")
        self.code = code
        self.error = SyncError(
            code=ErrorCode.VALIDATION,
            message=f"The tax code '{code}' has no counterpart in this connection's tax codes map: {shown}.",
            hint=f'Add "{code}": "<the platform\'s tax code>" to the connection\'s tax_codes setting, then retry.',
        )


@dataclass(frozen=True)
class CodeMap:
    """The app's account and tax codes -> one platform's (per connection): the same business syncing with two
    platforms uses different codes in each (Xero '090' is QuickBooks account '3'). Unmapped codes pass through."""

    accounts: dict[str, str] = field(default_factory=dict)
    taxes: dict[str, str] = field(default_factory=dict)

    @classmethod
    def from_config(cls, config: Mapping[str, str]) -> CodeMap:
        def load(key: str) -> dict[str, str]:
            raw = config.get(key)
            if not raw:
                return {}
            data = json.loads(raw)
            if not isinstance(data, dict):
                raise ValueError(f"connection setting {key} must be a JSON object of code -> code")
            return {str(k): str(v) for k, v in data.items()}

        return cls(load("account_codes"), load("tax_codes"))

    def __bool__(self) -> bool:
        return bool(self.accounts or self.taxes)

    def out(self, record: Record) -> Record:
        """The record with this connection's codes. Once a tax_codes map is set, every tax code a record uses
        must be in it (Unmapped): sending the app's own code would book the wrong rate or be refused."""
        if self.taxes:
            used = [getattr(record, "tax_type", None)] + [
                line.tax_type for line in getattr(record, "lines", None) or []
            ]
            for code in used:
                if code and code not in self.taxes:
                    raise Unmapped(code, self.taxes)
        return self._apply(record, self.accounts, self.taxes)

    def back(self, record: Record) -> Record:
        # A many-to-one map reads back as the first app code that maps to the platform's.
        accounts = {v: k for k, v in reversed(list(self.accounts.items()))}
        taxes = {v: k for k, v in reversed(list(self.taxes.items()))}
        return self._apply(record, accounts, taxes)

    @staticmethod
    def _apply(record: Record, accounts: dict[str, str], taxes: dict[str, str]) -> Record:
        if not accounts and not taxes:
            return record
        update: dict[str, object] = {}
        account = getattr(record, "account_code", None)
        if account in accounts:
            update["account_code"] = accounts[account]
        tax = getattr(record, "tax_type", None)
        if tax in taxes:
            update["tax_type"] = taxes[tax]
        lines = getattr(record, "lines", None)
        if lines:
            update["lines"] = [
                line.model_copy(
                    update={
                        "account_code": accounts.get(line.account_code, line.account_code)
                        if line.account_code
                        else None,
                        "tax_type": taxes.get(line.tax_type, line.tax_type) if line.tax_type else None,
                    }
                )
                for line in lines
            ]
        return record.model_copy(update=update) if update else record
