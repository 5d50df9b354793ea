"""Xero ManualJournals, BankTransfers, Quotes, RepeatingInvoices and LinkedTransactions: rules and shapes."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

from .ledger import manual_line_amounts
from .records import (
    INVOICE,
    MSG_ACCOUNT,
    MSG_ACCOUNT_CODE,
    MSG_ARCHIVED,
    MSG_CONTACT_IDENT,
    MSG_NOT_FOUND,
    MSG_TYPE,
    Ctx,
    ElementError,
    compute_lines,
    contact_summary,
    copy_writable,
    ident,
    resolve_contact,
    resolve_tracking,
    set_date,
    tax_rate,
    today,
    upsert_contact,
)
from .util import ZERO, money, ms_date, new_id, to_dec

# Spec examples (xero_accounting.yaml): these texts are Xero's own.
MSG_UNBALANCED = "The total debits ({debits}) must equal total credits ({credits})"
MSG_LINK_LINE = "The SourceLineItemID and SourceTransactionID do not match"
MSG_LINK_CONTACT = "The ContactID and the TargetTransaction ContactID do not match"
# Not in the sources consulted (sandbox guesses).
MSG_NARRATION = "Narration must be specified."
MSG_JOURNAL_STATUS = "Manual journal not of valid status for modification"
MSG_SAME_ACCOUNT = "The From and To bank accounts must be different."
MSG_TRANSFER_AMOUNT = "Amount must be greater than zero."
MSG_TRANSFER_UPDATE = "Bank transfers can only be deleted, not updated."
MSG_QUOTE_STATUS = "Quote not of valid status for modification"
MSG_SCHEDULE = "A repeating invoice needs a Schedule with Period, Unit, DueDate, DueDateType and StartDate."
MSG_REPEATING_STATUS = "Repeating invoice not of valid status for modification"
MSG_LINK_BILLED = "A billed linked transaction cannot be deleted."

_LAT_QUOTE = {"EXCLUSIVE": "Exclusive", "INCLUSIVE": "Inclusive", "NOTAX": "NoTax"}


def _account_ref(ctx: Ctx, ref: Any) -> dict[str, Any] | None:
    if not isinstance(ref, dict):
        return None
    t = ctx.tenant
    if ident(ref, "AccountID"):
        return t.get("Accounts", str(ref["AccountID"]))
    if ident(ref, "Code"):
        found = t.lookup("Accounts", "Code", str(ref["Code"]))
        return found[0] if found else None
    return None


# ---- ManualJournals ------------------------------------------------------------------------------
def upsert_manual_journal(ctx: Ctx, el: dict[str, Any], mode: str, target: str | None) -> dict[str, Any]:
    t = ctx.tenant
    jid = target or ident(el, "ManualJournalID")
    existing = t.get("ManualJournals", jid) if jid else None
    if jid and existing is None:
        raise ElementError(MSG_NOT_FOUND)
    if existing is not None and existing["Status"] in ("DELETED", "VOIDED"):
        raise ElementError(MSG_JOURNAL_STATUS)
    rec: dict[str, Any] = (
        dict(existing)
        if existing
        else {
            "ManualJournalID": new_id(),
            "Status": "DRAFT",
            "LineAmountTypes": "NoTax",
            "ShowOnCashBasisReports": True,
            "HasAttachments": False,
            "JournalLines": [],
        }
    )
    copy_writable(el, rec, {"ManualJournalID", "JournalLines", "Date", "Status", "HasAttachments"})
    if not str(rec.get("Narration") or "").strip():
        raise ElementError(MSG_NARRATION)
    if rec["LineAmountTypes"] not in ("Exclusive", "Inclusive", "NoTax"):
        raise ElementError(f"LineAmountTypes '{rec['LineAmountTypes']}' is not valid.")
    status = str(el.get("Status") or rec["Status"])
    old = rec["Status"]
    allowed = {"DRAFT": ("DRAFT", "POSTED", "DELETED"), "POSTED": ("POSTED", "VOIDED")}
    if status not in allowed.get(old, ()):
        raise ElementError(MSG_JOURNAL_STATUS)
    rec["Status"] = status
    if "JournalLines" in el:
        rec["JournalLines"] = [_journal_line(ctx, rec, jl) for jl in el.get("JournalLines") or []]
    elif "LineAmountTypes" in el:
        rec["JournalLines"] = [_journal_line(ctx, rec, jl) for jl in rec["JournalLines"]]
    if "Date" in el or "Date" not in rec:
        set_date(rec, "Date", el.get("Date") or today())
    if status == "POSTED":
        debits = credits = ZERO
        for jl in rec["JournalLines"]:
            net, tax = manual_line_amounts(rec, jl)
            gross = net + tax
            if gross > 0:
                debits += gross
            else:
                credits += gross
        if debits + credits != 0:
            raise ElementError(MSG_UNBALANCED.format(debits=f"{debits:.2f}", credits=f"{credits:.2f}"))
    return t.put("ManualJournals", rec)


def _journal_line(ctx: Ctx, journal: dict[str, Any], raw: Any) -> dict[str, Any]:
    t = ctx.tenant
    if not isinstance(raw, dict):
        raise ElementError("Invalid journal line")
    acc = None
    if raw.get("AccountCode"):
        found = t.lookup("Accounts", "Code", str(raw["AccountCode"]))
        acc = found[0] if found else None
        if acc is None:
            raise ElementError(MSG_ACCOUNT_CODE.format(code=raw["AccountCode"]))
    elif raw.get("AccountID"):
        acc = t.get("Accounts", str(raw["AccountID"]))
    if acc is None:
        raise ElementError(MSG_ACCOUNT)
    try:
        amount = money(raw.get("LineAmount"))
    except ValueError as exc:
        raise ElementError("LineAmount must be specified") from exc
    lat = journal["LineAmountTypes"]
    tax_type = str(raw.get("TaxType") or ("NONE" if lat == "NoTax" else acc.get("TaxType") or "NONE"))
    tax = ZERO
    if lat != "NoTax":
        rate = tax_rate(t, tax_type)
        if lat == "Inclusive":
            tax = money(amount - amount * Decimal(100) / (Decimal(100) + rate))
        else:
            tax = money(amount * rate / Decimal(100))
    tracking = [dict(tr) for tr in raw.get("Tracking") or [] if isinstance(tr, dict)]
    resolve_tracking(t, tracking)
    line: dict[str, Any] = {
        "LineAmount": amount,
        "AccountCode": acc["Code"],
        "AccountID": acc["AccountID"],
        "Description": str(raw.get("Description") or ""),
        "TaxType": tax_type,
        "Tracking": [
            {k: tr[k] for k in ("Name", "Option", "TrackingCategoryID", "TrackingOptionID") if k in tr}
            for tr in tracking
        ],
        "IsBlank": False,
    }
    if lat != "NoTax":
        line["TaxAmount"] = tax
    return line


# ---- BankTransfers -------------------------------------------------------------------------------
def _tracking_refs(ctx: Ctx, raw: Any) -> list[dict[str, Any]]:
    refs = [dict(tr) for tr in raw or [] if isinstance(tr, dict)]
    resolve_tracking(ctx.tenant, refs)
    return [{k: tr[k] for k in ("TrackingCategoryID", "TrackingOptionID", "Name", "Option") if k in tr} for tr in refs]


def create_bank_transfer(ctx: Ctx, el: dict[str, Any], mode: str, target: str | None) -> dict[str, Any]:
    """PUT /BankTransfers creates; POST (/BankTransfers or /{id}) with Status DELETED deletes."""
    t = ctx.tenant
    tid = target or ident(el, "BankTransferID")
    if tid or mode == "POST":
        existing = t.get("BankTransfers", tid) if tid else None
        if existing is None:
            raise ElementError(MSG_NOT_FOUND)
        if el.get("Status") != "DELETED":
            raise ElementError(MSG_TRANSFER_UPDATE)
        for key in ("FromBankTransactionID", "ToBankTransactionID"):
            bt = t.get("BankTransactions", existing[key])
            if bt is not None:
                t.put("BankTransactions", {**bt, "Status": "DELETED"})
        return t.put("BankTransfers", {**existing, "Status": "DELETED"})
    src = _account_ref(ctx, el.get("FromBankAccount"))
    dst = _account_ref(ctx, el.get("ToBankAccount"))
    if src is None or dst is None or src.get("Type") != "BANK" or dst.get("Type") != "BANK":
        raise ElementError(MSG_ACCOUNT)
    if src["AccountID"] == dst["AccountID"]:
        raise ElementError(MSG_SAME_ACCOUNT)
    try:
        amount = money(el.get("Amount"))
    except ValueError as exc:
        raise ElementError(MSG_TRANSFER_AMOUNT) from exc
    if amount <= 0:
        raise ElementError(MSG_TRANSFER_AMOUNT)
    rec: dict[str, Any] = {
        "BankTransferID": new_id(),
        "FromBankAccount": {"AccountID": src["AccountID"], "Code": src["Code"], "Name": src["Name"]},
        "ToBankAccount": {"AccountID": dst["AccountID"], "Code": dst["Code"], "Name": dst["Name"]},
        "Amount": amount,
        "CurrencyRate": Decimal("1.000000"),
        "FromIsReconciled": bool(el.get("FromIsReconciled", False)),
        "ToIsReconciled": bool(el.get("ToIsReconciled", False)),
        "Reference": str(el.get("Reference") or ""),
        "HasAttachments": False,
        "Status": "AUTHORISED",
        "FromTracking": _tracking_refs(ctx, el.get("FromTracking")),
        "ToTracking": _tracking_refs(ctx, el.get("ToTracking")),
    }
    set_date(rec, "Date", el.get("Date") or today())
    rec.pop("DateString", None)
    rec["CreatedDateUTC"] = ms_date(t.stamp())
    # The two bank transactions a transfer shows as in each account (they post nothing of their own).
    for side, acc, other, typ, reconciled in (
        ("From", src, dst, "SPEND-TRANSFER", rec["FromIsReconciled"]),
        ("To", dst, src, "RECEIVE-TRANSFER", rec["ToIsReconciled"]),
    ):
        bt = {
            "BankTransactionID": new_id(),
            "Type": typ,
            "BankAccount": {"AccountID": acc["AccountID"], "Code": acc["Code"], "Name": acc["Name"]},
            "LineItems": [
                {
                    "LineItemID": new_id(),
                    "Description": "Bank Transfer",
                    "Quantity": Decimal("1.0000"),
                    "UnitAmount": amount,
                    "LineAmount": amount,
                    "AccountCode": other["Code"],
                    "AccountID": other["AccountID"],
                    "TaxType": "BASEXCLUDED",
                    "TaxAmount": ZERO,
                    "Tracking": [],
                }
            ],
            "LineAmountTypes": "NoTax",
            "SubTotal": amount,
            "TotalTax": ZERO,
            "Total": amount,
            "Status": "AUTHORISED",
            "IsReconciled": reconciled,
            "CurrencyCode": "AUD",
            "HasAttachments": False,
            "Reference": rec["Reference"],
            "Date": rec["Date"],
            "_transfer": rec["BankTransferID"],
        }
        t.put("BankTransactions", bt)
        rec[f"{side}BankTransactionID"] = bt["BankTransactionID"]
    return t.put("BankTransfers", rec)


# ---- Quotes and repeating invoices ---------------------------------------------------------------
def _contact(ctx: Ctx, el: dict[str, Any], existing: dict[str, Any] | None) -> dict[str, Any] | None:
    if "Contact" not in el:
        if existing is None:
            raise ElementError(MSG_CONTACT_IDENT)
        return None
    contact, pending = resolve_contact(ctx, el["Contact"], allow_create=True)
    if contact is not None and contact.get("ContactStatus") == "ARCHIVED":
        raise ElementError(MSG_ARCHIVED)
    if pending is not None:
        contact = upsert_contact(ctx, {"Name": pending}, "PUT", None)
    return contact


def upsert_quote(ctx: Ctx, el: dict[str, Any], mode: str, target: str | None) -> dict[str, Any]:
    t = ctx.tenant
    qid = target or ident(el, "QuoteID")
    existing = t.get("Quotes", qid) if qid else None
    if qid and existing is None:
        raise ElementError(MSG_NOT_FOUND)
    if existing is None and mode == "POST" and ident(el, "QuoteNumber"):
        found = t.lookup("Quotes", "QuoteNumber", str(el["QuoteNumber"]))
        existing = found[0] if found else None
    if existing is not None and existing["Status"] in ("DELETED", "INVOICED"):
        raise ElementError(MSG_QUOTE_STATUS)
    rec: dict[str, Any] = (
        dict(existing)
        if existing
        else {
            "QuoteID": new_id(),
            "Status": "DRAFT",
            "LineAmountTypes": "EXCLUSIVE",
            "CurrencyCode": "AUD",
            "CurrencyRate": Decimal("1.000000"),
            "LineItems": [],
        }
    )
    status = str(el.get("Status") or rec["Status"])
    if status not in ("DRAFT", "SENT", "DECLINED", "ACCEPTED", "INVOICED", "DELETED"):
        raise ElementError(f"The status '{status}' is not valid.")
    contact = _contact(ctx, el, existing)
    copy_writable(
        el, rec, {"QuoteID", "Contact", "LineItems", "Date", "ExpiryDate", "Status", "LineAmountTypes", "QuoteNumber"}
    )
    lat_in = str(el.get("LineAmountTypes") or rec["LineAmountTypes"]).upper()
    if lat_in not in _LAT_QUOTE:
        raise ElementError(f"LineAmountTypes '{el.get('LineAmountTypes')}' is not valid.")
    rec["LineAmountTypes"] = lat_in
    rec["Status"] = status
    if contact is not None:
        rec["Contact"] = contact_summary(contact)
    if ident(el, "QuoteNumber"):
        rec["QuoteNumber"] = str(el["QuoteNumber"])
    elif existing is None:
        rec["QuoteNumber"] = t.next_number("QU", "Quotes", "QuoteNumber")
    for key in ("Date", "ExpiryDate"):
        if key in el:
            set_date(rec, key, el[key])
    if "Date" not in rec:
        set_date(rec, "Date", today())
    if "LineItems" in el or "LineAmountTypes" in el or existing is None:
        lines, sub, tax, total = compute_lines(
            t, el.get("LineItems", rec.get("LineItems", [])), _LAT_QUOTE[lat_in], rec.get("LineItems")
        )
        discount = sum(
            (money(to_dec(li["Quantity"]) * to_dec(li["UnitAmount"])) - to_dec(li["LineAmount"]) for li in lines),
            ZERO,
        )
        rec.update(LineItems=lines, SubTotal=sub, TotalTax=tax, Total=total, TotalDiscount=money(discount))
    return t.put("Quotes", rec)


_SCHEDULE_UNITS = ("WEEKLY", "MONTHLY")
_DUE_TYPES = (
    "DAYSAFTERBILLDATE",
    "DAYSAFTERBILLMONTH",
    "DAYSAFTERINVOICEDATE",
    "DAYSAFTERINVOICEMONTH",
    "OFCURRENTMONTH",
    "OFFOLLOWINGMONTH",
)


def upsert_repeating_invoice(ctx: Ctx, el: dict[str, Any], mode: str, target: str | None) -> dict[str, Any]:
    """A template: the sandbox stores and totals it but never raises the invoices (see README)."""
    t = ctx.tenant
    rid = target or ident(el, "RepeatingInvoiceID")
    existing = t.get("RepeatingInvoices", rid) if rid else None
    if rid and existing is None:
        raise ElementError(MSG_NOT_FOUND)
    if existing is not None and existing["Status"] == "DELETED":
        raise ElementError(MSG_REPEATING_STATUS)
    new = new_id()
    rec: dict[str, Any] = (
        dict(existing)
        if existing
        else {
            "RepeatingInvoiceID": new,
            "ID": new,
            "Status": "DRAFT",
            "LineAmountTypes": "Exclusive",
            "CurrencyCode": "AUD",
            "HasAttachments": False,
            "ApprovedForSending": False,
            "SendCopy": False,
            "MarkAsSent": False,
            "IncludePDF": False,
            "LineItems": [],
        }
    )
    typ = el.get("Type") or rec.get("Type")
    if typ not in ("ACCREC", "ACCPAY"):
        raise ElementError(MSG_TYPE.format(t=typ))
    status = str(el.get("Status") or rec["Status"])
    if status not in ("DRAFT", "AUTHORISED", "DELETED"):
        raise ElementError(MSG_REPEATING_STATUS)
    contact = _contact(ctx, el, existing)
    copy_writable(
        el,
        rec,
        {"RepeatingInvoiceID", "ID", "Contact", "LineItems", "Schedule", "Status", "Type", "HasAttachments"},
    )
    rec.update(Type=typ, Status=status)
    rec["CurrencyCode"] = "AUD"
    if contact is not None:
        rec["Contact"] = contact_summary(contact)
    if "Schedule" in el or existing is None:
        rec["Schedule"] = _schedule(el.get("Schedule"))
    if rec["LineAmountTypes"] not in ("Exclusive", "Inclusive", "NoTax"):
        raise ElementError(f"LineAmountTypes '{rec['LineAmountTypes']}' is not valid.")
    if "LineItems" in el or "LineAmountTypes" in el or existing is None:
        lines, sub, tax, total = compute_lines(
            t, el.get("LineItems", rec.get("LineItems", [])), rec["LineAmountTypes"], rec.get("LineItems")
        )
        for li in lines:
            li["RepeatingInvoiceID"] = rec["RepeatingInvoiceID"]
        rec.update(LineItems=lines, SubTotal=sub, TotalTax=tax, Total=total)
    return t.put("RepeatingInvoices", rec)


def _schedule(raw: Any) -> dict[str, Any]:
    if not isinstance(raw, dict):
        raise ElementError(MSG_SCHEDULE)
    try:
        period = int(str(raw.get("Period")))
        due = int(str(raw.get("DueDate")))
    except (TypeError, ValueError) as exc:
        raise ElementError(MSG_SCHEDULE) from exc
    if period < 1 or raw.get("Unit") not in _SCHEDULE_UNITS or raw.get("DueDateType") not in _DUE_TYPES:
        raise ElementError(MSG_SCHEDULE)
    out: dict[str, Any] = {"Period": period, "Unit": raw["Unit"], "DueDate": due, "DueDateType": raw["DueDateType"]}
    if not raw.get("StartDate"):
        raise ElementError(MSG_SCHEDULE)
    set_date(out, "StartDate", raw["StartDate"])
    out["NextScheduledDate"] = out["StartDate"]
    if raw.get("EndDate"):
        set_date(out, "EndDate", raw["EndDate"])
    for key in ("StartDateString", "EndDateString"):
        out.pop(key, None)
    return out


# ---- LinkedTransactions (billable expenses) ------------------------------------------------------
def _source(ctx: Ctx, source_id: str) -> tuple[dict[str, Any], str]:
    t = ctx.tenant
    bill = t.get("Invoices", source_id)
    if bill is not None and bill.get("Type") == "ACCPAY":
        return bill, "ACCPAY"
    spend = t.get("BankTransactions", source_id)
    if spend is not None and spend.get("Type") == "SPEND":
        return spend, "SPEND"
    raise ElementError(MSG_NOT_FOUND)


def link_status(ctx: Ctx, rec: dict[str, Any]) -> str:
    """DRAFT without a customer, APPROVED with one, ONDRAFT/BILLED once on a draft/approved sales invoice."""
    t = ctx.tenant
    src = t.get("Invoices", rec["SourceTransactionID"]) or t.get("BankTransactions", rec["SourceTransactionID"])
    if src is None or src.get("Status") in ("VOIDED", "DELETED"):
        return "VOIDED"
    target = t.get("Invoices", rec["TargetTransactionID"]) if rec.get("TargetTransactionID") else None
    if target is not None and target.get("Status") in ("AUTHORISED", "PAID"):
        return "BILLED"
    if target is not None and target.get("Status") in ("DRAFT", "SUBMITTED"):
        return "ONDRAFT"
    return "APPROVED" if rec.get("ContactID") else "DRAFT"


def upsert_linked_transaction(ctx: Ctx, el: dict[str, Any], mode: str, target: str | None) -> dict[str, Any]:
    t = ctx.tenant
    lid = target or ident(el, "LinkedTransactionID")
    existing = t.get("LinkedTransactions", lid) if lid else None
    if lid and existing is None:
        raise ElementError(MSG_NOT_FOUND)
    rec: dict[str, Any] = dict(existing) if existing else {"LinkedTransactionID": new_id(), "Type": "BILLABLEEXPENSE"}
    for key in ("SourceTransactionID", "SourceLineItemID", "ContactID", "TargetTransactionID", "TargetLineItemID"):
        if ident(el, key):
            rec[key] = str(el[key]).lower()
    if not rec.get("SourceTransactionID") or not rec.get("SourceLineItemID"):
        raise ElementError(MSG_LINK_LINE)
    src, code = _source(ctx, rec["SourceTransactionID"])
    if not any(str(li.get("LineItemID")).lower() == rec["SourceLineItemID"] for li in src.get("LineItems") or []):
        raise ElementError(MSG_LINK_LINE)
    rec["SourceTransactionTypeCode"] = code
    if rec.get("TargetTransactionID"):
        inv = t.get("Invoices", rec["TargetTransactionID"])
        if inv is None or inv.get("Type") != INVOICE.types[0]:
            raise ElementError(MSG_NOT_FOUND)
        inv_contact = str(inv["Contact"]["ContactID"]).lower()
        if rec.get("ContactID") and rec["ContactID"] != inv_contact:
            raise ElementError(MSG_LINK_CONTACT)
        rec["ContactID"] = inv_contact
    if rec.get("ContactID") and t.get("Contacts", rec["ContactID"]) is None:
        raise ElementError(MSG_NOT_FOUND)
    rec["Status"] = link_status(ctx, rec)
    return t.put("LinkedTransactions", rec)


def delete_linked_transaction(ctx: Ctx, lid: str) -> None:
    t = ctx.tenant
    rec = t.get("LinkedTransactions", lid)
    if rec is None:
        raise ElementError(MSG_NOT_FOUND)
    if link_status(ctx, rec) == "BILLED":
        raise ElementError(MSG_LINK_BILLED)
    t.delete("LinkedTransactions", rec["LinkedTransactionID"])
