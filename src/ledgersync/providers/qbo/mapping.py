"""Canonical records <-> QuickBooks Online JSON (customers, items, invoices, payments, credit memos); Decimal money."""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

from ledgersync.model import (
    Address,
    Allocation,
    Contact,
    ContactStatus,
    CreditNote,
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
from ledgersync.model.records import Party
from ledgersync.providers.base import RemoteRecord
from ledgersync.providers.qbo.errors import name_problem
from ledgersync.providers.session import dumps_exact, loads_exact

# From 1 Aug 2025 Intuit ignores minor versions 1-74; asking for 75 explicitly keeps responses stable.
MINOR_VERSION = "75"

# The QBO entity name of each canonical entity (also the lower-cased URL segment for writes).
ENTITY_NAME: dict[Entity, str] = {
    Entity.CONTACT: "Customer",
    Entity.ITEM: "Item",
    Entity.INVOICE: "Invoice",
    Entity.PAYMENT: "Payment",
    Entity.CREDIT_NOTE: "CreditMemo",
    # The vendor side and sales receipts (vendor_mapping.py).
    Entity.SUPPLIER: "Vendor",
    Entity.PURCHASE_ORDER: "PurchaseOrder",
    Entity.BILL: "Bill",
    Entity.BILL_PAYMENT: "BillPayment",
    Entity.SALES_RECEIPT: "SalesReceipt",
    # Money paid back to a customer (QuickBooks keeps no link from it to a credit memo).
    Entity.REFUND: "RefundReceipt",
}
# Name-list entities: never deleted in QBO, only made inactive; queries hide inactive ones unless asked.
NAME_LISTS = frozenset({Entity.CONTACT, Entity.ITEM, Entity.SUPPLIER})

# Line tracking categories that have a QBO home: a class on each line, a location (Department) per document.
CLASS_CATEGORY = "Class"
LOCATION_CATEGORY = "Location"
_LOCATION_ALIASES = frozenset({"location", "department"})

_TAX_CALCULATION = {
    LineAmountTypes.EXCLUSIVE: "TaxExcluded",
    LineAmountTypes.INCLUSIVE: "TaxInclusive",
    LineAmountTypes.NO_TAX: "NotApplicable",
}
_TAX_CALCULATION_BACK = {v.lower(): k for k, v in _TAX_CALCULATION.items()}


class MappingError(ValueError):
    """A canonical record QuickBooks cannot represent; carries the SyncError to report for that write."""

    def __init__(self, error: SyncError) -> None:
        super().__init__(error.message)
        self.error = error


@dataclass
class Refs:
    """What a mapping needs to know about the company's list records, looked up by the provider beforehand.

    QBO references list records by id (ItemRef, ClassRef, DepartmentRef); the canonical model names them
    (item code, tracking option), so both directions go through these tables."""

    item_ids: dict[str, str] = field(default_factory=dict)  # item code -> Item.Id
    item_codes: dict[str, str] = field(default_factory=dict)  # Item.Id -> item code
    class_ids: dict[str, str] = field(default_factory=dict)  # class name -> Class.Id
    class_names: dict[str, str] = field(default_factory=dict)
    department_ids: dict[str, str] = field(default_factory=dict)  # location name -> Department.Id
    department_names: dict[str, str] = field(default_factory=dict)
    # The service item a line without an item code is booked to (QBO lines need an ItemRef).
    default_item_id: str | None = None
    invoice_customers: dict[str, str] = field(default_factory=dict)  # Invoice.Id -> CustomerRef
    invoice_numbers: dict[str, str] = field(default_factory=dict)  # Invoice.Id -> DocNumber
    home_currency: str | None = None
    deposit_account: str | None = None
    income_account: str | None = None
    # The vendor side: Bill.Id -> VendorRef; the bank account bills are paid from; the expense account a
    # purchase line without product or account is booked to; where an undeposited sales receipt goes.
    bill_vendors: dict[str, str] = field(default_factory=dict)
    bank_account: str | None = None
    expense_account: str | None = None
    undeposited_account: str | None = None

    # Credit memos: the invoices each one's credit was applied to (through payments), the zero-amount payment
    # ledgersync applies it through (Payment.Id, SyncToken), and its customer.
    credit_allocations: dict[str, list[Allocation]] = field(default_factory=dict)
    credit_payments: dict[str, tuple[str, str]] = field(default_factory=dict)
    credit_customers: dict[str, str] = field(default_factory=dict)
    credit_numbers: dict[str, str] = field(default_factory=dict)

    def learn_credit_payments(self, note_ids: Sequence[str], payments: Sequence[Mapping[str, Any]]) -> None:
        """What these payments apply of these credit memos' credit, and which payment is ledgersync's own."""
        for note_id in note_ids:
            self.credit_allocations[note_id] = []
            self.credit_payments.pop(note_id, None)
        for pay in sorted(
            payments, key=lambda p: int(str(p.get("Id") or 0)) if str(p.get("Id") or "").isdigit() else 0
        ):
            if is_voided(pay):
                continue
            _, credit = split_credit(pay)
            for note_id, allocations in credit.items():
                if note_id in self.credit_allocations:
                    self.credit_allocations[note_id].extend(allocations)
            if is_credit_application(pay) and len(credit) == 1:
                (note_id,) = credit
                if note_id in self.credit_allocations:
                    self.credit_payments[note_id] = (str(pay["Id"]), str(pay.get("SyncToken") or "0"))

    def learn_bill(self, data: Mapping[str, Any]) -> None:
        bill_id, vendor = _str(data.get("Id")), _ref(data.get("VendorRef"))
        if bill_id and vendor:
            self.bill_vendors[bill_id] = vendor

    def learn_item(self, data: Mapping[str, Any]) -> None:
        item_id = _str(data.get("Id"))
        code = _str(data.get("Sku")) or _str(data.get("Name"))
        if item_id and code:
            self.item_ids.setdefault(code, item_id)
            self.item_codes[item_id] = code

    def learn_invoice(self, data: Mapping[str, Any]) -> None:
        invoice_id = _str(data.get("Id"))
        if not invoice_id:
            return
        customer = _ref(data.get("CustomerRef"))
        if customer:
            self.invoice_customers[invoice_id] = customer
        number = _str(data.get("DocNumber"))
        if number:
            self.invoice_numbers[invoice_id] = number


# ---------------------------------------------------------------- dates and JSON


def parse_datetime(value: Any) -> dt.datetime | None:
    """QBO's ISO timestamps (`2015-07-24T10:35:08-07:00`) as aware datetimes."""
    if value is None or value == "":
        return None
    if isinstance(value, dt.datetime):
        return value if value.tzinfo else value.replace(tzinfo=dt.UTC)
    parsed = dt.datetime.fromisoformat(str(value).strip().replace("Z", "+00:00"))
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=dt.UTC)


def parse_date(value: Any) -> dt.date | None:
    if value is None or value == "":
        return None
    if isinstance(value, dt.date) and not isinstance(value, dt.datetime):
        return value
    return dt.date.fromisoformat(str(value).strip()[:10])


def format_query_time(value: dt.datetime) -> str:
    """A timestamp as the query language compares it (seconds, explicit offset)."""
    if value.tzinfo is None:
        value = value.replace(tzinfo=dt.UTC)
    return value.astimezone(dt.UTC).isoformat(timespec="seconds")


# Responses are parsed without ever passing money through float.
loads = loads_exact


dumps = dumps_exact


def quote(value: str) -> str:
    """A string literal for the QBO query language (single quotes, backslash escapes)."""
    return "'" + value.replace("\\", "\\\\").replace("'", "\\'") + "'"


def _dec(value: Any) -> Decimal | None:
    if value is None or value == "":
        return None
    return value if isinstance(value, Decimal) else Decimal(str(value))


def _clean(data: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in data.items() if v is not None}


def _str(value: Any) -> str | None:
    return None if value is None or value == "" else str(value)


def _ref(value: Any) -> str | None:
    return _str(value.get("value")) if isinstance(value, Mapping) else None


def _refname(value: Any) -> str | None:
    return _str(value.get("name")) if isinstance(value, Mapping) else None


def _error(code: ErrorCode, message: str, hint: str) -> MappingError:
    return MappingError(SyncError(code=code, message=message, hint=hint))


def _identity(body: dict[str, Any], remote_id: str | None, sync_token: str | None) -> dict[str, Any]:
    if remote_id is None:
        return body
    # Sparse update: QBO keeps every field we don't send (a full update would blank the company's own
    # fields ledgersync doesn't map, such as terms, shipping address or notes).
    return {"Id": remote_id, "SyncToken": sync_token or "0", "sparse": True, **body}


def is_voided(data: Mapping[str, Any]) -> bool:
    """QBO has no status field on sales documents: a void zeroes the amounts and notes 'Voided'."""
    if str(data.get("TxnStatus") or "").lower() == "voided":
        return True
    note = str(data.get("PrivateNote") or "")
    return note.startswith("Voided") and (_dec(data.get("TotalAmt")) or Decimal(0)) == 0


# ---------------------------------------------------------------- customers


def party_to_qbo(party: Party, **fields: Any) -> dict[str, Any]:
    """What a QuickBooks Customer and Vendor both hold, `fields` after the names and Active, then BillAddr."""
    address = party.address
    person = bool(party.first_name or party.last_name)
    body: dict[str, Any] = {
        "DisplayName": party.name,
        "GivenName": party.first_name,
        "FamilyName": party.last_name,
        # A business has no person's name: its company name is the name.
        "CompanyName": None if person else party.name[:100],
        "PrimaryEmailAddr": {"Address": party.email} if party.email else None,
        "PrimaryPhone": {"FreeFormNumber": party.phone} if party.phone else None,
        **fields,
        "Active": party.status is ContactStatus.ACTIVE,
    }
    if address is not None:
        body["BillAddr"] = _clean(
            {
                "Line1": address.line1,
                "Line2": address.line2,
                "City": address.city,
                "CountrySubDivisionCode": address.region,
                "PostalCode": address.postal_code,
                "Country": address.country,
            }
        )
    return body


def contact_to_qbo(
    contact: Contact,
    *,
    remote_id: str | None = None,
    sync_token: str | None = None,
    home_currency: str | None = None,
) -> dict[str, Any]:
    problem = name_problem(contact.name, "customer name")
    if problem is not None:
        raise MappingError(problem)
    if contact.is_supplier and not contact.is_customer:
        raise _error(
            ErrorCode.VALIDATION,
            "QuickBooks keeps suppliers as vendors, which this integration does not sync yet.",
            "Skip this contact, or mark it as a customer too.",
        )
    body = party_to_qbo(contact)
    if contact.parent_id:
        body["ParentRef"] = {"value": contact.parent_id}
        body["Job"] = True
    elif remote_id is not None:
        body["Job"] = False
    if contact.currency and contact.currency != home_currency:
        body["CurrencyRef"] = {"value": contact.currency}
    return _identity(_clean(body), remote_id, sync_token)


def _address(data: Any) -> Address | None:
    if not isinstance(data, Mapping):
        return None
    address = Address(
        line1=_str(data.get("Line1")),
        line2=_str(data.get("Line2")),
        city=_str(data.get("City")),
        region=_str(data.get("CountrySubDivisionCode")),
        postal_code=_str(data.get("PostalCode")),
        country=_str(data.get("Country")),
    )
    return address if any(address.model_dump().values()) else None


def party_from_qbo(data: Mapping[str, Any], home_currency: str | None) -> dict[str, Any]:
    """The fields a customer and a supplier both read from a QuickBooks Customer or Vendor (not the name)."""
    currency = _ref(data.get("CurrencyRef"))
    return {
        "id": str(data["Id"]),
        "email": _str((data.get("PrimaryEmailAddr") or {}).get("Address")),
        "first_name": _str(data.get("GivenName")),
        "last_name": _str(data.get("FamilyName")),
        "phone": _str((data.get("PrimaryPhone") or {}).get("FreeFormNumber")),
        "address": _address(data.get("BillAddr")),
        # The company's own currency is what "no currency" means; only a foreign one is worth carrying.
        "currency": currency if currency and currency != home_currency else None,
        "status": ContactStatus.ACTIVE if data.get("Active", True) else ContactStatus.ARCHIVED,
    }


def contact_from_qbo(data: Mapping[str, Any], *, home_currency: str | None = None) -> Contact:
    return Contact(
        **party_from_qbo(data, home_currency),
        name=str(data.get("DisplayName") or data.get("FullyQualifiedName") or data["Id"]),
        parent_id=_ref(data.get("ParentRef")) if data.get("Job", True) else None,
        is_customer=True,
        is_supplier=False,
    )


# ---------------------------------------------------------------- items


def item_to_qbo(
    item: Item, *, remote_id: str | None = None, sync_token: str | None = None, income_account: str | None = None
) -> dict[str, Any]:
    problem = name_problem(item.name, "product name")
    if problem is not None:
        raise MappingError(problem)
    account = item.account_code or income_account
    if remote_id is None and not account:
        raise _error(
            ErrorCode.VALIDATION,
            "QuickBooks needs an income account for a new product or service.",
            "Give the product an account code (a QuickBooks income account id), or set income_account_id.",
        )
    body = _clean(
        {
            "Name": item.name,
            "Sku": item.code,
            "Description": item.description,
            "UnitPrice": item.unit_price,
            "IncomeAccountRef": {"value": account} if account else None,
            "SalesTaxCodeRef": {"value": item.tax_type} if item.tax_type else None,
            # The type of an existing item can't change; new ones are services (no stock to track).
            "Type": "Service" if remote_id is None else None,
            "Active": True,
        }
    )
    return _identity(body, remote_id, sync_token)


def item_from_qbo(data: Mapping[str, Any]) -> Item:
    name = str(data.get("Name") or data.get("Sku") or data["Id"])
    return Item(
        id=str(data["Id"]),
        code=str(data.get("Sku") or name)[:30],
        name=name[:50],
        description=_str(data.get("Description")),
        unit_price=_dec(data.get("UnitPrice")),
        account_code=_ref(data.get("IncomeAccountRef")),
        tax_type=_ref(data.get("SalesTaxCodeRef")),
        is_sold=bool(data.get("IncomeAccountRef")) or not data.get("ExpenseAccountRef"),
        is_purchased=bool(data.get("ExpenseAccountRef")),
        # Stock on hand where QuickBooks tracks the item's quantity (an Inventory item: TrackQtyOnHand).
        quantity_on_hand=_dec(data.get("QtyOnHand")) if data.get("TrackQtyOnHand") else None,
    )


# ---------------------------------------------------------------- lines, invoices, credit memos


def _split_tracking(lines: list[InvoiceLine], what: str) -> tuple[str | None, list[str | None]]:
    """(the document's location, each line's class) from the lines' tracking."""
    locations: set[str] = set()
    classes: list[str | None] = []
    for line in lines:
        line_class: str | None = None
        for tracking in line.tracking:
            category = tracking.category.strip().lower()
            if category in _LOCATION_ALIASES:
                locations.add(tracking.option)
            elif category == CLASS_CATEGORY.lower():
                line_class = tracking.option
            else:
                raise _error(
                    ErrorCode.VALIDATION,
                    f"QuickBooks tracks lines by Class and documents by Location; it has no '{tracking.category}'.",
                    "Rename the tracking category to Class or Location, remove it, or skip.",
                )
        classes.append(line_class)
    if len(locations) > 1:
        raise _error(
            ErrorCode.VALIDATION,
            f"QuickBooks keeps one location per {what}; these lines name {len(locations)}: "
            f"{', '.join(sorted(locations))}.",
            f"Use one location on every line, split the {what}, or skip.",
        )
    return (next(iter(locations)) if locations else None), classes


def _lines_to_qbo(lines: list[InvoiceLine], refs: Refs, classes: list[str | None]) -> list[dict[str, Any]]:
    out: list[dict[str, Any]] = []
    for number, (line, class_name) in enumerate(zip(lines, classes, strict=True), start=1):
        if line.discount_rate:
            raise _error(
                ErrorCode.VALIDATION,
                "QuickBooks has no discount on a single line (only on the whole document).",
                "Put the discounted price on the line, or skip.",
            )
        if line.item_code:
            item_id = refs.item_ids.get(line.item_code)
            if item_id is None:
                raise _error(
                    ErrorCode.MISSING_DEPENDENCY,
                    f"QuickBooks has no product or service with the code '{line.item_code}'.",
                    "Sync or add the product in QuickBooks, then retry; or skip.",
                )
        else:
            item_id = refs.default_item_id
            if item_id is None:
                raise _error(
                    ErrorCode.MISSING_DEPENDENCY,
                    "QuickBooks needs a product or service on every line, and no default one is set.",
                    "Set default_item_id to a QuickBooks service item, then retry.",
                )
        detail: dict[str, Any] = {
            "ItemRef": {"value": item_id},
            "Qty": line.quantity,
            "UnitPrice": line.unit_amount,
        }
        if line.tax_type:
            detail["TaxCodeRef"] = {"value": line.tax_type}
        if class_name is not None:
            class_id = refs.class_ids.get(class_name)
            if class_id is None:
                raise _error(
                    ErrorCode.MISSING_DEPENDENCY,
                    f"QuickBooks has no class called '{class_name}' (or class tracking is off).",
                    "Add the class in QuickBooks (Settings > Classes) and retry, or skip.",
                )
            detail["ClassRef"] = {"value": class_id, "name": class_name}
        out.append(
            {
                "LineNum": number,
                "Description": line.description,
                "Amount": line.line_amount,
                "DetailType": "SalesItemLineDetail",
                "SalesItemLineDetail": detail,
            }
        )
    return out


def _lines_from_qbo(data: Mapping[str, Any], refs: Refs) -> list[InvoiceLine]:
    location = _refname(data.get("DepartmentRef")) or refs.department_names.get(_ref(data.get("DepartmentRef")) or "")
    out: list[InvoiceLine] = []
    for line in data.get("Line") or []:
        if line.get("DetailType") != "SalesItemLineDetail":
            continue  # subtotal, discount and description-only lines are QBO's own layout
        detail = line.get("SalesItemLineDetail") or {}
        quantity = _dec(detail.get("Qty"))
        unit = _dec(detail.get("UnitPrice"))
        amount = _dec(line.get("Amount")) or Decimal(0)
        if quantity is None:
            quantity = Decimal(1)
        if unit is None:
            unit = amount / quantity if quantity else amount
        item_id = _ref(detail.get("ItemRef"))
        item_code: str | None = None
        if item_id and item_id != refs.default_item_id:
            item_code = refs.item_codes.get(item_id) or _refname(detail.get("ItemRef")) or item_id
        tracking: list[Tracking] = []
        class_id = _ref(detail.get("ClassRef"))
        if class_id:
            name = _refname(detail.get("ClassRef")) or refs.class_names.get(class_id) or class_id
            tracking.append(Tracking(category=CLASS_CATEGORY, option=name))
        if location:
            tracking.append(Tracking(category=LOCATION_CATEGORY, option=location))
        out.append(
            InvoiceLine(
                description=str(line.get("Description") or ""),
                quantity=quantity,
                unit_amount=unit,
                item_code=item_code,
                tax_type=_ref(detail.get("TaxCodeRef")),
                tracking=tracking,
            )
        )
    return out


def _document_to_qbo(
    lines: list[InvoiceLine],
    *,
    what: str,
    contact_id: str,
    number: str | None,
    date: dt.date,
    currency: str,
    line_amount_types: LineAmountTypes,
    refs: Refs,
) -> dict[str, Any]:
    location, classes = _split_tracking(lines, what)
    body: dict[str, Any] = {
        "CustomerRef": {"value": contact_id},
        "DocNumber": number,
        "TxnDate": date.isoformat(),
        "Line": _lines_to_qbo(lines, refs, classes),
    }
    if location is not None:
        department = refs.department_ids.get(location)
        if department is None:
            raise _error(
                ErrorCode.MISSING_DEPENDENCY,
                f"QuickBooks has no location called '{location}' (or location tracking is off).",
                "Add the location in QuickBooks (Settings > Locations) and retry, or skip.",
            )
        body["DepartmentRef"] = {"value": department, "name": location}
    if line_amount_types is not LineAmountTypes.EXCLUSIVE:
        # Only non-US companies take GlobalTaxCalculation; exclusive is everyone's default, so it goes unsaid.
        body["GlobalTaxCalculation"] = _TAX_CALCULATION[line_amount_types]
    if refs.home_currency is None or currency != refs.home_currency:
        body["CurrencyRef"] = {"value": currency}
    return body


def _status_from_qbo(data: Mapping[str, Any]) -> InvoiceStatus:
    if is_voided(data):
        return InvoiceStatus.VOIDED
    total = _dec(data.get("TotalAmt")) or Decimal(0)
    balance = _dec(data.get("Balance"))
    if total > 0 and balance is not None and balance == 0:
        return InvoiceStatus.PAID
    return InvoiceStatus.AUTHORISED


def _line_types(value: Any) -> LineAmountTypes:
    return _TAX_CALCULATION_BACK.get(str(value or "TaxExcluded").lower(), LineAmountTypes.EXCLUSIVE)


def _currency(data: Mapping[str, Any], refs: Refs) -> str:
    return _ref(data.get("CurrencyRef")) or refs.home_currency or "USD"


def invoice_to_qbo(
    invoice: Invoice, refs: Refs, *, remote_id: str | None = None, sync_token: str | None = None
) -> dict[str, Any]:
    if invoice.status in (InvoiceStatus.VOIDED, InvoiceStatus.DELETED):
        raise _error(
            ErrorCode.VALIDATION,
            "A voided or deleted invoice can't be sent to QuickBooks as a change.",
            "Delete it in the app to void it in QuickBooks, or skip.",
        )
    body = _document_to_qbo(
        invoice.lines,
        what="invoice",
        contact_id=invoice.contact_id,
        number=invoice.number,
        date=invoice.date,
        currency=invoice.currency,
        line_amount_types=invoice.line_amount_types,
        refs=refs,
    )
    body["DueDate"] = invoice.due_date.isoformat() if invoice.due_date else None
    body["PrivateNote"] = invoice.reference
    body["ExchangeRate"] = exchange_rate_to_qbo(invoice.currency_rate)
    return _identity(_clean(body), remote_id, sync_token)


RATE_PLACES = Decimal("0.000001")


def exchange_rate_to_qbo(rate: Decimal | None) -> Decimal | None:
    """QuickBooks' ExchangeRate is home currency per unit of the document's; the canonical rate is the other way
    round (the document's currency per unit of home, Xero's convention). Six places each way."""
    return None if rate is None else (Decimal(1) / rate).quantize(RATE_PLACES)


def exchange_rate_from_qbo(data: Mapping[str, Any]) -> Decimal | None:
    rate = _dec(data.get("ExchangeRate"))
    return None if rate is None or rate == 1 or rate == 0 else (Decimal(1) / rate).quantize(RATE_PLACES)


def invoice_from_qbo(data: Mapping[str, Any], refs: Refs) -> Invoice:
    date = parse_date(data.get("TxnDate"))
    if date is None:
        raise ValueError("QBO invoice without a TxnDate")
    total = _dec(data.get("TotalAmt"))
    balance = _dec(data.get("Balance"))
    voided = is_voided(data)
    return Invoice(
        id=str(data["Id"]),
        contact_id=_ref(data.get("CustomerRef")) or "",
        number=_str(data.get("DocNumber")),
        date=date,
        due_date=parse_date(data.get("DueDate")),
        currency=_currency(data, refs),
        currency_rate=exchange_rate_from_qbo(data),
        line_amount_types=_line_types(data.get("GlobalTaxCalculation")),
        lines=_lines_from_qbo(data, refs),
        status=_status_from_qbo(data),
        reference=None if voided else _str(data.get("PrivateNote")),
        total=total,
        total_tax=_dec((data.get("TxnTaxDetail") or {}).get("TotalTax")),
        amount_due=balance,
        amount_paid=total - balance if total is not None and balance is not None else None,
    )


def credit_note_to_qbo(
    note: CreditNote, refs: Refs, *, remote_id: str | None = None, sync_token: str | None = None
) -> dict[str, Any]:
    """The credit memo itself; its allocations go as a payment that applies it (credit_application_to_qbo)."""
    body = _document_to_qbo(
        note.lines,
        what="credit note",
        contact_id=note.contact_id,
        number=note.number,
        date=note.date,
        currency=note.currency,
        line_amount_types=note.line_amount_types,
        refs=refs,
    )
    body["ExchangeRate"] = exchange_rate_to_qbo(note.currency_rate)
    return _identity(_clean(body), remote_id, sync_token)


def credit_note_from_qbo(data: Mapping[str, Any], refs: Refs) -> CreditNote:
    date = parse_date(data.get("TxnDate"))
    if date is None:
        raise ValueError("QBO credit memo without a TxnDate")
    return CreditNote(
        id=str(data["Id"]),
        contact_id=_ref(data.get("CustomerRef")) or "",
        number=_str(data.get("DocNumber")),
        date=date,
        currency=_currency(data, refs),
        currency_rate=exchange_rate_from_qbo(data),
        line_amount_types=_line_types(data.get("GlobalTaxCalculation")),
        lines=_lines_from_qbo(data, refs),
        status=_credit_status(data),
        allocations=list(refs.credit_allocations.get(str(data["Id"]), [])),
        total=_dec(data.get("TotalAmt")),
        remaining_credit=_dec(data.get("RemainingCredit")),
    )


def _credit_status(data: Mapping[str, Any]) -> InvoiceStatus:
    """Voided; PAID once its credit is used up (QuickBooks shows it Closed); else open (AUTHORISED)."""
    if is_voided(data):
        return InvoiceStatus.VOIDED
    total = _dec(data.get("TotalAmt")) or Decimal(0)
    remaining = _dec(data.get("RemainingCredit"))
    if total > 0 and remaining is not None and remaining == 0:
        return InvoiceStatus.PAID
    return InvoiceStatus.AUTHORISED


def credit_payment_ids(data: Mapping[str, Any]) -> list[str]:
    """The payments a credit memo lists in its LinkedTxn (those that apply its credit)."""
    return [
        str(lt["TxnId"]) for lt in data.get("LinkedTxn") or [] if lt.get("TxnType") == "Payment" and lt.get("TxnId")
    ]


def split_credit(data: Mapping[str, Any]) -> tuple[list[Allocation], dict[str, list[Allocation]]]:
    """A payment's lines as (what its money paid on each invoice, what each credit memo it applies paid on
    each invoice). QuickBooks says only how much of each credit memo a payment uses, not on which invoice: the
    credit is taken to the payment's invoices in line order, first, and the money pays what is left."""
    invoices: list[list[Any]] = []
    credits: list[tuple[str, Decimal]] = []
    for line in data.get("Line") or []:
        amount = _dec(line.get("Amount")) or Decimal(0)
        for linked in line.get("LinkedTxn") or []:
            if linked.get("TxnType") == "Invoice" and linked.get("TxnId"):
                invoices.append([str(linked["TxnId"]), amount, amount])
                break
            if linked.get("TxnType") == "CreditMemo" and linked.get("TxnId"):
                credits.append((str(linked["TxnId"]), amount))
                break
    credit: dict[str, list[Allocation]] = {}
    for note_id, amount in credits:
        left = amount
        for inv in invoices:
            take = min(left, inv[2])
            if take <= 0:
                continue
            credit.setdefault(note_id, []).append(Allocation(invoice_id=inv[0], amount=take))
            inv[2] -= take
            left -= take
    cash = [Allocation(invoice_id=i, amount=rest) for i, whole, rest in invoices if rest > 0 or whole == 0]
    return cash, credit


def is_credit_application(data: Mapping[str, Any]) -> bool:
    """A payment of no money that only applies credit memos to invoices: a credit note's allocations, never a
    canonical payment."""
    total = _dec(data.get("TotalAmt")) or Decimal(0)
    linked = {lt.get("TxnType") for line in data.get("Line") or [] for lt in line.get("LinkedTxn") or []}
    return total == 0 and "CreditMemo" in linked and not is_voided(data)


def credit_application_to_qbo(
    note_id: str,
    customer: str,
    allocations: list[Allocation],
    *,
    date: dt.date,
    currency: str | None,
    number: str | None,
    remote_id: str | None = None,
    sync_token: str | None = None,
) -> dict[str, Any]:
    """A credit memo applied to invoices as QuickBooks records it: a payment of 0 whose lines link each invoice
    (the amount applied to it) and the credit memo (the sum), so the invoices' Balance and the credit memo's
    RemainingCredit both drop."""
    applied = sum((a.amount for a in allocations), Decimal(0))
    body: dict[str, Any] = {
        "CustomerRef": {"value": customer},
        "TotalAmt": Decimal(0),
        "TxnDate": date.isoformat(),
        "PrivateNote": f"Credit memo {number or note_id} applied",
        "Line": [
            *({"Amount": a.amount, "LinkedTxn": [{"TxnId": a.invoice_id, "TxnType": "Invoice"}]} for a in allocations),
            {"Amount": applied, "LinkedTxn": [{"TxnId": note_id, "TxnType": "CreditMemo"}]},
        ],
    }
    if currency is not None:
        body["CurrencyRef"] = {"value": currency}
    if remote_id is None:
        return body
    # A full update: the lines are replaced, not merged.
    return {"Id": remote_id, "SyncToken": sync_token or "0", **body}


# ---------------------------------------------------------------- refunds


def refund_to_qbo(
    refund: Refund, refs: Refs, *, remote_id: str | None = None, sync_token: str | None = None
) -> dict[str, Any]:
    """A refund as a RefundReceipt: money out of the deposit (bank) account to the customer, one line booked to
    the default service item. QuickBooks keeps no link from a refund receipt to a credit memo (Intuit's XSD:
    RefundReceipt is a SalesTransaction that names no credit memo), so `credit_note_id` is not held there."""
    customer = refund.contact_id or (
        refs.credit_customers.get(refund.credit_note_id or "") if refund.credit_note_id else None
    )
    if not customer:
        raise _error(
            ErrorCode.MISSING_DEPENDENCY,
            "QuickBooks needs the customer of this refund, and neither the refund nor its credit memo says who.",
            "Sync the credit note (or set the refund's customer) first, then retry; or skip.",
        )
    if refs.default_item_id is None:
        raise _error(
            ErrorCode.MISSING_DEPENDENCY,
            "QuickBooks needs a product or service on a refund receipt's line, and no default one is set.",
            "Set default_item_id to a QuickBooks service item, then retry.",
        )
    number = refs.credit_numbers.get(refund.credit_note_id or "") if refund.credit_note_id else None
    body: dict[str, Any] = {
        "CustomerRef": {"value": customer},
        "TxnDate": refund.date.isoformat(),
        "PrivateNote": refund.reference,
        "DepositToAccountRef": {"value": refund.account_code or refs.bank_account}
        if refund.account_code or refs.bank_account
        else None,
        "Line": [
            {
                "LineNum": 1,
                "Description": f"Refund of credit memo {number}" if number else "Refund",
                "Amount": refund.amount,
                "DetailType": "SalesItemLineDetail",
                "SalesItemLineDetail": {
                    "ItemRef": {"value": refs.default_item_id},
                    "Qty": Decimal(1),
                    "UnitPrice": refund.amount,
                },
            }
        ],
    }
    if refs.home_currency is None or refund.currency != refs.home_currency:
        body["CurrencyRef"] = {"value": refund.currency}
    return _identity(_clean(body), remote_id, sync_token)


def refund_from_qbo(data: Mapping[str, Any], refs: Refs) -> Refund:
    date = parse_date(data.get("TxnDate"))
    if date is None:
        raise ValueError("QBO refund receipt without a TxnDate")
    voided = is_voided(data)
    return Refund(
        id=str(data["Id"]),
        contact_id=_ref(data.get("CustomerRef")),
        date=date,
        amount=_dec(data.get("TotalAmt")) or Decimal(0),
        currency=_currency(data, refs),
        reference=None if voided else _str(data.get("PrivateNote")),
        account_code=_ref(data.get("DepositToAccountRef")),
        status=PaymentStatus.DELETED if voided else PaymentStatus.ACTIVE,
    )


# ---------------------------------------------------------------- payments


def payment_customer(payment: Payment, refs: Refs) -> str:
    """The customer a payment belongs to: its invoices' (QBO requires one customer for all of them)."""
    customers = {refs.invoice_customers.get(a.invoice_id) for a in payment.allocations}
    customers.discard(None)
    if len(customers) > 1:
        raise _error(
            ErrorCode.VALIDATION,
            "QuickBooks records a payment from one customer; these invoices belong to different customers.",
            "Split the payment per customer, or skip.",
        )
    found = next(iter(customers), None) or payment.contact_id
    if not found:
        raise _error(
            ErrorCode.MISSING_DEPENDENCY,
            "QuickBooks needs the customer of this payment, and neither its invoices nor its contact say who.",
            "Sync the customer or the invoices first, then retry; or skip.",
        )
    return found


def payment_to_qbo(
    payment: Payment, refs: Refs, *, remote_id: str | None = None, sync_token: str | None = None
) -> dict[str, Any]:
    if payment.amount < 0 or payment.unapplied < 0:
        raise _error(
            ErrorCode.VALIDATION,
            f"This payment of {payment.amount} applies {payment.allocated} to invoices, more than it is.",
            "Correct the amounts, or skip.",
        )
    body: dict[str, Any] = {
        "CustomerRef": {"value": payment_customer(payment, refs)},
        "TotalAmt": payment.amount,
        "TxnDate": payment.date.isoformat(),
        "PaymentRefNum": payment.reference,
        "DepositToAccountRef": {"value": payment.account_code or refs.deposit_account}
        if payment.account_code or refs.deposit_account
        else None,
        # One line per invoice; whatever the lines leave over is the customer's credit (UnappliedAmt).
        "Line": [
            {"Amount": a.amount, "LinkedTxn": [{"TxnId": a.invoice_id, "TxnType": "Invoice"}]}
            for a in payment.allocations
        ],
        "ExchangeRate": exchange_rate_to_qbo(payment.currency_rate),
    }
    if refs.home_currency is None or payment.currency != refs.home_currency:
        body["CurrencyRef"] = {"value": payment.currency}
    return _identity(_clean(body), remote_id, sync_token)


def linked_amounts(data: Mapping[str, Any], txn_type: str) -> list[tuple[str, Decimal]]:
    """(TxnId, Amount) of each Line that links a `txn_type` transaction: what a payment or a bill payment
    applies to each invoice or bill (the first such link of a line)."""
    out: list[tuple[str, Decimal]] = []
    for line in data.get("Line") or []:
        amount = _dec(line.get("Amount")) or Decimal(0)
        for linked in line.get("LinkedTxn") or []:
            if linked.get("TxnType") == txn_type and linked.get("TxnId"):
                out.append((str(linked["TxnId"]), amount))
                break
    return out


def payment_from_qbo(data: Mapping[str, Any], refs: Refs) -> Payment:
    date = parse_date(data.get("TxnDate"))
    if date is None:
        raise ValueError("QBO payment without a TxnDate")
    # What the payment's money paid: credit memos it applies pay their part of the invoices (credit notes'
    # allocations, read with the credit notes).
    allocations, _ = split_credit(data)
    return Payment(
        id=str(data["Id"]),
        contact_id=_ref(data.get("CustomerRef")),
        date=date,
        amount=_dec(data.get("TotalAmt")) or Decimal(0),
        currency=_currency(data, refs),
        currency_rate=exchange_rate_from_qbo(data),
        reference=_str(data.get("PaymentRefNum")),
        account_code=_ref(data.get("DepositToAccountRef")),
        allocations=allocations,
        status=PaymentStatus.DELETED if is_voided(data) else PaymentStatus.ACTIVE,
    )


# ---------------------------------------------------------------- dispatch


def to_qbo(
    entity: Entity,
    record: Record,
    refs: Refs,
    *,
    remote_id: str | None = None,
    sync_token: str | None = None,
) -> dict[str, Any]:
    """The QBO JSON for a canonical record; raises MappingError for what QuickBooks cannot hold."""
    from ledgersync.providers.qbo.vendor_mapping import vendor_to_qbo

    vendor = vendor_to_qbo(entity, record, refs, remote_id=remote_id, sync_token=sync_token)
    if vendor is not None:
        return vendor
    if entity is Entity.CONTACT and isinstance(record, Contact):
        return contact_to_qbo(record, remote_id=remote_id, sync_token=sync_token, home_currency=refs.home_currency)
    if entity is Entity.ITEM and isinstance(record, Item):
        return item_to_qbo(record, remote_id=remote_id, sync_token=sync_token, income_account=refs.income_account)
    if entity is Entity.INVOICE and isinstance(record, Invoice):
        return invoice_to_qbo(record, refs, remote_id=remote_id, sync_token=sync_token)
    if entity is Entity.PAYMENT and isinstance(record, Payment):
        return payment_to_qbo(record, refs, remote_id=remote_id, sync_token=sync_token)
    if entity is Entity.CREDIT_NOTE and isinstance(record, CreditNote):
        return credit_note_to_qbo(record, refs, remote_id=remote_id, sync_token=sync_token)
    if entity is Entity.REFUND and isinstance(record, Refund):
        return refund_to_qbo(record, refs, remote_id=remote_id, sync_token=sync_token)
    raise _error(
        ErrorCode.VALIDATION,
        f"A {type(record).__name__} can't be sent to QuickBooks as a {entity.value}.",
        "This is a bug in the integration; skip the record and report it.",
    )


def deleted_stub(entity: Entity, remote_id: str, updated: dt.datetime | None) -> RemoteRecord:
    """A record CDC reports as deleted: QBO returns only its Id, so the canonical record is a placeholder."""
    from ledgersync.providers.qbo.vendor_mapping import VENDOR_ENTITIES, vendor_deleted_stub

    date = (updated or dt.datetime.now(dt.UTC)).date()
    record: Record
    if entity in VENDOR_ENTITIES:
        record = vendor_deleted_stub(entity, remote_id, date)
    elif entity is Entity.PAYMENT:
        record = Payment(id=remote_id, date=date, amount=Decimal(0), status=PaymentStatus.DELETED)
    elif entity is Entity.CREDIT_NOTE:
        record = CreditNote(id=remote_id, contact_id="", date=date, status=InvoiceStatus.DELETED)
    elif entity is Entity.REFUND:
        record = Refund(id=remote_id, date=date, amount=Decimal(0), status=PaymentStatus.DELETED)
    else:
        record = Invoice(id=remote_id, contact_id="", date=date, status=InvoiceStatus.DELETED)
    return RemoteRecord(
        entity=entity, remote_id=remote_id, version="deleted", record=record, updated_at=updated, deleted=True
    )


def from_qbo(entity: Entity, data: Mapping[str, Any], refs: Refs) -> RemoteRecord:
    """A QBO object as a RemoteRecord: canonical record plus SyncToken, flags and numbers."""
    from ledgersync.providers.qbo.vendor_mapping import VENDOR_ENTITIES, vendor_from_qbo

    if entity in VENDOR_ENTITIES:
        return vendor_from_qbo(entity, data, refs)
    updated = parse_datetime((data.get("MetaData") or {}).get("LastUpdatedTime"))
    record: Record
    archived = deleted = False
    doc_number: str | None = None
    if entity is Entity.CONTACT:
        record = contact_from_qbo(data, home_currency=refs.home_currency)
        archived = not data.get("Active", True)
    elif entity is Entity.ITEM:
        record = item_from_qbo(data)
        archived = not data.get("Active", True)
    elif entity is Entity.INVOICE:
        record = invoice_from_qbo(data, refs)
        deleted = is_voided(data)
        doc_number = _str(data.get("DocNumber"))
    elif entity is Entity.CREDIT_NOTE:
        record = credit_note_from_qbo(data, refs)
        deleted = is_voided(data)
        doc_number = _str(data.get("DocNumber"))
    elif entity is Entity.REFUND:
        record = refund_from_qbo(data, refs)
        deleted = is_voided(data)
        doc_number = _str(data.get("DocNumber"))
    else:
        payment = payment_from_qbo(data, refs)
        record = payment
        deleted = is_voided(data)
        first = payment.allocations[0].invoice_id if payment.allocations else None
        doc_number = (refs.invoice_numbers.get(first) if first else None) or payment.reference
    if str(data.get("status") or "").lower() == "deleted":
        deleted = True
    return RemoteRecord(
        entity=entity,
        remote_id=record.id,
        version=str(data.get("SyncToken") or "0"),
        record=record,
        updated_at=updated,
        archived=archived,
        deleted=deleted,
        doc_number=doc_number,
    )
