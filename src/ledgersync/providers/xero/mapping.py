"""Canonical records <-> Xero JSON (contacts, items, invoices, payments, credit notes), money as Decimal."""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Mapping
from decimal import Decimal
from typing import Any

from ledgersync.model import (
    Address,
    Allocation,
    Contact,
    ContactStatus,
    CreditNote,
    CustomerCredit,
    Entity,
    ErrorCode,
    Invoice,
    InvoiceLine,
    InvoiceStatus,
    Item,
    LineAmountTypes,
    Payment,
    PaymentStatus,
    Record,
    Refund,
    SyncError,
    Tracking,
)
from ledgersync.model.records import Party, PayableDocument
from ledgersync.providers.base import Head, RemoteRecord
from ledgersync.providers.session import dumps_exact, loads_exact

DEFAULT_BANK_ACCOUNT = "090"

_MS_DATE = re.compile(r"^/Date\((?P<ms>-?\d+)(?P<tz>[+-]\d{4})?\)/$")

# Xero's collection name and id field per entity.
COLLECTION: dict[Entity, str] = {
    Entity.CONTACT: "Contacts",
    Entity.ITEM: "Items",
    Entity.INVOICE: "Invoices",
    Entity.PAYMENT: "Payments",
    Entity.CREDIT: "Overpayments",
    Entity.CREDIT_NOTE: "CreditNotes",
    # A refund is a payment on the credit note (PaymentType ARCREDITPAYMENT).
    Entity.REFUND: "Payments",
    # The vendor side (vendor_mapping.py).
    Entity.SUPPLIER: "Contacts",
    Entity.PURCHASE_ORDER: "PurchaseOrders",
    Entity.BILL: "Invoices",
    Entity.BILL_PAYMENT: "Payments",
}
ID_FIELD: dict[Entity, str] = {
    Entity.CONTACT: "ContactID",
    Entity.ITEM: "ItemID",
    Entity.INVOICE: "InvoiceID",
    Entity.PAYMENT: "PaymentID",
    Entity.CREDIT: "OverpaymentID",
    Entity.CREDIT_NOTE: "CreditNoteID",
    Entity.REFUND: "PaymentID",
    Entity.SUPPLIER: "ContactID",
    Entity.PURCHASE_ORDER: "PurchaseOrderID",
    Entity.BILL: "InvoiceID",
    Entity.BILL_PAYMENT: "PaymentID",
}

_LINE_TYPES = {
    LineAmountTypes.EXCLUSIVE: "Exclusive",
    LineAmountTypes.INCLUSIVE: "Inclusive",
    LineAmountTypes.NO_TAX: "NoTax",
}
_LINE_TYPES_BACK = {v.lower(): k for k, v in _LINE_TYPES.items()}


class MappingError(ValueError):
    """A canonical record Xero cannot represent; carries the SyncError to report for that write."""

    def __init__(self, error: SyncError) -> None:
        super().__init__(error.message)
        self.error = error


# ---------------------------------------------------------------- dates and JSON


def parse_datetime(value: Any) -> dt.datetime | None:
    """Xero's `/Date(ms+0000)/` or an ISO timestamp, as an aware UTC datetime."""
    if value is None or value == "":
        return None
    if isinstance(value, dt.datetime):
        return value if value.tzinfo else value.replace(tzinfo=dt.UTC)
    text = str(value).strip()
    if match := _MS_DATE.match(text):
        # The offset only says which zone the date was entered in; the milliseconds are already UTC.
        return dt.datetime(1970, 1, 1, tzinfo=dt.UTC) + dt.timedelta(milliseconds=int(match.group("ms")))
    parsed = dt.datetime.fromisoformat(text.replace("Z", "+00:00"))
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=dt.UTC)


def parse_date(value: Any) -> dt.date | None:
    if value is None or value == "":
        return None
    if isinstance(value, dt.date) and not isinstance(value, dt.datetime):
        return value
    text = str(value).strip()
    if _MS_DATE.match(text):
        stamp = parse_datetime(text)
        return stamp.date() if stamp else None
    if len(text) == 10:
        return dt.date.fromisoformat(text)
    stamp = dt.datetime.fromisoformat(text.replace("Z", "+00:00"))
    return stamp.date()


def format_datetime(value: dt.datetime) -> str:
    if value.tzinfo is None:
        value = value.replace(tzinfo=dt.UTC)
    epoch = dt.datetime(1970, 1, 1, tzinfo=dt.UTC)
    delta = value - epoch
    ms = (delta.days * 86_400 + delta.seconds) * 1000 + delta.microseconds // 1000
    return f"/Date({ms}+0000)/"


def format_date(value: dt.date) -> str:
    return format_datetime(dt.datetime(value.year, value.month, value.day, tzinfo=dt.UTC))


# Responses are parsed without ever passing money through float.
loads = loads_exact


dumps = dumps_exact


def _dec(value: Any) -> Decimal | None:
    if value is None or value == "":
        return None
    return value if isinstance(value, Decimal) else Decimal(str(value))


def _clean(data: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in data.items() if v is not None}


def _str(value: Any) -> str | None:
    return None if value is None or value == "" else str(value)


# ---------------------------------------------------------------- contacts


def party_to_xero(
    party: Party, *, remote_id: str | None, number: str | None, flags: Mapping[str, bool] | None = None
) -> dict[str, Any]:
    """A customer or a supplier as a Xero Contact: `number` is its ContactNumber, `flags` IsCustomer/IsSupplier."""
    address = party.address
    body: dict[str, Any] = {
        "ContactID": remote_id,
        "ContactNumber": number,
        "Name": party.name,
        "EmailAddress": party.email,
        "FirstName": party.first_name,
        "LastName": party.last_name,
        "TaxNumber": party.tax_number,
        "AccountNumber": party.account_number,
        "DefaultCurrency": party.currency,
        **(flags or {}),
    }
    if party.phone is not None:
        body["Phones"] = [{"PhoneType": "DEFAULT", "PhoneNumber": party.phone}]
    if address is not None:
        body["Addresses"] = [
            _clean(
                {
                    "AddressType": "POBOX",
                    "AddressLine1": address.line1,
                    "AddressLine2": address.line2,
                    "City": address.city,
                    "Region": address.region,
                    "PostalCode": address.postal_code,
                    "Country": address.country,
                }
            )
        ]
    return _clean(body)


def contact_to_xero(contact: Contact, *, remote_id: str | None, app_id: str | None) -> dict[str, Any]:
    return party_to_xero(
        contact,
        remote_id=remote_id,
        # ContactNumber is Xero's slot for an external system's id: it lets a lost link be found again.
        number=app_id[:50] if app_id else None,
        flags={"IsCustomer": contact.is_customer, "IsSupplier": contact.is_supplier},
    )


def _phone(phones: Any) -> str | None:
    best: str | None = None
    for phone in phones or []:
        parts = [phone.get("PhoneCountryCode"), phone.get("PhoneAreaCode"), phone.get("PhoneNumber")]
        text = " ".join(str(p) for p in parts if p)
        if not text:
            continue
        if phone.get("PhoneType", "DEFAULT") == "DEFAULT":
            return text
        best = best or text
    return best


def _address(addresses: Any) -> Address | None:
    fields = ("AddressLine1", "AddressLine2", "City", "Region", "PostalCode", "Country")
    found: dict[str, Any] | None = None
    # POBOX is Xero's postal (billing) address, which is what invoices print; STREET is a fallback.
    for wanted in ("POBOX", "STREET"):
        for candidate in addresses or []:
            if candidate.get("AddressType") == wanted and any(candidate.get(f) for f in fields):
                found = candidate
                break
        if found:
            break
    if not found:
        return None
    return Address(
        line1=_str(found.get("AddressLine1")),
        line2=_str(found.get("AddressLine2")),
        city=_str(found.get("City")),
        region=_str(found.get("Region")),
        postal_code=_str(found.get("PostalCode")),
        country=_str(found.get("Country")),
    )


def party_from_xero(data: Mapping[str, Any]) -> dict[str, Any]:
    """The fields a customer and a supplier both read from a Xero Contact."""
    return {
        "id": str(data["ContactID"]),
        "name": str(data["Name"]),
        "email": _str(data.get("EmailAddress")),
        "first_name": _str(data.get("FirstName")),
        "last_name": _str(data.get("LastName")),
        "phone": _phone(data.get("Phones")),
        "tax_number": _str(data.get("TaxNumber")),
        "account_number": _str(data.get("AccountNumber")),
        "address": _address(data.get("Addresses")),
        "currency": _str(data.get("DefaultCurrency")),
        "status": ContactStatus.ACTIVE if data.get("ContactStatus", "ACTIVE") == "ACTIVE" else ContactStatus.ARCHIVED,
    }


def contact_from_xero(data: Mapping[str, Any]) -> Contact:
    is_customer = bool(data.get("IsCustomer"))
    is_supplier = bool(data.get("IsSupplier"))
    # Xero sets these flags from transactions; a contact with neither yet is a customer by default.
    return Contact(**party_from_xero(data), is_customer=is_customer or not is_supplier, is_supplier=is_supplier)


# ---------------------------------------------------------------- items


def item_to_xero(item: Item, *, remote_id: str | None) -> dict[str, Any]:
    return _clean(
        {
            "ItemID": remote_id,
            "Code": item.code,
            "Name": item.name,
            "Description": item.description,
            "IsSold": item.is_sold,
            "IsPurchased": item.is_purchased,
            "SalesDetails": _clean(
                {"UnitPrice": item.unit_price, "AccountCode": item.account_code, "TaxType": item.tax_type}
            ),
        }
    )


def item_from_xero(data: Mapping[str, Any]) -> Item:
    sales = data.get("SalesDetails") or {}
    return Item(
        id=str(data["ItemID"]),
        code=str(data["Code"]),
        name=str(data.get("Name") or data["Code"])[:50],
        description=_str(data.get("Description")),
        unit_price=_dec(sales.get("UnitPrice")),
        account_code=_str(sales.get("AccountCode")),
        tax_type=_str(sales.get("TaxType")),
        is_sold=bool(data.get("IsSold", True)),
        is_purchased=bool(data.get("IsPurchased", False)),
        # Stock on hand where Xero tracks the item as inventory.
        quantity_on_hand=_dec(data.get("QuantityOnHand")) if data.get("IsTrackedAsInventory") else None,
    )


# ---------------------------------------------------------------- lines, invoices, credit notes


def _line_to_xero(line: InvoiceLine) -> dict[str, Any]:
    body: dict[str, Any] = {
        "Description": line.description,
        "Quantity": line.quantity,
        "UnitAmount": line.unit_amount,
        "ItemCode": line.item_code,
        "AccountCode": line.account_code,
        "TaxType": line.tax_type,
        "DiscountRate": line.discount_rate,
    }
    if line.tracking:
        body["Tracking"] = [{"Name": t.category, "Option": t.option} for t in line.tracking]
    return _clean(body)


def _line_from_xero(data: Mapping[str, Any]) -> InvoiceLine:
    return InvoiceLine(
        description=str(data.get("Description") or ""),
        quantity=_dec(data.get("Quantity")) or Decimal("0"),
        unit_amount=_dec(data.get("UnitAmount")) or Decimal("0"),
        item_code=_str(data.get("ItemCode")),
        account_code=_str(data.get("AccountCode")),
        tax_type=_str(data.get("TaxType")),
        discount_rate=_dec(data.get("DiscountRate")),
        tracking=[
            Tracking(category=str(t.get("Name")), option=str(t.get("Option")))
            for t in data.get("Tracking") or []
            if t.get("Name") and t.get("Option")
        ],
    )


def _status_to_xero(status: InvoiceStatus) -> str:
    # PAID is reached in Xero by recording payments; an invoice is sent as AUTHORISED.
    return "AUTHORISED" if status is InvoiceStatus.PAID else status.value.upper()


def _status_from_xero(value: Any) -> InvoiceStatus:
    try:
        return InvoiceStatus(str(value or "DRAFT").lower())
    except ValueError:
        return InvoiceStatus.DRAFT


def payable_to_xero(
    doc: PayableDocument, *, remote_id: str | None, kind: str, party_id: str, reference: str | None
) -> dict[str, Any]:
    """An invoice (`kind` ACCREC) or a bill (ACCPAY) as a Xero Invoice."""
    return _clean(
        {
            "InvoiceID": remote_id,
            "Type": kind,
            "Contact": {"ContactID": party_id},
            "InvoiceNumber": doc.number,
            "Reference": reference,
            "Date": format_date(doc.date),
            "DueDate": format_date(doc.due_date) if doc.due_date else None,
            "LineAmountTypes": _LINE_TYPES[doc.line_amount_types],
            "LineItems": [_line_to_xero(line) for line in doc.lines],
            "Status": _status_to_xero(doc.status),
            "CurrencyCode": doc.currency,
            "CurrencyRate": doc.currency_rate,
        }
    )


def invoice_to_xero(invoice: Invoice, *, remote_id: str | None) -> dict[str, Any]:
    return payable_to_xero(
        invoice, remote_id=remote_id, kind="ACCREC", party_id=invoice.contact_id, reference=invoice.reference
    )


def currency_rate_from_xero(data: Mapping[str, Any]) -> Decimal | None:
    """A document's CurrencyRate (its currency per unit of the base currency); 1 (a base-currency one) is None."""
    rate = _dec(data.get("CurrencyRate"))
    return None if rate is None or rate == 1 else rate


def _line_types(value: Any) -> LineAmountTypes:
    return _LINE_TYPES_BACK.get(str(value or "Exclusive").lower(), LineAmountTypes.EXCLUSIVE)


def payable_from_xero(data: Mapping[str, Any], what: str) -> dict[str, Any]:
    """The fields an invoice and a bill both read from a Xero Invoice (not the contact or the reference)."""
    date = parse_date(data.get("Date"))
    if date is None:
        raise ValueError(f"Xero {what} without a Date")
    return {
        "id": str(data["InvoiceID"]),
        "number": _str(data.get("InvoiceNumber")),
        "date": date,
        "due_date": parse_date(data.get("DueDate")),
        "currency": str(data.get("CurrencyCode") or "AUD"),
        "currency_rate": currency_rate_from_xero(data),
        "line_amount_types": _line_types(data.get("LineAmountTypes")),
        "lines": [_line_from_xero(line) for line in data.get("LineItems") or []],
        "status": _status_from_xero(data.get("Status")),
        "total": _dec(data.get("Total")),
        "total_tax": _dec(data.get("TotalTax")),
        "amount_due": _dec(data.get("AmountDue")),
        "amount_paid": _dec(data.get("AmountPaid")),
    }


def invoice_from_xero(data: Mapping[str, Any]) -> Invoice:
    return Invoice(
        **payable_from_xero(data, "invoice"),
        contact_id=str((data.get("Contact") or {}).get("ContactID", "")),
        reference=_str(data.get("Reference")),
    )


def credit_note_to_xero(note: CreditNote, *, remote_id: str | None) -> dict[str, Any]:
    return _clean(
        {
            "CreditNoteID": remote_id,
            "Type": "ACCRECCREDIT",
            "Contact": {"ContactID": note.contact_id},
            "CreditNoteNumber": note.number,
            "Date": format_date(note.date),
            "LineAmountTypes": _LINE_TYPES[note.line_amount_types],
            "LineItems": [_line_to_xero(line) for line in note.lines],
            "Status": _status_to_xero(note.status),
            "CurrencyCode": note.currency,
            "CurrencyRate": note.currency_rate,
        }
    )


def credit_note_from_xero(data: Mapping[str, Any]) -> CreditNote:
    date = parse_date(data.get("Date"))
    if date is None:
        raise ValueError("Xero credit note without a Date")
    return CreditNote(
        id=str(data["CreditNoteID"]),
        contact_id=str((data.get("Contact") or {}).get("ContactID", "")),
        number=_str(data.get("CreditNoteNumber")),
        date=date,
        currency=str(data.get("CurrencyCode") or "AUD"),
        currency_rate=currency_rate_from_xero(data),
        line_amount_types=_line_types(data.get("LineAmountTypes")),
        lines=[_line_from_xero(line) for line in data.get("LineItems") or []],
        status=_status_from_xero(data.get("Status")),
        allocations=[
            Allocation(invoice_id=str(a["Invoice"]["InvoiceID"]), amount=_dec(a.get("Amount")) or Decimal(0))
            for a in data.get("Allocations") or []
            if (a.get("Invoice") or {}).get("InvoiceID")
        ],
        total=_dec(data.get("Total")),
        remaining_credit=_dec(data.get("RemainingCredit")),
    )


# ---------------------------------------------------------------- payments


def payment_to_xero(
    payment: Payment, *, remote_id: str | None, default_account: str = DEFAULT_BANK_ACCOUNT
) -> dict[str, Any]:
    if len(payment.allocations) != 1:
        raise MappingError(
            SyncError(
                code=ErrorCode.VALIDATION,
                message=(
                    "Xero records a payment against exactly one invoice; "
                    f"this payment is applied to {len(payment.allocations)}."
                ),
                hint="Split it into one payment per invoice, or skip.",
            )
        )
    allocation = payment.allocations[0]
    if allocation.amount != payment.amount:
        raise MappingError(
            SyncError(
                code=ErrorCode.VALIDATION,
                message=(
                    f"Xero records a payment against one invoice for its full amount; this payment of "
                    f"{payment.amount} applies {allocation.amount} to the invoice."
                ),
                hint="Record the difference as customer credit or a separate payment, or skip.",
            )
        )
    body: dict[str, Any] = {
        "PaymentID": remote_id,
        "Invoice": {"InvoiceID": allocation.invoice_id},
        "Account": {"Code": payment.account_code or default_account},
        "Date": format_date(payment.date),
        "Amount": payment.amount,
        "Reference": payment.reference,
        # "Exchange rate when payment is received"; none: Xero takes the day rate (read back).
        "CurrencyRate": payment.currency_rate,
    }
    if payment.status is PaymentStatus.DELETED:
        body["Status"] = "DELETED"
    return _clean(body)


def payment_from_xero(data: Mapping[str, Any], *, default_currency: str = "AUD") -> Payment:
    date = parse_date(data.get("Date"))
    if date is None:
        raise ValueError("Xero payment without a Date")
    invoice = data.get("Invoice") or {}
    amount = _dec(data.get("Amount")) or Decimal(0)
    contact = invoice.get("Contact") or {}
    return Payment(
        id=str(data["PaymentID"]),
        contact_id=_str(contact.get("ContactID")),
        date=date,
        amount=amount,
        currency=str(invoice.get("CurrencyCode") or data.get("CurrencyCode") or default_currency),
        currency_rate=currency_rate_from_xero(data),
        reference=_str(data.get("Reference")),
        account_code=_str((data.get("Account") or {}).get("Code")),
        allocations=[Allocation(invoice_id=str(invoice["InvoiceID"]), amount=amount)]
        if invoice.get("InvoiceID")
        else [],
        status=PaymentStatus.DELETED if data.get("Status") == "DELETED" else PaymentStatus.ACTIVE,
    )


def credit_to_xero(credit: CustomerCredit, *, default_account: str = DEFAULT_BANK_ACCOUNT) -> dict[str, Any]:
    """Customer credit as Xero records it: a RECEIVE-OVERPAYMENT bank transaction, which creates the
    Overpayment (Xero's documented way; overpayments cannot be created directly)."""
    return _clean(
        {
            "Type": "RECEIVE-OVERPAYMENT",
            "Contact": {"ContactID": credit.contact_id},
            "BankAccount": {"Code": credit.account_code or default_account},
            "Date": credit.date.isoformat(),
            "Reference": credit.reference,
            "CurrencyCode": credit.currency,
            "CurrencyRate": credit.currency_rate,
            "LineAmountTypes": "NoTax",
            "LineItems": [{"Description": credit.reference or "Customer credit", "LineAmount": credit.amount}],
        }
    )


def credit_from_xero(data: Mapping[str, Any]) -> CustomerCredit:
    """An Overpayment (or the bank transaction that created one) as customer credit."""
    total = _dec(data.get("Total")) or Decimal(0)
    return CustomerCredit(
        id=str(data.get("OverpaymentID")),
        contact_id=str((data.get("Contact") or {}).get("ContactID") or ""),
        date=parse_date(data.get("Date")) or dt.date.today(),
        amount=total,
        currency=str(data.get("CurrencyCode") or "AUD"),
        currency_rate=currency_rate_from_xero(data),
        reference=_str(data.get("Reference")),
        remaining_credit=_dec(data.get("RemainingCredit")),
    )


# ---------------------------------------------------------------- credit note allocations and refunds


def allocations_to_xero(note: CreditNote, allocations: list[Allocation]) -> dict[str, Any]:
    """PUT /CreditNotes/{id}/Allocations: each allocation applies part of the credit to one invoice, dated the
    credit note's date (Allocation requires Amount, Invoice and Date)."""
    return {
        "Allocations": [
            {"Invoice": {"InvoiceID": a.invoice_id}, "Amount": a.amount, "Date": format_date(note.date)}
            for a in allocations
        ]
    }


def allocation_ids(data: Mapping[str, Any]) -> list[tuple[str, Allocation]]:
    """A credit note's allocations as Xero lists them, each with its AllocationID (to delete it by)."""
    out: list[tuple[str, Allocation]] = []
    for a in data.get("Allocations") or []:
        invoice = (a.get("Invoice") or {}).get("InvoiceID")
        if invoice and a.get("AllocationID") and not a.get("IsDeleted"):
            out.append(
                (
                    str(a["AllocationID"]),
                    Allocation(invoice_id=str(invoice), amount=_dec(a.get("Amount")) or Decimal(0)),
                )
            )
    return out


def refund_to_xero(refund: Refund, *, default_account: str = DEFAULT_BANK_ACCOUNT) -> dict[str, Any]:
    """A refund as Xero records it: a payment on the credit note (or on the overpayment that holds customer
    credit), out of a bank account (Xero's documented way to refund either)."""
    if refund.credit_note_id:
        source: dict[str, Any] = {"CreditNote": {"CreditNoteID": refund.credit_note_id}}
    elif refund.credit_id:
        source = {"Overpayment": {"OverpaymentID": refund.credit_id}}
    else:
        raise MappingError(
            SyncError(
                code=ErrorCode.VALIDATION,
                message="Xero records a refund against a credit note or an overpayment; this refund names neither.",
                hint="Refund it from a credit note or the customer's credit, or record the refund in Xero; or skip.",
            )
        )
    body: dict[str, Any] = {
        **source,
        "Account": {"Code": refund.account_code or default_account},
        "Date": format_date(refund.date),
        "Amount": refund.amount,
        "Reference": refund.reference,
    }
    return _clean(body)


def refund_from_xero(data: Mapping[str, Any], *, default_currency: str = "AUD") -> Refund:
    date = parse_date(data.get("Date"))
    if date is None:
        raise ValueError("Xero payment without a Date")
    note = data.get("CreditNote") or {}
    credit = data.get("Overpayment") or {}
    return Refund(
        id=str(data["PaymentID"]),
        contact_id=_str(((note or credit).get("Contact") or {}).get("ContactID")),
        credit_note_id=_str(note.get("CreditNoteID")),
        credit_id=_str(credit.get("OverpaymentID")),
        date=date,
        amount=_dec(data.get("Amount")) or Decimal(0),
        currency=str(note.get("CurrencyCode") or data.get("CurrencyCode") or default_currency),
        reference=_str(data.get("Reference")),
        account_code=_str((data.get("Account") or {}).get("Code")),
        status=PaymentStatus.DELETED if data.get("Status") == "DELETED" else PaymentStatus.ACTIVE,
    )


# ---------------------------------------------------------------- dispatch


def to_xero(
    entity: Entity,
    record: Record,
    *,
    remote_id: str | None,
    app_id: str | None = None,
    bank_account: str = DEFAULT_BANK_ACCOUNT,
) -> dict[str, Any]:
    """The Xero JSON for a canonical record; raises MappingError for what Xero cannot hold."""
    from ledgersync.providers.xero.vendor_mapping import vendor_to_xero

    vendor = vendor_to_xero(entity, record, remote_id=remote_id, app_id=app_id, bank_account=bank_account)
    if vendor is not None:
        return vendor
    if entity is Entity.CONTACT and isinstance(record, Contact):
        return contact_to_xero(record, remote_id=remote_id, app_id=app_id)
    if entity is Entity.ITEM and isinstance(record, Item):
        return item_to_xero(record, remote_id=remote_id)
    if entity is Entity.INVOICE and isinstance(record, Invoice):
        return invoice_to_xero(record, remote_id=remote_id)
    if entity is Entity.PAYMENT and isinstance(record, Payment):
        return payment_to_xero(record, remote_id=remote_id, default_account=bank_account)
    if entity is Entity.CREDIT_NOTE and isinstance(record, CreditNote):
        return credit_note_to_xero(record, remote_id=remote_id)
    if entity is Entity.CREDIT and isinstance(record, CustomerCredit):
        return credit_to_xero(record, default_account=bank_account)
    if entity is Entity.REFUND and isinstance(record, Refund):
        return refund_to_xero(record, default_account=bank_account)
    raise MappingError(
        SyncError(
            code=ErrorCode.VALIDATION,
            message=f"A {type(record).__name__} can't be sent to Xero as a {entity.value}.",
            hint="This is a bug in the integration; skip the record and report it.",
        )
    )


# Statuses that make a pulled record deleted, per entity (from_xero and head_of agree through this).
_DELETED_STATUSES: dict[Entity, tuple[str, ...]] = {
    Entity.CONTACT: (),
    Entity.ITEM: (),
    Entity.INVOICE: ("DELETED", "VOIDED"),
    Entity.CREDIT: ("DELETED", "VOIDED"),
    Entity.CREDIT_NOTE: ("DELETED", "VOIDED"),
    Entity.REFUND: ("DELETED",),
    Entity.PAYMENT: ("DELETED",),
}


def head_of(entity: Entity, data: Mapping[str, Any]) -> Head | None:
    """What from_xero will say of this object's id, version and deletion, read without mapping it (None: an
    entity whose mapping decides its id itself, the vendor side)."""
    deleted = _DELETED_STATUSES.get(entity)
    if deleted is None:
        return None
    updated = parse_datetime(data.get("UpdatedDateUTC"))
    status = str(data.get("Status") or "")
    return Head(str(data[ID_FIELD[entity]]), updated.isoformat() if updated else "", status in deleted)


def from_xero(entity: Entity, data: Mapping[str, Any]) -> RemoteRecord:
    """A Xero object as a RemoteRecord: canonical record plus version, flags and numbers."""
    from ledgersync.providers.xero.vendor_mapping import VENDOR_ENTITIES, vendor_from_xero

    if entity in VENDOR_ENTITIES:
        return vendor_from_xero(entity, data)
    updated = parse_datetime(data.get("UpdatedDateUTC"))
    version = updated.isoformat() if updated else ""
    status = str(data.get("Status") or "")
    record: Record
    archived = deleted = False
    doc_number: str | None = None
    external_id: str | None = None
    if entity is Entity.CONTACT:
        record = contact_from_xero(data)
        archived = data.get("ContactStatus") in ("ARCHIVED", "GDPRREQUEST")
        external_id = _str(data.get("ContactNumber"))
    elif entity is Entity.ITEM:
        record = item_from_xero(data)
    elif entity is Entity.INVOICE:
        record = invoice_from_xero(data)
        deleted = status in ("DELETED", "VOIDED")
        doc_number = _str(data.get("InvoiceNumber"))
    elif entity is Entity.CREDIT:
        record = credit_from_xero(data)
        deleted = status in ("DELETED", "VOIDED")
        doc_number = _str(data.get("Reference"))
    elif entity is Entity.CREDIT_NOTE:
        record = credit_note_from_xero(data)
        deleted = status in ("DELETED", "VOIDED")
        doc_number = _str(data.get("CreditNoteNumber"))
    elif entity is Entity.REFUND:
        record = refund_from_xero(data)
        deleted = status == "DELETED"
        doc_number = _str((data.get("CreditNote") or {}).get("CreditNoteNumber"))
    else:
        record = payment_from_xero(data)
        deleted = status == "DELETED"
        doc_number = _str((data.get("Invoice") or {}).get("InvoiceNumber"))
    return RemoteRecord(
        entity=entity,
        remote_id=record.id,
        version=version,
        record=record,
        updated_at=updated,
        archived=archived,
        deleted=deleted,
        doc_number=doc_number,
        external_id=external_id,
    )


# ---------------------------------------------------------------- batch payments (one receipt, several invoices)

BATCH_PREFIX = "batch:"


def is_batch(remote_id: str | None) -> bool:
    return bool(remote_id) and str(remote_id).startswith(BATCH_PREFIX)


def batch_to_xero(payment: Payment, *, default_account: str = DEFAULT_BANK_ACCOUNT) -> dict[str, Any]:
    """A payment over several invoices as a Xero BatchPayment (each invoice gets a payment of its own there)."""
    if payment.unapplied != 0:
        raise MappingError(
            SyncError(
                code=ErrorCode.VALIDATION,
                message=(
                    f"Xero records a payment over several invoices (a batch payment) for exactly what it applies; "
                    f"this payment of {payment.amount} applies {payment.allocated}."
                ),
                hint="Record the difference as customer credit or a separate payment, or skip.",
            )
        )
    return _clean(
        {
            "Account": {"Code": payment.account_code or default_account},
            "Date": format_date(payment.date),
            "Reference": payment.reference,
            "Payments": [{"Invoice": {"InvoiceID": a.invoice_id}, "Amount": a.amount} for a in payment.allocations],
        }
    )


def batch_from_xero(data: Mapping[str, Any], *, default_currency: str = "AUD") -> RemoteRecord:
    updated = parse_datetime(data.get("UpdatedDateUTC"))
    date = parse_date(data.get("Date"))
    if date is None:
        raise ValueError("Xero batch payment without a Date")
    live = [p for p in data.get("Payments") or [] if p.get("Status") != "DELETED"]
    deleted = data.get("Status") == "DELETED"
    shown = live if not deleted else list(data.get("Payments") or [])
    allocations = [
        Allocation(invoice_id=str((p.get("Invoice") or {})["InvoiceID"]), amount=_dec(p.get("Amount")) or Decimal(0))
        for p in shown
        if (p.get("Invoice") or {}).get("InvoiceID")
    ]
    remote_id = BATCH_PREFIX + str(data["BatchPaymentID"])
    record = Payment(
        id=remote_id,
        date=date,
        amount=_dec(data.get("TotalAmount")) or sum((a.amount for a in allocations), Decimal(0)),
        currency=str(data.get("CurrencyCode") or default_currency),
        reference=_str(data.get("Reference")),
        account_code=_str((data.get("Account") or {}).get("Code")),
        allocations=allocations,
        status=PaymentStatus.DELETED if deleted else PaymentStatus.ACTIVE,
    )
    first = (shown[0].get("Invoice") or {}) if shown else {}
    return RemoteRecord(
        entity=Entity.PAYMENT,
        remote_id=remote_id,
        version=updated.isoformat() if updated else "",
        record=record,
        updated_at=updated,
        deleted=deleted,
        doc_number=_str(first.get("InvoiceNumber")),
    )
