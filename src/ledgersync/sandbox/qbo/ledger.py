"""What each QBO transaction posts to the company's accounts (debits positive), computed from the records."""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal
from typing import TYPE_CHECKING, Any

from .util import ZERO, to_dec

if TYPE_CHECKING:
    from .state import Company

SERVICES_INCOME = "6"
COST_OF_GOODS = "7"


@dataclass(frozen=True)
class Posting:
    date: str
    account: str
    amount: Decimal
    entity: str
    txn: str


def _ref(obj: Any, key: str) -> str | None:
    ref = obj.get(key) if isinstance(obj, dict) else None
    if isinstance(ref, dict) and ref.get("value") not in (None, ""):
        return str(ref["value"])
    return None


def _by_type(c: Company, account_type: str, sub_type: str | None = None) -> str:
    for acc in c.data["Account"].values():
        if acc.get("AccountType") == account_type and (sub_type is None or acc.get("AccountSubType") == sub_type):
            return str(acc["Id"])
    raise LookupError(f"the company has no {account_type} account")


def _item_account(c: Company, detail: dict[str, Any], selling: bool) -> str:
    item = c.data["Item"].get(_ref(detail, "ItemRef") or "")
    if item is None:
        return SERVICES_INCOME if selling else COST_OF_GOODS
    keys = ("IncomeAccountRef",) if selling else ("ExpenseAccountRef", "AssetAccountRef", "COGSAccountRef")
    return next((a for k in keys if (a := _ref(item, k))), SERVICES_INCOME if selling else COST_OF_GOODS)


def _sales_lines(c: Company, rec: dict[str, Any]) -> list[tuple[str, Decimal]]:
    """(account, amount credited) for each selling line of a sales form; discounts come back as debits."""
    out: list[tuple[str, Decimal]] = []
    first_income = None
    for line in rec.get("Line") or []:
        amount = to_dec(line.get("Amount"), ZERO)
        if line.get("DetailType") == "SalesItemLineDetail":
            acc = _item_account(c, line.get("SalesItemLineDetail") or {}, selling=True)
            first_income = first_income or acc
            out.append((acc, amount))
        elif line.get("DetailType") == "DiscountLineDetail":
            # sandbox guesses: without a DiscountAccountRef a discount reduces the first line's income account.
            det = line.get("DiscountLineDetail") or {}
            out.append((_ref(det, "DiscountAccountRef") or first_income or SERVICES_INCOME, -amount))
    return out


def _expense_lines(c: Company, rec: dict[str, Any]) -> list[tuple[str, Decimal]]:
    """(account, amount debited) for each spending line of a bill, expense or vendor credit."""
    out: list[tuple[str, Decimal]] = []
    for line in rec.get("Line") or []:
        amount = to_dec(line.get("Amount"), ZERO)
        dtype = line.get("DetailType")
        if dtype == "AccountBasedExpenseLineDetail":
            out.append((_ref(line.get(dtype), "AccountRef") or COST_OF_GOODS, amount))
        elif dtype == "ItemBasedExpenseLineDetail":
            out.append((_item_account(c, line.get(dtype) or {}, selling=False), amount))
    return out


def _entries(c: Company, entity: str, rec: dict[str, Any]) -> list[tuple[str, Decimal]]:
    total = to_dec(rec.get("TotalAmt"), ZERO)
    from .tax import tax_postings

    if entity in ("Invoice", "CreditMemo"):
        sign = 1 if entity == "Invoice" else -1
        ar = _ref(rec, "ARAccountRef") or _by_type(c, "Accounts Receivable")
        sales = _sales_lines(c, rec)
        first = sales[0][0] if sales else SERVICES_INCOME
        return [(ar, sign * total), *((a, -sign * v) for a, v in sales), *tax_postings(c, rec, sign, first)]
    if entity in ("SalesReceipt", "RefundReceipt"):
        sign = 1 if entity == "SalesReceipt" else -1
        bank = _ref(rec, "DepositToAccountRef") or "2"
        sales = _sales_lines(c, rec)
        first = sales[0][0] if sales else SERVICES_INCOME
        return [(bank, sign * total), *((a, -sign * v) for a, v in sales), *tax_postings(c, rec, sign, first)]
    if entity == "Payment":
        ar = _ref(rec, "ARAccountRef") or _by_type(c, "Accounts Receivable")
        return [(_ref(rec, "DepositToAccountRef") or "2", total), (ar, -total)]
    if entity in ("Bill", "VendorCredit"):
        sign = 1 if entity == "Bill" else -1
        ap = _ref(rec, "APAccountRef") or _by_type(c, "Accounts Payable")
        spent = _expense_lines(c, rec)
        first = spent[0][0] if spent else COST_OF_GOODS
        # Tax paid on purchases is booked against the same payable account (sandbox guess: no separate
        # purchase-tax account in a US company's starter chart).
        return [(ap, -sign * total), *((a, sign * v) for a, v in spent), *tax_postings(c, rec, -sign, first)]
    if entity == "Purchase":
        sign = -1 if rec.get("Credit") else 1
        paid_from = _ref(rec, "AccountRef") or "3"
        return [(paid_from, -sign * total), *((a, sign * v) for a, v in _expense_lines(c, rec))]
    if entity == "BillPayment":
        ap = _ref(rec, "APAccountRef") or _by_type(c, "Accounts Payable")
        pay = rec.get("CheckPayment") or {}
        paid_from = _ref(pay, "BankAccountRef") or _ref(rec.get("CreditCardPayment") or {}, "CCAccountRef") or "3"
        return [(ap, total), (paid_from, -total)]
    if entity == "JournalEntry":
        out = []
        for line in rec.get("Line") or []:
            det = line.get("JournalEntryLineDetail") or {}
            sign = 1 if det.get("PostingType") == "Debit" else -1
            out.append((_ref(det, "AccountRef") or "", sign * to_dec(line.get("Amount"), ZERO)))
        return out
    if entity == "Deposit":
        out = [(_ref(rec, "DepositToAccountRef") or "3", total)]
        for line in rec.get("Line") or []:
            amount = to_dec(line.get("Amount"), ZERO)
            if line.get("LinkedTxn"):
                out.append(("2", -amount))  # the payments leave Undeposited Funds
            else:
                out.append((_ref(line.get("DepositLineDetail") or {}, "AccountRef") or "", -amount))
        back = rec.get("CashBack")
        if isinstance(back, dict) and back.get("Amount"):
            out.append((_ref(back, "AccountRef") or "", to_dec(back["Amount"])))
        return out
    if entity == "Transfer":
        amount = to_dec(rec.get("Amount"), ZERO)
        return [(_ref(rec, "ToAccountRef") or "", amount), (_ref(rec, "FromAccountRef") or "", -amount)]
    return []


POSTING_ENTITIES = (
    "Invoice",
    "CreditMemo",
    "SalesReceipt",
    "RefundReceipt",
    "Payment",
    "Bill",
    "VendorCredit",
    "Purchase",
    "BillPayment",
    "JournalEntry",
    "Deposit",
    "Transfer",
)


def postings(c: Company) -> list[Posting]:
    """Every posting of every transaction, in transaction order; each transaction's postings sum to zero."""
    out: list[Posting] = []
    for entity in POSTING_ENTITIES:
        for rid, rec in c.data[entity].items():
            date = str(rec.get("TxnDate") or "")
            for account, amount in _entries(c, entity, rec):
                if amount:
                    out.append(Posting(date, account, amount, entity, rid))
    return out


def account_balances(c: Company) -> dict[str, Decimal]:
    """Each account's balance to date (debits positive), recomputed only after the company changed."""
    cached = c.derived.get("balances")
    if cached is not None and cached[0] == c.version:
        return dict(cached[1])
    out: dict[str, Decimal] = {}
    for p in postings(c):
        out[p.account] = out.get(p.account, ZERO) + p.amount
    c.derived["balances"] = (c.version, out)
    return dict(out)


def current_balance(c: Company, account: dict[str, Any], balances: dict[str, Decimal]) -> Decimal:
    """Account.CurrentBalance: what an asset holds or a liability/equity owes; sandbox guesses: income and
    expense accounts show 0 (QuickBooks reports their activity, not a running balance)."""
    cls = account.get("Classification")
    own = balances.get(str(account["Id"]), ZERO)
    if cls == "Asset":
        return own
    if cls in ("Liability", "Equity"):
        return -own
    return ZERO
