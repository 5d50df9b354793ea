"""Canonical records <-> DEAR's JSON: customers, suppliers, products, sales (header + order + invoice),
payments, credit notes and purchases (order, invoice). Money stays Decimal end to end."""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping
from decimal import Decimal
from typing import Any

from ledgersync.model import (
    Address,
    Allocation,
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
    Record,
    Supplier,
)
from ledgersync.model.records import Party, PurchaseOrderStatus
from ledgersync.providers.base import RemoteRecord
from ledgersync.providers.session import dumps_exact


class MappingError(ValueError):
    """A record DEAR cannot hold as given (the message says what to change)."""


def dumps(obj: Any) -> bytes:
    """JSON with Decimals as exact numbers, never through a float's rounding."""
    return dumps_exact(obj).encode()


def parse_date(value: Any) -> dt.date | None:
    if not value:
        return None
    return dt.date.fromisoformat(str(value)[:10])


def parse_stamp(value: Any) -> dt.datetime | None:
    """DEAR's date-times are UTC without a zone (yyyy-MM-ddTHH:mm:ss.fff)."""
    if not value:
        return None
    text = str(value).replace(" ", "T").rstrip("Z")
    when = dt.datetime.fromisoformat(text)
    return when if when.tzinfo else when.replace(tzinfo=dt.UTC)


def dear_date(value: dt.date | None) -> str | None:
    return None if value is None else f"{value.isoformat()}T00:00:00"


def dec(value: Any) -> Decimal:
    return Decimal(str(value)) if value is not None and value != "" else Decimal(0)


def _opt(value: Any) -> str | None:
    text = "" if value is None else str(value).strip()
    return text or None


# -- customers and suppliers -----------------------------------------------------------------------------------
def _person(record: Contact | Supplier) -> list[dict[str, Any]]:
    if not (record.email or record.phone or record.first_name or record.last_name):
        return []
    name = " ".join(p for p in (record.first_name, record.last_name) if p) or record.name
    return [{"Name": name, "Email": record.email or "", "Phone": record.phone or "", "Default": True}]


def _address(record: Contact | Supplier) -> list[dict[str, Any]]:
    a = record.address
    if a is None:
        return []
    return [
        {
            "Line1": a.line1 or "",
            "Line2": a.line2 or "",
            "City": a.city or "",
            "State": a.region or "",
            "Postcode": a.postal_code or "",
            "Country": a.country or "",
            "Type": "Billing",
            "DefaultForType": True,
        }
    ]


def party_to_dear(record: Contact | Supplier, remote_id: str | None) -> dict[str, Any]:
    body: dict[str, Any] = {
        "Name": record.name,
        "Status": "Deprecated" if record.status is ContactStatus.ARCHIVED else "Active",
        "Contacts": _person(record),
        "Addresses": _address(record),
    }
    if record.tax_number:
        body["TaxNumber"] = record.tax_number
    if record.currency:
        body["Currency"] = record.currency
    if remote_id:
        body["ID"] = remote_id
    return body


def _party_fields(data: Mapping[str, Any]) -> dict[str, Any]:
    people = data.get("Contacts") or []
    first = next((p for p in people if p.get("Default")), people[0] if people else {})
    addresses = data.get("Addresses") or []
    address = None
    if addresses:
        a = addresses[0]
        address = Address(
            line1=_opt(a.get("Line1")),
            line2=_opt(a.get("Line2")),
            city=_opt(a.get("City")),
            region=_opt(a.get("State")),
            postal_code=_opt(a.get("Postcode")),
            country=_opt(a.get("Country")),
        )
    # The contact person's one Name holds the first and last names we send (split at the first space); a person
    # named as the customer is not a separate name.
    person = _opt(first.get("Name"))
    first_name = last_name = None
    if person and person != str(data["Name"]):
        first_name, _, rest = person.partition(" ")
        last_name = rest.strip() or None
    return {
        "id": str(data["ID"]),
        "name": str(data["Name"]),
        "first_name": first_name,
        "last_name": last_name,
        "email": _opt(first.get("Email")),
        "phone": _opt(first.get("Phone")),
        "tax_number": _opt(data.get("TaxNumber")),
        "currency": _opt(data.get("Currency")),
        "address": address,
        "status": ContactStatus.ARCHIVED if data.get("Status") == "Deprecated" else ContactStatus.ACTIVE,
    }


def _party_from_dear(entity: Entity, record_type: type[Party], data: Mapping[str, Any]) -> RemoteRecord:
    record = record_type(**_party_fields(data))
    return RemoteRecord(
        entity,
        record.id,
        str(data.get("LastModifiedOn") or ""),
        record,
        updated_at=parse_stamp(data.get("LastModifiedOn")),
        archived=record.status is ContactStatus.ARCHIVED,
    )


def customer_from_dear(data: Mapping[str, Any]) -> RemoteRecord:
    return _party_from_dear(Entity.CONTACT, Contact, data)


def supplier_from_dear(data: Mapping[str, Any]) -> RemoteRecord:
    return _party_from_dear(Entity.SUPPLIER, Supplier, data)


# -- products --------------------------------------------------------------------------------------------------
def product_to_dear(item: Item, remote_id: str | None, default_tax: str) -> dict[str, Any]:
    body: dict[str, Any] = {
        "SKU": item.code,
        "Name": item.name,
        "Description": item.description or "",
        "Type": "Stock" if item.is_purchased else "Service",
        "Category": "General",
        "UOM": "Item",
        "CostingMethod": "FIFO",
        "Status": "Active",
        "PriceTier1": item.unit_price if item.unit_price is not None else Decimal(0),
        "SaleTaxRule": item.tax_type or default_tax,
    }
    if item.account_code:
        body["RevenueAccount"] = item.account_code
    if remote_id:
        body["ID"] = remote_id
    return body


def product_from_dear(data: Mapping[str, Any]) -> RemoteRecord:
    price = data.get("PriceTier1")
    record = Item(
        id=str(data["ID"]),
        code=str(data["SKU"])[:30],
        name=str(data["Name"])[:50],
        description=_opt(data.get("Description")),
        unit_price=dec(price) if price is not None else None,
        account_code=_opt(data.get("RevenueAccount")),
        tax_type=_opt(data.get("SaleTaxRule")),
        is_sold=True,
        is_purchased=data.get("Type") == "Stock",
    )
    return RemoteRecord(
        Entity.ITEM,
        record.id,
        str(data.get("LastModifiedOn") or ""),
        record,
        updated_at=parse_stamp(data.get("LastModifiedOn")),
        archived=data.get("Status") == "Deprecated",
    )


# -- lines -------------------------------------------------------------------------------------------------------
def line_to_dear(line: InvoiceLine, service_sku: str, default_tax: str, with_account: bool) -> dict[str, Any]:
    qty = line.quantity
    discount = line.discount_rate or Decimal(0)
    out: dict[str, Any] = {
        "SKU": line.item_code or service_sku,
        "Name": line.description,
        "Quantity": qty,
        "Price": line.unit_amount,
        "Discount": discount,
        "TaxRule": line.tax_type or default_tax,
        "Total": (qty * line.unit_amount * (100 - discount) / 100).quantize(Decimal("0.01")),
    }
    if with_account and line.account_code:
        out["Account"] = line.account_code
    return out


def line_from_dear(data: Mapping[str, Any], service_sku: str) -> InvoiceLine:
    sku = _opt(data.get("SKU"))
    discount = dec(data.get("Discount"))
    return InvoiceLine(
        description=str(data.get("Name") or data.get("Comment") or sku or ""),
        quantity=dec(data.get("Quantity")),
        unit_amount=dec(data.get("Price")),
        item_code=None if sku == service_sku else sku,
        account_code=_opt(data.get("Account")),
        tax_type=_opt(data.get("TaxRule")),
        discount_rate=discount if discount else None,
    )


# -- sales: one canonical invoice per sale (a Simple sale has one invoice) ----------------------------------------
_INVOICE_STATUS = {
    "DRAFT": InvoiceStatus.DRAFT,
    "AUTHORISED": InvoiceStatus.AUTHORISED,
    "PAID": InvoiceStatus.PAID,
    "VOIDED": InvoiceStatus.VOIDED,
}


def sale_invoice(sale: Mapping[str, Any]) -> Mapping[str, Any] | None:
    """The sale's invoice: the live one, else the last (voided) one."""
    invoices: list[Mapping[str, Any]] = list(sale.get("Invoices") or [])
    live = [i for i in invoices if i.get("Status") != "VOIDED"]
    chosen = live or invoices
    return chosen[0] if chosen else None


def invoice_from_sale(sale: Mapping[str, Any], service_sku: str) -> RemoteRecord | None:
    inv = sale_invoice(sale)
    if inv is None:
        return None
    total = dec(inv.get("Total"))
    paid = sum((dec(p.get("Amount")) for p in inv.get("Payments") or []), Decimal(0))
    voided = sale.get("Status") == "VOIDED" or inv.get("Status") == "VOIDED"
    status = InvoiceStatus.VOIDED if voided else _INVOICE_STATUS.get(str(inv.get("Status")), InvoiceStatus.AUTHORISED)
    number = _opt(sale.get("CustomerReference")) or _opt(inv.get("InvoiceNumber"))
    record = Invoice(
        id=str(sale["ID"]),
        contact_id=str(sale["CustomerID"]),
        number=number,
        date=parse_date(inv.get("InvoiceDate")) or dt.date.today(),
        due_date=parse_date(inv.get("InvoiceDueDate")),
        currency=str(sale.get("CustomerCurrency") or sale.get("BaseCurrency") or "AUD"),
        line_amount_types=LineAmountTypes.INCLUSIVE if sale.get("TaxInclusive") else LineAmountTypes.EXCLUSIVE,
        lines=[line_from_dear(line, service_sku) for line in inv.get("Lines") or []],
        status=status,
        reference=_opt(inv.get("Memo")) or _opt(sale.get("Note")),
        total=total,
        total_tax=dec(inv.get("Tax")),
        amount_paid=paid,
        amount_due=total - paid,
    )
    return RemoteRecord(
        Entity.INVOICE,
        record.id,
        str(sale.get("LastModifiedOn") or sale.get("Updated") or ""),
        record,
        updated_at=parse_stamp(sale.get("LastModifiedOn") or sale.get("Updated")),
        deleted=voided,
        doc_number=number,
        external_id=_opt(sale.get("ExternalID")),
    )


def payment_record(sale: Mapping[str, Any], inv: Mapping[str, Any], p: Mapping[str, Any]) -> RemoteRecord:
    """One payment of a sale's invoice (as GET /sale lists it, or as POST /sale/payment answers)."""
    amount = dec(p.get("Amount"))
    record = Payment(
        id=str(p["ID"]),
        contact_id=str(sale["CustomerID"]),
        date=parse_date(p.get("DatePaid")) or dt.date.today(),
        amount=amount,
        currency=str(sale.get("CustomerCurrency") or "AUD"),
        reference=_opt(p.get("Reference")),
        account_code=_opt(p.get("Account")),
        allocations=[Allocation(invoice_id=str(sale["ID"]), amount=amount)],
    )
    version = f"{p.get('DateCreated', '')}|{amount}|{p.get('DatePaid', '')}|{p.get('Reference', '')}"
    return RemoteRecord(
        Entity.PAYMENT,
        record.id,
        version,
        record,
        updated_at=parse_stamp(sale.get("LastModifiedOn") or sale.get("Updated")),
        doc_number=_opt(sale.get("CustomerReference")) or _opt(inv.get("InvoiceNumber")),
    )


def payments_from_sale(sale: Mapping[str, Any]) -> list[RemoteRecord]:
    return [
        payment_record(sale, inv, p)
        for inv in sale.get("Invoices") or []
        for p in inv.get("Payments") or []
        if p.get("Type", "Payment") == "Payment"
    ]


def credit_notes_from_sale(sale: Mapping[str, Any], service_sku: str) -> list[RemoteRecord]:
    out = []
    for note in sale.get("CreditNotes") or []:
        record = CreditNote(
            id=str(note["TaskID"]),
            contact_id=str(sale["CustomerID"]),
            number=_opt(note.get("Memo")) or _opt(note.get("CreditNoteNumber")),
            date=parse_date(note.get("CreditNoteDate")) or dt.date.today(),
            currency=str(sale.get("CustomerCurrency") or "AUD"),
            lines=[line_from_dear(line, service_sku) for line in note.get("Lines") or []],
            status=_INVOICE_STATUS.get(str(note.get("Status")), InvoiceStatus.AUTHORISED),
            allocations=[Allocation(invoice_id=str(sale["ID"]), amount=dec(note.get("Total")))],
            total=dec(note.get("Total")),
        )
        out.append(
            RemoteRecord(
                Entity.CREDIT_NOTE,
                record.id,
                str(sale.get("LastModifiedOn") or ""),
                record,
                updated_at=parse_stamp(sale.get("LastModifiedOn")),
                deleted=note.get("Status") == "VOIDED",
                doc_number=record.number,
            )
        )
    return out


# -- purchases: a purchase order and its bill are the order and invoice of one DEAR purchase -------------------------
_PO_STATUS = {
    "DRAFT": PurchaseOrderStatus.DRAFT,
    "AUTHORISED": PurchaseOrderStatus.AUTHORISED,
    "VOIDED": PurchaseOrderStatus.DELETED,
}


def purchase_order_from_dear(data: Mapping[str, Any], service_sku: str) -> RemoteRecord | None:
    order = data.get("Order") or {}
    if order.get("Status") in (None, "NOT AVAILABLE"):
        return None
    voided = data.get("Status") == "VOIDED"
    status = _PO_STATUS.get(str(order.get("Status")), PurchaseOrderStatus.AUTHORISED)
    if (data.get("Invoice") or {}).get("Status") in ("AUTHORISED", "PAID") and not voided:
        status = PurchaseOrderStatus.BILLED
    record = PurchaseOrder(
        id=str(data["ID"]),
        supplier_id=str(data["SupplierID"]),
        # DEAR numbers orders itself (PO-00001); the app's number is kept in the order's memo.
        number=_opt(order.get("Memo")) or _opt(data.get("OrderNumber")),
        date=parse_date(data.get("OrderDate")) or dt.date.today(),
        delivery_date=parse_date(data.get("RequiredBy")),
        currency=str(data.get("SupplierCurrency") or "AUD"),
        lines=[line_from_dear(line, service_sku) for line in order.get("Lines") or []],
        status=PurchaseOrderStatus.DELETED if voided else status,
        reference=_opt(data.get("Note")),
        total=dec(order.get("Total")),
        total_tax=dec(order.get("Tax")),
    )
    return RemoteRecord(
        Entity.PURCHASE_ORDER,
        record.id,
        str(data.get("LastUpdatedDate") or ""),
        record,
        updated_at=parse_stamp(data.get("LastUpdatedDate")),
        deleted=voided,
        doc_number=record.number,
    )


def bill_from_dear(data: Mapping[str, Any], service_sku: str) -> RemoteRecord | None:
    inv = data.get("Invoice") or {}
    if inv.get("Status") in (None, "NOT AVAILABLE"):
        return None
    voided = data.get("Status") == "VOIDED" or inv.get("Status") == "VOIDED"
    total = dec(inv.get("Total"))
    paid = dec(inv.get("Paid"))
    has_order = (data.get("Order") or {}).get("Status") not in (None, "NOT AVAILABLE")
    record = Bill(
        id=str(data["ID"]),
        supplier_id=str(data["SupplierID"]),
        number=_opt(inv.get("InvoiceNumber")),
        date=parse_date(inv.get("InvoiceDate")) or dt.date.today(),
        due_date=parse_date(inv.get("InvoiceDueDate")),
        currency=str(data.get("SupplierCurrency") or "AUD"),
        lines=[line_from_dear(line, service_sku) for line in inv.get("Lines") or []],
        status=InvoiceStatus.VOIDED
        if voided
        else _INVOICE_STATUS.get(str(inv.get("Status")), InvoiceStatus.AUTHORISED),
        purchase_order_id=str(data["ID"]) if has_order else None,
        total=total,
        total_tax=dec(inv.get("Tax")),
        amount_paid=paid,
        amount_due=total - paid,
    )
    return RemoteRecord(
        Entity.BILL,
        record.id,
        str(data.get("LastUpdatedDate") or ""),
        record,
        updated_at=parse_stamp(data.get("LastUpdatedDate")),
        deleted=voided,
        doc_number=record.number,
    )


def require(record: Record, kind: type[Record]) -> Any:
    if not isinstance(record, kind):
        raise MappingError(f"expected a {kind.__name__}, got {type(record).__name__}")
    return record


__all__ = [
    "MappingError",
    "bill_from_dear",
    "credit_notes_from_sale",
    "customer_from_dear",
    "dear_date",
    "dumps",
    "invoice_from_sale",
    "line_to_dear",
    "party_to_dear",
    "payments_from_sale",
    "product_from_dear",
    "product_to_dear",
    "purchase_order_from_dear",
    "sale_invoice",
    "supplier_from_dear",
]
