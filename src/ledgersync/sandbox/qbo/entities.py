"""QBO entity rules: create/full update/sparse update, delete, void, balances and payment application."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

from . import faults as F
from .state import LIST_ENTITIES, OPERATIONS, PEOPLE, QboSandbox
from .state import Company as Company
from .util import ZERO, iso, money, public, to_dec, today

# Fields the server computes; ignored on input.
_READONLY_COMMON = {"Id", "SyncToken", "MetaData", "domain", "sparse", "status", "time"}
_READONLY: dict[str, set[str]] = {
    "Customer": {"Balance", "BalanceWithJobs", "FullyQualifiedName", "Level", "Job", "IsProject"},
    "Vendor": {"Balance"},
    "Employee": set(),
    "Item": {"FullyQualifiedName", "Level"},
    "Class": {"FullyQualifiedName", "SubClass"},
    "Department": {"FullyQualifiedName", "SubDepartment"},
    "Account": {
        "FullyQualifiedName",
        "SubAccount",
        "CurrentBalance",
        "CurrentBalanceWithSubAccounts",
        "Classification",
    },
    "Invoice": {"TotalAmt", "Balance", "HomeBalance", "HomeTotalAmt", "LinkedTxn", "TxnTaxDetail", "Deposit"},
    "Payment": {"UnappliedAmt"},
    "CreditMemo": {"TotalAmt", "Balance", "RemainingCredit", "TxnTaxDetail"},
    "RefundReceipt": {"TotalAmt", "Balance", "TxnTaxDetail"},
    "PurchaseOrder": {"TotalAmt", "LinkedTxn", "TxnTaxDetail"},
    "Bill": {"TotalAmt", "Balance", "LinkedTxn", "TxnTaxDetail"},
    "TaxCode": set(),
    "SalesReceipt": {"TotalAmt", "Balance", "HomeTotalAmt", "HomeBalance", "TxnTaxDetail"},
    "Estimate": {"TotalAmt", "HomeTotalAmt", "TxnTaxDetail"},
    "Purchase": {"TotalAmt"},
    "VendorCredit": {"TotalAmt", "Balance", "LinkedTxn"},
    "JournalEntry": {"TotalAmt", "HomeTotalAmt"},
    "Deposit": {"TotalAmt", "HomeTotalAmt"},
}
# Forms whose lines sell items (SalesItemLineDetail) and forms whose lines spend (expense line details).
SALES_FORMS = ("Invoice", "CreditMemo", "RefundReceipt", "SalesReceipt", "Estimate")
EXPENSE_FORMS = ("Bill", "PurchaseOrder", "Purchase", "VendorCredit")
# Forms QuickBooks numbers itself when DocNumber is left out, and those it refuses a duplicate number on.
AUTO_NUMBERED = ("Invoice", "CreditMemo", "RefundReceipt", "PurchaseOrder", "SalesReceipt", "Estimate")
DUPLICATE_CHECKED = (*AUTO_NUMBERED, "Bill")
_BAD_NAME_CHARS = (":", "\t", "\n", "\r")
_CLASSIFICATION = {
    "Bank": "Asset",
    "Other Current Asset": "Asset",
    "Fixed Asset": "Asset",
    "Other Asset": "Asset",
    "Accounts Receivable": "Asset",
    "Equity": "Equity",
    "Expense": "Expense",
    "Other Expense": "Expense",
    "Cost of Goods Sold": "Expense",
    "Accounts Payable": "Liability",
    "Credit Card": "Liability",
    "Long Term Liability": "Liability",
    "Other Current Liability": "Liability",
    "Income": "Revenue",
    "Other Income": "Revenue",
}
USD = {"value": "USD", "name": "United States Dollar"}
_CURRENCY_NAMES = {
    "USD": "United States Dollar",
    "AUD": "Australian Dollar",
    "CAD": "Canadian Dollar",
    "GBP": "British Pound Sterling",
    "NZD": "New Zealand Dollar",
}


def home_currency(ctx: Ctx) -> dict[str, str]:
    """The company's home currency (Preferences.CurrencyPrefs.HomeCurrency): every record's default."""
    code = str(ctx.company.preferences.get("home_currency") or "USD")
    return {"value": code, "name": _CURRENCY_NAMES.get(code, code)}


@dataclass
class Ctx:
    """One write's context: the company, request params, webhook events raised, batch visibility."""

    sb: QboSandbox
    company: Company
    params: Mapping[str, str] = field(default_factory=dict)
    events: list[tuple[str, str, str]] = field(default_factory=list)
    # (entity, id) created earlier in the same batch: later items cannot see them (as QBO documents)
    hidden: set[tuple[str, str]] | None = None
    created: list[tuple[str, str]] = field(default_factory=list)
    user: str = "Sandbox User"

    def visible(self, entity: str, rid: Any) -> dict[str, Any] | None:
        if rid is None:
            return None
        rid = str(rid)
        if self.hidden is not None and (entity, rid) in self.hidden:
            return None
        return self.company.get(entity, rid)

    def event(self, entity: str, rid: str, op: str) -> None:
        self.events.append((entity, rid, op))


# ---- helpers -------------------------------------------------------------------------------------
def _clean(value: Any) -> Any:
    """python-quickbooks sends "" for unset strings: treat them as absent, recursively."""
    if isinstance(value, dict):
        return {k: _clean(v) for k, v in value.items() if v != "" and v is not None}
    if isinstance(value, list):
        return [_clean(v) for v in value]
    return value


def _ref_value(body: Mapping[str, Any], key: str) -> str | None:
    ref = body.get(key)
    if isinstance(ref, dict) and ref.get("value") not in (None, ""):
        return str(ref["value"])
    if isinstance(ref, str | int) and str(ref):
        return str(ref)
    return None


def _active(rec: Mapping[str, Any]) -> bool:
    return rec.get("Active", True) is not False


def _ref(ctx: Ctx, body: Mapping[str, Any], key: str, entity: str, required: bool = False) -> dict[str, Any] | None:
    """Validate a reference: unknown id -> 2500 Invalid Reference Id, inactive target -> 610 Object Not Found."""
    rid = _ref_value(body, key)
    if rid is None:
        if required:
            raise F.required(key)
        return None
    rec = ctx.visible(entity, rid)
    if rec is None:
        raise F.invalid_ref(key)
    if entity in LIST_ENTITIES and not _active(rec):
        raise F.not_found(key)
    label = rec.get("FullyQualifiedName") or rec.get("DisplayName") or rec.get("Name")
    return {"value": rid, "name": label} if label else {"value": rid}


def _num(value: Any, element: str, default: Decimal | None = None) -> Decimal:
    try:
        return to_dec(value, default)
    except ValueError as exc:
        raise F.invalid_number(element, value) from exc


def _check_name(value: Any, element: str) -> str:
    if not isinstance(value, str) or not value.strip():
        raise F.required(element)
    if any(ch in value for ch in _BAD_NAME_CHARS):
        raise F.invalid_string(value, element)
    return value.strip()


def _bool(value: Any, default: bool) -> bool:
    if value is None:
        return default
    if isinstance(value, str):
        return value.lower() == "true"
    return bool(value)


# ---- rendering -----------------------------------------------------------------------------------
def customer_balance(c: Company, cid: str) -> Decimal:
    total = ZERO
    for entity, rid in c.by_customer.get(cid, ()):
        rec = c.data[entity].get(rid)
        if rec is None:
            continue
        if entity == "Invoice":
            total += rec.get("Balance", ZERO)
        elif entity == "CreditMemo":
            total -= rec.get("Balance", ZERO)
        elif entity == "Payment":
            total -= rec.get("UnappliedAmt", ZERO)
    return total


def _with_jobs(c: Company, cid: str, depth: int = 0) -> Decimal:
    total = customer_balance(c, cid)
    if depth < 6:
        for child in c.children.get(cid, ()):
            total += _with_jobs(c, child, depth + 1)
    return total


def render(sb: QboSandbox, c: Company, entity: str, rec: dict[str, Any]) -> dict[str, Any]:
    tz = sb.tz()
    out = public(rec)
    out["domain"] = "QBO"
    out["sparse"] = False
    out["MetaData"] = {"CreateTime": iso(int(rec["_created"]), tz), "LastUpdatedTime": iso(int(rec["_updated"]), tz)}
    if entity == "Customer":
        out["Balance"] = customer_balance(c, str(rec["Id"]))
        out["BalanceWithJobs"] = _with_jobs(c, str(rec["Id"]))
    elif entity == "Invoice":
        links = [{"TxnId": pid, "TxnType": "Payment"} for pid in rec.get("_applied", {})]
        out["LinkedTxn"] = links
    elif entity == "CreditMemo":
        # sandbox guess: a credit memo lists the payments that apply it, as an invoice does (not in Intuit's docs).
        out["LinkedTxn"] = [{"TxnId": pid, "TxnType": "Payment"} for pid in rec.get("_used", {})]
    elif entity == "Account":
        from .ledger import account_balances, current_balance

        balances = account_balances(c)
        own = current_balance(c, rec, balances)
        subs = [a for a in c.data["Account"].values() if _ref_value(a, "ParentRef") == str(rec["Id"])]
        out["CurrentBalance"] = own
        out["CurrentBalanceWithSubAccounts"] = own + sum((current_balance(c, a, balances) for a in subs), ZERO)
    elif entity in ("Bill", "VendorCredit"):
        paid_by = rec.get("_applied" if entity == "Bill" else "_used", {})
        out["LinkedTxn"] = [{"TxnId": pid, "TxnType": "BillPayment"} for pid in paid_by]
    if entity in ("Bill", "PurchaseOrder"):
        from .vendors import render_links

        render_links(entity, rec, out)
    from .currency import home_amounts

    home_amounts(entity, out)
    return out


def deleted_stub(entity_id: str) -> dict[str, Any]:
    return {"status": "Deleted", "domain": "QBO", "Id": entity_id}


# ---- list entities -------------------------------------------------------------------------------
def _people(ctx: Ctx, entity: str, body: dict[str, Any], rid: str) -> dict[str, Any]:
    c = ctx.company
    rec = dict(body)
    name = rec.get("DisplayName")
    if not name:
        parts = [rec.get(k) for k in ("Title", "GivenName", "MiddleName", "FamilyName", "Suffix")]
        derived = " ".join(str(p).strip() for p in parts if p)
        if not derived:
            raise F.required("DisplayName")
        name = derived
    name = _check_name(name, "DisplayName")
    owner = c.people_names.get(name.casefold())
    if owner is not None and owner != (entity, rid):
        raise F.duplicate_name()
    rec["DisplayName"] = name
    rec["Active"] = _bool(rec.get("Active"), True)
    rec.setdefault("PrintOnCheckName", rec.get("CompanyName") or name)
    if entity != "Employee":
        # Employee has no CurrencyRef in the XSD.
        rec.setdefault("CurrencyRef", home_currency(ctx))
    else:
        rec.pop("CurrencyRef", None)
    if entity == "Customer":
        parent_id = _ref_value(rec, "ParentRef")
        if parent_id is not None:
            parent = _ref(ctx, rec, "ParentRef", "Customer")
            assert parent is not None
            prec = c.data["Customer"][parent_id]
            # a customer cannot become its own ancestor
            walk: dict[str, Any] | None = prec
            while walk is not None:
                if str(walk["Id"]) == rid:
                    raise F.business("A customer cannot be its own parent.", "ParentRef")
                pv = _ref_value(walk, "ParentRef")
                walk = c.data["Customer"].get(pv) if pv else None
            rec["ParentRef"] = {"value": parent_id}
            rec["Job"] = True
            rec["Level"] = int(prec.get("Level", 0)) + 1
            rec["FullyQualifiedName"] = f"{prec['FullyQualifiedName']}:{name}"
            rec["BillWithParent"] = _bool(rec.get("BillWithParent"), False)
        else:
            rec.pop("ParentRef", None)
            rec["Job"] = False
            rec["Level"] = 0
            rec["FullyQualifiedName"] = name
            rec["BillWithParent"] = False
        rec["Taxable"] = _bool(rec.get("Taxable"), False)
    return rec


def _hier_list(ctx: Ctx, entity: str, body: dict[str, Any], rid: str) -> dict[str, Any]:
    c = ctx.company
    rec = dict(body)
    name = _check_name(rec.get("Name"), "Name")
    rec["Name"] = name
    parent_id = _ref_value(rec, "ParentRef")
    sub_flag = {"Class": "SubClass", "Department": "SubDepartment", "Account": "SubAccount", "Item": "SubItem"}[entity]
    if parent_id is not None:
        _ref(ctx, rec, "ParentRef", entity)
        prec = c.data[entity][parent_id]
        rec["ParentRef"] = {"value": parent_id}
        rec[sub_flag] = True
        rec["FullyQualifiedName"] = f"{prec['FullyQualifiedName']}:{name}"
        if entity == "Item":
            rec["Level"] = int(prec.get("Level", 0)) + 1
    else:
        rec.pop("ParentRef", None)
        rec[sub_flag] = False
        rec["FullyQualifiedName"] = name
        if entity == "Item":
            rec["Level"] = 0
    owner = c.list_names[entity].get(rec["FullyQualifiedName"].casefold())
    if owner is not None and owner != rid:
        kind = {"Item": "product or service", "Class": "class", "Department": "location", "Account": "account"}
        raise F.duplicate_name(kind[entity])
    rec["Active"] = _bool(rec.get("Active"), True)
    if entity == "Item":
        rec["Type"] = rec.get("Type") or "Service"
        rec["UnitPrice"] = money(_num(rec.get("UnitPrice"), "UnitPrice", ZERO))
        rec["Taxable"] = _bool(rec.get("Taxable"), False)
        rec["TrackQtyOnHand"] = _bool(rec.get("TrackQtyOnHand"), False)
        for key in ("IncomeAccountRef", "ExpenseAccountRef", "AssetAccountRef"):
            ref = _ref(ctx, rec, key, "Account")
            if ref is not None:
                rec[key] = ref
        if "IncomeAccountRef" not in rec and rec["Type"] in ("Service", "NonInventory"):
            rec["IncomeAccountRef"] = {"value": "6", "name": "Services"}
    if entity == "Account":
        atype = rec.get("AccountType")
        if not atype:
            raise F.required("AccountType")
        rec["Classification"] = _CLASSIFICATION.get(str(atype), "Asset")
        old = c.data["Account"].get(rid)
        rec["CurrentBalance"] = (old or {}).get("CurrentBalance", ZERO)
        rec["CurrentBalanceWithSubAccounts"] = (old or {}).get("CurrentBalanceWithSubAccounts", ZERO)
        rec.setdefault("CurrencyRef", home_currency(ctx))
    return rec


# ---- transactions --------------------------------------------------------------------------------
def _lines(ctx: Ctx, entity: str, raw: Any) -> tuple[list[dict[str, Any]], Decimal]:
    """Normalise Line[]; returns the stored lines and the transaction total."""
    if raw is None:
        raw = []
    if not isinstance(raw, list):
        raise F.invalid_number("Line", raw)
    out: list[dict[str, Any]] = []
    subtotal = ZERO
    discounts: list[dict[str, Any]] = []
    n = 0
    for line in raw:
        if not isinstance(line, dict):
            raise F.invalid_number("Line", line)
        dtype = line.get("DetailType")
        if dtype == "SubTotalLineDetail":
            continue  # recomputed
        n += 1
        new: dict[str, Any] = {"Id": str(n), "LineNum": n}
        for k in ("Description", "CustomField"):
            if line.get(k) not in (None, [], ""):
                new[k] = line[k]
        if dtype in (None, "SalesItemLineDetail") and entity in SALES_FORMS:
            det = dict(line.get("SalesItemLineDetail") or {})
            item = _ref(ctx, det, "ItemRef", "Item")
            det["ItemRef"] = item or {"value": "1", "name": "Services"}
            for key, target in (("ClassRef", "Class"), ("TaxCodeRef", "TaxCode")):
                ref = _ref(ctx, det, key, target)
                if ref is not None:
                    det[key] = ref
            qty = _num(det.get("Qty"), "Qty", ZERO)
            price = _num(det.get("UnitPrice"), "UnitPrice", ZERO)
            if line.get("Amount") not in (None, ""):
                amount = money(_num(line["Amount"], "Amount"))
            else:
                amount = money(qty * price)
            if qty:
                det["Qty"] = qty
            else:
                det.pop("Qty", None)
            if price:
                det["UnitPrice"] = price
            else:
                det.pop("UnitPrice", None)
            new.update(Amount=amount, DetailType="SalesItemLineDetail", SalesItemLineDetail=det)
            subtotal += amount
        elif dtype == "DiscountLineDetail":
            det = dict(line.get("DiscountLineDetail") or {})
            new.update(DetailType=dtype, DiscountLineDetail=det, _amount=line.get("Amount"))
            discounts.append(new)
        elif dtype == "DescriptionOnly":
            new.update(DetailType=dtype, DescriptionLineDetail=line.get("DescriptionLineDetail") or {})
            if line.get("Amount") not in (None, ""):
                new["Amount"] = money(_num(line["Amount"], "Amount"))
        elif dtype in ("AccountBasedExpenseLineDetail", "ItemBasedExpenseLineDetail") and entity in EXPENSE_FORMS:
            det = dict(line.get(dtype) or {})
            if dtype == "AccountBasedExpenseLineDetail":
                acct = _ref(ctx, det, "AccountRef", "Account", required=True)
                det["AccountRef"] = acct
            else:
                det["ItemRef"] = _ref(ctx, det, "ItemRef", "Item", required=True)
            for key, target in (("ClassRef", "Class"), ("CustomerRef", "Customer"), ("TaxCodeRef", "TaxCode")):
                ref = _ref(ctx, det, key, target)
                if ref is not None:
                    det[key] = ref
            if line.get("Amount") in (None, ""):
                qty = _num(det.get("Qty"), "Qty", ZERO)
                price = _num(det.get("UnitPrice"), "UnitPrice", ZERO)
                if not qty or dtype != "ItemBasedExpenseLineDetail":
                    raise F.required("Line.Amount")
                amount = money(qty * price)
            else:
                amount = money(_num(line["Amount"], "Amount"))
            new.update(Amount=amount, DetailType=dtype, **{dtype: det})
            subtotal += amount
        else:
            raise F.Fault(
                "2010", "Request has invalid or unsupported property", f"Property Name:DetailType ({dtype})", "Line"
            )
        out.append(new)
    total = subtotal
    for d in discounts:
        det = d["DiscountLineDetail"]
        raw_amt = d.pop("_amount")
        if _bool(det.get("PercentBased"), False):
            pct = _num(det.get("DiscountPercent"), "DiscountPercent", ZERO)
            amt = money(subtotal * pct / Decimal(100))
        else:
            amt = money(_num(raw_amt, "Amount", ZERO))
        d["Amount"] = amt
        total -= amt
    if entity in SALES_FORMS:
        n += 1
        out.append({"Amount": subtotal, "DetailType": "SubTotalLineDetail", "SubTotalLineDetail": {}})
    return out, money(total)


def _docnumber(ctx: Ctx, entity: str, rec: dict[str, Any], rid: str) -> None:
    c = ctx.company
    num = rec.get("DocNumber")
    if num is None:
        if entity in AUTO_NUMBERED:
            seq_key = f"_doc_{entity}"
            n = int(c.preferences.get(seq_key, 1000))
            while True:
                n += 1
                if str(n).casefold() not in c.docnums[entity]:
                    break
            c.preferences[seq_key] = n
            rec["DocNumber"] = str(n)
        return
    rec["DocNumber"] = str(num)
    if entity not in DUPLICATE_CHECKED or not c.preferences.get("warn_duplicate_docnumber", True):
        return
    includes = {s.strip().lower() for s in str(ctx.params.get("include", "")).split(",")}
    if "allowduplicatedocnum" in includes:
        return
    others = c.docnums[entity].get(str(num).casefold(), set()) - {rid}
    if entity == "Bill":
        vendor = _ref_value(rec, "VendorRef")
        others = {o for o in others if _ref_value(c.data["Bill"].get(o, {}), "VendorRef") == vendor}
    if others:
        raise F.duplicate_docnumber()


_PARTY = {"Bill": "VendorRef", "PurchaseOrder": "VendorRef", "VendorCredit": "VendorRef", "BillPayment": "VendorRef"}
# Forms with no party, or one that may be left out (a sales receipt to a walk-in customer).
_NO_PARTY = ("Purchase", "JournalEntry", "Deposit", "Transfer")
_PARTY_OPTIONAL = ("SalesReceipt",)


def _txn_common(ctx: Ctx, entity: str, rec: dict[str, Any], rid: str) -> None:
    tz = ctx.sb.tz()
    if entity not in _NO_PARTY:
        party = _PARTY.get(entity, "CustomerRef")
        target = "Vendor" if party == "VendorRef" else "Customer"
        ref = _ref(ctx, rec, party, target, required=entity not in _PARTY_OPTIONAL)
        if ref is not None:
            rec[party] = ref
    for key, target in (("ClassRef", "Class"), ("DepartmentRef", "Department")):
        ref = _ref(ctx, rec, key, target)
        if ref is not None:
            rec[key] = ref
    for key in ("DepositToAccountRef", "ARAccountRef", "APAccountRef"):
        ref = _ref(ctx, rec, key, "Account")
        if ref is not None:
            rec[key] = ref
    rec["TxnDate"] = str(rec.get("TxnDate") or today(tz, ctx.sb.now()))
    rec.setdefault("CurrencyRef", home_currency(ctx))
    from .currency import check

    check(ctx.company, entity, rec)
    _docnumber(ctx, entity, rec, rid)


def _invoice_like(ctx: Ctx, entity: str, rec: dict[str, Any], rid: str, old: dict[str, Any] | None) -> None:
    _txn_common(ctx, entity, rec, rid)
    lines, total = _lines(ctx, entity, rec.get("Line"))
    rec["Line"] = lines
    from .tax import with_tax

    total = with_tax(ctx.company, entity, rec, total, sales=True)
    rec["TotalAmt"] = total
    if entity == "Invoice":
        rec["DueDate"] = str(rec.get("DueDate") or rec["TxnDate"])
        applied = dict((old or {}).get("_applied", {}))
        paid = sum(applied.values(), ZERO)
        if total < paid:
            raise F.business(
                f"The invoice total ({total}) cannot be less than the payments applied to it ({paid}).", "Line"
            )
        rec["_applied"] = applied
        rec["Balance"] = money(total - paid)
        rec.setdefault("EmailStatus", "NotSet")
        rec.setdefault("PrintStatus", "NotSet")
    elif entity == "CreditMemo":
        used = dict((old or {}).get("_used", {}))
        spent = sum(used.values(), ZERO)
        if total < spent:
            raise F.business(f"The credit memo total ({total}) is less than the credit already used ({spent}).")
        rec["_used"] = used
        rec["RemainingCredit"] = money(total - spent)
        rec["Balance"] = rec["RemainingCredit"]
    elif entity == "RefundReceipt":
        if "DepositToAccountRef" not in rec:
            rec["DepositToAccountRef"] = {"value": "3", "name": "Checking"}
        rec["Balance"] = ZERO


def _purchase(ctx: Ctx, entity: str, rec: dict[str, Any], rid: str, old: dict[str, Any] | None = None) -> None:
    from . import vendors

    _txn_common(ctx, entity, rec, rid)
    links = vendors.po_links(rec.get("Line")) if entity == "Bill" else []
    lines, total = _lines(ctx, entity, rec.get("Line"))
    rec["Line"] = lines
    from .tax import with_tax

    total = with_tax(ctx.company, entity, rec, total, sales=False)
    rec["TotalAmt"] = total
    if entity == "Bill":
        vendors.attach(ctx, rec, links, old)
        rec["DueDate"] = str(rec.get("DueDate") or rec["TxnDate"])
        applied = dict((old or {}).get("_applied", {}))
        paid = sum(applied.values(), ZERO)
        if total < paid:
            raise F.business(f"The bill total ({total}) cannot be less than the payments applied to it ({paid}).")
        rec["_applied"] = applied
        rec["Balance"] = money(total - paid)
        if "APAccountRef" not in rec:
            rec["APAccountRef"] = {"value": "4", "name": "Accounts Payable (A/P)"}
    else:
        rec["POStatus"] = rec.get("POStatus") or "Open"


def _payment_plan(
    ctx: Ctx, rec: dict[str, Any], rid: str
) -> tuple[list[dict[str, Any]], dict[tuple[str, str], Decimal]]:
    """Validate Payment lines; returns stored lines and {(entity, id): amount} to apply."""
    c = ctx.company
    raw = rec.get("Line") or []
    if not isinstance(raw, list):
        raise F.invalid_number("Line", raw)
    cust = _ref_value(rec, "CustomerRef")
    lines: list[dict[str, Any]] = []
    plan: dict[tuple[str, str], Decimal] = {}
    for line in raw:
        if not isinstance(line, dict):
            raise F.invalid_number("Line", line)
        amount = money(_num(line.get("Amount"), "Amount", ZERO))
        links = [lt for lt in line.get("LinkedTxn") or [] if isinstance(lt, dict)]
        stored: list[dict[str, Any]] = []
        for lt in links:
            ttype = str(lt.get("TxnType", ""))
            tid = str(lt.get("TxnId", ""))
            if ttype not in ("Invoice", "CreditMemo"):
                raise F.cannot_link(f"A payment can only be linked to an Invoice or a CreditMemo, not {ttype!r}.")
            target = ctx.visible(ttype, tid)
            if target is None:
                raise F.invalid_ref("LinkedTxn")
            if _ref_value(target, "CustomerRef") != cust:
                raise F.cannot_link(f"{ttype} {tid} belongs to a different customer.")
            plan[(ttype, tid)] = plan.get((ttype, tid), ZERO) + amount
            stored.append({"TxnId": tid, "TxnType": ttype})
        new: dict[str, Any] = {"Amount": amount, "LinkedTxn": stored}
        if line.get("LineEx") is not None:
            new["LineEx"] = line["LineEx"]
        lines.append(new)
    for (ttype, tid), amount in plan.items():
        target = c.data[ttype][tid]
        if ttype == "Invoice":
            available = target["Balance"] + target.get("_applied", {}).get(rid, ZERO)
            if amount > available:
                raise F.business(
                    f"The payment amount applied to invoice {target.get('DocNumber', tid)} ({amount}) "
                    f"exceeds its open balance ({available}).",
                    "Line",
                )
        else:
            available = target["RemainingCredit"] + target.get("_used", {}).get(rid, ZERO)
            if amount > available:
                raise F.business(
                    f"The credit applied from credit memo {target.get('DocNumber', tid)} ({amount}) "
                    f"exceeds its remaining credit ({available}).",
                    "Line",
                )
    return lines, plan


def _unapply(ctx: Ctx, pid: str, keep: set[tuple[str, str]] | None = None, entity: str = "Payment") -> None:
    """Remove a (bill) payment's applications from what it paid (the targets change: SyncToken+1)."""
    c = ctx.company
    old = c.data[entity].get(pid)
    if old is None:
        return
    for ttype, tid in list(old.get("_targets", [])):
        if keep is not None and (ttype, tid) in keep:
            continue
        target = c.data[ttype].get(tid)
        if target is None:
            continue
        _touch_target(ctx, ttype, target, pid, None)


# What a payment-like transaction applies to: the target's key for applications and the field it lowers.
_TARGET_FIELDS = {
    "Invoice": ("_applied", ("Balance",)),
    "Bill": ("_applied", ("Balance",)),
    "CreditMemo": ("_used", ("RemainingCredit", "Balance")),
    "VendorCredit": ("_used", ("Balance",)),
}


def _touch_target(ctx: Ctx, ttype: str, target: dict[str, Any], pid: str, amount: Decimal | None) -> None:
    t = dict(target)
    key, fields = _TARGET_FIELDS[ttype]
    applied = dict(t.get(key, {}))
    if amount is None or amount == ZERO:
        applied.pop(pid, None)
    else:
        applied[pid] = amount
    if applied == t.get(key, {}):
        return
    t[key] = applied
    rest = money(t["TotalAmt"] - sum(applied.values(), ZERO))
    for fld in fields:
        t[fld] = rest
    t["SyncToken"] = str(int(t["SyncToken"]) + 1)
    ctx.company.put(ttype, t)
    ctx.event(ttype, str(t["Id"]), "Update")


def _payment(ctx: Ctx, rec: dict[str, Any], rid: str, old: dict[str, Any] | None) -> None:
    rec["CustomerRef"] = _ref(ctx, rec, "CustomerRef", "Customer", required=True)
    if rec.get("TotalAmt") in (None, ""):
        raise F.required("TotalAmt")
    total = money(_num(rec.get("TotalAmt"), "TotalAmt"))
    for key in ("DepositToAccountRef", "ARAccountRef"):
        ref = _ref(ctx, rec, key, "Account")
        if ref is not None:
            rec[key] = ref
    if "DepositToAccountRef" not in rec:
        rec["DepositToAccountRef"] = {"value": "2", "name": "Undeposited Funds"}
    rec["TxnDate"] = str(rec.get("TxnDate") or today(ctx.sb.tz(), ctx.sb.now()))
    rec.setdefault("CurrencyRef", home_currency(ctx))
    rec.setdefault("ProcessPayment", False)
    lines, plan = _payment_plan(ctx, rec, rid)
    applied = ZERO
    for (ttype, _tid), amount in plan.items():
        applied += amount if ttype == "Invoice" else -amount
    unapplied = money(total - applied)
    if unapplied < ZERO:
        raise F.business(f"The amounts applied ({applied}) exceed the payment total ({total}).", "TotalAmt")
    rec["TotalAmt"] = total
    rec["UnappliedAmt"] = unapplied
    rec["Line"] = lines
    rec["_targets"] = [list(k) for k in plan]
    rec["_plan"] = [[t, i, str(a)] for (t, i), a in plan.items()]


def _apply_payment(ctx: Ctx, rec: dict[str, Any]) -> None:
    c = ctx.company
    pid = str(rec["Id"])
    for ttype, tid, amount in rec.get("_plan", []):
        target = c.data[ttype].get(tid)
        if target is not None:
            _touch_target(ctx, ttype, target, pid, Decimal(amount))


# ---- operations ----------------------------------------------------------------------------------
# Transactions that pay others: their applications are kept on what they pay and reapplied on update.
PAYS = ("Payment", "BillPayment")

def _build(ctx: Ctx, entity: str, body: dict[str, Any], rid: str, old: dict[str, Any] | None) -> dict[str, Any]:
    ro = _READONLY_COMMON | _READONLY.get(entity, set())
    rec = {k: v for k, v in body.items() if k not in ro and not k.startswith("_")}
    rec["Id"] = rid
    if entity in PEOPLE:
        rec = _people(ctx, entity, rec, rid)
    elif entity in ("Item", "Class", "Department", "Account"):
        rec = _hier_list(ctx, entity, rec, rid)
    elif entity in ("Invoice", "CreditMemo", "RefundReceipt"):
        _invoice_like(ctx, entity, rec, rid, old)
    elif entity in ("Bill", "PurchaseOrder"):
        _purchase(ctx, entity, rec, rid, old)
    elif entity == "Payment":
        _payment(ctx, rec, rid, old)
    else:
        from .txns import BUILDERS

        rec = BUILDERS[entity](ctx, rec, rid, old)
    return rec


def _allowed(entity: str, op: str, path: str) -> None:
    if op not in OPERATIONS[entity]:
        raise F.unsupported(path)


def save(ctx: Ctx, entity: str, body: dict[str, Any], path: str) -> dict[str, Any]:
    """POST /{entity}: create (no Id) or full/sparse update (Id + SyncToken)."""
    c = ctx.company
    body = _clean(body)
    rid_in = body.get("Id")
    _allowed(entity, "create" if rid_in in (None, "", 0, "0") else "update", path)
    if rid_in in (None, "", 0, "0"):
        rid = c.next_id(entity)
        rec = _build(ctx, entity, body, rid, None)
        rec["SyncToken"] = "0"
        c.put(entity, rec)
        if entity in PAYS:
            _apply_payment(ctx, rec)
        ctx.created.append((entity, rid))
        ctx.event(entity, rid, "Create")
        return render(ctx.sb, c, entity, c.data[entity][rid])
    rid = str(rid_in)
    old = ctx.visible(entity, rid)
    if old is None:
        raise F.not_found()
    if body.get("SyncToken") in (None, ""):
        raise F.required("SyncToken")
    if str(body["SyncToken"]) != str(old["SyncToken"]):
        raise F.stale(ctx.user)
    if _bool(body.get("sparse"), False):
        merged = {k: v for k, v in public(old).items()}
        merged.update(body)
        body = merged
    was_active = _active(old)
    rec = _build(ctx, entity, body, rid, old)
    rec["SyncToken"] = str(int(old["SyncToken"]) + 1)
    rec["_created"] = old["_created"]
    for k, v in old.items():
        if k.startswith("_") and k not in rec and k not in ("_updated", "_targets", "_plan"):
            rec[k] = v
    if entity in PAYS:
        _unapply(ctx, rid, entity=entity)
        c.put(entity, rec)
        _apply_payment(ctx, rec)
    else:
        c.put(entity, rec)
    ctx.event(entity, rid, "Update")
    if entity == "Customer":
        _cascade_customer(ctx, rid, old, was_active and not _active(rec))
    elif entity in ("Class", "Department", "Account", "Item") and old.get("FullyQualifiedName") != rec.get(
        "FullyQualifiedName"
    ):
        _cascade_list(ctx, entity, rid)
    return render(ctx.sb, c, entity, c.data[entity][rid])


def _cascade_customer(ctx: Ctx, rid: str, old: dict[str, Any], deactivated: bool) -> None:
    """Renaming a parent renames its jobs' FullyQualifiedName; making it inactive inactivates them too."""
    c = ctx.company
    parent = c.data["Customer"][rid]
    for child_id in sorted(c.children.get(rid, set())):
        child = c.data["Customer"].get(child_id)
        if child is None:
            continue
        new = dict(child)
        new["FullyQualifiedName"] = f"{parent['FullyQualifiedName']}:{child['DisplayName']}"
        new["Level"] = int(parent.get("Level", 0)) + 1
        if deactivated:
            new["Active"] = False
        if new == child:
            continue
        new["SyncToken"] = str(int(child["SyncToken"]) + 1)
        was_active = _active(child)
        c.put("Customer", new)
        ctx.event("Customer", child_id, "Update")
        _cascade_customer(ctx, child_id, child, deactivated and was_active)


def _cascade_list(ctx: Ctx, entity: str, rid: str) -> None:
    c = ctx.company
    parent = c.data[entity][rid]
    for other in list(c.data[entity].values()):
        if _ref_value(other, "ParentRef") == rid:
            new = dict(other)
            new["FullyQualifiedName"] = f"{parent['FullyQualifiedName']}:{other['Name']}"
            new["SyncToken"] = str(int(other["SyncToken"]) + 1)
            c.put(entity, new)
            _cascade_list(ctx, entity, str(other["Id"]))


def _check_version(ctx: Ctx, entity: str, body: dict[str, Any]) -> dict[str, Any]:
    rid = body.get("Id")
    rec = ctx.visible(entity, rid)
    if rec is None:
        raise F.not_found()
    if body.get("SyncToken") in (None, ""):
        raise F.required("SyncToken")
    if str(body["SyncToken"]) != str(rec["SyncToken"]):
        raise F.stale(ctx.user)
    return rec


def delete(ctx: Ctx, entity: str, body: dict[str, Any], path: str) -> dict[str, Any]:
    """POST /{entity}?operation=delete: transactions only (list entities are made inactive instead)."""
    if "delete" not in OPERATIONS[entity]:
        raise F.Fault("500", "Unsupported Operation", f"Operation Delete is not supported for {entity}.")
    body = _clean(body)
    rec = _check_version(ctx, entity, body)
    rid = str(rec["Id"])
    c = ctx.company
    if entity in PAYS:
        _unapply(ctx, rid, entity=entity)
    elif entity == "Invoice":
        _detach_payments(ctx, rec)
    elif entity == "CreditMemo" and rec.get("_used"):
        raise F.business("This credit memo has been applied to a payment. Remove it from the payment first.")
    elif entity in ("Bill", "VendorCredit") and (rec.get("_applied") or rec.get("_used")):
        # sandbox guesses: the text; QuickBooks refuses to delete a bill or credit a bill payment uses.
        raise F.business(f"This {entity} is linked to a bill payment. Remove it from the bill payment first.")
    if entity == "Bill":
        from .vendors import release

        release(ctx, rec)
    from .txns import deposited_in

    if entity in ("Payment", "SalesReceipt") and deposited_in(c, entity, rid):
        # sandbox guesses: the text; a deposited payment must leave its deposit first.
        raise F.business(f"This {entity} has been deposited. Remove it from the deposit first.")
    c.remove(entity, rid)
    ctx.event(entity, rid, "Delete")
    return deleted_stub(rid)


def _detach_payments(ctx: Ctx, inv: dict[str, Any]) -> None:
    """Deleting/voiding an invoice unlinks its payments: their amounts become unapplied customer credit."""
    c = ctx.company
    iid = str(inv["Id"])
    for pid in list(inv.get("_applied", {})):
        pay = c.data["Payment"].get(pid)
        if pay is None:
            continue
        p = dict(pay)
        lines = []
        for line in p.get("Line", []):
            links = [lt for lt in line.get("LinkedTxn", []) if not (lt["TxnType"] == "Invoice" and lt["TxnId"] == iid)]
            if links:
                lines.append({**line, "LinkedTxn": links})
        plan = [pl for pl in p.get("_plan", []) if not (pl[0] == "Invoice" and pl[1] == iid)]
        freed = sum((Decimal(pl[2]) for pl in p.get("_plan", []) if pl[0] == "Invoice" and pl[1] == iid), ZERO)
        p.update(
            Line=lines,
            _plan=plan,
            _targets=[[pl[0], pl[1]] for pl in plan],
            UnappliedAmt=money(p["UnappliedAmt"] + freed),
            SyncToken=str(int(p["SyncToken"]) + 1),
        )
        c.put("Payment", p)
        ctx.event("Payment", pid, "Update")


def void(ctx: Ctx, entity: str, body: dict[str, Any]) -> dict[str, Any]:
    """Invoice: ?operation=void; Payment, SalesReceipt, BillPayment: ?operation=update&include=void."""
    if "void" not in OPERATIONS[entity]:
        raise F.Fault("500", "Unsupported Operation", f"Operation Void is not supported for {entity}.")
    body = _clean(body)
    rec = _check_version(ctx, entity, body)
    rid = str(rec["Id"])
    c = ctx.company
    new = dict(rec)
    if entity == "Invoice":
        _detach_payments(ctx, rec)
        new = dict(c.data["Invoice"][rid])
        new["Line"] = [{**ln, "Amount": ZERO} if "Amount" in ln else ln for ln in new.get("Line", [])]
        new.update(TotalAmt=ZERO, Balance=ZERO, _applied={})
    elif entity == "SalesReceipt":
        new["Line"] = [{**ln, "Amount": ZERO} if "Amount" in ln else ln for ln in new.get("Line", [])]
        new.update(TotalAmt=ZERO, Balance=ZERO)
    else:
        _unapply(ctx, rid, entity=entity)
        new["Line"] = [{**ln, "Amount": ZERO} for ln in new.get("Line", [])]
        new.update(TotalAmt=ZERO, _plan=[], _targets=[])
        if entity == "Payment":
            new["UnappliedAmt"] = ZERO
    note = str(rec.get("PrivateNote") or "")
    new["PrivateNote"] = f"Voided - {note}" if note and not note.startswith("Voided") else "Voided"
    new["SyncToken"] = str(int(rec["SyncToken"]) + 1)
    c.put(entity, new)
    ctx.event(entity, rid, "Void")
    return render(ctx.sb, c, entity, c.data[entity][rid])


def read(ctx: Ctx, entity: str, rid: str) -> dict[str, Any]:
    rec = ctx.visible(entity, rid)
    if rec is None:
        raise F.not_found()
    return render(ctx.sb, ctx.company, entity, rec)
