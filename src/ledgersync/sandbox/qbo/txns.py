"""QBO rules for sales receipts, estimates, expenses, bill payments, journal entries, deposits, transfers, time
and the small lists (terms, payment methods, tax agencies), with the XSD's field names."""

from __future__ import annotations

from collections.abc import Callable
from decimal import Decimal
from typing import Any

from . import faults as F
from .entities import (
    Ctx,
    _bool,
    _check_name,
    _invoice_like,
    _lines,
    _num,
    _ref,
    _ref_value,
    _txn_common,
    home_currency,
)
from .state import Company
from .util import ZERO, money, today

Builder = Callable[[Ctx, dict[str, Any], str, dict[str, Any] | None], dict[str, Any]]

UNDEPOSITED = {"value": "2", "name": "Undeposited Funds"}
_BANKISH = ("Bank", "Other Current Asset")
_BALANCE_SHEET = ("Asset", "Liability", "Equity")
# Not in the sources consulted (sandbox guesses): QuickBooks's exact texts for these refusals.
MSG_UNBALANCED = (
    "Journal Entry must be balanced: the total of the debits ({debits}) must equal the credits ({credits})."
)
MSG_AR_NEEDS_CUSTOMER = "An Accounts Receivable line needs a customer in its Entity."
MSG_AP_NEEDS_VENDOR = "An Accounts Payable line needs a vendor in its Entity."


def _account(ctx: Ctx, rec: dict[str, Any], key: str, types: tuple[str, ...] | None, required: bool = True) -> Any:
    ref = _ref(ctx, rec, key, "Account", required=required)
    if ref is None:
        return None
    acc = ctx.company.data["Account"][ref["value"]]
    if types is not None and acc.get("AccountType") not in types:
        raise F.business(f"{key} must be an account of type {' or '.join(types)}.", key)
    return ref


def _enum(rec: dict[str, Any], key: str, allowed: tuple[str, ...], default: str | None = None) -> str:
    value = rec.get(key, default)
    if value not in allowed:
        if value is None:
            raise F.required(key)
        raise F.invalid_number(key, value)
    return str(value)


def _dated(ctx: Ctx, rec: dict[str, Any]) -> None:
    rec["TxnDate"] = str(rec.get("TxnDate") or today(ctx.sb.tz(), ctx.sb.now()))
    rec.setdefault("CurrencyRef", home_currency(ctx))


# ---- sales receipts and estimates ----------------------------------------------------------------
def sales_receipt(ctx: Ctx, rec: dict[str, Any], rid: str, old: dict[str, Any] | None) -> dict[str, Any]:
    _invoice_like(ctx, "SalesReceipt", rec, rid, old)
    rec["DepositToAccountRef"] = _account(ctx, rec, "DepositToAccountRef", _BANKISH, required=False) or UNDEPOSITED
    ref = _ref(ctx, rec, "PaymentMethodRef", "PaymentMethod")
    if ref is not None:
        rec["PaymentMethodRef"] = ref
    rec["Balance"] = ZERO
    rec.setdefault("EmailStatus", "NotSet")
    rec.setdefault("PrintStatus", "NotSet")
    return rec


def estimate(ctx: Ctx, rec: dict[str, Any], rid: str, old: dict[str, Any] | None) -> dict[str, Any]:
    _invoice_like(ctx, "Estimate", rec, rid, old)
    rec["TxnStatus"] = _enum(rec, "TxnStatus", ("Pending", "Accepted", "Closed", "Rejected"), "Pending")
    rec.setdefault("EmailStatus", "NotSet")
    rec.setdefault("PrintStatus", "NotSet")
    return rec


# ---- expenses, vendor credits, bill payments -----------------------------------------------------
def purchase(ctx: Ctx, rec: dict[str, Any], rid: str, old: dict[str, Any] | None) -> dict[str, Any]:
    """An expense, check or credit-card charge: paid from AccountRef, spent on its lines."""
    kind = _enum(rec, "PaymentType", ("Cash", "Check", "CreditCard"))
    rec["AccountRef"] = _account(ctx, rec, "AccountRef", ("Credit Card",) if kind == "CreditCard" else ("Bank",))
    _txn_common(ctx, "Purchase", rec, rid)
    entity_id = _ref_value(rec, "EntityRef")
    if entity_id is not None:
        raw_ref = rec["EntityRef"] if isinstance(rec["EntityRef"], dict) else {}
        target = str(raw_ref.get("type") or "Vendor")
        if target not in ("Vendor", "Customer", "Employee"):
            raise F.invalid_number("EntityRef.type", target)
        ref = _ref(ctx, rec, "EntityRef", target)
        assert ref is not None
        rec["EntityRef"] = {**ref, "type": target}
    for key, target in (("PaymentMethodRef", "PaymentMethod"),):
        ref = _ref(ctx, rec, key, target)
        if ref is not None:
            rec[key] = ref
    lines, total = _lines(ctx, "Purchase", rec.get("Line"))
    rec.update(Line=lines, TotalAmt=total)
    credit = _bool(rec.get("Credit"), False)
    if credit and kind != "CreditCard":
        raise F.business("Only a credit card expense can be a credit (refund).", "Credit")
    if kind == "CreditCard":
        rec["Credit"] = credit
    else:
        rec.pop("Credit", None)
    return rec


def vendor_credit(ctx: Ctx, rec: dict[str, Any], rid: str, old: dict[str, Any] | None) -> dict[str, Any]:
    _txn_common(ctx, "VendorCredit", rec, rid)
    lines, total = _lines(ctx, "VendorCredit", rec.get("Line"))
    used = dict((old or {}).get("_used", {}))
    spent = sum(used.values(), ZERO)
    if total < spent:
        raise F.business(f"The vendor credit total ({total}) is less than the credit already used ({spent}).")
    rec.update(Line=lines, TotalAmt=total, _used=used, Balance=money(total - spent))
    rec.setdefault("APAccountRef", {"value": "4", "name": "Accounts Payable (A/P)"})
    return rec


def bill_payment(ctx: Ctx, rec: dict[str, Any], rid: str, old: dict[str, Any] | None) -> dict[str, Any]:
    """Pays bills (less vendor credits) by check from a bank account or by credit card."""
    c = ctx.company
    _txn_common(ctx, "BillPayment", rec, rid)
    kind = _enum(rec, "PayType", ("Check", "CreditCard"))
    if kind == "Check":
        check = dict(rec.get("CheckPayment") or {})
        check["BankAccountRef"] = _account(ctx, check, "BankAccountRef", ("Bank",))
        check.setdefault("PrintStatus", "NotSet")
        rec["CheckPayment"] = check
        rec.pop("CreditCardPayment", None)
    else:
        card = dict(rec.get("CreditCardPayment") or {})
        card["CCAccountRef"] = _account(ctx, card, "CCAccountRef", ("Credit Card",))
        rec["CreditCardPayment"] = card
        rec.pop("CheckPayment", None)
    if rec.get("TotalAmt") in (None, ""):
        raise F.required("TotalAmt")
    total = money(_num(rec["TotalAmt"], "TotalAmt"))
    vendor = _ref_value(rec, "VendorRef")
    plan: dict[tuple[str, str], Decimal] = {}
    lines = []
    for line in rec.get("Line") or []:
        if not isinstance(line, dict):
            raise F.invalid_number("Line", line)
        amount = money(_num(line.get("Amount"), "Amount", ZERO))
        stored = []
        for lt in line.get("LinkedTxn") or []:
            ttype, tid = str(lt.get("TxnType", "")), str(lt.get("TxnId", ""))
            if ttype not in ("Bill", "VendorCredit"):
                raise F.cannot_link(f"A bill payment can only be linked to a Bill or a VendorCredit, not {ttype!r}.")
            target = ctx.visible(ttype, tid)
            if target is None:
                raise F.invalid_ref("LinkedTxn")
            if _ref_value(target, "VendorRef") != vendor:
                raise F.cannot_link(f"{ttype} {tid} belongs to a different vendor.")
            plan[(ttype, tid)] = plan.get((ttype, tid), ZERO) + amount
            stored.append({"TxnId": tid, "TxnType": ttype})
        lines.append({"Amount": amount, "LinkedTxn": stored})
    applied = ZERO
    for (ttype, tid), amount in plan.items():
        target = c.data[ttype][tid]
        key = "_applied" if ttype == "Bill" else "_used"
        available = target["Balance"] + target.get(key, {}).get(rid, ZERO)
        if amount > available:
            raise F.business(f"The amount applied to {ttype} {tid} ({amount}) exceeds its open balance ({available}).")
        applied += amount if ttype == "Bill" else -amount
    if money(applied) > total:
        raise F.business(f"The bills paid less credits ({applied}) exceed the bill payment total ({total}).")
    # Intuit: "If TotalAmt is greater than the total on the lines being paid, the overpayment is treated as a
    # credit" (BillPayment definition, quoted by python-quickbooks).
    rec.update(TotalAmt=total, Line=lines)
    rec["_targets"] = [list(k) for k in plan]
    rec["_plan"] = [[t, i, str(a)] for (t, i), a in plan.items()]
    return rec


# ---- journal entries, deposits, transfers --------------------------------------------------------
def journal_entry(ctx: Ctx, rec: dict[str, Any], rid: str, old: dict[str, Any] | None) -> dict[str, Any]:
    _txn_common(ctx, "JournalEntry", rec, rid)
    debits = credits = ZERO
    lines = []
    for n, line in enumerate(rec.get("Line") or [], start=1):
        if not isinstance(line, dict) or line.get("DetailType", "JournalEntryLineDetail") != "JournalEntryLineDetail":
            raise F.invalid_number("Line.DetailType", line.get("DetailType") if isinstance(line, dict) else line)
        det = dict(line.get("JournalEntryLineDetail") or {})
        posting = _enum(det, "PostingType", ("Debit", "Credit"))
        det["AccountRef"] = _ref(ctx, det, "AccountRef", "Account", required=True)
        acc = ctx.company.data["Account"][det["AccountRef"]["value"]]
        entity = det.get("Entity") if isinstance(det.get("Entity"), dict) else None
        etype = str((entity or {}).get("Type") or "")
        if entity is not None:
            target = {"Customer": "Customer", "Job": "Customer", "Vendor": "Vendor", "Employee": "Employee"}.get(etype)
            if target is None:
                raise F.invalid_number("Entity.Type", etype)
            det["Entity"] = {"Type": etype, "EntityRef": _ref(ctx, entity, "EntityRef", target, required=True)}
        if acc.get("AccountType") == "Accounts Receivable" and etype not in ("Customer", "Job"):
            raise F.business(MSG_AR_NEEDS_CUSTOMER, "Line")
        if acc.get("AccountType") == "Accounts Payable" and etype != "Vendor":
            raise F.business(MSG_AP_NEEDS_VENDOR, "Line")
        for key, target in (("ClassRef", "Class"), ("DepartmentRef", "Department")):
            ref = _ref(ctx, det, key, target)
            if ref is not None:
                det[key] = ref
        amount = money(_num(line.get("Amount"), "Amount"))
        if posting == "Debit":
            debits += amount
        else:
            credits += amount
        new = {
            "Id": str(n - 1),
            "Amount": amount,
            "DetailType": "JournalEntryLineDetail",
            "JournalEntryLineDetail": det,
        }
        if line.get("Description"):
            new["Description"] = line["Description"]
        lines.append(new)
    if debits != credits:
        raise F.business(MSG_UNBALANCED.format(debits=debits, credits=credits), "Line")
    rec.update(Line=lines, TotalAmt=debits)
    rec["Adjustment"] = _bool(rec.get("Adjustment"), False)
    return rec


def deposited_in(c: Company, entity: str, rid: str) -> str | None:
    """The deposit a payment or sales receipt was banked in, if any."""
    for dep in c.data["Deposit"].values():
        for line in dep.get("Line", []):
            for lt in line.get("LinkedTxn", []):
                if lt.get("TxnType") == entity and str(lt.get("TxnId")) == rid:
                    return str(dep["Id"])
    return None


def deposit(ctx: Ctx, rec: dict[str, Any], rid: str, old: dict[str, Any] | None) -> dict[str, Any]:
    """Banks undeposited payments and sales receipts (whole), and other money by account."""
    c = ctx.company
    rec["DepositToAccountRef"] = _account(ctx, rec, "DepositToAccountRef", _BANKISH)
    if rec["DepositToAccountRef"]["value"] == UNDEPOSITED["value"]:
        raise F.business("A deposit cannot be made to Undeposited Funds.", "DepositToAccountRef")
    _txn_common(ctx, "Deposit", rec, rid)
    total = ZERO
    lines = []
    for n, line in enumerate(rec.get("Line") or [], start=1):
        if not isinstance(line, dict):
            raise F.invalid_number("Line", line)
        amount = money(_num(line.get("Amount"), "Amount"))
        new: dict[str, Any] = {"Id": str(n), "LineNum": n, "Amount": amount}
        links = [lt for lt in line.get("LinkedTxn") or [] if isinstance(lt, dict)]
        if links:
            stored = []
            for lt in links:
                ttype, tid = str(lt.get("TxnType", "")), str(lt.get("TxnId", ""))
                if ttype not in ("Payment", "SalesReceipt"):
                    raise F.cannot_link(f"A deposit can only take a Payment or a SalesReceipt, not {ttype!r}.")
                target = ctx.visible(ttype, tid)
                if target is None:
                    raise F.invalid_ref("LinkedTxn")
                if _ref_value(target, "DepositToAccountRef") != UNDEPOSITED["value"]:
                    raise F.cannot_link(f"{ttype} {tid} is not in Undeposited Funds.")
                other = deposited_in(c, ttype, tid)
                if other not in (None, rid):
                    raise F.cannot_link(f"{ttype} {tid} is already in deposit {other}.")
                if amount != target["TotalAmt"]:
                    raise F.business(f"{ttype} {tid} is deposited whole ({target['TotalAmt']}), not {amount}.", "Line")
                stored.append({"TxnId": tid, "TxnType": ttype, "TxnLineId": "0"})
            new["LinkedTxn"] = stored
        else:
            det = dict(line.get("DepositLineDetail") or {})
            det["AccountRef"] = _ref(ctx, det, "AccountRef", "Account", required=True)
            ref = _ref(ctx, det, "PaymentMethodRef", "PaymentMethod")
            if ref is not None:
                det["PaymentMethodRef"] = ref
            new.update(DetailType="DepositLineDetail", DepositLineDetail=det)
        if line.get("Description"):
            new["Description"] = line["Description"]
        total += amount
        lines.append(new)
    cash_back = rec.get("CashBack")
    if isinstance(cash_back, dict) and cash_back.get("Amount") not in (None, ""):
        back = money(_num(cash_back["Amount"], "CashBack.Amount"))
        rec["CashBack"] = {
            **cash_back,
            "Amount": back,
            "AccountRef": _ref(ctx, cash_back, "AccountRef", "Account", True),
        }
        total -= back
    rec.update(Line=lines, TotalAmt=money(total))
    return rec


def transfer(ctx: Ctx, rec: dict[str, Any], rid: str, old: dict[str, Any] | None) -> dict[str, Any]:
    _dated(ctx, rec)
    refs = {key: _ref(ctx, rec, key, "Account", required=True) for key in ("FromAccountRef", "ToAccountRef")}
    for key, ref in refs.items():
        assert ref is not None
        if ctx.company.data["Account"][ref["value"]].get("Classification") not in _BALANCE_SHEET:
            raise F.business("Money can only be transferred between balance sheet accounts.", key)
    if refs["FromAccountRef"] == refs["ToAccountRef"]:
        raise F.business("The From and To accounts of a transfer must be different.", "ToAccountRef")
    amount = money(_num(rec.get("Amount"), "Amount"))
    if amount <= 0:
        raise F.business("A transfer amount must be greater than zero.", "Amount")
    rec.update(refs, Amount=amount)
    return rec


def time_activity(ctx: Ctx, rec: dict[str, Any], rid: str, old: dict[str, Any] | None) -> dict[str, Any]:
    rec["TxnDate"] = str(rec.get("TxnDate") or today(ctx.sb.tz(), ctx.sb.now()))
    name_of = _enum(rec, "NameOf", ("Employee", "Vendor", "Other"))
    if name_of in ("Employee", "Vendor"):
        rec[f"{name_of}Ref"] = _ref(ctx, rec, f"{name_of}Ref", name_of, required=True)
    for key, target in (("CustomerRef", "Customer"), ("ItemRef", "Item"), ("ClassRef", "Class")):
        ref = _ref(ctx, rec, key, target)
        if ref is not None:
            rec[key] = ref
    rec["BillableStatus"] = _enum(rec, "BillableStatus", ("Billable", "NotBillable", "HasBeenBilled"), "NotBillable")
    rec["Taxable"] = _bool(rec.get("Taxable"), False)
    for key in ("Hours", "Minutes"):
        if rec.get(key) not in (None, ""):
            rec[key] = int(_num(rec[key], key))
    if rec.get("HourlyRate") not in (None, ""):
        rec["HourlyRate"] = _num(rec["HourlyRate"], "HourlyRate")
    if not any(rec.get(k) for k in ("Hours", "Minutes", "StartTime")):
        raise F.required("Hours")
    return rec


# ---- small lists ---------------------------------------------------------------------------------
def _unique_name(ctx: Ctx, entity: str, rec: dict[str, Any], rid: str, field: str, kind: str) -> None:
    name = _check_name(rec.get(field), field)
    rec[field] = name
    for other in ctx.company.data[entity].values():
        if str(other["Id"]) != rid and str(other.get(field, "")).casefold() == name.casefold():
            raise F.duplicate_name(kind)
    rec["Active"] = _bool(rec.get("Active"), True)


def term(ctx: Ctx, rec: dict[str, Any], rid: str, old: dict[str, Any] | None) -> dict[str, Any]:
    _unique_name(ctx, "Term", rec, rid, "Name", "term")
    rec["Type"] = _enum(rec, "Type", ("STANDARD", "DATE_DRIVEN"), "STANDARD")
    for key in ("DueDays", "DiscountDays", "DayOfMonthDue", "DueNextMonthDays", "DiscountDayOfMonth"):
        if rec.get(key) not in (None, ""):
            rec[key] = int(_num(rec[key], key))
    if rec.get("DiscountPercent") not in (None, ""):
        rec["DiscountPercent"] = _num(rec["DiscountPercent"], "DiscountPercent")
    return rec


def payment_method(ctx: Ctx, rec: dict[str, Any], rid: str, old: dict[str, Any] | None) -> dict[str, Any]:
    _unique_name(ctx, "PaymentMethod", rec, rid, "Name", "payment method")
    rec["Type"] = _enum(rec, "Type", ("CREDIT_CARD", "NON_CREDIT_CARD"), "NON_CREDIT_CARD")
    return rec


def tax_agency(ctx: Ctx, rec: dict[str, Any], rid: str, old: dict[str, Any] | None) -> dict[str, Any]:
    _unique_name(ctx, "TaxAgency", rec, rid, "DisplayName", "tax agency")
    rec.pop("Active", None)
    rec["TaxTrackedOnSales"] = _bool(rec.get("TaxTrackedOnSales"), True)
    rec["TaxTrackedOnPurchases"] = _bool(rec.get("TaxTrackedOnPurchases"), False)
    return rec


BUILDERS: dict[str, Builder] = {
    "SalesReceipt": sales_receipt,
    "Estimate": estimate,
    "Purchase": purchase,
    "VendorCredit": vendor_credit,
    "BillPayment": bill_payment,
    "JournalEntry": journal_entry,
    "Deposit": deposit,
    "Transfer": transfer,
    "TimeActivity": time_activity,
    "Term": term,
    "PaymentMethod": payment_method,
    "TaxAgency": tax_agency,
}
