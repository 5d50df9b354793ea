"""Canonical records <-> MYOB Business API JSON (field names and types of the .NET SDK's Version2 contracts).

Codes: the engine hands records over with this connection's codes already applied (its `account_codes` and
`tax_codes` maps); here they are MYOB's account DisplayIDs ("4-2000") and tax-code Codes ("GST"), turned into the
UIDs MYOB's links carry through `Refs`. Tracking goes to the invoice's Category (MYOB holds one category per
sale, not per line), through the connection's `category_codes` map."""

from __future__ import annotations

import base64
import datetime as dt
import hashlib
from collections.abc import Mapping
from dataclasses import dataclass, field
from decimal import ROUND_HALF_UP, Decimal
from typing import Any

from ledgersync.model import (
    Address,
    Allocation,
    Contact,
    ContactStatus,
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
    SyncError,
    Tracking,
)
from ledgersync.providers.base import RemoteRecord
from ledgersync.providers.session import dumps_exact

CENT = Decimal("0.01")
# Resource paths under /accountright/{businessId}/ (pymyob endpoints.py).
RESOURCE = {
    Entity.CONTACT: "Contact/Customer",
    Entity.ITEM: "Inventory/Item",
    Entity.INVOICE: "Sale/Invoice",
    Entity.PAYMENT: "Sale/CustomerPayment",
    Entity.CREDIT: "Sale/Invoice",
}
SERVICE_INVOICE = "Sale/Invoice/Service"
ITEM_INVOICE = "Sale/Invoice/Item"
# The name MYOB's tracking dimension goes by in canonical records.
CATEGORY = "Category"
# Card IDs (DisplayID) are at most 15 characters (AccountRight card file; UNVERIFIED against the API).
CARD_ID_LENGTH = 15
TAG_PREFIX = "LS"


def dumps(value: Any) -> bytes:
    """JSON with Decimals written as exact numbers (never through float)."""
    return dumps_exact(value).encode()


class MappingError(ValueError):
    """A canonical record MYOB cannot hold; carries the SyncError to report for that write."""

    def __init__(self, error: SyncError) -> None:
        super().__init__(error.message)
        self.error = error


def _refuse(message: str, hint: str, code: ErrorCode = ErrorCode.VALIDATION) -> MappingError:
    return MappingError(SyncError(code=code, message=message, hint=hint))


def unknown_account(code: str) -> SyncError:
    """An account number (DisplayID, "4-2000") the company file's Accounts List does not have."""
    return SyncError(
        code=ErrorCode.UNKNOWN_CODE,
        message=f"MYOB has no account {code}; map it in the connection's account codes.",
        hint=f"Map the app's account to an account number of this MYOB company file (its Accounts List), or add "
        f"{code} there (MYOB: Accounts > Accounts List), then retry.",
    )


def unknown_tax_code(code: str) -> SyncError:
    """A tax code ("GST", "N-T") the company file's Tax Codes list does not have."""
    return SyncError(
        code=ErrorCode.UNKNOWN_CODE,
        message=f"MYOB has no tax code {code}; map it in the connection's tax codes.",
        hint=f"Map the app's tax type to a tax code of this MYOB company file, or add {code} there "
        "(MYOB: Accounts > Tax Codes), then retry.",
    )


def tag(key: str, length: int = 8) -> str:
    """A short, stable tag from an idempotency key or app id, in characters every MYOB number field takes."""
    digest = base64.b32encode(hashlib.sha256(key.encode()).digest()).decode().rstrip("=")
    return TAG_PREFIX + digest[: length - len(TAG_PREFIX)]


def card_id(app_id: str) -> str:
    """The card ID (DisplayID) a contact is created with: the app's id where it fits, else a tag of it. Card IDs
    are unique in a company file, so a replayed create is refused and found again by it."""
    return app_id if 0 < len(app_id) <= CARD_ID_LENGTH and app_id != "*None" else tag(app_id, CARD_ID_LENGTH)


def parse_stamp(value: Any) -> dt.datetime | None:
    """A MYOB datetime (no offset; the API's own clock) as a naive datetime."""
    if not value:
        return None
    return dt.datetime.fromisoformat(str(value).rstrip("Z")).replace(tzinfo=None)


def to_stamp(value: dt.datetime) -> str:
    return value.strftime("%Y-%m-%dT%H:%M:%S.%f")[:-3]


def parse_date(value: Any) -> dt.date:
    return dt.date.fromisoformat(str(value)[:10])


def _date(value: dt.date) -> str:
    return f"{value.isoformat()}T00:00:00"


def dec(value: Any) -> Decimal:
    return Decimal(str(value if value is not None else 0))


@dataclass
class Refs:
    """A company file's reference lists, by code and by UID: accounts (DisplayID), tax codes (Code), categories
    (DisplayID), items (Number), and customers' UIDs of invoices seen (a payment names its customer)."""

    accounts: dict[str, dict[str, Any]] = field(default_factory=dict)
    taxes: dict[str, dict[str, Any]] = field(default_factory=dict)
    categories: dict[str, dict[str, Any]] = field(default_factory=dict)
    items: dict[str, dict[str, Any]] = field(default_factory=dict)
    invoice_customers: dict[str, str] = field(default_factory=dict)

    def _by_uid(self, table: dict[str, dict[str, Any]], uid: Any) -> str | None:
        for code, rec in table.items():
            if str(rec.get("UID")).lower() == str(uid).lower():
                return code
        return None

    def account(self, code: str) -> dict[str, Any]:
        rec = self.accounts.get(code)
        if rec is None:
            raise MappingError(unknown_account(code))
        return {"UID": rec["UID"]}

    def tax(self, code: str) -> dict[str, Any]:
        rec = self.taxes.get(code)
        if rec is None:
            raise MappingError(unknown_tax_code(code))
        return {"UID": rec["UID"]}

    def code_of_uid(self, uid: str) -> tuple[str, str] | None:
        """('account' | 'tax code', its code) of a UID this company file's lists hold, None if neither does."""
        if (code := self._by_uid(self.accounts, uid)) is not None:
            return "account", code
        if (code := self._by_uid(self.taxes, uid)) is not None:
            return "tax code", code
        return None

    def category(self, code: str) -> dict[str, Any]:
        rec = self.categories.get(code)
        if rec is None:
            raise _refuse(
                f"MYOB has no category {code} in this company file.",
                "Create the category in MYOB (Lists > Categories) or map it (category_codes), then retry.",
                ErrorCode.NOT_FOUND,
            )
        return {"UID": rec["UID"]}

    def account_code(self, link: Any) -> str | None:
        if not isinstance(link, Mapping):
            return None
        return str(link.get("DisplayID") or "") or self._by_uid(self.accounts, link.get("UID"))

    def tax_code(self, link: Any) -> str | None:
        if not isinstance(link, Mapping):
            return None
        return str(link.get("Code") or "") or self._by_uid(self.taxes, link.get("UID"))


@dataclass(frozen=True)
class Defaults:
    """What a record leaves out and MYOB requires: the accounts and tax codes used then (connection settings)."""

    income_account: str = "4-2000"
    deposit_account: str = "1-1110"
    tax_code: str = "N-T"
    no_tax_code: str = "N-T"
    currency: str = "AUD"
    # Purchase lines that name no account (orders and bills): AccountRight's General Expenses.
    expense_account: str = "6-1000"
    category_codes: Mapping[str, str] = field(default_factory=dict)


# ------------------------------------------------------------------------------------------------- contacts
def contact_to_myob(contact: Contact, app_id: str, current: Mapping[str, Any] | None = None) -> dict[str, Any]:
    body: dict[str, Any] = dict(current or {})
    body.update(
        CompanyName=contact.name,
        IsIndividual=False,
        IsActive=contact.status is not ContactStatus.ARCHIVED,
    )
    if current is None:
        body["DisplayID"] = card_id(app_id)
    address: dict[str, Any] = {"Location": 1}
    old = [a for a in (current or {}).get("Addresses") or [] if isinstance(a, Mapping)]
    if old:
        address.update({k: v for k, v in old[0].items()})
    a = contact.address or Address()
    street = "\n".join(x for x in (a.line1, a.line2) if x) or None
    person = " ".join(x for x in (contact.first_name, contact.last_name) if x) or None
    address.update(
        Street=street,
        City=a.city,
        State=a.region,
        PostCode=a.postal_code,
        Country=a.country,
        Phone1=contact.phone,
        Email=contact.email,
        ContactName=person,
    )
    body["Addresses"] = [address, *old[1:]]
    selling = dict(body.get("SellingDetails") or {})
    selling["ABN"] = contact.tax_number
    body["SellingDetails"] = selling
    return body


def contact_from_myob(data: Mapping[str, Any]) -> Contact:
    name = data.get("CompanyName") if not data.get("IsIndividual") else None
    if not name:
        name = " ".join(x for x in (data.get("FirstName"), data.get("LastName")) if x) or str(data.get("DisplayID"))
    addresses = [a for a in data.get("Addresses") or [] if isinstance(a, Mapping)]
    first = addresses[0] if addresses else {}
    lines = str(first.get("Street") or "").split("\n") if first.get("Street") else []
    address = None
    if any(first.get(k) for k in ("Street", "City", "State", "PostCode", "Country")):
        address = Address(
            line1=lines[0] if lines else None,
            line2="\n".join(lines[1:]) or None,
            city=first.get("City") or None,
            region=first.get("State") or None,
            postal_code=first.get("PostCode") or None,
            country=first.get("Country") or None,
        )
    person = str(first.get("ContactName") or "").split(" ", 1)
    individual = bool(data.get("IsIndividual"))
    return Contact(
        id=str(data["UID"]),
        name=str(name)[:255],
        email=first.get("Email") or None,
        first_name=(data.get("FirstName") if individual else (person[0] or None)) or None,
        last_name=(data.get("LastName") if individual else (person[1] if len(person) > 1 else None)) or None,
        phone=first.get("Phone1") or None,
        tax_number=(data.get("SellingDetails") or {}).get("ABN") or None,
        address=address,
        is_customer=True,
        status=ContactStatus.ACTIVE if data.get("IsActive", True) else ContactStatus.ARCHIVED,
    )


# ------------------------------------------------------------------------------------------------- items
def item_to_myob(
    item: Item, refs: Refs, defaults: Defaults, current: Mapping[str, Any] | None = None
) -> dict[str, Any]:
    body: dict[str, Any] = dict(current or {})
    selling = dict(body.get("SellingDetails") or {})
    body.update(
        Number=item.code,
        Name=item.name,
        Description=item.description,
        UseDescription=bool(item.description),
        IsSold=item.is_sold,
        IsBought=item.is_purchased,
        IsInventoried=False,
        IsActive=True,
    )
    if item.is_sold:
        body["IncomeAccount"] = refs.account(item.account_code or defaults.income_account)
    if item.unit_price is not None:
        selling["BaseSellingPrice"] = item.unit_price
        body["BaseSellingPrice"] = item.unit_price
    if item.tax_type:
        selling["TaxCode"] = refs.tax(item.tax_type)
    body["SellingDetails"] = selling
    return body


def item_from_myob(data: Mapping[str, Any], refs: Refs) -> Item:
    selling = data.get("SellingDetails") or {}
    price = selling.get("BaseSellingPrice", data.get("BaseSellingPrice"))
    return Item(
        id=str(data["UID"]),
        code=str(data.get("Number"))[:30],
        name=str(data.get("Name") or data.get("Number"))[:50],
        description=data.get("Description") or None,
        unit_price=dec(price) if price is not None else None,
        account_code=refs.account_code(data.get("IncomeAccount")),
        tax_type=refs.tax_code(selling.get("TaxCode")),
        is_sold=bool(data.get("IsSold", True)),
        is_purchased=bool(data.get("IsBought", False)),
    )


# ------------------------------------------------------------------------------------------------- invoices
def _category(lines: list[InvoiceLine], refs: Refs, defaults: Defaults) -> dict[str, Any] | None:
    options = {t.option for line in lines for t in line.tracking}
    if not options:
        return None
    if len(options) > 1:
        raise _refuse(
            "MYOB holds one category per invoice, and this invoice's lines carry several.",
            "Give every line the same tracking option (or none) and retry, or skip.",
        )
    option = options.pop()
    return refs.category(defaults.category_codes.get(option, option))


def invoice_to_myob(
    invoice: Invoice, refs: Refs, defaults: Defaults, current: Mapping[str, Any] | None = None
) -> dict[str, Any]:
    if invoice.currency != defaults.currency:
        raise _refuse(
            f"This MYOB connection keeps {defaults.currency}; the invoice is in {invoice.currency}.",
            "Multi-currency sales are not synced with MYOB yet; record it in MYOB by hand, or skip.",
        )
    if invoice.status in (InvoiceStatus.VOIDED, InvoiceStatus.DELETED):
        raise _refuse("A voided or deleted invoice is removed from MYOB, not written.", "Nothing needs doing.")
    no_tax = invoice.line_amount_types is LineAmountTypes.NO_TAX
    old_lines = [ln for ln in (current or {}).get("Lines") or [] if ln.get("Type", "Transaction") == "Transaction"]
    lines: list[dict[str, Any]] = []
    for index, line in enumerate(invoice.lines):
        out: dict[str, Any] = {
            "Type": "Transaction",
            "Description": line.description,
            "Total": line.line_amount,
            "UnitCount": line.quantity,
            "UnitPrice": line.unit_amount,
            "Account": refs.account(line.account_code or defaults.income_account),
            "TaxCode": refs.tax(defaults.no_tax_code if no_tax else (line.tax_type or defaults.tax_code)),
        }
        if line.discount_rate is not None:
            out["DiscountPercent"] = line.discount_rate
        if index < len(old_lines):
            # An update names each existing line by RowID with its current RowVersion (MYOB refuses a stale one).
            out["RowID"] = old_lines[index]["RowID"]
            out["RowVersion"] = old_lines[index]["RowVersion"]
        lines.append(out)
    body: dict[str, Any] = dict(current or {})
    body.pop("URI", None)
    body.update(
        Date=_date(invoice.date),
        Customer={"UID": invoice.contact_id},
        IsTaxInclusive=invoice.line_amount_types is LineAmountTypes.INCLUSIVE,
        CustomerPurchaseOrderNumber=invoice.reference,
        Lines=lines,
        Category=_category(invoice.lines, refs, defaults),
    )
    if invoice.number:
        body["Number"] = invoice.number
    if invoice.due_date is not None:
        days = (invoice.due_date - invoice.date).days
        terms = dict(body.get("Terms") or {})
        terms.update(PaymentIsDue="InAGivenNumberOfDays", BalanceDueDate=max(0, days), DueDate=None)
        body["Terms"] = terms
    return body


def _line_from_myob(line: Mapping[str, Any], refs: Refs, tracking: list[Tracking]) -> InvoiceLine:
    total = dec(line.get("Total"))
    qty = line.get("UnitCount", line.get("ShipQuantity"))
    price = line.get("UnitPrice")
    quantity = dec(qty) if qty is not None else Decimal(1)
    unit = dec(price) if price is not None else total
    discount = line.get("DiscountPercent")
    if qty is None and price is None:
        quantity, unit = Decimal(1), total
    item = line.get("Item") or {}
    return InvoiceLine(
        description=str(line.get("Description") or ""),
        quantity=quantity,
        unit_amount=unit,
        item_code=str(item["Number"]) if item.get("Number") else None,
        account_code=refs.account_code(line.get("Account")),
        tax_type=refs.tax_code(line.get("TaxCode")),
        discount_rate=dec(discount) if discount not in (None, 0, "0") else None,
        tracking=list(tracking),
    )


def invoice_from_myob(data: Mapping[str, Any], refs: Refs, defaults: Defaults) -> Invoice:
    category = data.get("Category") or {}
    tracking: list[Tracking] = []
    if category.get("DisplayID"):
        back = {v: k for k, v in reversed(list(defaults.category_codes.items()))}
        tracking = [Tracking(category=CATEGORY, option=back.get(category["DisplayID"], category["DisplayID"]))]
    lines = [
        _line_from_myob(ln, refs, tracking)
        for ln in data.get("Lines") or []
        if ln.get("Type", "Transaction") == "Transaction"
    ]
    total = dec(data.get("TotalAmount"))
    due = dec(data.get("BalanceDueAmount"))
    inclusive = bool(data.get("IsTaxInclusive"))
    kind = LineAmountTypes.INCLUSIVE if inclusive else LineAmountTypes.EXCLUSIVE
    if (
        not inclusive
        and lines
        and all(ln.tax_type == defaults.no_tax_code for ln in lines)
        and defaults.tax_code != defaults.no_tax_code
    ):
        kind = LineAmountTypes.NO_TAX
    terms = data.get("Terms") or {}
    due_date = None
    if terms.get("DueDate"):
        due_date = parse_date(terms["DueDate"])
    status = InvoiceStatus.PAID if data.get("Status") == "Closed" and total > 0 else InvoiceStatus.AUTHORISED
    date = parse_date(data.get("Date"))
    return Invoice(
        id=str(data["UID"]),
        contact_id=str((data.get("Customer") or {}).get("UID") or ""),
        number=str(data.get("Number") or "") or None,
        date=date,
        due_date=due_date,
        currency=defaults.currency,
        line_amount_types=kind,
        lines=lines,
        status=status,
        reference=data.get("CustomerPurchaseOrderNumber") or None,
        total=total,
        total_tax=dec(data.get("TotalTax")),
        amount_due=due,
        amount_paid=(total - due).quantize(CENT),
    )


# ------------------------------------------------------------------------------------------------- payments
def payment_to_myob(
    payment: Payment, customer_uid: str, receipt: str, refs: Refs, defaults: Defaults
) -> dict[str, Any]:
    if payment.currency != defaults.currency:
        raise _refuse(
            f"This MYOB connection keeps {defaults.currency}; the payment is in {payment.currency}.",
            "Multi-currency payments are not synced with MYOB yet; record it in MYOB by hand, or skip.",
        )
    if not payment.allocations:
        raise _refuse(
            "MYOB records a customer payment against invoices, and this one names none.",
            "Apply the payment to an invoice and retry, or skip.",
        )
    applied = sum((a.amount for a in payment.allocations), Decimal(0))
    if applied != payment.amount:
        raise _refuse(
            f"MYOB needs the amounts applied ({applied}) to add up to the amount received ({payment.amount}).",
            "Record the excess as customer credit, correct the amounts, or skip.",
            ErrorCode.OVERPAYMENT,
        )
    return {
        "DepositTo": "Account",
        "Account": refs.account(payment.account_code or defaults.deposit_account),
        "Customer": {"UID": customer_uid},
        "ReceiptNumber": receipt,
        "Date": _date(payment.date),
        "AmountReceived": payment.amount,
        "Memo": payment.reference,
        "Invoices": [{"UID": a.invoice_id, "AmountApplied": a.amount, "Type": "Invoice"} for a in payment.allocations],
    }


def payment_from_myob(data: Mapping[str, Any], refs: Refs, defaults: Defaults) -> Payment:
    return Payment(
        id=str(data["UID"]),
        contact_id=str((data.get("Customer") or {}).get("UID") or "") or None,
        date=parse_date(data.get("Date")),
        amount=dec(data.get("AmountReceived")).quantize(CENT, rounding=ROUND_HALF_UP),
        currency=defaults.currency,
        reference=data.get("Memo") or None,
        account_code=refs.account_code(data.get("Account")),
        allocations=[
            Allocation(invoice_id=str(line["UID"]), amount=dec(line.get("AmountApplied")))
            for line in data.get("Invoices") or []
            if line.get("Type", "Invoice") == "Invoice"
        ],
        status=PaymentStatus.ACTIVE,
    )


# ------------------------------------------------------------------------------------------------- customer credit
def credit_to_myob(credit: CustomerCredit, number: str, refs: Refs, defaults: Defaults) -> dict[str, Any]:
    """Customer credit as MYOB holds it: a sale for minus the amount (its Status is Credit), settled later against
    an invoice (CreditSettlement) or refunded (CreditRefund). Its line posts to the account the money went into,
    so the money received beyond the invoice is in the bank and the customer's balance shows the credit. This is
    the credit AccountRight's Receive Payments window makes of an amount applied beyond what is due
    (help.myob.com answer 9100)."""
    if credit.currency != defaults.currency:
        raise _refuse(
            f"This MYOB connection keeps {defaults.currency}; the credit is in {credit.currency}.",
            "Multi-currency credit is not synced with MYOB yet; record it in MYOB by hand, or skip.",
        )
    return {
        "Number": number,
        "Date": _date(credit.date),
        "Customer": {"UID": credit.contact_id},
        "IsTaxInclusive": True,
        "JournalMemo": credit.reference,
        "Lines": [
            {
                "Type": "Transaction",
                "Description": credit.reference or "Customer credit",
                "Total": -credit.amount,
                "Account": refs.account(credit.account_code or defaults.deposit_account),
                "TaxCode": refs.tax(defaults.no_tax_code),
            }
        ],
    }


def credit_from_myob(data: Mapping[str, Any], refs: Refs, defaults: Defaults) -> CustomerCredit:
    lines = [ln for ln in data.get("Lines") or [] if ln.get("Type", "Transaction") == "Transaction"]
    return CustomerCredit(
        id=str(data["UID"]),
        contact_id=str((data.get("Customer") or {}).get("UID") or ""),
        date=parse_date(data.get("Date")),
        amount=-dec(data.get("TotalAmount")),
        currency=defaults.currency,
        reference=data.get("JournalMemo") or None,
        account_code=refs.account_code(lines[0].get("Account")) if len(lines) == 1 else None,
        remaining_credit=-dec(data.get("BalanceDueAmount")),
    )


def is_credit(data: Mapping[str, Any]) -> bool:
    return dec(data.get("TotalAmount")) < 0


# ------------------------------------------------------------------------------------------------- both ways
def from_myob(entity: Entity, data: Mapping[str, Any], refs: Refs, defaults: Defaults) -> RemoteRecord:
    record: Record
    archived = False
    doc: str | None = None
    external: str | None = None
    if entity is Entity.CONTACT:
        record = contact_from_myob(data)
        archived = not data.get("IsActive", True)
        display = str(data.get("DisplayID") or "")
        external = display if display and display != "*None" and not display.startswith(TAG_PREFIX) else None
    elif entity is Entity.ITEM:
        record = item_from_myob(data, refs)
    elif entity is Entity.INVOICE:
        record = invoice_from_myob(data, refs, defaults)
        doc = record.number
        refs.invoice_customers[record.id] = record.contact_id
    elif entity is Entity.PAYMENT:
        record = payment_from_myob(data, refs, defaults)
        doc = ", ".join(str(line.get("Number")) for line in data.get("Invoices") or [] if line.get("Number")) or None
    elif entity is Entity.CREDIT:
        record = credit_from_myob(data, refs, defaults)
        doc = str(data.get("Number") or "") or None
    else:
        raise ValueError(f"MYOB does not sync {entity.value}")
    return RemoteRecord(
        entity=entity,
        remote_id=str(data["UID"]),
        version=str(data.get("RowVersion") or ""),
        record=record,
        updated_at=(parse_stamp(data.get("LastModified")) or dt.datetime(1970, 1, 1)).replace(tzinfo=dt.UTC),
        archived=archived,
        doc_number=doc,
        external_id=external,
    )


def deleted_stub(entity: Entity, remote_id: str) -> RemoteRecord:
    """A record that is gone from MYOB (found missing by comparing ids: MYOB has no delete feed)."""
    today = dt.date.today()
    record: Record
    if entity is Entity.PAYMENT:
        record = Payment(id=remote_id, date=today, amount=Decimal(0), status=PaymentStatus.DELETED)
    elif entity is Entity.CONTACT:
        record = Contact(id=remote_id, name="(deleted in MYOB)", status=ContactStatus.ARCHIVED)
    elif entity is Entity.ITEM:
        record = Item(id=remote_id, code="deleted", name="(deleted in MYOB)")
    elif entity is Entity.CREDIT:
        record = CustomerCredit(id=remote_id, contact_id="", date=today, amount=Decimal(0))
    else:
        record = Invoice(id=remote_id, contact_id="", date=today, status=InvoiceStatus.DELETED)
    # A card deleted in MYOB reads as archived in the app (the engine keeps contacts, archived).
    return RemoteRecord(
        entity=entity,
        remote_id=remote_id,
        version="deleted",
        record=record,
        archived=entity is Entity.CONTACT,
        deleted=True,
    )
