"""The Xero sandbox's general ledger: what each document posts, and the numbered, append-only Journals feed."""

from __future__ import annotations

from decimal import Decimal
from typing import TYPE_CHECKING, Any

from .util import ZERO, money, ms_date, new_id, to_dec

if TYPE_CHECKING:
    from .state import Tenant

# Collections whose records post to the ledger (Xero writes a journal for each of them).
SOURCES = ("Invoices", "CreditNotes", "Payments", "BankTransactions", "ManualJournals", "BankTransfers")

_DOC_SIGN = {"ACCREC": 1, "ACCPAYCREDIT": 1, "ACCPAY": -1, "ACCRECCREDIT": -1}
_CONTROL = {"ACCREC": "DEBTORS", "ACCRECCREDIT": "DEBTORS", "ACCPAY": "CREDITORS", "ACCPAYCREDIT": "CREDITORS"}
# Bank transaction type -> (journal source type, sign of the bank line, control account that takes the other side)
_BANK_KINDS: dict[str, tuple[str, int, str | None]] = {
    "RECEIVE": ("CASHREC", 1, None),
    "SPEND": ("CASHPAID", -1, None),
    "RECEIVE-OVERPAYMENT": ("AROVERPAYMENT", 1, "DEBTORS"),
    "SPEND-OVERPAYMENT": ("APOVERPAYMENT", -1, "CREDITORS"),
    "RECEIVE-PREPAYMENT": ("ARPREPAYMENT", 1, "DEBTORS"),
    "SPEND-PREPAYMENT": ("APPREPAYMENT", -1, "CREDITORS"),
}
# Lines without an account code post here (sandbox guesses: Xero refuses to approve such documents).
_DEFAULT_LINE_ACCOUNT = {1: "300", -1: "200"}

Line = dict[str, Any]


def system_account(t: Tenant, code: str) -> dict[str, Any]:
    """The account flagged with a SystemAccount (DEBTORS, CREDITORS, GST, RETAINEDEARNINGS)."""
    for acc in t.data["Accounts"].values():
        if acc.get("SystemAccount") == code:
            return acc
    raise LookupError(f"the chart of accounts has no {code} account")


def _account(t: Tenant, account_id: Any, code: Any, default_code: str) -> dict[str, Any]:
    acc = t.data["Accounts"].get(str(account_id)) if account_id else None
    if acc is None and code:
        found = t.lookup("Accounts", "Code", str(code))
        acc = found[0] if found else None
    if acc is None:
        found = t.lookup("Accounts", "Code", default_code)
        if not found:
            raise LookupError(f"no account {default_code}")
        acc = found[0]
    return acc


def _tax_name(t: Tenant, tax_type: Any) -> str | None:
    rate = t.data["TaxRates"].get(str(tax_type)) if tax_type else None
    return str(rate["Name"]) if rate else None


def _line(
    t: Tenant,
    acc: dict[str, Any],
    net: Decimal,
    tax: Decimal = ZERO,
    tax_type: Any = None,
    description: str = "",
    tracking: Any = None,
) -> Line:
    out: Line = {
        "AccountID": acc["AccountID"],
        "AccountCode": acc.get("Code", ""),
        "AccountType": acc.get("Type", ""),
        "AccountName": acc.get("Name", ""),
        "Description": description,
        "NetAmount": money(net),
        "GrossAmount": money(net + tax),
        "TaxAmount": money(tax),
        "TrackingCategories": [
            {k: tr[k] for k in ("Name", "Option", "TrackingCategoryID", "TrackingOptionID") if k in tr}
            for tr in (tracking or [])
            if isinstance(tr, dict)
        ],
    }
    if tax_type:
        out["TaxType"] = str(tax_type)
        name = _tax_name(t, tax_type)
        if name:
            out["TaxName"] = name
    return out


def _item_lines(t: Tenant, rec: dict[str, Any], sign: int) -> list[Line]:
    """Lines of a document: `sign` is +1 when the line accounts are debited (bills), -1 when credited (sales)."""
    lat = str(rec.get("LineAmountTypes") or "Exclusive")
    out: list[Line] = []
    tax_total = ZERO
    for li in rec.get("LineItems") or []:
        amount = to_dec(li.get("LineAmount"), ZERO)
        tax = to_dec(li.get("TaxAmount"), ZERO)
        net = amount - tax if lat == "Inclusive" else amount
        acc = _account(t, li.get("AccountID"), li.get("AccountCode"), _DEFAULT_LINE_ACCOUNT[sign])
        out.append(
            _line(
                t,
                acc,
                sign * net,
                sign * tax,
                li.get("TaxType"),
                str(li.get("Description") or ""),
                li.get("Tracking"),
            )
        )
        tax_total += tax
    if tax_total:
        out.append(_line(t, system_account(t, "GST"), sign * tax_total))
    return out


def posting(t: Tenant, coll: str, rec: dict[str, Any]) -> dict[str, Any] | None:
    """What `rec` posts now: {SourceType, date, Reference, lines}, or None when it posts nothing."""
    status = rec.get("Status")
    if coll in ("Invoices", "CreditNotes"):
        if status not in ("AUTHORISED", "PAID"):
            return None
        typ = str(rec["Type"])
        sign = _DOC_SIGN[typ]
        control = _line(t, system_account(t, _CONTROL[typ]), sign * to_dec(rec.get("Total"), ZERO))
        lines = [control, *_item_lines(t, rec, -sign)]
        ref = rec.get("Reference") or rec.get("InvoiceNumber") or rec.get("CreditNoteNumber") or ""
        return _posting(typ, rec["Date"], str(ref), lines)
    if coll == "Payments":
        if status != "AUTHORISED":
            return None
        doc = rec.get("Invoice") or rec.get("CreditNote") or rec.get("Overpayment") or rec.get("Prepayment") or {}
        typ = str(doc.get("Type", "ACCREC"))
        # A refund of customer (supplier) credit moves money as a customer (supplier) credit note's would.
        typ = {"RECEIVE-OVERPAYMENT": "ACCRECCREDIT", "RECEIVE-PREPAYMENT": "ACCRECCREDIT"}.get(typ, typ)
        typ = {"SPEND-OVERPAYMENT": "ACCPAYCREDIT", "SPEND-PREPAYMENT": "ACCPAYCREDIT"}.get(typ, typ)
        # Money comes in for sales invoices and supplier refunds, goes out for bills and customer refunds.
        sign = 1 if typ in ("ACCREC", "ACCPAYCREDIT") else -1
        amount = to_dec(rec.get("Amount"), ZERO)
        bank = _account(t, (rec.get("Account") or {}).get("AccountID"), None, "090")
        lines = [_line(t, bank, sign * amount), _line(t, system_account(t, _CONTROL[typ]), -sign * amount)]
        return _posting(str(rec.get("PaymentType")), rec["Date"], str(rec.get("Reference") or ""), lines)
    if coll == "BankTransactions":
        kind = _BANK_KINDS.get(str(rec.get("Type")))
        if status != "AUTHORISED" or kind is None:
            return None
        source_type, sign, control_code = kind
        bank = _account(t, (rec.get("BankAccount") or {}).get("AccountID"), None, "090")
        total = to_dec(rec.get("Total"), ZERO)
        lines = [_line(t, bank, sign * total)]
        if control_code is None:
            lines.extend(_item_lines(t, rec, -sign))
        else:
            lines.append(_line(t, system_account(t, control_code), -sign * total))
        return _posting(source_type, rec["Date"], str(rec.get("Reference") or ""), lines)
    if coll == "ManualJournals":
        if status != "POSTED":
            return None
        lines = []
        tax_total = ZERO
        for jl in rec.get("JournalLines") or []:
            acc = _account(t, jl.get("AccountID"), jl.get("AccountCode"), "429")
            net, tax = manual_line_amounts(rec, jl)
            tax_total += tax
            lines.append(
                _line(t, acc, net, tax, jl.get("TaxType"), str(jl.get("Description") or ""), jl.get("Tracking"))
            )
        if tax_total:
            lines.append(_line(t, system_account(t, "GST"), tax_total))
        return _posting("MANJOURNAL", rec["Date"], str(rec.get("Narration") or ""), lines)
    if coll == "BankTransfers":
        if status != "AUTHORISED":
            return None
        amount = to_dec(rec.get("Amount"), ZERO)
        to_acc = _account(t, rec["ToBankAccount"]["AccountID"], None, "090")
        from_acc = _account(t, rec["FromBankAccount"]["AccountID"], None, "090")
        lines = [_line(t, to_acc, amount), _line(t, from_acc, -amount)]
        return _posting("TRANSFER", rec["Date"], str(rec.get("Reference") or ""), lines)
    return None


def manual_line_amounts(journal: dict[str, Any], jl: dict[str, Any]) -> tuple[Decimal, Decimal]:
    """(net, tax) of one manual-journal line: positive debits, negative credits."""
    amount = to_dec(jl.get("LineAmount"), ZERO)
    tax = to_dec(jl.get("TaxAmount"), ZERO)
    lat = str(journal.get("LineAmountTypes") or "NoTax")
    if lat == "NoTax":
        return amount, ZERO
    return (amount - tax, tax) if lat == "Inclusive" else (amount, tax)


def _posting(source_type: str, date: str, reference: str, lines: list[Line]) -> dict[str, Any]:
    return {"SourceType": source_type, "Date": date, "Reference": reference, "Lines": lines}


def sync(t: Tenant, coll: str, rec: dict[str, Any], source_id: str) -> None:
    """Bring the Journals feed in line with `rec`: a change reverses what it posted before and posts anew."""
    new = posting(t, coll, rec)
    old = t.posted.get(source_id)
    if _signature(new) == _signature(old):
        return
    if old is not None:
        reversal = [
            {**ln, "NetAmount": -ln["NetAmount"], "GrossAmount": -ln["GrossAmount"], "TaxAmount": -ln["TaxAmount"]}
            for ln in old["Lines"]
        ]
        # The reversal is dated like what it reverses, so past reports show the document as it now is.
        _journal(t, source_id, {**old, "Lines": reversal})
    if new is not None:
        _journal(t, source_id, new)
        t.posted[source_id] = new
    else:
        t.posted.pop(source_id, None)


def _signature(p: dict[str, Any] | None) -> Any:
    """What makes two postings the same: amounts, accounts and date (a new reference or account name is not)."""
    if p is None:
        return None
    keep = ("AccountID", "NetAmount", "TaxAmount", "TaxType", "Description", "TrackingCategories")
    return (p["SourceType"], p["Date"], [[ln.get(k) for k in keep] for ln in p["Lines"]])


def _journal(t: Tenant, source_id: str, p: dict[str, Any]) -> None:
    t.seq["JOURNAL"] = t.seq.get("JOURNAL", 0) + 1
    created = t.stamp()
    rec = {
        "JournalID": new_id(),
        "JournalDate": p["Date"],
        "JournalNumber": t.seq["JOURNAL"],
        "CreatedDateUTC": ms_date(created),
        "Reference": p["Reference"],
        "SourceID": source_id,
        "SourceType": p["SourceType"],
        "JournalLines": [{"JournalLineID": new_id(), **ln} for ln in p["Lines"]],
        "_date_ms": int(p["Date"][6:-7]),
    }
    t.put("Journals", rec, touch=False)
