"""Canonical records <-> qbXML 13.0 elements, in QuickBooks Desktop's namespace (ListID / TxnID ids).

Element order follows qbxmlops130.xsd (each builder lists the children in the schema's sequence). Names:
Customer/Vendor Name at most 41 characters (FullName "Parent:Child" at most 209), Item Name 31, Invoice and
CreditMemo RefNumber 11, ReceivePayment and Bill RefNumber 20 (qbxmlops130.xsd maxLength facets)."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

from ledgersync.model import (
    Address,
    Bill,
    Contact,
    ContactStatus,
    CreditNote,
    Entity,
    Invoice,
    InvoiceLine,
    InvoiceStatus,
    Item,
    LineAmountTypes,
    Payment,
    PurchaseOrder,
    PurchaseOrderStatus,
    Record,
    Supplier,
    Tracking,
)
from ledgersync.model.records import Allocation, PaymentStatus
from ledgersync.providers.base import RemoteRecord
from ledgersync.providers.qbd import qbxml as x
from ledgersync.providers.qbd.qbxml import Node

# The qbXML object each entity is, and whether it is a list element (ListID) or a transaction (TxnID).
OBJECT = {
    Entity.CONTACT: "Customer",
    Entity.SUPPLIER: "Vendor",
    Entity.ITEM: "ItemService",
    Entity.INVOICE: "Invoice",
    Entity.PAYMENT: "ReceivePayment",
    Entity.CREDIT_NOTE: "CreditMemo",
    Entity.PURCHASE_ORDER: "PurchaseOrder",
    Entity.BILL: "Bill",
}
LISTS = frozenset({Entity.CONTACT, Entity.SUPPLIER, Entity.ITEM})
# What the query of each entity is called (items are read with ItemQuery, which returns every item type).
QUERY = {**{e: o + "QueryRq" for e, o in OBJECT.items()}, Entity.ITEM: "ItemQueryRq"}
ITEM_RETS = ("ItemServiceRet", "ItemNonInventoryRet", "ItemInventoryRet", "ItemOtherChargeRet")
# ListDelType / TxnDelType of each entity, for ListDeletedQuery / TxnDeletedQuery and ListDel / TxnDel.
DEL_TYPE = OBJECT
# TxnVoid covers Invoice, CreditMemo and Bill; ReceivePayment and PurchaseOrder can only be deleted.
VOIDABLE = frozenset({Entity.INVOICE, Entity.CREDIT_NOTE, Entity.BILL})
REF_NUMBER_MAX = {
    Entity.INVOICE: 11,
    Entity.CREDIT_NOTE: 11,
    Entity.PURCHASE_ORDER: 11,
    Entity.PAYMENT: 20,
    Entity.BILL: 20,
}
NAME_MAX = {Entity.CONTACT: 41, Entity.SUPPLIER: 41, Entity.ITEM: 31}


@dataclass(frozen=True)
class Refs:
    """Names in the company file that records without their own are booked to."""

    income_account: str = "Sales"
    expense_account: str = "Cost of Goods Sold"
    default_item: str = "Services"
    deposit_account: str | None = None
    class_category: str = "Class"


def external_guid(idempotency_key: str) -> str:
    """The ExternalGUID a write carries: derived from its idempotency key, so a lookup after an unknown outcome
    can tell our record from a person's record of the same name or number."""
    return "{" + str(uuid.uuid5(uuid.NAMESPACE_URL, "ledgersync:" + idempotency_key)).upper() + "}"


def _clip(value: str | None, n: int) -> str | None:
    return value[:n] if value else value


# -- writing ----------------------------------------------------------------------------------------------------
def _address(parent: Node, tag: str, addr: Address | None) -> None:
    if addr is None or not any(addr.model_dump().values()):
        return
    node = x.el(parent, tag)
    x.opt(node, "Addr1", _clip(addr.line1, 41))
    x.opt(node, "Addr2", _clip(addr.line2, 41))
    x.opt(node, "City", _clip(addr.city, 31))
    x.opt(node, "State", _clip(addr.region, 21))
    x.opt(node, "PostalCode", _clip(addr.postal_code, 13))
    x.opt(node, "Country", _clip(addr.country, 31))


def _core_mod(node: Node, key: str, remote_id: str, edit_sequence: str | None) -> None:
    x.el(node, key, remote_id)
    x.el(node, "EditSequence", edit_sequence or "")


def contact_element(rec: Contact, *, remote_id: str | None, edit_sequence: str | None, guid: str | None) -> Node:
    mod = remote_id is not None
    node = x.etree.Element("CustomerMod" if mod else "CustomerAdd")
    if mod:
        _core_mod(node, "ListID", remote_id or "", edit_sequence)
    x.el(node, "Name", rec.name)
    x.el(node, "IsActive", "false" if rec.status is ContactStatus.ARCHIVED else "true")
    if rec.parent_id:
        x.ref(node, "ParentRef", rec.parent_id)
    x.opt(node, "FirstName", _clip(rec.first_name, 25))
    x.opt(node, "LastName", _clip(rec.last_name, 25))
    _address(node, "BillAddress", rec.address)
    x.opt(node, "Phone", _clip(rec.phone, 21))
    x.opt(node, "Email", _clip(rec.email, 1023))
    x.opt(node, "AccountNumber", _clip(rec.account_number, 99))
    if not mod and guid:
        x.el(node, "ExternalGUID", guid)
    return node


def supplier_element(rec: Supplier, *, remote_id: str | None, edit_sequence: str | None, guid: str | None) -> Node:
    mod = remote_id is not None
    node = x.etree.Element("VendorMod" if mod else "VendorAdd")
    if mod:
        _core_mod(node, "ListID", remote_id or "", edit_sequence)
    x.el(node, "Name", rec.name)
    x.el(node, "IsActive", "false" if rec.status is ContactStatus.ARCHIVED else "true")
    x.opt(node, "FirstName", _clip(rec.first_name, 25))
    x.opt(node, "LastName", _clip(rec.last_name, 25))
    _address(node, "VendorAddress", rec.address)
    x.opt(node, "Phone", _clip(rec.phone, 21))
    x.opt(node, "Email", _clip(rec.email, 1023))
    x.opt(node, "AccountNumber", _clip(rec.account_number, 99))
    if not mod and guid:
        x.el(node, "ExternalGUID", guid)
    return node


def item_element(rec: Item, refs: Refs, *, remote_id: str | None, edit_sequence: str | None, guid: str | None) -> Node:
    mod = remote_id is not None
    node = x.etree.Element("ItemServiceMod" if mod else "ItemServiceAdd")
    if mod:
        _core_mod(node, "ListID", remote_id or "", edit_sequence)
    x.el(node, "Name", rec.code)
    x.el(node, "IsActive", "true")
    if rec.tax_type:
        x.ref(node, "SalesTaxCodeRef", full_name=rec.tax_type)
    sop = x.el(node, "SalesOrPurchaseMod" if mod else "SalesOrPurchase")
    x.el(sop, "Desc", rec.name)
    x.el(sop, "Price", x.price(rec.unit_price or 0))
    x.ref(sop, "AccountRef", full_name=rec.account_code or refs.income_account)
    if not mod and guid:
        x.el(node, "ExternalGUID", guid)
    return node


def _line(parent: Node, tag: str, line: InvoiceLine, refs: Refs, *, mod: bool, rate_tag: str = "Rate") -> None:
    node = x.el(parent, tag)
    if mod:
        x.el(node, "TxnLineID", "-1")  # a new line: the lines left out of a Mod are deleted
    x.ref(node, "ItemRef", full_name=line.item_code or refs.default_item)
    x.opt(node, "Desc", line.description)
    x.el(node, "Quantity", x.price(line.quantity))
    rate = line.unit_amount
    if line.discount_rate:
        rate = rate * (Decimal(100) - line.discount_rate) / Decimal(100)
    x.el(node, rate_tag, x.price(rate))
    if line.tracking:
        x.ref(node, "ClassRef", full_name=line.tracking[0].option)
    if line.tax_type:
        x.ref(node, "SalesTaxCodeRef", full_name=line.tax_type)


def sales_element(
    rec: Invoice | CreditNote,
    refs: Refs,
    *,
    remote_id: str | None,
    edit_sequence: str | None,
    guid: str | None,
) -> Node:
    """InvoiceAdd/Mod or CreditMemoAdd/Mod (the two share their header's order)."""
    obj = "Invoice" if isinstance(rec, Invoice) else "CreditMemo"
    mod = remote_id is not None
    node = x.etree.Element(obj + ("Mod" if mod else "Add"))
    if mod:
        _core_mod(node, "TxnID", remote_id or "", edit_sequence)
    x.ref(node, "CustomerRef", rec.contact_id)
    x.el(node, "TxnDate", x.date(rec.date))
    x.opt(node, "RefNumber", rec.number)
    x.el(node, "IsPending", "true" if rec.status is InvoiceStatus.DRAFT else "false")
    if isinstance(rec, Invoice):
        x.opt(node, "PONumber", _clip(rec.reference, 25))
        x.opt(node, "DueDate", x.date(rec.due_date) if rec.due_date else None)
    x.el(node, "IsTaxIncluded", "true" if rec.line_amount_types is LineAmountTypes.INCLUSIVE else "false")
    if not mod and guid:
        x.el(node, "ExternalGUID", guid)
    for line in rec.lines:
        _line(node, f"{obj}Line{'Mod' if mod else 'Add'}", line, refs, mod=mod)
    return node


def payment_element(
    rec: Payment,
    customer_id: str,
    refs: Refs,
    *,
    guid: str | None,
    remote_id: str | None = None,
    edit_sequence: str | None = None,
) -> Node:
    """ReceivePaymentAdd/Mod: one payment over one or several invoices; what it leaves unapplied stays in it
    as the customer's credit (UnusedPayment)."""
    mod = remote_id is not None
    node = x.etree.Element("ReceivePaymentMod" if mod else "ReceivePaymentAdd")
    if mod:
        _core_mod(node, "TxnID", remote_id or "", edit_sequence)
    x.ref(node, "CustomerRef", customer_id)
    x.el(node, "TxnDate", x.date(rec.date))
    x.opt(node, "RefNumber", _clip(rec.reference, 20))
    x.el(node, "TotalAmount", x.amount(rec.amount))
    deposit = rec.account_code or refs.deposit_account
    if deposit:
        x.ref(node, "DepositToAccountRef", full_name=deposit)
    if guid and not mod:
        x.el(node, "ExternalGUID", guid)
    if rec.allocations:
        for a in rec.allocations:
            applied = x.el(node, "AppliedToTxnMod" if mod else "AppliedToTxnAdd")
            x.el(applied, "TxnID", a.invoice_id)
            x.el(applied, "PaymentAmount", x.amount(a.amount))
    elif not mod:
        x.el(node, "IsAutoApply", "false")
    return node


def purchase_order_element(
    rec: PurchaseOrder, refs: Refs, *, remote_id: str | None, edit_sequence: str | None, guid: str | None
) -> Node:
    mod = remote_id is not None
    node = x.etree.Element("PurchaseOrderMod" if mod else "PurchaseOrderAdd")
    if mod:
        _core_mod(node, "TxnID", remote_id or "", edit_sequence)
    x.ref(node, "VendorRef", rec.supplier_id)
    x.el(node, "TxnDate", x.date(rec.date))
    x.opt(node, "RefNumber", rec.number)
    x.opt(node, "ExpectedDate", x.date(rec.delivery_date) if rec.delivery_date else None)
    if mod and rec.status is PurchaseOrderStatus.BILLED:
        # Billed in the app: the order is closed in QuickBooks (only PurchaseOrderMod carries IsManuallyClosed).
        x.el(node, "IsManuallyClosed", "true")
    x.opt(node, "Memo", rec.reference)
    x.el(node, "IsTaxIncluded", "true" if rec.line_amount_types is LineAmountTypes.INCLUSIVE else "false")
    if not mod and guid:
        x.el(node, "ExternalGUID", guid)
    for line in rec.lines:
        _line(node, f"PurchaseOrderLine{'Mod' if mod else 'Add'}", line, refs, mod=mod)
    return node


def bill_element(rec: Bill, refs: Refs, *, remote_id: str | None, edit_sequence: str | None, guid: str | None) -> Node:
    """BillAdd/Mod: lines with an item are item lines (Cost), the others expense lines on their account."""
    mod = remote_id is not None
    node = x.etree.Element("BillMod" if mod else "BillAdd")
    if mod:
        _core_mod(node, "TxnID", remote_id or "", edit_sequence)
    x.ref(node, "VendorRef", rec.supplier_id)
    x.el(node, "TxnDate", x.date(rec.date))
    x.opt(node, "DueDate", x.date(rec.due_date) if rec.due_date else None)
    x.opt(node, "RefNumber", rec.number)
    x.opt(node, "Memo", rec.reference)
    x.el(node, "IsTaxIncluded", "true" if rec.line_amount_types is LineAmountTypes.INCLUSIVE else "false")
    if not mod and guid:
        x.el(node, "ExternalGUID", guid)
    # No LinkToTxnID for rec.purchase_order_id: QuickBooks would link in every line of the order on top of the
    # lines sent here (BillAdd reference: "links in all line items from a PurchaseOrder"); the order is closed
    # instead (purchase_order_element), and the link is an unheld field.
    suffix = "Mod" if mod else "Add"
    # A bill made from an order carries the order's lines as the order holds them: all item lines (the default
    # item where a line names none), as QuickBooks' own linking brings them in, and so in the app's order.
    from_order = rec.purchase_order_id is not None
    for line in (ln for ln in rec.lines if not ln.item_code and not from_order):
        exp = x.el(node, f"ExpenseLine{suffix}")
        if mod:
            x.el(exp, "TxnLineID", "-1")
        x.ref(exp, "AccountRef", full_name=line.account_code or refs.expense_account)
        x.el(exp, "Amount", x.amount(line.line_amount))
        x.opt(exp, "Memo", line.description)
        if line.tracking:
            x.ref(exp, "ClassRef", full_name=line.tracking[0].option)
    for line in (ln for ln in rec.lines if ln.item_code or from_order):
        item = x.el(node, f"ItemLine{suffix}")
        if mod:
            x.el(item, "TxnLineID", "-1")
        x.ref(item, "ItemRef", full_name=line.item_code or refs.default_item)
        x.opt(item, "Desc", line.description)
        x.el(item, "Quantity", x.price(line.quantity))
        x.el(item, "Cost", x.price(line.unit_amount))
        if line.tracking:
            x.ref(item, "ClassRef", full_name=line.tracking[0].option)
    return node


# -- reading ----------------------------------------------------------------------------------------------------
def _read_address(node: Node | None) -> Address | None:
    if node is None:
        return None
    addr = Address(
        line1=x.text(node, "Addr1"),
        line2=x.text(node, "Addr2"),
        city=x.text(node, "City"),
        region=x.text(node, "State"),
        postal_code=x.text(node, "PostalCode"),
        country=x.text(node, "Country"),
    )
    return addr if any(addr.model_dump().values()) else None


def _active(ret: Node) -> bool:
    return x.text(ret, "IsActive") != "false"


def _lines(ret: Node, tag: str, refs: Refs) -> list[InvoiceLine]:
    out: list[InvoiceLine] = []
    for ln in ret.findall(tag):
        item = x.text(ln, "ItemRef/FullName")
        cls = x.text(ln, "ClassRef/FullName")
        qty = x.decimal(ln, "Quantity")
        rate = x.decimal(ln, "Rate")
        if rate is None:
            rate = x.decimal(ln, "Cost")
        amt = x.decimal(ln, "Amount")
        if rate is None:
            rate = amt if amt is not None else Decimal(0)
        out.append(
            InvoiceLine(
                description=x.text(ln, "Desc") or x.text(ln, "Memo") or "",
                quantity=qty if qty is not None else Decimal(1),
                unit_amount=rate,
                item_code=None if item == refs.default_item else item,
                account_code=x.text(ln, "AccountRef/FullName"),
                tax_type=x.text(ln, "SalesTaxCodeRef/FullName"),
                tracking=[Tracking(category=refs.class_category, option=cls)] if cls else [],
            )
        )
    return out


def is_void(ret: Node) -> bool:
    """QuickBooks keeps a voided transaction with its amounts zeroed and "VOID:" put before its memo; 13.0 has
    no IsVoided element on InvoiceRet (a sandbox-side guess until checked against a real company file)."""
    memo = x.text(ret, "Memo") or ""
    return memo.upper().startswith("VOID")


def _money(value: Decimal | None) -> Decimal | None:
    return value.quantize(Decimal("0.01")) if value is not None else None


def _party_from_ret(ret: Node, rid: str, address_tag: str) -> dict[str, Any]:
    """What a Customer and a Vendor both read from their *Ret (the address under `address_tag`)."""
    return {
        "id": rid,
        "name": x.text(ret, "Name") or "",
        "email": x.text(ret, "Email"),
        "first_name": x.text(ret, "FirstName"),
        "last_name": x.text(ret, "LastName"),
        "phone": x.text(ret, "Phone"),
        "account_number": x.text(ret, "AccountNumber"),
        "address": _read_address(ret.find(address_tag)),
        "status": ContactStatus.ACTIVE if _active(ret) else ContactStatus.ARCHIVED,
    }


def from_ret(entity: Entity, ret: Node, refs: Refs) -> RemoteRecord:
    """A *Ret element as the canonical record in QuickBooks' namespace."""
    list_elem = entity in LISTS
    rid = x.text(ret, "ListID" if list_elem else "TxnID") or ""
    version = x.text(ret, "EditSequence") or ""
    updated = x.parse_datetime(x.text(ret, "TimeModified"))
    guid = x.text(ret, "ExternalGUID")
    rec: Record
    archived = deleted = False
    doc: str | None = None
    if entity is Entity.CONTACT:
        rec = Contact(**_party_from_ret(ret, rid, "BillAddress"), parent_id=x.text(ret, "ParentRef/ListID"))
        archived = not _active(ret)
    elif entity is Entity.SUPPLIER:
        rec = Supplier(**_party_from_ret(ret, rid, "VendorAddress"))
        archived = not _active(ret)
    elif entity is Entity.ITEM:
        sop = ret.find("SalesOrPurchase")
        sap = ret.find("SalesAndPurchase")
        desc = x.text(sop, "Desc") if sop is not None else x.text(sap, "SalesDesc")
        price = x.decimal(sop, "Price") if sop is not None else x.decimal(sap, "SalesPrice")
        if price is None and ret.tag == "ItemInventoryRet":
            price = x.decimal(ret, "SalesPrice")
            desc = x.text(ret, "SalesDesc")
        account = x.text(sop, "AccountRef/FullName") if sop is not None else x.text(sap, "IncomeAccountRef/FullName")
        name = x.text(ret, "Name") or ""
        rec = Item(
            id=rid,
            code=name,
            name=(desc or name)[:50],
            unit_price=price,
            account_code=None if account == refs.income_account else account,
            tax_type=x.text(ret, "SalesTaxCodeRef/FullName"),
            is_purchased=sap is not None or ret.tag == "ItemInventoryRet",
            quantity_on_hand=x.decimal(ret, "QuantityOnHand") if ret.tag == "ItemInventoryRet" else None,
        )
        archived = not _active(ret)
    elif entity in (Entity.INVOICE, Entity.CREDIT_NOTE):
        void = is_void(ret)
        subtotal = x.decimal(ret, "Subtotal") or Decimal(0)
        tax = x.decimal(ret, "SalesTaxTotal") or Decimal(0)
        total = subtotal + tax
        common = {
            "id": rid,
            "contact_id": x.text(ret, "CustomerRef/ListID") or "",
            "number": x.text(ret, "RefNumber"),
            "date": x.parse_date(x.text(ret, "TxnDate")),
            "line_amount_types": LineAmountTypes.INCLUSIVE
            if x.text(ret, "IsTaxIncluded") == "true"
            else LineAmountTypes.EXCLUSIVE,
        }
        if entity is Entity.INVOICE:
            balance = x.decimal(ret, "BalanceRemaining")
            status = InvoiceStatus.AUTHORISED
            if void:
                status = InvoiceStatus.VOIDED
            elif x.text(ret, "IsPending") == "true":
                status = InvoiceStatus.DRAFT
            elif x.text(ret, "IsPaid") == "true":
                status = InvoiceStatus.PAID
            rec = Invoice(
                **common,
                due_date=x.parse_date(x.text(ret, "DueDate")),
                reference=x.text(ret, "PONumber"),
                lines=_lines(ret, "InvoiceLineRet", refs),
                status=status,
                total=_money(total),
                total_tax=_money(tax),
                amount_due=_money(balance),
                amount_paid=_money(total - balance) if balance is not None else None,
            )
        else:
            rec = CreditNote(
                **common,
                lines=_lines(ret, "CreditMemoLineRet", refs),
                status=InvoiceStatus.VOIDED if void else InvoiceStatus.AUTHORISED,
                total=_money(x.decimal(ret, "TotalAmount") or total),
                remaining_credit=_money(x.decimal(ret, "CreditRemaining")),
            )
        doc = x.text(ret, "RefNumber")
        deleted = void
    elif entity is Entity.PAYMENT:
        allocations = [
            Allocation(invoice_id=x.text(a, "TxnID") or "", amount=x.decimal(a, "Amount") or Decimal(0))
            for a in ret.findall("AppliedToTxnRet")
            if x.text(a, "TxnType") in (None, "Invoice")
        ]
        rec = Payment(
            id=rid,
            contact_id=x.text(ret, "CustomerRef/ListID"),
            date=x.parse_date(x.text(ret, "TxnDate")),
            amount=_money(x.decimal(ret, "TotalAmount") or Decimal(0)),
            reference=x.text(ret, "RefNumber"),
            account_code=x.text(ret, "DepositToAccountRef/FullName"),
            allocations=[Allocation(invoice_id=a.invoice_id, amount=abs(a.amount)) for a in allocations],
            status=PaymentStatus.ACTIVE,
        )
        doc = x.text(ret.find("AppliedToTxnRet"), "RefNumber") or x.text(ret, "RefNumber")
    elif entity is Entity.PURCHASE_ORDER:
        closed = x.text(ret, "IsFullyReceived") == "true" or x.text(ret, "IsManuallyClosed") == "true"
        rec = PurchaseOrder(
            id=rid,
            supplier_id=x.text(ret, "VendorRef/ListID") or "",
            number=x.text(ret, "RefNumber"),
            date=x.parse_date(x.text(ret, "TxnDate")),
            delivery_date=x.parse_date(x.text(ret, "ExpectedDate")),
            reference=x.text(ret, "Memo"),
            lines=_lines(ret, "PurchaseOrderLineRet", refs),
            status=PurchaseOrderStatus.BILLED if closed else PurchaseOrderStatus.AUTHORISED,
            total=_money(x.decimal(ret, "TotalAmount")),
        )
        doc = x.text(ret, "RefNumber")
    elif entity is Entity.BILL:
        due = x.decimal(ret, "AmountDue")
        lines = _lines(ret, "ExpenseLineRet", refs) + _lines(ret, "ItemLineRet", refs)
        total = sum((ln.line_amount for ln in lines), Decimal(0))
        linked = [x.text(t, "TxnID") for t in ret.findall("LinkedTxn") if x.text(t, "TxnType") == "PurchaseOrder"]
        rec = Bill(
            id=rid,
            supplier_id=x.text(ret, "VendorRef/ListID") or "",
            number=x.text(ret, "RefNumber"),
            date=x.parse_date(x.text(ret, "TxnDate")),
            due_date=x.parse_date(x.text(ret, "DueDate")),
            reference=x.text(ret, "Memo"),
            lines=lines,
            status=InvoiceStatus.VOIDED
            if is_void(ret)
            else (InvoiceStatus.PAID if x.text(ret, "IsPaid") == "true" else InvoiceStatus.AUTHORISED),
            purchase_order_id=linked[0] if linked else None,
            total=_money(total),
            amount_due=_money(due),
            amount_paid=_money(total - due) if due is not None else None,
        )
        doc = x.text(ret, "RefNumber")
        deleted = is_void(ret)
    else:
        raise ValueError(f"QuickBooks Desktop does not sync {entity.value}")
    return RemoteRecord(
        entity=entity,
        remote_id=rid,
        version=version,
        record=rec,
        updated_at=updated,
        archived=archived,
        deleted=deleted,
        doc_number=doc,
        external_id=guid,
    )


def deleted_stub(entity: Entity, remote_id: str, when: str | None) -> RemoteRecord:
    """A record QuickBooks lists as deleted (ListDeletedQuery / TxnDeletedQuery): only its id is known."""
    from ledgersync.model import RECORD_TYPES

    placeholder = _placeholder(entity, remote_id)
    assert isinstance(placeholder, RECORD_TYPES[entity])
    return RemoteRecord(
        entity=entity,
        remote_id=remote_id,
        version="deleted",
        record=placeholder,
        updated_at=x.parse_datetime(when),
        deleted=True,
    )


def _placeholder(entity: Entity, rid: str) -> Record:
    import datetime as dt

    day = dt.date(1970, 1, 2)
    if entity is Entity.CONTACT:
        return Contact(id=rid, name="(deleted)", status=ContactStatus.ARCHIVED)
    if entity is Entity.SUPPLIER:
        return Supplier(id=rid, name="(deleted)", status=ContactStatus.ARCHIVED)
    if entity is Entity.ITEM:
        return Item(id=rid, code="(deleted)", name="(deleted)")
    if entity is Entity.INVOICE:
        return Invoice(id=rid, contact_id="", date=day, status=InvoiceStatus.DELETED)
    if entity is Entity.CREDIT_NOTE:
        return CreditNote(id=rid, contact_id="", date=day, status=InvoiceStatus.DELETED)
    if entity is Entity.PAYMENT:
        return Payment(id=rid, date=day, amount=Decimal(0), status=PaymentStatus.DELETED)
    if entity is Entity.PURCHASE_ORDER:
        return PurchaseOrder(id=rid, supplier_id="", date=day, status=PurchaseOrderStatus.DELETED)
    return Bill(id=rid, supplier_id="", date=day, status=InvoiceStatus.DELETED)


__all__ = [
    "DEL_TYPE",
    "ITEM_RETS",
    "LISTS",
    "NAME_MAX",
    "OBJECT",
    "QUERY",
    "REF_NUMBER_MAX",
    "VOIDABLE",
    "Refs",
    "bill_element",
    "contact_element",
    "deleted_stub",
    "external_guid",
    "from_ret",
    "is_void",
    "item_element",
    "payment_element",
    "purchase_order_element",
    "sales_element",
    "supplier_element",
]
