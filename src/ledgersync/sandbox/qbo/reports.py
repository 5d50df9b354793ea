"""QBO reports computed from the company's postings: ProfitAndLoss, BalanceSheet, TrialBalance, AgedReceivables."""

from __future__ import annotations

import calendar
from collections.abc import Iterable, Mapping
from datetime import date, datetime, timedelta
from decimal import Decimal
from typing import TYPE_CHECKING, Any

from . import faults as F
from .ledger import postings
from .util import ZERO, iso, now_ms, to_dec

if TYPE_CHECKING:
    from .state import Company, QboSandbox

REPORTS = ("ProfitAndLoss", "BalanceSheet", "TrialBalance", "AgedReceivables")
_INCOME = ("Income",)
_COGS = ("Cost of Goods Sold",)
_EXPENSE = ("Expense",)
_OTHER_INCOME = ("Other Income",)
_OTHER_EXPENSE = ("Other Expense",)
_PL_TYPES = (*_INCOME, *_COGS, *_EXPENSE, *_OTHER_INCOME, *_OTHER_EXPENSE)


def _month_end(d: date) -> date:
    return d.replace(day=calendar.monthrange(d.year, d.month)[1])


def _macro(name: str, today: date) -> tuple[date, date]:
    """The date macros of Report.xsd's DateMacro that the sandbox resolves (fiscal year = calendar year)."""
    key = name.strip().lower()
    start_of_month = today.replace(day=1)
    last_month_end = start_of_month - timedelta(days=1)
    year_start = today.replace(month=1, day=1)
    ranges = {
        "all": (date(1900, 1, 1), today),
        "today": (today, today),
        "yesterday": (today - timedelta(days=1), today - timedelta(days=1)),
        "this month": (start_of_month, _month_end(today)),
        "this month-to-date": (start_of_month, today),
        "last month": (last_month_end.replace(day=1), last_month_end),
        "this fiscal year": (year_start, today.replace(month=12, day=31)),
        "this fiscal year-to-date": (year_start, today),
        "this calendar year": (year_start, today.replace(month=12, day=31)),
        "this calendar year-to-date": (year_start, today),
        "last fiscal year": (year_start.replace(year=today.year - 1), year_start - timedelta(days=1)),
        "last calendar year": (year_start.replace(year=today.year - 1), year_start - timedelta(days=1)),
    }
    if key not in ranges:
        raise F.invalid_number("date_macro", name)
    return ranges[key]


def _dates(params: Mapping[str, str], today: date, default: str) -> tuple[date, date, str | None]:
    try:
        start = date.fromisoformat(params["start_date"]) if params.get("start_date") else None
        end = date.fromisoformat(params["end_date"]) if params.get("end_date") else None
    except ValueError as exc:
        raise F.invalid_number("start_date/end_date", str(exc)) from exc
    macro = params.get("date_macro")
    if start is None and end is None:
        lo, hi = _macro(macro or default, today)
        return lo, hi, (macro or default)
    return start or date(1900, 1, 1), end or today, None


class _Books:
    def __init__(self, sb: QboSandbox, c: Company) -> None:
        self.sb, self.c = sb, c
        self.rows = postings(c)
        self.accounts = c.data["Account"]

    def balances(self, start: date | None, end: date) -> dict[str, Decimal]:
        lo, hi = (start.isoformat() if start else ""), end.isoformat()
        out: dict[str, Decimal] = {}
        for p in self.rows:
            if lo <= p.date <= hi:
                out[p.account] = out.get(p.account, ZERO) + p.amount
        return out

    def of_types(self, types: Iterable[str]) -> list[dict[str, Any]]:
        wanted = set(types)
        return sorted(
            (a for a in self.accounts.values() if a.get("AccountType") in wanted),
            key=lambda a: str(a.get("FullyQualifiedName") or a["Name"]).casefold(),
        )


def _money(v: Decimal) -> str:
    return f"{v:.2f}"


def _header(
    sb: QboSandbox, c: Company, name: str, start: date, end: date, macro: str | None, **extra: Any
) -> dict[str, Any]:
    out: dict[str, Any] = {
        "Time": iso(now_ms(), sb.tz()),
        "ReportName": name,
        "ReportBasis": "Accrual",
        "StartPeriod": start.isoformat(),
        "EndPeriod": end.isoformat(),
        "SummarizeColumnsBy": "Total",
        "Currency": str(c.preferences.get("home_currency") or "USD"),
        "Option": [{"Name": "AccountingStandard", "Value": "GAAP"}, {"Name": "NoReportData", "Value": "false"}],
    }
    if macro:
        out["DateMacro"] = macro.lower()
    out.update(extra)
    return out


def _columns(*cols: tuple[str, str]) -> dict[str, Any]:
    return {
        "Column": [
            {"ColTitle": title, "ColType": ctype, "MetaData": [{"Name": "ColKey", "Value": title.lower() or "account"}]}
            for title, ctype in cols
        ]
    }


def _data(label: str, account_id: str | None, *values: str) -> dict[str, Any]:
    first: dict[str, Any] = {"value": label}
    if account_id is not None:
        first["id"] = account_id
    return {"ColData": [first, *({"value": v} for v in values)], "type": "Data"}


def _summary(label: str, *values: str) -> dict[str, Any]:
    return {"ColData": [{"value": label}, *({"value": v} for v in values)]}


def _section(title: str, group: str, rows: list[dict[str, Any]], total: Decimal, total_label: str) -> dict[str, Any]:
    return {
        "Header": {"ColData": [{"value": title}, {"value": ""}]},
        "Rows": {"Row": rows},
        "Summary": _summary(total_label, _money(total)),
        "type": "Section",
        "group": group,
    }


def _accounts_section(
    books: _Books, bal: Mapping[str, Decimal], types: tuple[str, ...], sign: int, title: str, group: str
) -> tuple[dict[str, Any] | None, Decimal]:
    rows, total = [], ZERO
    for acc in books.of_types(types):
        v = sign * bal.get(str(acc["Id"]), ZERO)
        if v == 0:
            continue
        total += v
        rows.append(_data(str(acc.get("FullyQualifiedName") or acc["Name"]), str(acc["Id"]), _money(v)))
    if not rows:
        return None, ZERO
    return _section(title, group, rows, total, f"Total {title}"), total


def _total_row(label: str, group: str, value: Decimal) -> dict[str, Any]:
    return {"Summary": _summary(label, _money(value)), "type": "Section", "group": group}


# ---- reports -------------------------------------------------------------------------------------
def profit_and_loss(sb: QboSandbox, c: Company, params: Mapping[str, str], today: date) -> dict[str, Any]:
    start, end, macro = _dates(params, today, "This Fiscal Year-to-date")
    books = _Books(sb, c)
    bal = books.balances(start, end)
    rows: list[dict[str, Any]] = []
    totals: dict[str, Decimal] = {}
    for title, group, types, sign in (
        ("Income", "Income", _INCOME, -1),
        ("Cost of Goods Sold", "COGS", _COGS, 1),
        ("Expenses", "Expenses", _EXPENSE, 1),
        ("Other Income", "OtherIncome", _OTHER_INCOME, -1),
        ("Other Expenses", "OtherExpenses", _OTHER_EXPENSE, 1),
    ):
        sec, total = _accounts_section(books, bal, types, sign, title, group)
        totals[group] = total
        if sec is not None:
            rows.append(sec)
        if group == "COGS":
            rows.append(_total_row("Gross Profit", "GrossProfit", totals["Income"] - totals["COGS"]))
        if group == "Expenses":
            operating = totals["Income"] - totals["COGS"] - totals["Expenses"]
            rows.append(_total_row("Net Operating Income", "NetOperatingIncome", operating))
    other = totals["OtherIncome"] - totals["OtherExpenses"]
    rows.append(_total_row("Net Other Income", "NetOtherIncome", other))
    net = totals["Income"] - totals["COGS"] - totals["Expenses"] + other
    rows.append(_total_row("Net Income", "NetIncome", net))
    return {
        "Header": _header(sb, c, "ProfitAndLoss", start, end, macro),
        "Columns": _columns(("", "Account"), ("Total", "Money")),
        "Rows": {"Row": rows},
    }


def _net_income(books: _Books, start: date | None, end: date) -> Decimal:
    bal = books.balances(start, end)
    return -sum((bal.get(str(a["Id"]), ZERO) for a in books.of_types(_PL_TYPES)), ZERO)


def balance_sheet(sb: QboSandbox, c: Company, params: Mapping[str, str], today: date) -> dict[str, Any]:
    start, end, macro = _dates(params, today, "This Fiscal Year-to-date")
    books = _Books(sb, c)
    bal = books.balances(None, end)
    year_start = end.replace(month=1, day=1)
    net_income = _net_income(books, year_start, end)
    prior = _net_income(books, None, year_start - timedelta(days=1))

    def block(
        title: str, group: str, parts: list[tuple[str, str, tuple[str, ...]]], sign: int
    ) -> tuple[dict[str, Any], Decimal]:
        rows, total = [], ZERO
        for sub_title, sub_group, types in parts:
            sec, sub = _accounts_section(books, bal, types, sign, sub_title, sub_group)
            if sec is not None:
                rows.append(sec)
                total += sub
        return _section(title, group, rows, total, f"Total {title}"), total

    current, cur_total = block(
        "Current Assets",
        "CurrentAssets",
        [
            ("Bank Accounts", "BankAccounts", ("Bank",)),
            ("Accounts Receivable", "AR", ("Accounts Receivable",)),
            ("Other Current Assets", "OtherCurrentAssets", ("Other Current Asset",)),
        ],
        1,
    )
    fixed, fixed_total = _accounts_section(books, bal, ("Fixed Asset",), 1, "Fixed Assets", "FixedAssets")
    other_assets, other_total = _accounts_section(books, bal, ("Other Asset",), 1, "Other Assets", "OtherAssets")
    asset_rows = [current, *(s for s in (fixed, other_assets) if s is not None)]
    assets_total = cur_total + fixed_total + other_total
    assets = {
        "Header": {"ColData": [{"value": "ASSETS"}, {"value": ""}]},
        "Rows": {"Row": asset_rows},
        "Summary": _summary("TOTAL ASSETS", _money(assets_total)),
        "type": "Section",
        "group": "TotalAssets",
    }
    current_liab, cl_total = block(
        "Current Liabilities",
        "CurrentLiabilities",
        [
            ("Accounts Payable", "AP", ("Accounts Payable",)),
            ("Credit Cards", "CreditCards", ("Credit Card",)),
            ("Other Current Liabilities", "OtherCurrentLiabilities", ("Other Current Liability",)),
        ],
        -1,
    )
    long_term, lt_total = _accounts_section(
        books, bal, ("Long Term Liability",), -1, "Long-Term Liabilities", "LongTermLiabilities"
    )
    liab_total = cl_total + lt_total
    liabilities = _section(
        "Liabilities",
        "Liabilities",
        [current_liab, *([long_term] if long_term else [])],
        liab_total,
        "Total Liabilities",
    )
    equity_rows, equity_total = [], ZERO
    if prior and not any(a.get("AccountSubType") == "RetainedEarnings" for a in books.of_types(("Equity",))):
        equity_rows.append(_data("Retained Earnings", None, _money(prior)))
        equity_total += prior
    for acc in books.of_types(("Equity",)):
        v = -bal.get(str(acc["Id"]), ZERO)
        if acc.get("AccountSubType") == "RetainedEarnings":
            v += prior  # earlier years' income, closed to retained earnings
        if v == 0:
            continue
        equity_total += v
        equity_rows.append(_data(str(acc["Name"]), str(acc["Id"]), _money(v)))
    equity_rows.append(_data("Net Income", None, _money(net_income)))
    equity_total += net_income
    equity = _section("Equity", "Equity", equity_rows, equity_total, "Total Equity")
    both = {
        "Header": {"ColData": [{"value": "LIABILITIES AND EQUITY"}, {"value": ""}]},
        "Rows": {"Row": [liabilities, equity]},
        "Summary": _summary("TOTAL LIABILITIES AND EQUITY", _money(liab_total + equity_total)),
        "type": "Section",
        "group": "TotalLiabilitiesAndEquity",
    }
    return {
        "Header": _header(sb, c, "BalanceSheet", start, end, macro),
        "Columns": _columns(("", "Account"), ("Total", "Money")),
        "Rows": {"Row": [assets, both]},
    }


def trial_balance(sb: QboSandbox, c: Company, params: Mapping[str, str], today: date) -> dict[str, Any]:
    start, end, macro = _dates(params, today, "This Fiscal Year-to-date")
    books = _Books(sb, c)
    bal = books.balances(None, end)
    year_start = end.replace(month=1, day=1)
    ytd = books.balances(year_start, end)
    prior = _net_income(books, None, year_start - timedelta(days=1))
    rows, debits, credits = [], ZERO, ZERO
    for acc in sorted(books.accounts.values(), key=lambda a: str(a.get("FullyQualifiedName") or a["Name"]).casefold()):
        aid = str(acc["Id"])
        # Income and expense accounts show this year's movement; earlier years' sit in retained earnings.
        v = ytd.get(aid, ZERO) if acc.get("AccountType") in _PL_TYPES else bal.get(aid, ZERO)
        if acc.get("AccountSubType") == "RetainedEarnings":
            v -= prior
        if v == 0:
            continue
        if v > 0:
            debits += v
        else:
            credits -= v
        rows.append(
            _data(
                str(acc.get("FullyQualifiedName") or acc["Name"]),
                aid,
                _money(v) if v > 0 else "",
                _money(-v) if v < 0 else "",
            )
        )
    rows.append(
        {"Summary": _summary("TOTAL", _money(debits), _money(credits)), "type": "Section", "group": "GrandTotal"}
    )
    return {
        "Header": _header(sb, c, "TrialBalance", start, end, macro),
        "Columns": _columns(("", "Account"), ("Debit", "Money"), ("Credit", "Money")),
        "Rows": {"Row": rows},
    }


_BUCKETS = ("Current", "1 - 30", "31 - 60", "61 - 90", "91 and over")


def aged_receivables(sb: QboSandbox, c: Company, params: Mapping[str, str], today: date) -> dict[str, Any]:
    """Open invoice balances per customer, aged by days past due as of report_date (30-day periods)."""
    try:
        at = date.fromisoformat(params["report_date"]) if params.get("report_date") else today
    except ValueError as exc:
        raise F.invalid_number("report_date", str(exc)) from exc
    per: dict[str, list[Decimal]] = {}
    for inv in c.data["Invoice"].values():
        if str(inv.get("TxnDate", "")) > at.isoformat():
            continue
        paid = sum(
            (to_dec(a) for pid, a in inv.get("_applied", {}).items() if _txn_date(c, "Payment", pid) <= at.isoformat()),
            ZERO,
        )
        due = to_dec(inv.get("TotalAmt"), ZERO) - paid
        if due <= 0:
            continue
        days = (at - date.fromisoformat(str(inv.get("DueDate") or inv["TxnDate"]))).days
        bucket = 0 if days <= 0 else min(4, (days - 1) // 30 + 1)
        cid = str((inv.get("CustomerRef") or {}).get("value"))
        per.setdefault(cid, [ZERO] * 5)[bucket] += due
    rows, totals = [], [ZERO] * 5
    for cid in sorted(per, key=lambda i: str(c.data["Customer"].get(i, {}).get("DisplayName", i)).casefold()):
        vals = per[cid]
        totals = [a + b for a, b in zip(totals, vals, strict=True)]
        name = str(c.data["Customer"].get(cid, {}).get("DisplayName", cid))
        rows.append(_data(name, cid, *map(_money, vals), _money(sum(vals, ZERO))))
    rows.append(
        {
            "Summary": _summary("TOTAL", *map(_money, totals), _money(sum(totals, ZERO))),
            "type": "Section",
            "group": "GrandTotal",
        }
    )
    cols = [("", "Customer"), *((b, "Money") for b in _BUCKETS), ("Total", "Money")]
    return {
        "Header": _header(
            sb,
            c,
            "AgedReceivables",
            at,
            at,
            None,
            Option=[{"Name": "report_date", "Value": at.isoformat()}, {"Name": "NoReportData", "Value": "false"}],
        ),
        "Columns": _columns(*cols),
        "Rows": {"Row": rows},
    }


def _txn_date(c: Company, entity: str, rid: str) -> str:
    return str((c.data[entity].get(rid) or {}).get("TxnDate") or "")


_BUILDERS = {
    "profitandloss": profit_and_loss,
    "balancesheet": balance_sheet,
    "trialbalance": trial_balance,
    "agedreceivables": aged_receivables,
}


def run_report(sb: QboSandbox, c: Company, name: str, params: Mapping[str, str]) -> dict[str, Any]:
    """GET /v3/company/{realmId}/reports/{name}: the report, or an Unsupported Operation fault for others."""
    builder = _BUILDERS.get(name.lower())
    if builder is None:
        raise F.unsupported(f"/v3/company/{c.id}/reports/{name}")
    today = datetime.fromtimestamp(sb.now(), tz=sb.tz()).date()
    return builder(sb, c, params, today)
