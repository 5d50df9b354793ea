"""The vendor side <-> Xero JSON: suppliers (contacts that are suppliers), purchase orders, bills (ACCPAY
invoices) and bill payments (payments on them).

Xero keeps one contact list: a supplier is a contact, and Xero's IsSupplier flag is set by Xero itself once the
contact has a bill (it cannot be written). So a supplier this integration creates carries ContactNumber
`supplier:<app id>` (ContactNumber is Xero's slot for an external system's id); the supplier pull takes contacts
so marked or flagged IsSupplier, and the contact pull leaves out contacts that are only suppliers. A contact that
is both customer and supplier in Xero is both a customer and a supplier in the app, linked to the same contact.

Xero's API has no link from a bill to the purchase order it came from (the web app's "Copy to bill" keeps none
that the API shows), so a bill's purchase_order_id is not held by Xero; the order itself is marked BILLED."""

from __future__ import annotations

from collections.abc import Mapping
from decimal import Decimal
from typing import Any

from ledgersync.model import (
    Bill,
    BillAllocation,
    BillPayment,
    Entity,
    ErrorCode,
    PaymentStatus,
    PurchaseOrder,
    PurchaseOrderStatus,
    Record,
    Supplier,
    SyncError,
)
from ledgersync.providers.base import RemoteRecord
from ledgersync.providers.xero.mapping import (
    _LINE_TYPES,
    DEFAULT_BANK_ACCOUNT,
    MappingError,
    _clean,
    _dec,
    _line_from_xero,
    _line_to_xero,
    _line_types,
    _str,
    currency_rate_from_xero,
    format_date,
    parse_date,
    parse_datetime,
    party_from_xero,
    party_to_xero,
    payable_from_xero,
    payable_to_xero,
)

VENDOR_ENTITIES = (Entity.SUPPLIER, Entity.PURCHASE_ORDER, Entity.BILL, Entity.BILL_PAYMENT)
VENDOR_COLLECTION: dict[Entity, str] = {
    Entity.SUPPLIER: "Contacts",
    Entity.PURCHASE_ORDER: "PurchaseOrders",
    Entity.BILL: "Invoices",
    Entity.BILL_PAYMENT: "Payments",
}
VENDOR_ID_FIELD: dict[Entity, str] = {
    Entity.SUPPLIER: "ContactID",
    Entity.PURCHASE_ORDER: "PurchaseOrderID",
    Entity.BILL: "InvoiceID",
    Entity.BILL_PAYMENT: "PaymentID",
}
SUPPLIER_MARK = "supplier:"


def supplier_number(app_id: str) -> str:
    """The ContactNumber a supplier created by this integration carries (Xero allows 50 characters)."""
    return (SUPPLIER_MARK + app_id)[:50]


def is_supplier_contact(data: Mapping[str, Any]) -> bool:
    return bool(data.get("IsSupplier")) or str(data.get("ContactNumber") or "").startswith(SUPPLIER_MARK)


def is_customer_contact(data: Mapping[str, Any]) -> bool:
    """Whether the contact pull takes it: anything but a contact that is only a supplier."""
    return bool(data.get("IsCustomer")) or not is_supplier_contact(data)


def supplier_to_xero(supplier: Supplier, *, remote_id: str | None, app_id: str | None) -> dict[str, Any]:
    number = supplier_number(app_id) if app_id and remote_id is None else None
    return party_to_xero(supplier, remote_id=remote_id, number=number)


def supplier_from_xero(data: Mapping[str, Any]) -> Supplier:
    return Supplier(**party_from_xero(data))


_PO_STATUS = {
    PurchaseOrderStatus.DRAFT: "DRAFT",
    PurchaseOrderStatus.SUBMITTED: "SUBMITTED",
    PurchaseOrderStatus.AUTHORISED: "AUTHORISED",
    PurchaseOrderStatus.BILLED: "BILLED",
    PurchaseOrderStatus.DELETED: "DELETED",
}
_PO_STATUS_BACK = {v: k for k, v in _PO_STATUS.items()}


def purchase_order_to_xero(po: PurchaseOrder, *, remote_id: str | None) -> dict[str, Any]:
    return _clean(
        {
            "PurchaseOrderID": remote_id,
            "Contact": {"ContactID": po.supplier_id},
            "PurchaseOrderNumber": po.number,
            "Reference": po.reference,
            "Date": format_date(po.date),
            "DeliveryDate": format_date(po.delivery_date) if po.delivery_date else None,
            "LineAmountTypes": _LINE_TYPES[po.line_amount_types],
            "LineItems": [_line_to_xero(line) for line in po.lines],
            "Status": _PO_STATUS[po.status],
            "CurrencyCode": po.currency,
            "CurrencyRate": po.currency_rate,
        }
    )


def purchase_order_from_xero(data: Mapping[str, Any]) -> PurchaseOrder:
    date = parse_date(data.get("Date"))
    if date is None:
        raise ValueError("Xero purchase order without a Date")
    return PurchaseOrder(
        id=str(data["PurchaseOrderID"]),
        supplier_id=str((data.get("Contact") or {}).get("ContactID", "")),
        number=_str(data.get("PurchaseOrderNumber")),
        date=date,
        delivery_date=parse_date(data.get("DeliveryDate")),
        currency=str(data.get("CurrencyCode") or "AUD"),
        currency_rate=currency_rate_from_xero(data),
        line_amount_types=_line_types(data.get("LineAmountTypes")),
        lines=[_line_from_xero(line) for line in data.get("LineItems") or []],
        status=_PO_STATUS_BACK.get(str(data.get("Status") or "DRAFT"), PurchaseOrderStatus.DRAFT),
        reference=_str(data.get("Reference")),
        total=_dec(data.get("Total")),
        total_tax=_dec(data.get("TotalTax")),
    )


def bill_to_xero(bill: Bill, *, remote_id: str | None) -> dict[str, Any]:
    # Xero's Reference is for sales invoices only (ACCREC); a bill's number is the supplier's invoice number.
    return payable_to_xero(bill, remote_id=remote_id, kind="ACCPAY", party_id=bill.supplier_id, reference=None)


def bill_from_xero(data: Mapping[str, Any]) -> Bill:
    return Bill(**payable_from_xero(data, "bill"), supplier_id=str((data.get("Contact") or {}).get("ContactID", "")))


def bill_payment_to_xero(
    payment: BillPayment, *, remote_id: str | None, default_account: str = DEFAULT_BANK_ACCOUNT
) -> dict[str, Any]:
    if len(payment.allocations) != 1 or payment.allocations[0].amount != payment.amount:
        raise MappingError(
            SyncError(
                code=ErrorCode.VALIDATION,
                message="Xero records a bill payment against exactly one bill, for the payment's full amount; "
                f"this payment of {payment.amount} is applied to {len(payment.allocations)} bill(s).",
                hint="Split it into one payment per bill, or skip.",
            )
        )
    body: dict[str, Any] = {
        "PaymentID": remote_id,
        "Invoice": {"InvoiceID": payment.allocations[0].bill_id},
        "Account": {"Code": payment.account_code or default_account},
        "Date": format_date(payment.date),
        "Amount": payment.amount,
        "Reference": payment.reference,
        "CurrencyRate": payment.currency_rate,
    }
    if payment.status is PaymentStatus.DELETED:
        body["Status"] = "DELETED"
    return _clean(body)


def bill_payment_from_xero(data: Mapping[str, Any]) -> BillPayment:
    date = parse_date(data.get("Date"))
    if date is None:
        raise ValueError("Xero payment without a Date")
    invoice = data.get("Invoice") or {}
    amount = _dec(data.get("Amount")) or Decimal(0)
    return BillPayment(
        id=str(data["PaymentID"]),
        supplier_id=_str((invoice.get("Contact") or {}).get("ContactID")),
        date=date,
        amount=amount,
        currency=str(invoice.get("CurrencyCode") or data.get("CurrencyCode") or "AUD"),
        currency_rate=currency_rate_from_xero(data),
        reference=_str(data.get("Reference")),
        account_code=_str((data.get("Account") or {}).get("Code")),
        allocations=[BillAllocation(bill_id=str(invoice["InvoiceID"]), amount=amount)]
        if invoice.get("InvoiceID")
        else [],
        status=PaymentStatus.DELETED if data.get("Status") == "DELETED" else PaymentStatus.ACTIVE,
    )


def wanted_vendor(entity: Entity, data: Mapping[str, Any]) -> bool:
    """Whether a row of the shared collection belongs to this vendor-side entity."""
    if entity is Entity.SUPPLIER:
        return is_supplier_contact(data)
    if entity is Entity.BILL:
        return str(data.get("Type") or "") == "ACCPAY"
    if entity is Entity.BILL_PAYMENT:
        invoice = data.get("Invoice") or {}
        kind = data.get("PaymentType")
        return bool(invoice.get("InvoiceID")) and (
            kind == "ACCPAYPAYMENT" or (kind is None and invoice.get("Type") == "ACCPAY")
        )
    return True


def vendor_to_xero(
    entity: Entity, record: Record, *, remote_id: str | None, app_id: str | None, bank_account: str
) -> dict[str, Any] | None:
    """The Xero JSON for a vendor-side record (None: not a vendor-side entity)."""
    if entity is Entity.SUPPLIER and isinstance(record, Supplier):
        return supplier_to_xero(record, remote_id=remote_id, app_id=app_id)
    if entity is Entity.PURCHASE_ORDER and isinstance(record, PurchaseOrder):
        return purchase_order_to_xero(record, remote_id=remote_id)
    if entity is Entity.BILL and isinstance(record, Bill):
        return bill_to_xero(record, remote_id=remote_id)
    if entity is Entity.BILL_PAYMENT and isinstance(record, BillPayment):
        return bill_payment_to_xero(record, remote_id=remote_id, default_account=bank_account)
    return None


def vendor_from_xero(entity: Entity, data: Mapping[str, Any]) -> RemoteRecord:
    updated = parse_datetime(data.get("UpdatedDateUTC"))
    status = str(data.get("Status") or "")
    record: Record
    archived = deleted = False
    doc_number: str | None = None
    external_id: str | None = None
    if entity is Entity.SUPPLIER:
        record = supplier_from_xero(data)
        archived = data.get("ContactStatus") in ("ARCHIVED", "GDPRREQUEST")
        number = str(data.get("ContactNumber") or "")
        external_id = number[len(SUPPLIER_MARK) :] if number.startswith(SUPPLIER_MARK) else None
    elif entity is Entity.PURCHASE_ORDER:
        record = purchase_order_from_xero(data)
        deleted = status == "DELETED"
        doc_number = _str(data.get("PurchaseOrderNumber"))
    elif entity is Entity.BILL:
        record = bill_from_xero(data)
        deleted = status in ("DELETED", "VOIDED")
        doc_number = _str(data.get("InvoiceNumber"))
    else:
        record = bill_payment_from_xero(data)
        deleted = status == "DELETED"
        doc_number = _str((data.get("Invoice") or {}).get("InvoiceNumber"))
    return RemoteRecord(
        entity=entity,
        remote_id=record.id,
        version=updated.isoformat() if updated else "",
        record=record,
        updated_at=updated,
        archived=archived,
        deleted=deleted,
        doc_number=doc_number,
        external_id=external_id,
    )
