"""The vendor side <-> MYOB Business API JSON (the .NET SDK's Version2 Contact/Supplier and Purchase contracts):
suppliers are supplier cards, purchase orders and bills are service purchases (`Purchase/Order/Service`,
`Purchase/Bill/Service`: lines with an account and an amount), and bill payments are `Purchase/SupplierPayment`s.
A bill made from an order names it (Bill.Order), which converts the order (PurchaseOrderStatus ConvertedToBill).

Like the sales side, MYOB keeps no idempotency key: a supplier is found again by its card ID, an order and a bill
by their number, and a supplier payment by a payment number made from the write's key."""

from __future__ import annotations

from collections.abc import Mapping
from decimal import ROUND_HALF_UP, Decimal
from typing import Any

from ledgersync.model import (
    Bill,
    BillAllocation,
    BillPayment,
    ContactStatus,
    Entity,
    InvoiceLine,
    InvoiceStatus,
    LineAmountTypes,
    PaymentStatus,
    PurchaseOrder,
    PurchaseOrderStatus,
    Record,
    Supplier,
)
from ledgersync.providers.myob.mapping import (
    CENT,
    TAG_PREFIX,
    Defaults,
    Refs,
    _category,
    _date,
    _line_from_myob,
    _refuse,
    card_id,
    contact_from_myob,
    contact_to_myob,
    dec,
    parse_date,
)
from ledgersync.providers.util import supplier_as_contact

SUPPLIER = "Contact/Supplier"
SERVICE_ORDER = "Purchase/Order/Service"
SERVICE_BILL = "Purchase/Bill/Service"
SUPPLIER_PAYMENT = "Purchase/SupplierPayment"
# Where each vendor-side entity is read (a parent path lists every type of it).
VENDOR_RESOURCE = {
    Entity.SUPPLIER: SUPPLIER,
    Entity.PURCHASE_ORDER: "Purchase/Order",
    Entity.BILL: "Purchase/Bill",
    Entity.BILL_PAYMENT: SUPPLIER_PAYMENT,
}
VENDOR_ENTITIES = tuple(VENDOR_RESOURCE)
# Card IDs are unique across customers and suppliers in a company file: a supplier's carries this mark, so app
# ids shared by a customer and a supplier never collide.
SUPPLIER_MARK = "S:"


def supplier_card_id(app_id: str) -> str:
    return card_id(SUPPLIER_MARK + app_id)


# ------------------------------------------------------------------------------------------------- suppliers
def supplier_to_myob(supplier: Supplier, app_id: str, current: Mapping[str, Any] | None = None) -> dict[str, Any]:
    """A supplier card: the card fields as a customer's (contact_to_myob), its ABN under BuyingDetails."""
    body = contact_to_myob(supplier_as_contact(supplier), app_id, current)
    if current is None:
        body["DisplayID"] = supplier_card_id(app_id)
    selling = dict(body.pop("SellingDetails", None) or {})
    buying = dict(body.get("BuyingDetails") or {})
    buying["ABN"] = selling.get("ABN")
    body["BuyingDetails"] = buying
    return body


def supplier_from_myob(data: Mapping[str, Any]) -> Supplier:
    contact = contact_from_myob({**data, "SellingDetails": data.get("BuyingDetails") or {}})
    return Supplier(
        id=contact.id,
        name=contact.name,
        email=contact.email,
        first_name=contact.first_name,
        last_name=contact.last_name,
        phone=contact.phone,
        tax_number=contact.tax_number,
        address=contact.address,
        status=contact.status,
    )


# ------------------------------------------------------------------------------------------------- purchases
def _purchase_lines(
    lines: list[InvoiceLine], refs: Refs, defaults: Defaults, no_tax: bool, current: Mapping[str, Any] | None
) -> list[dict[str, Any]]:
    old = [ln for ln in (current or {}).get("Lines") or [] if ln.get("Type", "Transaction") == "Transaction"]
    out: list[dict[str, Any]] = []
    for index, line in enumerate(lines):
        row: dict[str, Any] = {
            "Type": "Transaction",
            "Description": line.description,
            "Total": line.line_amount,
            "UnitCount": line.quantity,
            "UnitPrice": line.unit_amount,
            "Account": refs.account(line.account_code or defaults.expense_account),
            "TaxCode": refs.tax(defaults.no_tax_code if no_tax else (line.tax_type or defaults.tax_code)),
        }
        if line.discount_rate is not None:
            row["DiscountPercent"] = line.discount_rate
        if index < len(old):
            row["RowID"] = old[index]["RowID"]
            row["RowVersion"] = old[index]["RowVersion"]
        out.append(row)
    return out


def _purchase_to_myob(
    record: PurchaseOrder | Bill, what: str, refs: Refs, defaults: Defaults, current: Mapping[str, Any] | None
) -> dict[str, Any]:
    if record.currency != defaults.currency:
        raise _refuse(
            f"This MYOB connection keeps {defaults.currency}; the {what} is in {record.currency}.",
            f"Multi-currency purchases are not synced with MYOB yet; enter the {what} in MYOB by hand, or skip.",
        )
    no_tax = record.line_amount_types is LineAmountTypes.NO_TAX
    body: dict[str, Any] = dict(current or {})
    body.pop("URI", None)
    body.update(
        Date=_date(record.date),
        Supplier={"UID": record.supplier_id},
        IsTaxInclusive=record.line_amount_types is LineAmountTypes.INCLUSIVE,
        JournalMemo=record.reference,
        Lines=_purchase_lines(record.lines, refs, defaults, no_tax, current),
        Category=_category(record.lines, refs, defaults),
    )
    if record.number:
        body["Number"] = record.number
    return body


def purchase_order_to_myob(
    po: PurchaseOrder, refs: Refs, defaults: Defaults, current: Mapping[str, Any] | None = None
) -> dict[str, Any]:
    if po.status is PurchaseOrderStatus.DELETED:
        raise _refuse("A deleted purchase order is removed from MYOB, not written.", "Nothing needs doing.")
    body = _purchase_to_myob(po, "purchase order", refs, defaults, current)
    if po.delivery_date is not None:
        body["PromisedDate"] = _date(po.delivery_date)
    return body


def bill_to_myob(
    bill: Bill, refs: Refs, defaults: Defaults, current: Mapping[str, Any] | None = None
) -> dict[str, Any]:
    if bill.status in (InvoiceStatus.VOIDED, InvoiceStatus.DELETED):
        raise _refuse("A voided or deleted bill is removed from MYOB, not written.", "Nothing needs doing.")
    body = _purchase_to_myob(bill, "bill", refs, defaults, current)
    body["SupplierInvoiceNumber"] = bill.number
    if bill.purchase_order_id:
        # The order it was made from: MYOB converts the order (ConvertedToBill).
        body["Order"] = {"UID": bill.purchase_order_id}
    if bill.due_date is not None:
        terms = dict(body.get("Terms") or {})
        days = max(0, (bill.due_date - bill.date).days)
        terms.update(PaymentIsDue="InAGivenNumberOfDays", BalanceDueDate=days, DueDate=None)
        body["Terms"] = terms
    return body


def _lines_back(data: Mapping[str, Any], refs: Refs) -> list[InvoiceLine]:
    return [
        _line_from_myob(ln, refs, [])
        for ln in data.get("Lines") or []
        if ln.get("Type", "Transaction") == "Transaction"
    ]


def _line_types(data: Mapping[str, Any], lines: list[InvoiceLine], defaults: Defaults) -> LineAmountTypes:
    if data.get("IsTaxInclusive"):
        return LineAmountTypes.INCLUSIVE
    if lines and all(ln.tax_type == defaults.no_tax_code for ln in lines) and defaults.tax_code != defaults.no_tax_code:
        return LineAmountTypes.NO_TAX
    return LineAmountTypes.EXCLUSIVE


def purchase_order_from_myob(data: Mapping[str, Any], refs: Refs, defaults: Defaults) -> PurchaseOrder:
    lines = _lines_back(data, refs)
    promised = data.get("PromisedDate")
    return PurchaseOrder(
        id=str(data["UID"]),
        supplier_id=str((data.get("Supplier") or {}).get("UID") or ""),
        number=str(data.get("Number") or "") or None,
        date=parse_date(data.get("Date")),
        delivery_date=parse_date(promised) if promised else None,
        currency=defaults.currency,
        line_amount_types=_line_types(data, lines, defaults),
        lines=lines,
        status=PurchaseOrderStatus.BILLED
        if data.get("Status") == "ConvertedToBill"
        else PurchaseOrderStatus.AUTHORISED,
        reference=data.get("JournalMemo") or None,
        total=dec(data.get("TotalAmount")),
        total_tax=dec(data.get("TotalTax")),
    )


def bill_from_myob(data: Mapping[str, Any], refs: Refs, defaults: Defaults) -> Bill:
    lines = _lines_back(data, refs)
    total = dec(data.get("TotalAmount"))
    due = dec(data.get("BalanceDueAmount"))
    terms = data.get("Terms") or {}
    order = data.get("Order") or {}
    return Bill(
        id=str(data["UID"]),
        supplier_id=str((data.get("Supplier") or {}).get("UID") or ""),
        number=str(data.get("SupplierInvoiceNumber") or data.get("Number") or "") or None,
        date=parse_date(data.get("Date")),
        due_date=parse_date(terms["DueDate"]) if terms.get("DueDate") else None,
        currency=defaults.currency,
        line_amount_types=_line_types(data, lines, defaults),
        lines=lines,
        status=InvoiceStatus.PAID if data.get("Status") == "Closed" and total > 0 else InvoiceStatus.AUTHORISED,
        reference=data.get("JournalMemo") or None,
        purchase_order_id=str(order["UID"]) if order.get("UID") else None,
        total=total,
        total_tax=dec(data.get("TotalTax")),
        amount_due=due,
        amount_paid=(total - due).quantize(CENT),
    )


# ------------------------------------------------------------------------------------------------- bill payments
def bill_payment_to_myob(
    payment: BillPayment, supplier_uid: str, number: str, refs: Refs, defaults: Defaults
) -> dict[str, Any]:
    if payment.currency != defaults.currency:
        raise _refuse(
            f"This MYOB connection keeps {defaults.currency}; the bill payment is in {payment.currency}.",
            "Multi-currency payments are not synced with MYOB yet; record it in MYOB by hand, or skip.",
        )
    if not payment.allocations:
        raise _refuse(
            "MYOB records a supplier payment against bills, and this one names none.",
            "Apply the payment to a bill and retry, or skip.",
        )
    applied = sum((a.amount for a in payment.allocations), Decimal(0))
    if applied != payment.amount:
        raise _refuse(
            f"MYOB needs the amounts applied ({applied}) to add up to the amount paid ({payment.amount}).",
            "Correct the amounts, or skip.",
        )
    return {
        "PayFrom": "Account",
        "Account": refs.account(payment.account_code or defaults.deposit_account),
        "Supplier": {"UID": supplier_uid},
        "PaymentNumber": number,
        "Date": _date(payment.date),
        "AmountPaid": payment.amount,
        "Memo": payment.reference,
        "Lines": [
            {"Type": "Bill", "Purchase": {"UID": a.bill_id}, "AmountApplied": a.amount} for a in payment.allocations
        ],
    }


def bill_payment_from_myob(data: Mapping[str, Any], refs: Refs, defaults: Defaults) -> BillPayment:
    return BillPayment(
        id=str(data["UID"]),
        supplier_id=str((data.get("Supplier") or {}).get("UID") or "") or None,
        date=parse_date(data.get("Date")),
        amount=dec(data.get("AmountPaid")).quantize(CENT, rounding=ROUND_HALF_UP),
        currency=defaults.currency,
        reference=data.get("Memo") or None,
        account_code=refs.account_code(data.get("Account")),
        allocations=[
            BillAllocation(bill_id=str(line["Purchase"]["UID"]), amount=dec(line.get("AmountApplied")))
            for line in data.get("Lines") or []
            if line.get("Type", "Bill") == "Bill" and (line.get("Purchase") or {}).get("UID")
        ],
        status=PaymentStatus.ACTIVE,
    )


# ------------------------------------------------------------------------------------------------- both ways
def vendor_from_myob(
    entity: Entity, data: Mapping[str, Any], refs: Refs, defaults: Defaults
) -> tuple[Record, bool, str | None, str | None]:
    """(record, archived, document number, external id) of a vendor-side MYOB record."""
    if entity is Entity.SUPPLIER:
        display = str(data.get("DisplayID") or "")
        external = display if display and display != "*None" and not display.startswith(TAG_PREFIX) else None
        if external and external.startswith(SUPPLIER_MARK):
            external = None
        return supplier_from_myob(data), not data.get("IsActive", True), None, external
    if entity is Entity.PURCHASE_ORDER:
        po = purchase_order_from_myob(data, refs, defaults)
        return po, False, po.number, None
    if entity is Entity.BILL:
        bill = bill_from_myob(data, refs, defaults)
        return bill, False, bill.number, None
    if entity is Entity.BILL_PAYMENT:
        payment = bill_payment_from_myob(data, refs, defaults)
        doc = ", ".join(str((ln.get("Purchase") or {}).get("Number")) for ln in data.get("Lines") or [])
        return payment, False, doc or None, None
    raise ValueError(f"MYOB does not sync {entity.value}")


def vendor_deleted(entity: Entity, remote_id: str) -> Record:
    """A vendor-side record gone from MYOB (found missing by comparing ids)."""
    import datetime as dt

    today = dt.date.today()
    if entity is Entity.SUPPLIER:
        return Supplier(id=remote_id, name="(deleted in MYOB)", status=ContactStatus.ARCHIVED)
    if entity is Entity.PURCHASE_ORDER:
        return PurchaseOrder(id=remote_id, supplier_id="", date=today, status=PurchaseOrderStatus.DELETED)
    if entity is Entity.BILL:
        return Bill(id=remote_id, supplier_id="", date=today, status=InvoiceStatus.DELETED)
    return BillPayment(id=remote_id, date=today, amount=Decimal(0), status=PaymentStatus.DELETED)


__all__ = [
    "SERVICE_BILL",
    "SERVICE_ORDER",
    "SUPPLIER",
    "SUPPLIER_PAYMENT",
    "VENDOR_ENTITIES",
    "VENDOR_RESOURCE",
    "bill_payment_to_myob",
    "bill_to_myob",
    "purchase_order_to_myob",
    "supplier_card_id",
    "supplier_to_myob",
    "vendor_deleted",
    "vendor_from_myob",
]
