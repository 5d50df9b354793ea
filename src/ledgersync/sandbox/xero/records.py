"""Xero business rules: validating, creating and updating records per collection, with Xero's error texts."""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from decimal import Decimal
from typing import Any

from .fields import FIELDS, LINE_FIELDS, TRACKING_FIELDS
from .state import ID_FIELDS, Tenant
from .util import ZERO, date_to_ms, money, ms_date, ms_to_iso, new_id, parse_date, public, to_dec

# Verbatim Xero messages (api-facts §1.6 and the sources cited there).
MSG_DUP_CONTACT = (
    "The contact name {name} is already assigned to another contact. "
    "The contact name must be unique across all active contacts."
)
MSG_CONTACT_IDENT = (
    "The Contact must contain at least 1 of the following elements to identify the contact: "
    "Name, ContactID, ContactNumber"
)
MSG_ARCHIVED = (
    "The contact with the specified contact details has been archived. "
    "The contact must be un-archived before creating new invoices or credit notes."
)
MSG_BAD_STATUS = "Invoice not of valid status for modification"
MSG_HAS_PAYMENTS = "This document cannot be edited as it has a reconciled payment or credit note allocated to it."
MSG_OVERPAY = "Payment amount exceeds the amount outstanding on this document"
MSG_PAY_NOT_AUTH = "Payments can only be made against Authorised documents"
MSG_DUP_INVOICE = "Invoice # must be unique."
MSG_DUP_PO = "Order number must be unique"
MSG_DUP_ITEM = "Price List Item with Code ''{code}'' already exists"
MSG_NOT_FOUND = "The document with the supplied id was not found for this endpoint."
MSG_ACCOUNT = "Account must be valid."
MSG_EMAIL = "Email address must be valid."
MSG_TAX = "The TaxType code {code} does not exist or cannot be used for this type of transaction."
# The texts below are not in the sources consulted (UNVERIFIED, see README).
MSG_ACCOUNT_CODE = "Account code '{code}' is not a valid code for this document."
MSG_DUP_CREDIT = "Credit Note # must be unique."
MSG_ITEM_CODE_REQUIRED = "Item Code must be specified."
MSG_ITEM_CODE_LONG = "Item Code must not be more than 30 characters long."
MSG_PAYMENT_UPDATE = "Payments can only be deleted, not updated."
MSG_TYPE = "The document type '{t}' is not valid."
MSG_ALLOC_EXCEEDS = "The amount allocated must be less than or equal to the remaining credit."
MSG_ALLOC_CURRENCY = "The credit and the invoice must be in the same currency."  # sandbox guess: the text
MSG_DUP_ACCOUNT_CODE = "Please enter a unique Code."
MSG_DUP_ACCOUNT_NAME = "Please enter a unique Name."

_EMAIL_RE = re.compile(r"^[^@\s]+@[^@\s]+\.[^@\s]+$")

# Fields the client may never set (Xero ignores them on input).
_READ_ONLY = {
    "UpdatedDateUTC",
    "HasValidationErrors",
    "ValidationErrors",
    "Warnings",
    "StatusAttributeString",
    "HasErrors",
    "HasAttachments",
    "Attachments",
    "SubTotal",
    "TotalTax",
    "Total",
    "AmountDue",
    "AmountPaid",
    "AmountCredited",
    "Payments",
    "CreditNotes",
    "Overpayments",
    "Prepayments",
    "FullyPaidOnDate",
    "Balances",
    "IsSupplier",
    "IsCustomer",
    "DateString",
    "DueDateString",
    "RemainingCredit",
    "Allocations",
    "ContactGroups",
}


class ElementError(Exception):
    def __init__(self, *messages: str) -> None:
        super().__init__("; ".join(messages))
        self.messages = list(messages)


@dataclass
class Ctx:
    """One write's context: the tenant plus the webhook events it produced."""

    tenant: Tenant
    events: list[tuple[str, str, str]] = field(default_factory=list)  # (category, type, resource id)

    def emit(self, category: str, etype: str, rid: str) -> None:
        self.events.append((category, etype, rid))


def today() -> date:
    return datetime.now(tz=UTC).date()


def set_date(rec: dict[str, Any], key: str, value: Any) -> None:
    if value in (None, ""):
        rec.pop(key, None)
        rec.pop(key + "String", None)
        return
    try:
        d = parse_date(value)
    except ValueError as exc:
        raise ElementError(f"{key} must be a valid date") from exc
    rec[key] = ms_date(date_to_ms(d))
    rec[key + "String"] = d.isoformat() + "T00:00:00"


def copy_writable(src: dict[str, Any], dst: dict[str, Any], skip: set[str]) -> None:
    for k, v in src.items():
        if k in _READ_ONLY or k in skip or k.startswith("_"):
            continue
        dst[k] = v


def ident(el: dict[str, Any], key: str) -> str | None:
    v = el.get(key)
    return str(v) if v not in (None, "") else None


# ---- Contacts ----------------------------------------------------------------------------------
def upsert_contact(ctx: Ctx, el: dict[str, Any], mode: str, target: str | None) -> dict[str, Any]:
    t = ctx.tenant
    existing: dict[str, Any] | None = None
    cid = target or ident(el, "ContactID")
    if cid:
        existing = t.get("Contacts", cid)
        if existing is None:
            raise ElementError(MSG_NOT_FOUND)
    elif mode == "POST" and ident(el, "ContactNumber"):
        found = t.lookup("Contacts", "ContactNumber", str(el["ContactNumber"]))
        existing = found[0] if found else None
    if existing is None and not ident(el, "Name"):
        raise ElementError(MSG_CONTACT_IDENT)
    rec: dict[str, Any] = (
        dict(existing)
        if existing
        else {
            "ContactID": new_id(),
            "ContactStatus": "ACTIVE",
            "Addresses": [],
            "Phones": [],
            "ContactGroups": [],
            "ContactPersons": [],
            "IsSupplier": False,
            "IsCustomer": False,
            "HasAttachments": False,
            "HasValidationErrors": False,
        }
    )
    copy_writable(el, rec, {"ContactID"})
    name = rec.get("Name")
    if not isinstance(name, str) or not name.strip():
        raise ElementError(MSG_CONTACT_IDENT)
    email = rec.get("EmailAddress")
    if email and not _EMAIL_RE.match(str(email)):
        raise ElementError(MSG_EMAIL)
    if rec.get("ContactStatus") not in ("ACTIVE", "ARCHIVED", "GDPRREQUEST"):
        raise ElementError(f"The ContactStatus '{rec.get('ContactStatus')}' is not valid.")
    if rec["ContactStatus"] == "ACTIVE":
        for other in t.lookup("Contacts", "Name", name):
            if other["ContactID"] != rec["ContactID"] and other.get("ContactStatus") == "ACTIVE":
                raise ElementError(MSG_DUP_CONTACT.format(name=name))
    t.put("Contacts", rec)
    ctx.emit("CONTACT", "UPDATE" if existing else "CREATE", rec["ContactID"])
    return rec


def resolve_contact(ctx: Ctx, ref: Any, allow_create: bool) -> tuple[dict[str, Any] | None, str | None]:
    """Find the contact an invoice names; Xero creates one when only an unknown Name is given."""
    t = ctx.tenant
    if not isinstance(ref, dict):
        raise ElementError(MSG_CONTACT_IDENT)
    if ident(ref, "ContactID"):
        c = t.get("Contacts", str(ref["ContactID"]))
        if c is None:
            raise ElementError(MSG_NOT_FOUND)
        return c, None
    if ident(ref, "ContactNumber"):
        found = t.lookup("Contacts", "ContactNumber", str(ref["ContactNumber"]))
        if found:
            return found[0], None
        if not ident(ref, "Name"):
            raise ElementError(MSG_NOT_FOUND)
    if ident(ref, "Name"):
        found = t.lookup("Contacts", "Name", str(ref["Name"]))
        active = [c for c in found if c.get("ContactStatus") == "ACTIVE"]
        if active or found:
            return (active or found)[0], None
        if allow_create:
            return None, str(ref["Name"])
    raise ElementError(MSG_CONTACT_IDENT)


def contact_summary(c: dict[str, Any]) -> dict[str, Any]:
    out = {
        "ContactID": c["ContactID"],
        "Name": c["Name"],
        "ContactStatus": c.get("ContactStatus", "ACTIVE"),
        "HasValidationErrors": False,
    }
    if c.get("ContactNumber"):
        out["ContactNumber"] = c["ContactNumber"]
    return out


# ---- Line items and totals ---------------------------------------------------------------------
def tax_rate(t: Tenant, code: str) -> Decimal:
    tr = t.data["TaxRates"].get(code)
    if tr is None or tr.get("Status") != "ACTIVE":
        raise ElementError(MSG_TAX.format(code=code))
    return to_dec(tr["EffectiveRate"])


def compute_lines(
    t: Tenant, lines: Any, amount_types: str, old_lines: list[dict[str, Any]] | None
) -> tuple[list[dict[str, Any]], Decimal, Decimal, Decimal]:
    if not isinstance(lines, list):
        raise ElementError("LineItems must be a list")
    known_ids = {li.get("LineItemID") for li in old_lines or []}
    out: list[dict[str, Any]] = []
    sum_lines, sum_tax = ZERO, ZERO
    for raw in lines:
        if not isinstance(raw, dict):
            raise ElementError("Invalid line item")
        li: dict[str, Any] = {k: v for k, v in raw.items() if k in LINE_FIELDS}
        lid = li.get("LineItemID")
        li["LineItemID"] = lid if lid in known_ids and lid else new_id()
        item = None
        if li.get("ItemCode"):
            found = t.lookup("Items", "Code", str(li["ItemCode"]))
            item = found[0] if found else None
            if item is None:
                raise ElementError(f"Item code '{li['ItemCode']}' is not valid.")
            sales = item.get("SalesDetails") or {}
            li.setdefault("Description", item.get("Description") or item.get("Name"))
            if "UnitAmount" not in li and sales.get("UnitPrice") is not None:
                li["UnitAmount"] = sales["UnitPrice"]
            if "AccountCode" not in li and sales.get("AccountCode"):
                li["AccountCode"] = sales["AccountCode"]
        try:
            qty = to_dec(li.get("Quantity"), Decimal(1))
            disc = to_dec(li.get("DiscountRate"), ZERO)
            if li.get("UnitAmount") is None and li.get("LineAmount") is not None:
                unit = to_dec(li["LineAmount"]) / (qty or Decimal(1))
            else:
                unit = to_dec(li.get("UnitAmount"), ZERO)
        except ValueError as exc:
            raise ElementError(str(exc)) from exc
        line_amount = money(qty * unit * (Decimal(100) - disc) / Decimal(100))
        account = None
        if li.get("AccountCode"):
            found = t.lookup("Accounts", "Code", str(li["AccountCode"]))
            account = found[0] if found else None
            if account is None:
                raise ElementError(MSG_ACCOUNT_CODE.format(code=li["AccountCode"]))
            li["AccountID"] = account["AccountID"]
        elif li.get("AccountID"):
            account = t.get("Accounts", str(li["AccountID"]))
            if account is None:
                raise ElementError(MSG_ACCOUNT)
            li["AccountCode"] = account["Code"]
        if amount_types == "NoTax":
            tax = ZERO
            li.setdefault("TaxType", "NONE")
        else:
            code = li.get("TaxType") or (account or {}).get("TaxType") or "NONE"
            li["TaxType"] = code
            rate = tax_rate(t, str(code))
            if amount_types == "Inclusive":
                tax = money(line_amount - line_amount * Decimal(100) / (Decimal(100) + rate))
            else:
                tax = money(line_amount * rate / Decimal(100))
        li["Quantity"] = qty.quantize(Decimal("0.0001"))
        li["UnitAmount"] = money(unit) if unit == money(unit) else unit.quantize(Decimal("0.0001"))
        li["LineAmount"] = line_amount
        li["TaxAmount"] = tax
        tracking = li.get("Tracking") or []
        resolve_tracking(t, tracking)
        li["Tracking"] = [
            {k: v for k, v in tr.items() if k in TRACKING_FIELDS} for tr in tracking if isinstance(tr, dict)
        ]
        sum_lines += line_amount
        sum_tax += tax
        out.append(li)
    if amount_types == "Inclusive":
        total = sum_lines
        sub = total - sum_tax
    else:
        sub = sum_lines
        total = sub + sum_tax
    return out, money(sub), money(sum_tax), money(total)


def resolve_tracking(t: Tenant, tracking: Any) -> None:
    if not isinstance(tracking, list):
        raise ElementError("Tracking must be a list")
    for tr in tracking:
        if isinstance(tr, dict) and not tr.get("Name") and tr.get("TrackingCategoryID"):
            # A reference by ids only (as BankTransfers' FromTracking/ToTracking are written).
            cat_by_id = t.get("TrackingCategories", str(tr["TrackingCategoryID"]))
            options = (cat_by_id or {}).get("Options", [])
            opt_by_id = next((o for o in options if o["TrackingOptionID"] == tr.get("TrackingOptionID")), None)
            if cat_by_id is None or opt_by_id is None:
                raise ElementError("Tracking category or option is not valid.")
            tr.update(Name=cat_by_id["Name"], Option=opt_by_id["Name"])
            continue
        if not isinstance(tr, dict) or not tr.get("Name"):
            continue
        cats = t.lookup("TrackingCategories", "Name", str(tr["Name"]))
        if not cats:
            raise ElementError(f"Tracking category '{tr['Name']}' does not exist.")
        cat = cats[0]
        tr["TrackingCategoryID"] = cat["TrackingCategoryID"]
        opt = next(
            (o for o in cat["Options"] if str(o["Name"]).casefold() == str(tr.get("Option", "")).casefold()),
            None,
        )
        if opt is None:
            raise ElementError(f"Tracking option '{tr.get('Option')}' does not exist for category '{tr['Name']}'.")
        tr["TrackingOptionID"] = opt["TrackingOptionID"]
        tr["Option"] = opt["Name"]


# ---- Documents (Invoices, CreditNotes, PurchaseOrders) ----------------------------------------
@dataclass(frozen=True)
class DocKind:
    coll: str
    id_field: str
    number_field: str
    prefix: str
    types: tuple[str, ...]
    auto_types: tuple[str, ...]
    dup_msg: str
    category: str | None
    statuses: tuple[str, ...]
    locked: tuple[str, ...]


INVOICE = DocKind(
    "Invoices",
    "InvoiceID",
    "InvoiceNumber",
    "INV",
    ("ACCREC", "ACCPAY"),
    ("ACCREC",),
    MSG_DUP_INVOICE,
    "INVOICE",
    ("DRAFT", "SUBMITTED", "AUTHORISED", "DELETED", "VOIDED"),
    ("PAID", "VOIDED", "DELETED"),
)
CREDIT_NOTE = DocKind(
    "CreditNotes",
    "CreditNoteID",
    "CreditNoteNumber",
    "CN",
    ("ACCRECCREDIT", "ACCPAYCREDIT"),
    ("ACCRECCREDIT",),
    MSG_DUP_CREDIT,
    "CREDITNOTE",
    ("DRAFT", "SUBMITTED", "AUTHORISED", "DELETED", "VOIDED"),
    ("PAID", "VOIDED", "DELETED"),
)
PURCHASE_ORDER = DocKind(
    "PurchaseOrders",
    "PurchaseOrderID",
    "PurchaseOrderNumber",
    "PO",
    (),
    ("",),
    MSG_DUP_PO,
    None,
    ("DRAFT", "SUBMITTED", "AUTHORISED", "BILLED", "DELETED"),
    ("DELETED",),
)


def upsert_document(kind: DocKind, ctx: Ctx, el: dict[str, Any], mode: str, target: str | None) -> dict[str, Any]:
    t = ctx.tenant
    existing: dict[str, Any] | None = None
    did = target or ident(el, kind.id_field)
    if did:
        existing = t.get(kind.coll, did)
        if existing is None and kind.coll == "PurchaseOrders" and target:
            found = t.lookup(kind.coll, kind.number_field, target)
            existing = found[0] if found else None
        if existing is None:
            raise ElementError(MSG_NOT_FOUND)
    elif mode == "POST" and ident(el, kind.number_field):
        found = [
            r
            for r in t.lookup(kind.coll, kind.number_field, str(el[kind.number_field]))
            if r.get("Status") != "DELETED"
        ]
        existing = found[0] if found else None
    paid = ZERO
    if existing is not None:
        paid = to_dec(existing.get("AmountPaid"), ZERO) + to_dec(existing.get("AmountCredited"), ZERO)
        if existing["Status"] in kind.locked:
            raise ElementError(MSG_BAD_STATUS)
    rec: dict[str, Any] = dict(existing) if existing else {kind.id_field: new_id(), "Status": "DRAFT"}
    new_status = str(el.get("Status") or rec["Status"])
    if new_status not in kind.statuses:
        raise ElementError(MSG_BAD_STATUS if existing else f"The status '{new_status}' is not valid.")
    if existing is not None and new_status != existing["Status"]:
        old = existing["Status"]
        order = ["DRAFT", "SUBMITTED", "AUTHORISED", "BILLED"]
        if new_status == "DELETED" and old not in ("DRAFT", "SUBMITTED"):
            raise ElementError(MSG_BAD_STATUS)
        if new_status == "VOIDED":
            if old != "AUTHORISED":
                raise ElementError(MSG_BAD_STATUS)
            if paid > 0:
                raise ElementError(MSG_HAS_PAYMENTS)
        if new_status in order and old in order and order.index(new_status) < order.index(old):
            raise ElementError(MSG_BAD_STATUS)
    if kind.types:
        typ = el.get("Type") or rec.get("Type")
        if typ not in kind.types:
            raise ElementError(MSG_TYPE.format(t=typ))
        if existing is not None and el.get("Type") and el["Type"] != existing["Type"]:
            raise ElementError(MSG_BAD_STATUS)
        rec["Type"] = typ
    # An empty Contact object (SDKs and the spec's examples send one) names no contact: it changes nothing.
    if el.get("Contact") == {} and existing is not None:
        el = {k: v for k, v in el.items() if k != "Contact"}
    financial = any(k in el for k in ("LineItems", "Contact", "LineAmountTypes", "CurrencyCode"))
    if existing is not None and paid > 0 and financial:
        raise ElementError(MSG_HAS_PAYMENTS)
    # Contact
    pending_contact: str | None = None
    contact: dict[str, Any] | None = None
    if "Contact" in el or existing is None:
        if existing is None and "Contact" not in el:
            raise ElementError(MSG_CONTACT_IDENT)
        contact, pending_contact = resolve_contact(ctx, el["Contact"], allow_create=True)
        if contact is not None and contact.get("ContactStatus") == "ARCHIVED":
            raise ElementError(MSG_ARCHIVED)
    copy_writable(
        el,
        rec,
        {
            kind.id_field,
            "Contact",
            "LineItems",
            "Date",
            "DueDate",
            "DeliveryDate",
            "ExpectedArrivalDate",
            "Status",
            "Type",
        },
    )
    rec["Status"] = new_status
    # Number
    number = el.get(kind.number_field)
    typ_now = rec.get("Type", "")
    if number not in (None, ""):
        if number != (existing or {}).get(kind.number_field) and (kind.coll != "Invoices" or typ_now == "ACCREC"):
            for other in t.lookup(kind.coll, kind.number_field, str(number)):
                if (
                    other[kind.id_field] != rec[kind.id_field]
                    and other.get("Status") != "DELETED"
                    and (other.get("Type") == typ_now or kind.coll == "PurchaseOrders")
                ):
                    raise ElementError(kind.dup_msg)
        rec[kind.number_field] = str(number)
    elif existing is None and typ_now in kind.auto_types:
        rec[kind.number_field] = t.next_number(kind.prefix, kind.coll, kind.number_field)
    # Dates
    for dkey in ("Date", "DueDate", "DeliveryDate", "ExpectedArrivalDate"):
        if dkey in el:
            set_date(rec, dkey, el[dkey])
    if "Date" not in rec:
        set_date(rec, "Date", today())
    rec.setdefault("LineAmountTypes", "Exclusive")
    if rec["LineAmountTypes"] not in ("Exclusive", "Inclusive", "NoTax"):
        raise ElementError(f"LineAmountTypes '{rec['LineAmountTypes']}' is not valid.")
    from .currency import check as check_currency

    check_currency(t, rec, el.get("CurrencyRate"))
    if "LineItems" in el or existing is None or "LineAmountTypes" in el:
        lines, sub, tax, total = compute_lines(
            t, el.get("LineItems", rec.get("LineItems", [])), rec["LineAmountTypes"], rec.get("LineItems")
        )
        rec.update(LineItems=lines, SubTotal=sub, TotalTax=tax, Total=total)
    # Only now, with the element known valid, create the contact Xero would auto-create.
    if pending_contact is not None:
        contact = upsert_contact(ctx, {"Name": pending_contact}, "PUT", None)
    if contact is not None:
        rec["Contact"] = contact_summary(contact)
        flag = "IsCustomer" if typ_now in ("ACCREC", "ACCRECCREDIT") else "IsSupplier"
        if kind.coll != "PurchaseOrders" and not contact.get(flag):
            # Xero documents that IsCustomer/IsSupplier changes do not bump UpdatedDateUTC.
            t.put("Contacts", {**contact, flag: True}, touch=False)
    if kind.coll != "PurchaseOrders":
        rec.setdefault("HasAttachments", False)
        rec.setdefault("HasErrors", False)
        rec.setdefault("SentToContact", False)
        rec.setdefault("IsDiscounted", False)
        settle(rec, kind)
    t.put(kind.coll, rec)
    if kind.coll == "Invoices":
        from .stock import restock

        lines = [*rec.get("LineItems", []), *(existing or {}).get("LineItems", [])]
        restock(t, [str(li.get("ItemCode") or "") for li in lines])
    if kind.category:
        ctx.emit(kind.category, "UPDATE" if existing else "CREATE", rec[kind.id_field])
    return rec


def settle(rec: dict[str, Any], kind: DocKind) -> None:
    """Recompute AmountPaid/AmountCredited/AmountDue and PAID<->AUTHORISED from payments and allocations."""
    pays = [p for p in rec.get("_payments", {}).values() if p.get("Status") != "DELETED"]
    allocs = list(rec.get("_allocations", {}).values())
    if kind.coll == "CreditNotes":
        # A credit note's own allocations (what it applied to invoices) use its credit, beside its refunds.
        allocs = [
            {"Amount": a["Amount"], "_date_ms": int(str(a["Date"])[6:-7]), "Source": ""}
            for a in rec.get("Allocations", [])
        ]
    paid = money(sum((to_dec(p["Amount"]) for p in pays), ZERO))
    credited = money(sum((to_dec(a["Amount"]) for a in allocs), ZERO))
    total = to_dec(rec.get("Total"), ZERO)
    rec["Payments"] = [
        {
            "PaymentID": p["PaymentID"],
            "Date": p["Date"],
            "Amount": p["Amount"],
            "Reference": p.get("Reference", ""),
            "CurrencyRate": p.get("CurrencyRate", Decimal("1.000000")),
            "HasAccount": False,
            "HasValidationErrors": False,
        }
        for p in pays
    ]
    rec["Overpayments"] = [
        {"OverpaymentID": a["SourceID"], "Total": a["SourceTotal"], "AppliedAmount": a["Amount"]}
        for a in allocs
        if a["Source"] == "Overpayments"
    ]
    rec["CreditNotes"] = [
        {"CreditNoteID": a["SourceID"], "Total": a["SourceTotal"], "AppliedAmount": a["Amount"]}
        for a in allocs
        if a["Source"] == "CreditNotes"
    ]
    rec["Prepayments"] = [
        {"PrepaymentID": a["SourceID"], "Total": a["SourceTotal"], "AppliedAmount": a["Amount"]}
        for a in allocs
        if a["Source"] == "Prepayments"
    ]
    if kind.coll == "CreditNotes":
        rec["AmountPaid"] = paid
        rec["AmountCredited"] = credited
        rec["RemainingCredit"] = money(total - paid - credited)
        rec["AmountDue"] = rec["RemainingCredit"]
    else:
        rec["AmountPaid"] = paid
        rec["AmountCredited"] = credited
        rec["AmountDue"] = money(total - paid - credited)
    settled = paid + credited
    if rec["Status"] == "AUTHORISED" and rec["AmountDue"] <= 0 and settled > 0:
        rec["Status"] = "PAID"
        last = max([p["_date_ms"] for p in pays] + [a["_date_ms"] for a in allocs])
        rec["FullyPaidOnDate"] = ms_date(last)
    elif rec["Status"] == "PAID" and rec["AmountDue"] > 0:
        rec["Status"] = "AUTHORISED"
        rec.pop("FullyPaidOnDate", None)


# ---- Payments -----------------------------------------------------------------------------------
def _resolve_account_for_payment(t: Tenant, ref: Any) -> dict[str, Any]:
    if not isinstance(ref, dict):
        raise ElementError(MSG_ACCOUNT)
    acc = None
    if ident(ref, "AccountID"):
        acc = t.get("Accounts", str(ref["AccountID"]))
    elif ident(ref, "Code"):
        found = t.lookup("Accounts", "Code", str(ref["Code"]))
        acc = found[0] if found else None
    if acc is None or not (acc.get("Type") == "BANK" or acc.get("EnablePaymentsToAccount")):
        raise ElementError(MSG_ACCOUNT)
    return acc


def resolve_doc(t: Tenant, kind: DocKind, ref: Any) -> dict[str, Any]:
    if not isinstance(ref, dict):
        raise ElementError(MSG_NOT_FOUND)
    doc = None
    if ident(ref, kind.id_field):
        doc = t.get(kind.coll, str(ref[kind.id_field]))
    elif ident(ref, kind.number_field):
        found = [
            r
            for r in t.lookup(kind.coll, kind.number_field, str(ref[kind.number_field]))
            if r.get("Status") != "DELETED"
        ]
        doc = found[0] if found else None
    if doc is None:
        raise ElementError(MSG_NOT_FOUND)
    return doc


def upsert_payment(ctx: Ctx, el: dict[str, Any], mode: str, target: str | None) -> dict[str, Any]:
    t = ctx.tenant
    pid = target or (ident(el, "PaymentID") if mode == "POST" else None)
    if pid:
        return _delete_payment(ctx, pid, el)
    if el.get("Invoice") is not None:
        kind, doc = INVOICE, resolve_doc(t, INVOICE, el.get("Invoice"))
    elif el.get("CreditNote") is not None:
        kind, doc = CREDIT_NOTE, resolve_doc(t, CREDIT_NOTE, el.get("CreditNote"))
    elif el.get("Overpayment") is not None or el.get("Prepayment") is not None:
        return _refund_credit(ctx, el)
    else:
        raise ElementError(MSG_NOT_FOUND)
    acc = _resolve_account_for_payment(t, el.get("Account"))
    if doc["Status"] != "AUTHORISED":
        raise ElementError(MSG_PAY_NOT_AUTH)
    try:
        amount = money(el.get("Amount"))
    except ValueError as exc:
        raise ElementError("Payment amount must be specified") from exc
    if amount <= 0:
        raise ElementError("Payment amount must be greater than zero")
    if amount > to_dec(doc["AmountDue"]):
        raise ElementError(MSG_OVERPAY)
    pay: dict[str, Any] = {"PaymentID": new_id()}
    set_date(pay, "Date", el.get("Date") or today())
    pay.pop("DateString", None)
    from .currency import payment_rate

    rate = payment_rate(t, doc, el.get("CurrencyRate"))
    pay.update(
        Amount=amount,
        # The bank account is in the base currency: the payment's amount at its rate.
        BankAmount=money(amount / rate),
        Reference=str(el.get("Reference") or ""),
        CurrencyRate=rate,
        Status="AUTHORISED",
        HasAccount=True,
        HasValidationErrors=False,
        IsReconciled=bool(el.get("IsReconciled", False)),
        PaymentType={
            "ACCREC": "ACCRECPAYMENT",
            "ACCPAY": "ACCPAYPAYMENT",
            "ACCRECCREDIT": "ARCREDITPAYMENT",
            "ACCPAYCREDIT": "APCREDITPAYMENT",
        }[doc["Type"]],
        Account={"AccountID": acc["AccountID"], "Code": acc["Code"]},
    )
    docref = {
        kind.id_field: doc[kind.id_field],
        "Type": doc["Type"],
        "Contact": doc.get("Contact"),
        # The document's currency: a payment is in it (Payment.Invoice is an Invoice, CurrencyCode included).
        "CurrencyCode": doc.get("CurrencyCode") or "AUD",
    }
    if doc.get(kind.number_field):
        docref[kind.number_field] = doc[kind.number_field]
    pay["Invoice" if kind is INVOICE else "CreditNote"] = docref
    pay["_doc"] = [kind.coll, doc[kind.id_field]]
    t.put("Payments", pay)
    _attach_payment(ctx, kind, doc, pay)
    return pay


_CREDIT_PAYMENT_TYPES = {
    "RECEIVE-OVERPAYMENT": "AROVERPAYMENTPAYMENT",
    "RECEIVE-PREPAYMENT": "ARPREPAYMENTPAYMENT",
    "SPEND-OVERPAYMENT": "APOVERPAYMENTPAYMENT",
    "SPEND-PREPAYMENT": "APPREPAYMENTPAYMENT",
}


def _refund_credit(ctx: Ctx, el: dict[str, Any]) -> dict[str, Any]:
    """A payment on an overpayment or prepayment: its credit refunded (to a customer) from a bank account. The
    credit's RemainingCredit drops by it (PAID at nothing) and it lists the payment in Payments."""
    t = ctx.tenant
    coll, field = (
        ("Overpayments", "Overpayment") if el.get("Overpayment") is not None else ("Prepayments", "Prepayment")
    )
    ref = el.get(field)
    src = t.get(coll, str(ref.get(ID_FIELDS[coll]))) if isinstance(ref, dict) and ident(ref, ID_FIELDS[coll]) else None
    if src is None:
        raise ElementError(MSG_NOT_FOUND)
    acc = _resolve_account_for_payment(t, el.get("Account"))
    if src["Status"] != "AUTHORISED":
        raise ElementError(MSG_PAY_NOT_AUTH)
    try:
        amount = money(el.get("Amount"))
    except ValueError as exc:
        raise ElementError("Payment amount must be specified") from exc
    if amount <= 0:
        raise ElementError("Payment amount must be greater than zero")
    if amount > to_dec(src["RemainingCredit"]):
        raise ElementError(MSG_OVERPAY)
    pay: dict[str, Any] = {"PaymentID": new_id()}
    set_date(pay, "Date", el.get("Date") or today())
    pay.pop("DateString", None)
    pay.update(
        Amount=amount,
        BankAmount=amount,
        Reference=str(el.get("Reference") or ""),
        CurrencyRate=Decimal("1.000000"),
        Status="AUTHORISED",
        HasAccount=True,
        HasValidationErrors=False,
        IsReconciled=bool(el.get("IsReconciled", False)),
        PaymentType=_CREDIT_PAYMENT_TYPES[str(src["Type"])],
        Account={"AccountID": acc["AccountID"], "Code": acc["Code"]},
    )
    pay[field] = {ID_FIELDS[coll]: src[ID_FIELDS[coll]], "Type": src["Type"], "Contact": src.get("Contact")}
    pay["_doc"] = [coll, src[ID_FIELDS[coll]]]
    t.put("Payments", pay)
    _credit_payments(ctx, coll, src, pay, amount)
    return pay


def _credit_payments(ctx: Ctx, coll: str, src: dict[str, Any], pay: dict[str, Any], change: Decimal) -> None:
    """An overpayment's or prepayment's refund added (change > 0) or deleted (change < 0)."""
    upd = dict(src)
    summary = {
        "PaymentID": pay["PaymentID"],
        "Date": pay["Date"],
        "Amount": pay["Amount"],
        "Reference": pay["Reference"],
    }
    others = [p for p in upd.get("Payments", []) if p.get("PaymentID") != pay["PaymentID"]]
    upd["Payments"] = [*others, summary] if change > 0 else others
    upd["RemainingCredit"] = money(to_dec(src["RemainingCredit"]) - change)
    if upd["RemainingCredit"] == 0 and upd["Status"] == "AUTHORISED":
        upd["Status"] = "PAID"
    elif upd["RemainingCredit"] > 0 and upd["Status"] == "PAID":
        upd["Status"] = "AUTHORISED"
    ctx.tenant.put(coll, upd)


def _attach_payment(ctx: Ctx, kind: DocKind, doc: dict[str, Any], pay: dict[str, Any]) -> None:
    upd = dict(doc)
    pays = dict(upd.get("_payments", {}))
    pays[pay["PaymentID"]] = {
        "PaymentID": pay["PaymentID"],
        "Date": pay["Date"],
        "Amount": pay["Amount"],
        "Reference": pay["Reference"],
        "Status": pay["Status"],
        "CurrencyRate": pay.get("CurrencyRate", Decimal("1.000000")),
        "_date_ms": int(pay["Date"][6:-7]),
    }
    upd["_payments"] = pays
    settle(upd, kind)
    ctx.tenant.put(kind.coll, upd)
    if kind.category:
        ctx.emit(kind.category, "UPDATE", upd[kind.id_field])


def _delete_payment(ctx: Ctx, pid: str, el: dict[str, Any]) -> dict[str, Any]:
    t = ctx.tenant
    pay = t.get("Payments", pid)
    if pay is None:
        raise ElementError(MSG_NOT_FOUND)
    # Only a status change to DELETED is accepted; SDKs also echo read-only defaults, which are ignored.
    if el.get("Status") != "DELETED":
        raise ElementError(MSG_PAYMENT_UPDATE)
    if pay["Status"] == "DELETED":
        return pay
    pay = t.put("Payments", {**pay, "Status": "DELETED"})
    coll, did = pay["_doc"]
    if coll in ("Overpayments", "Prepayments"):
        credit = t.get(coll, did)
        if credit is not None:
            _credit_payments(ctx, coll, credit, pay, -to_dec(pay["Amount"]))
        return pay
    kind = INVOICE if coll == "Invoices" else CREDIT_NOTE
    doc = t.get(coll, did)
    if doc is not None:
        _attach_payment(ctx, kind, doc, pay)
    return pay


# ---- Items --------------------------------------------------------------------------------------
def upsert_item(ctx: Ctx, el: dict[str, Any], mode: str, target: str | None) -> dict[str, Any]:
    t = ctx.tenant
    existing = None
    iid = target or ident(el, "ItemID")
    if iid:
        existing = t.get("Items", iid)
        if existing is None:
            raise ElementError(MSG_NOT_FOUND)
    elif mode == "POST" and ident(el, "Code"):
        found = t.lookup("Items", "Code", str(el["Code"]))
        existing = found[0] if found else None
    rec: dict[str, Any] = (
        dict(existing)
        if existing
        else {
            "ItemID": new_id(),
            "IsSold": True,
            "IsPurchased": True,
            "IsTrackedAsInventory": False,
        }
    )
    copy_writable(el, rec, {"ItemID"})
    code = rec.get("Code")
    if not isinstance(code, str) or not code.strip():
        raise ElementError(MSG_ITEM_CODE_REQUIRED)
    if len(code) > 30:
        raise ElementError(MSG_ITEM_CODE_LONG)
    for other in t.lookup("Items", "Code", code):
        if other["ItemID"] != rec["ItemID"]:
            raise ElementError(MSG_DUP_ITEM.format(code=code))
    for det in ("SalesDetails", "PurchaseDetails"):
        d = rec.get(det)
        if isinstance(d, dict) and d.get("UnitPrice") is not None:
            try:
                d = {**d, "UnitPrice": to_dec(d["UnitPrice"])}
            except ValueError as exc:
                raise ElementError(str(exc)) from exc
            rec[det] = d
    from .stock import on_item

    on_item(rec, existing)
    t.put("Items", rec)
    return rec


# ---- Accounts, tax rates, tracking categories ------------------------------------------------------
def upsert_account(ctx: Ctx, el: dict[str, Any], mode: str, target: str | None) -> dict[str, Any]:
    t = ctx.tenant
    aid = target or ident(el, "AccountID")
    existing = t.get("Accounts", aid) if aid else None
    if aid and existing is None:
        raise ElementError(MSG_NOT_FOUND)
    rec: dict[str, Any] = (
        dict(existing)
        if existing
        else {
            "AccountID": new_id(),
            "Status": "ACTIVE",
            "EnablePaymentsToAccount": False,
            "HasAttachments": False,
            "ShowInExpenseClaims": False,
            "AddToWatchlist": False,
        }
    )
    copy_writable(el, rec, {"AccountID"})
    for fld, msg in (("Code", MSG_DUP_ACCOUNT_CODE), ("Name", MSG_DUP_ACCOUNT_NAME)):
        v = rec.get(fld)
        if not v:
            raise ElementError(f"{fld} is required")
        if any(o["AccountID"] != rec["AccountID"] for o in t.lookup("Accounts", fld, str(v))):
            raise ElementError(msg)
    if not rec.get("Type"):
        raise ElementError("Type is required")
    t.put("Accounts", rec)
    return rec


def upsert_tax_rate(ctx: Ctx, el: dict[str, Any], mode: str, target: str | None) -> dict[str, Any]:
    t = ctx.tenant
    existing = t.data["TaxRates"].get(str(el.get("TaxType"))) if el.get("TaxType") else None
    if existing is None and mode == "POST" and el.get("Name"):
        found = t.lookup("TaxRates", "Name", str(el["Name"]))
        existing = found[0] if found else None
    if existing is None and el.get("TaxType"):
        raise ElementError(MSG_NOT_FOUND)
    rec: dict[str, Any] = (
        dict(existing)
        if existing
        else {
            "TaxType": f"TAX{sum(1 for k in t.data['TaxRates'] if k.startswith('TAX')) + 1:03d}",
            "Status": "ACTIVE",
            "CanApplyToAssets": True,
            "CanApplyToEquity": True,
            "CanApplyToExpenses": True,
            "CanApplyToLiabilities": True,
            "CanApplyToRevenue": True,
        }
    )
    copy_writable(el, rec, {"TaxType", "EffectiveRate", "DisplayTaxRate"})
    if not rec.get("Name"):
        raise ElementError("Name is required")
    comps = rec.get("TaxComponents") or []
    try:
        # Components add up; a compound one (IsCompound) is charged on the amount plus the simple ones
        # (Xero's tax rates help: "compound ... calculated on top of the other components").
        simple = sum((to_dec(c.get("Rate"), ZERO) for c in comps if not c.get("IsCompound")), ZERO)
        compound = sum((to_dec(c.get("Rate"), ZERO) for c in comps if c.get("IsCompound")), ZERO)
        rate = simple + compound * (Decimal(100) + simple) / Decimal(100)
    except ValueError as exc:
        raise ElementError(str(exc)) from exc
    rec["EffectiveRate"] = rate
    rec["DisplayTaxRate"] = rate
    t.put("TaxRates", rec)
    return rec


def upsert_tracking(ctx: Ctx, el: dict[str, Any], mode: str, target: str | None) -> dict[str, Any]:
    t = ctx.tenant
    tid = target or ident(el, "TrackingCategoryID")
    existing = t.get("TrackingCategories", tid) if tid else None
    if tid and existing is None:
        raise ElementError(MSG_NOT_FOUND)
    rec: dict[str, Any] = (
        dict(existing) if existing else {"TrackingCategoryID": new_id(), "Status": "ACTIVE", "Options": []}
    )
    copy_writable(el, rec, {"TrackingCategoryID", "Options"})
    if not rec.get("Name"):
        raise ElementError("Name is required")
    if any(
        o["TrackingCategoryID"] != rec["TrackingCategoryID"]
        for o in t.lookup("TrackingCategories", "Name", str(rec["Name"]))
    ):
        raise ElementError("For each specified tracking category the Name must be unique.")
    if isinstance(el.get("Options"), list):
        rec["Options"] = [
            {
                "TrackingOptionID": o.get("TrackingOptionID") or new_id(),
                "Name": o.get("Name"),
                "Status": o.get("Status", "ACTIVE"),
            }
            for o in el["Options"]
            if isinstance(o, dict)
        ]
    t.put("TrackingCategories", rec)
    return rec


# ---- Bank transactions, overpayments, allocations ------------------------------------------------
_BT_TYPES = (
    "RECEIVE",
    "SPEND",
    "RECEIVE-OVERPAYMENT",
    "SPEND-OVERPAYMENT",
    "RECEIVE-PREPAYMENT",
    "SPEND-PREPAYMENT",
    "RECEIVE-TRANSFER",
    "SPEND-TRANSFER",
)


MSG_BT_LOCKED = "This bank transaction cannot be edited."  # sandbox guesses: no source has the text


def upsert_bank_transaction(ctx: Ctx, el: dict[str, Any], mode: str, target: str | None) -> dict[str, Any]:
    t = ctx.tenant
    bid = target or ident(el, "BankTransactionID")
    existing: dict[str, Any] | None = None
    if bid:
        existing = t.get("BankTransactions", bid)
        if existing is None:
            raise ElementError(MSG_NOT_FOUND)
        linked = existing.get("OverpaymentID") or existing.get("PrepaymentID") or existing.get("_transfer")
        if el.get("Status") == "DELETED" and not linked:
            return t.put("BankTransactions", {**existing, "Status": "DELETED"})
        # Spend and receive money can be edited until reconciled; credits and transfers are edited elsewhere.
        if linked or existing["Status"] != "AUTHORISED" or existing.get("IsReconciled"):
            raise ElementError(MSG_BT_LOCKED)
    typ = el.get("Type") or (existing or {}).get("Type")
    if typ not in _BT_TYPES or (existing is not None and typ != existing["Type"]):
        raise ElementError(MSG_TYPE.format(t=typ))
    contact: dict[str, Any] | None = None
    pending: str | None = None
    if el.get("Contact") or existing is None:
        contact, pending = resolve_contact(ctx, el.get("Contact"), allow_create=True)
    else:
        contact = t.get("Contacts", existing["Contact"]["ContactID"])
    if contact is not None and contact.get("ContactStatus") == "ARCHIVED":
        raise ElementError(MSG_ARCHIVED)
    bank = el.get("BankAccount") if el.get("BankAccount") else None
    acc = None
    if isinstance(bank, dict):
        if ident(bank, "AccountID"):
            acc = t.get("Accounts", str(bank["AccountID"]))
        elif ident(bank, "Code"):
            found = t.lookup("Accounts", "Code", str(bank["Code"]))
            acc = found[0] if found else None
    elif existing is not None:
        acc = t.get("Accounts", existing["BankAccount"]["AccountID"])
    if acc is None or acc.get("Type") != "BANK":
        raise ElementError(MSG_ACCOUNT)
    lat = str(el.get("LineAmountTypes") or (existing or {}).get("LineAmountTypes") or "Exclusive")
    raw_lines = el.get("LineItems", (existing or {}).get("LineItems", []))
    lines, sub, tax, total = compute_lines(t, raw_lines, lat, (existing or {}).get("LineItems"))
    if pending is not None:
        contact = upsert_contact(ctx, {"Name": pending}, "PUT", None)
    assert contact is not None
    rec: dict[str, Any] = {
        **(existing or {}),
        "BankTransactionID": (existing or {}).get("BankTransactionID") or new_id(),
        "Type": typ,
        "Contact": contact_summary(contact),
        "BankAccount": {"AccountID": acc["AccountID"], "Code": acc["Code"], "Name": acc["Name"]},
        "LineItems": lines,
        "LineAmountTypes": lat,
        "SubTotal": sub,
        "TotalTax": tax,
        "Total": total,
        "Status": "AUTHORISED",
        "IsReconciled": bool(el.get("IsReconciled", (existing or {}).get("IsReconciled", False))),
        "CurrencyCode": el.get("CurrencyCode") or (existing or {}).get("CurrencyCode"),
        "HasAttachments": False,
        "Reference": str(el.get("Reference", (existing or {}).get("Reference")) or ""),
    }
    from .currency import check as check_currency

    # Sandbox guess: a bank transaction takes the currency it names (one the organisation has added) and its
    # CurrencyRate; Xero ties it to the bank account's currency, which the sandbox does not model.
    check_currency(t, rec, el.get("CurrencyRate"))
    if "Date" in el or existing is None:
        set_date(rec, "Date", el.get("Date") or today())
    if existing is not None:
        return t.put("BankTransactions", rec)
    credit_kind = {"OVERPAYMENT": "Overpayments", "PREPAYMENT": "Prepayments"}.get(typ.split("-", 1)[-1])
    if credit_kind is not None:
        credit = _credit_record(ctx, credit_kind, rec)
        t.put(credit_kind, credit)
        rec[ID_FIELDS[credit_kind]] = credit[ID_FIELDS[credit_kind]]
    return t.put("BankTransactions", rec)


def _credit_record(ctx: Ctx, coll: str, bt: dict[str, Any]) -> dict[str, Any]:
    """The Overpayment or Prepayment a RECEIVE-/SPEND- bank transaction of that kind creates."""
    rec: dict[str, Any] = {
        ID_FIELDS[coll]: new_id(),
        "Type": bt["Type"],
        "Contact": bt["Contact"],
        "Date": bt["Date"],
        "Status": "AUTHORISED",
        "LineAmountTypes": bt["LineAmountTypes"],
        "LineItems": bt["LineItems"],
        "SubTotal": bt["SubTotal"],
        "TotalTax": bt["TotalTax"],
        "Total": bt["Total"],
        "RemainingCredit": bt["Total"],
        "Reference": bt["Reference"],
        "Allocations": [],
        "Payments": [],
        "CurrencyCode": bt.get("CurrencyCode") or "AUD",
        "CurrencyRate": bt.get("CurrencyRate") or Decimal("1.000000"),
        "HasAttachments": False,
        "_date_ms": int(bt["Date"][6:-7]),
    }
    if bt["Type"] == "RECEIVE-PREPAYMENT":
        # Xero: "Receive money prepayments receive invoice numbers in line with sales invoices."
        rec["InvoiceNumber"] = ctx.tenant.next_number("INV", "Invoices", "InvoiceNumber")
    return rec


_ALLOCATION_SOURCES = {"Overpayments": "OverpaymentID", "CreditNotes": "CreditNoteID", "Prepayments": "PrepaymentID"}
_CATEGORY = {"CreditNotes": "CREDITNOTE"}


def allocate(ctx: Ctx, source_coll: str, source_id: str, el: dict[str, Any]) -> dict[str, Any]:
    """PUT /{Overpayments,Prepayments,CreditNotes}/{id}/Allocations: apply credit to an invoice."""
    t = ctx.tenant
    src = t.get(source_coll, source_id)
    if src is None:
        raise ElementError(MSG_NOT_FOUND)
    if src["Status"] != "AUTHORISED":
        raise ElementError(MSG_BAD_STATUS)
    inv = resolve_doc(t, INVOICE, el.get("Invoice"))
    if inv["Status"] != "AUTHORISED":
        raise ElementError(MSG_PAY_NOT_AUTH)
    try:
        amount = money(el.get("Amount"))
    except ValueError as exc:
        raise ElementError("Amount must be specified") from exc
    if amount <= 0:
        raise ElementError("Amount must be greater than zero")
    if amount > to_dec(src["RemainingCredit"]):
        raise ElementError(MSG_ALLOC_EXCEEDS)
    if str(src.get("CurrencyCode") or "") != str(inv.get("CurrencyCode") or ""):
        raise ElementError(MSG_ALLOC_CURRENCY)
    if amount > to_dec(inv["AmountDue"]):
        raise ElementError(MSG_OVERPAY)
    alloc_id = new_id()
    d: dict[str, Any] = {}
    set_date(d, "Date", el.get("Date") or today())
    date_ms = int(d["Date"][6:-7])
    upd_inv = dict(inv)
    allocs = dict(upd_inv.get("_allocations", {}))
    allocs[alloc_id] = {
        "Source": source_coll,
        "SourceID": source_id,
        "SourceTotal": src["Total"],
        "Amount": amount,
        "_date_ms": date_ms,
    }
    upd_inv["_allocations"] = allocs
    settle(upd_inv, INVOICE)
    t.put("Invoices", upd_inv)
    ctx.emit("INVOICE", "UPDATE", inv["InvoiceID"])
    src_id_field = _ALLOCATION_SOURCES[source_coll]
    allocation = {
        "AllocationID": alloc_id,
        "Amount": amount,
        "Date": d["Date"],
        "Invoice": {
            "InvoiceID": inv["InvoiceID"],
            "InvoiceNumber": inv.get("InvoiceNumber", ""),
            "Type": inv["Type"],
        },
        "IsDeleted": False,
        "StatusAttributeString": "OK",
    }
    upd_src = dict(src)
    upd_src["Allocations"] = [
        *src.get("Allocations", []),
        {k: v for k, v in allocation.items() if k != "StatusAttributeString"},
    ]
    if source_coll == "CreditNotes":
        # RemainingCredit, AmountCredited and PAID follow from its allocations and refunds together.
        settle(upd_src, CREDIT_NOTE)
    else:
        remaining = money(to_dec(src["RemainingCredit"]) - amount)
        upd_src["RemainingCredit"] = remaining
        if remaining == 0:
            upd_src["Status"] = "PAID"
    t.put(source_coll, upd_src)
    if source_coll == "CreditNotes":
        ctx.emit("CREDITNOTE", "UPDATE", source_id)
    allocation[source_coll[:-1]] = {src_id_field: source_id}
    return allocation


def delete_allocation(ctx: Ctx, source_coll: str, source_id: str, alloc_id: str) -> dict[str, Any]:
    """DELETE /{Overpayments,Prepayments,CreditNotes}/{id}/Allocations/{AllocationID}: the credit is free again."""
    t = ctx.tenant
    src = t.get(source_coll, source_id)
    if src is None:
        raise ElementError(MSG_NOT_FOUND)
    alloc = next((a for a in src.get("Allocations", []) if a.get("AllocationID") == alloc_id), None)
    if alloc is None:
        raise ElementError(MSG_NOT_FOUND)
    amount = to_dec(alloc["Amount"])
    upd_src = dict(src)
    upd_src["Allocations"] = [a for a in src["Allocations"] if a.get("AllocationID") != alloc_id]
    if source_coll == "CreditNotes":
        settle(upd_src, CREDIT_NOTE)
    else:
        upd_src["RemainingCredit"] = money(to_dec(src["RemainingCredit"]) + amount)
        if upd_src["Status"] == "PAID":
            upd_src["Status"] = "AUTHORISED"
    t.put(source_coll, upd_src)
    if source_coll in _CATEGORY:
        ctx.emit(_CATEGORY[source_coll], "UPDATE", source_id)
    inv = t.get("Invoices", str(alloc["Invoice"]["InvoiceID"]))
    if inv is not None:
        upd_inv = dict(inv)
        upd_inv["_allocations"] = {k: v for k, v in inv.get("_allocations", {}).items() if k != alloc_id}
        settle(upd_inv, INVOICE)
        t.put("Invoices", upd_inv)
        ctx.emit("INVOICE", "UPDATE", inv["InvoiceID"])
    return {**alloc, "IsDeleted": True, source_coll[:-1]: {_ALLOCATION_SOURCES[source_coll]: source_id}}


def delete_item(ctx: Ctx, item_id: str) -> bool:
    if ctx.tenant.get("Items", item_id) is None:
        return False
    ctx.tenant.delete("Items", item_id)
    return True


def upsert_invoice(ctx: Ctx, el: dict[str, Any], mode: str, target: str | None) -> dict[str, Any]:
    return upsert_document(INVOICE, ctx, el, mode, target)


def upsert_credit_note(ctx: Ctx, el: dict[str, Any], mode: str, target: str | None) -> dict[str, Any]:
    return upsert_document(CREDIT_NOTE, ctx, el, mode, target)


def upsert_purchase_order(ctx: Ctx, el: dict[str, Any], mode: str, target: str | None) -> dict[str, Any]:
    return upsert_document(PURCHASE_ORDER, ctx, el, mode, target)


def render(coll: str, rec: dict[str, Any]) -> dict[str, Any]:
    """The public form of a stored record: exactly the fields its schema in the contract has."""
    if coll in ("Overpayments", "Prepayments") and "UpdatedDateUTC" not in rec:
        rec = {**rec, "UpdatedDateUTC": ms_date(rec["_updated_ms"])}
    allowed = FIELDS.get(coll)
    out = public(rec)
    return out if allowed is None else {k: v for k, v in out.items() if k in allowed}


def updated_iso(rec: dict[str, Any]) -> str:
    return ms_to_iso(int(rec.get("_updated_ms", 0)))
