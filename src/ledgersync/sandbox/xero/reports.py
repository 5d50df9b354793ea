"""Xero Reports computed from the sandbox's own Journals: P&L, BalanceSheet, TrialBalance, AgedReceivables."""

from __future__ import annotations

import calendar
from collections.abc import Iterable, Mapping
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from typing import TYPE_CHECKING, Any

from .ledger import system_account
from .util import ZERO, date_to_ms, ms_date, now_ms, parse_date, to_dec

if TYPE_CHECKING:
    from .state import Tenant

CLASS_OF_TYPE = {
    **dict.fromkeys(("BANK", "CURRENT", "FIXED", "INVENTORY", "NONCURRENT", "PREPAYMENT"), "ASSET"),
    **dict.fromkeys(("CURRLIAB", "LIABILITY", "TERMLIAB", "PAYG"), "LIABILITY"),
    "EQUITY": "EQUITY",
    **dict.fromkeys(("REVENUE", "SALES", "OTHERINCOME"), "REVENUE"),
    **dict.fromkeys(("EXPENSE", "DIRECTCOSTS", "OVERHEADS", "DEPRECIATN"), "EXPENSE"),
}
REPORTS = ("ProfitAndLoss", "BalanceSheet", "TrialBalance", "AgedReceivablesByContact")
# Row layout follows the spec's examples (BalanceSheet, TrialBalance, AgedReceivablesByContact); sandbox guesses:
# the P&L's section names and default range, empty sections left out, header date format, rows by code.
_EARNINGS_ID = "00000000-0000-0000-0000-000000000000"
_DAY_MS = 86_400_000


class ReportError(ValueError):
    """A report parameter Xero would reject."""


def _param(params: Mapping[str, str], name: str) -> str | None:
    low = name.lower()
    return next((v for k, v in params.items() if k.lower() == low and v), None)


def _date_param(params: Mapping[str, str], name: str) -> date | None:
    raw = _param(params, name)
    if raw is None:
        return None
    try:
        return parse_date(raw)
    except ValueError as exc:
        raise ReportError(f"{name} must be a date (YYYY-MM-DD)") from exc


def _today() -> date:
    return datetime.now(tz=UTC).date()


def _end_ms(d: date) -> int:
    return date_to_ms(d) + _DAY_MS - 1


def _add_months(d: date, months: int, month_end: bool) -> date:
    y, m = divmod(d.month - 1 + months, 12)
    year, month = d.year + y, m + 1
    last = calendar.monthrange(year, month)[1]
    return date(year, month, last if month_end else min(d.day, last))


def _is_month_end(d: date) -> bool:
    return d.day == calendar.monthrange(d.year, d.month)[1]


def _fy_start(t: Tenant, d: date) -> date:
    day = int(t.organisation.get("FinancialYearEndDay", 30))
    month = int(t.organisation.get("FinancialYearEndMonth", 6))
    end_this_year = date(d.year, month, min(day, calendar.monthrange(d.year, month)[1]))
    end = end_this_year if end_this_year < d else _add_months(end_this_year, -12, day >= 28)
    return end + timedelta(days=1)


def _money(v: Decimal) -> str:
    return f"{v:.2f}"


def _long(d: date) -> str:
    return f"{d.day} {d:%B %Y}"


def _short(d: date) -> str:
    return f"{d.day} {d:%b %Y}"


def _periods(params: Mapping[str, str]) -> tuple[int, int]:
    try:
        periods = int(_param(params, "periods") or 0)
    except ValueError as exc:
        raise ReportError("periods must be a number") from exc
    step = {"MONTH": 1, "QUARTER": 3, "YEAR": 12}.get((_param(params, "timeframe") or "MONTH").upper())
    if step is None or not 0 <= periods <= 11:
        raise ReportError("timeframe must be MONTH, QUARTER or YEAR and periods between 1 and 11")
    return periods, step


class Ledger:
    """Per-account sums of journal lines over date ranges (positive = debit)."""

    def __init__(self, t: Tenant) -> None:
        self.t = t
        self.lines = [
            (int(j["_date_ms"]), str(ln["AccountID"]), to_dec(ln["NetAmount"]))
            for j in t.data["Journals"].values()
            for ln in j["JournalLines"]
        ]

    def balances(self, start: date | None, end: date) -> dict[str, Decimal]:
        lo = date_to_ms(start) if start is not None else None
        hi = _end_ms(end)
        out: dict[str, Decimal] = {}
        for ms, aid, net in self.lines:
            if ms <= hi and (lo is None or ms >= lo):
                out[aid] = out.get(aid, ZERO) + net
        return out

    def accounts(self) -> list[dict[str, Any]]:
        return sorted(self.t.data["Accounts"].values(), key=lambda a: (str(a.get("Code", "")), str(a["Name"])))

    def account_class(self, acc: Mapping[str, Any]) -> str:
        return str(acc.get("Class") or CLASS_OF_TYPE.get(str(acc.get("Type")), "ASSET"))

    def profit(self, balances: Mapping[str, Decimal]) -> Decimal:
        """Net profit of a set of balances: credits to revenue less debits to expenses."""
        total = ZERO
        for acc in self.t.data["Accounts"].values():
            if self.account_class(acc) in ("REVENUE", "EXPENSE"):
                total -= balances.get(acc["AccountID"], ZERO)
        return total


def _cells(values: Iterable[str], attrs: list[dict[str, str]] | None = None) -> list[dict[str, Any]]:
    return [{"Value": v, **({"Attributes": attrs} if attrs else {})} for v in values]


def _account_attr(aid: str) -> list[dict[str, str]]:
    return [{"Value": aid, "Id": "account"}]


def _report(t: Tenant, name: str, rtype: str, titles: list[str], rows: list[dict[str, Any]]) -> dict[str, Any]:
    return {
        "ReportName": name,
        "ReportType": rtype,
        "ReportTitles": titles,
        "ReportDate": _long(_today()),
        "UpdatedDateUTC": ms_date(now_ms()),
        "Fields": [],
        "Rows": rows,
    }


def _section(
    ledger: Ledger,
    title: str,
    types: tuple[str, ...],
    columns: list[dict[str, Decimal]],
    sign: int,
    total_label: str | None,
) -> tuple[dict[str, Any] | None, list[Decimal]]:
    """Rows for the accounts of `types` (values x `sign`), plus their totals; None when all are zero."""
    rows: list[dict[str, Any]] = []
    totals = [ZERO for _ in columns]
    for acc in ledger.accounts():
        if acc.get("Type") not in types:
            continue
        vals = [sign * col.get(acc["AccountID"], ZERO) for col in columns]
        if all(v == 0 for v in vals):
            continue
        totals = [a + b for a, b in zip(totals, vals, strict=True)]
        attrs = _account_attr(acc["AccountID"])
        rows.append({"RowType": "Row", "Cells": _cells([acc["Name"], *map(_money, vals)], attrs)})
    if not rows:
        return None, totals
    if total_label:
        rows.append({"RowType": "SummaryRow", "Cells": _cells([total_label, *map(_money, totals)])})
    return {"RowType": "Section", "Title": title, "Rows": rows}, totals


def _line_row(label: str, values: list[Decimal], attrs: list[dict[str, str]] | None = None) -> dict[str, Any]:
    return {
        "RowType": "Section",
        "Title": "",
        "Rows": [{"RowType": "Row", "Cells": _cells([label, *map(_money, values)], attrs)}],
    }


# ---- Profit and Loss ---------------------------------------------------------------------------
def profit_and_loss(t: Tenant, params: Mapping[str, str]) -> dict[str, Any]:
    today = _today()
    start = _date_param(params, "fromDate") or today.replace(day=1)
    end = _date_param(params, "toDate") or _add_months(start, 0, True)
    if end < start:
        raise ReportError("toDate must not be before fromDate")
    periods, step = _periods(params)
    whole_months = start.day == 1 and _is_month_end(end)
    ranges = [
        (_add_months(start, -i * step, False), _add_months(end, -i * step, whole_months)) for i in range(periods + 1)
    ]
    ledger = Ledger(t)
    columns = [ledger.balances(a, b) for a, b in ranges]
    header = {"RowType": "Header", "Cells": _cells(["", *(_short(b) for _, b in ranges)])}
    rows: list[dict[str, Any]] = [header]
    income, inc = _section(ledger, "Income", ("REVENUE", "SALES"), columns, -1, "Total Income")
    cos, cost = _section(ledger, "Less Cost of Sales", ("DIRECTCOSTS",), columns, 1, "Total Cost of Sales")
    other, oth = _section(ledger, "Plus Other Income", ("OTHERINCOME",), columns, -1, "Total Other Income")
    opex, exp = _section(
        ledger,
        "Less Operating Expenses",
        ("EXPENSE", "OVERHEADS", "DEPRECIATN"),
        columns,
        1,
        "Total Operating Expenses",
    )
    gross = [a - b for a, b in zip(inc, cost, strict=True)]
    net = [g + o - e for g, o, e in zip(gross, oth, exp, strict=True)]
    for sec in (income, cos):
        if sec is not None:
            rows.append(sec)
    rows.append(_line_row("Gross Profit", gross))
    for sec in (other, opex):
        if sec is not None:
            rows.append(sec)
    rows.append(_line_row("Net Profit", net))
    titles = ["Profit and Loss", t.name, f"{_long(start)} to {_long(end)}"]
    return _report(t, "Profit and Loss", "ProfitAndLoss", titles, rows)


# ---- Balance Sheet ------------------------------------------------------------------------------
def balance_sheet(t: Tenant, params: Mapping[str, str]) -> dict[str, Any]:
    at = _date_param(params, "date") or _today()
    periods, step = _periods(params)
    dates = [_add_months(at, -i * step, _is_month_end(at)) for i in range(periods + 1)]
    ledger = Ledger(t)
    columns = [ledger.balances(None, d) for d in dates]
    rows: list[dict[str, Any]] = [{"RowType": "Header", "Cells": _cells(["", *(_short(d) for d in dates)])}]
    zero = [ZERO for _ in dates]

    rows.append({"RowType": "Section", "Title": "Assets", "Rows": []})
    assets = list(zero)
    for title, types in (
        ("Bank", ("BANK",)),
        ("Current Assets", ("CURRENT", "PREPAYMENT", "INVENTORY")),
        ("Fixed Assets", ("FIXED",)),
        ("Non-current Assets", ("NONCURRENT",)),
    ):
        sec, tot = _section(ledger, title, types, columns, 1, f"Total {title}")
        if sec is not None:
            rows.append(sec)
            assets = [a + b for a, b in zip(assets, tot, strict=True)]
    rows.append(
        {
            "RowType": "Section",
            "Title": "",
            "Rows": [{"RowType": "SummaryRow", "Cells": _cells(["Total Assets", *map(_money, assets)])}],
        }
    )

    rows.append({"RowType": "Section", "Title": "Liabilities", "Rows": []})
    liabilities = list(zero)
    for title, types in (
        ("Current Liabilities", ("CURRLIAB", "LIABILITY", "PAYG")),
        ("Non-current Liabilities", ("TERMLIAB",)),
    ):
        sec, tot = _section(ledger, title, types, columns, -1, f"Total {title}")
        if sec is not None:
            rows.append(sec)
            liabilities = [a + b for a, b in zip(liabilities, tot, strict=True)]
    rows.append(
        {
            "RowType": "Section",
            "Title": "",
            "Rows": [{"RowType": "SummaryRow", "Cells": _cells(["Total Liabilities", *map(_money, liabilities)])}],
        }
    )
    rows.append(_line_row("Net Assets", [a - b for a, b in zip(assets, liabilities, strict=True)]))

    retained = system_account(t, "RETAINEDEARNINGS")
    earnings, prior = [], []
    for d in dates:
        fy = _fy_start(t, d)
        earnings.append(ledger.profit(ledger.balances(fy, d)))
        prior.append(ledger.profit(ledger.balances(None, fy - timedelta(days=1))))
    equity_rows: list[dict[str, Any]] = [
        {
            "RowType": "Row",
            "Cells": _cells(["Current Year Earnings", *map(_money, earnings)], _account_attr(_EARNINGS_ID)),
        }
    ]
    total_equity = list(earnings)
    for acc in ledger.accounts():
        if acc.get("Type") != "EQUITY":
            continue
        vals = [-col.get(acc["AccountID"], ZERO) for col in columns]
        if acc["AccountID"] == retained["AccountID"]:
            vals = [v + p for v, p in zip(vals, prior, strict=True)]
        if all(v == 0 for v in vals):
            continue
        total_equity = [a + b for a, b in zip(total_equity, vals, strict=True)]
        equity_rows.append(
            {"RowType": "Row", "Cells": _cells([acc["Name"], *map(_money, vals)], _account_attr(acc["AccountID"]))}
        )
    equity_rows.append({"RowType": "SummaryRow", "Cells": _cells(["Total Equity", *map(_money, total_equity)])})
    rows.append({"RowType": "Section", "Title": "Equity", "Rows": equity_rows})
    return _report(t, "Balance Sheet", "BalanceSheet", ["Balance Sheet", t.name, f"As at {_long(at)}"], rows)


# ---- Trial Balance ------------------------------------------------------------------------------
def trial_balance(t: Tenant, params: Mapping[str, str]) -> dict[str, Any]:
    at = _date_param(params, "date") or _today()
    ledger = Ledger(t)
    fy = _fy_start(t, at)
    month = ledger.balances(at.replace(day=1), at)
    ytd_pl = ledger.balances(fy, at)
    to_date = ledger.balances(None, at)
    prior = ledger.profit(ledger.balances(None, fy - timedelta(days=1)))
    retained = system_account(t, "RETAINEDEARNINGS")
    rows: list[dict[str, Any]] = [
        {"RowType": "Header", "Cells": _cells(["Account", "Debit", "Credit", "YTD Debit", "YTD Credit"])}
    ]
    sums = [ZERO, ZERO, ZERO, ZERO]
    for title, cls in (
        ("Revenue", "REVENUE"),
        ("Expenses", "EXPENSE"),
        ("Assets", "ASSET"),
        ("Liabilities", "LIABILITY"),
        ("Equity", "EQUITY"),
    ):
        section_rows = []
        for acc in ledger.accounts():
            if ledger.account_class(acc) != cls:
                continue
            aid = acc["AccountID"]
            mov = month.get(aid, ZERO)
            ytd = (ytd_pl if cls in ("REVENUE", "EXPENSE") else to_date).get(aid, ZERO)
            if aid == retained["AccountID"]:
                # Earlier years' profit has been closed to retained earnings (a credit).
                ytd -= prior
            if mov == 0 and ytd == 0:
                continue
            debit_side = ytd >= 0 if ytd != 0 else mov >= 0
            cells = [
                f"{acc['Name']} ({acc['Code']})",
                _money(mov) if (mov > 0 or (mov == 0 and debit_side)) else "",
                _money(-mov) if (mov < 0 or (mov == 0 and not debit_side)) else "",
                _money(ytd) if ytd > 0 or (ytd == 0 and debit_side) else "",
                _money(-ytd) if ytd < 0 or (ytd == 0 and not debit_side) else "",
            ]
            for i, v in enumerate((max(mov, ZERO), max(-mov, ZERO), max(ytd, ZERO), max(-ytd, ZERO))):
                sums[i] += v
            section_rows.append({"RowType": "Row", "Cells": _cells(cells, _account_attr(aid))})
        if section_rows:
            rows.append({"RowType": "Section", "Title": title, "Rows": section_rows})
    rows.append(
        {
            "RowType": "Section",
            "Title": "",
            "Rows": [{"RowType": "SummaryRow", "Cells": _cells(["Total", *map(_money, sums)])}],
        }
    )
    return _report(t, "Trial Balance", "TrialBalance", ["Trial Balance", t.name, f"As at {_long(at)}"], rows)


# ---- Aged Receivables by contact ---------------------------------------------------------------
def aged_receivables(t: Tenant, params: Mapping[str, str]) -> dict[str, Any]:
    cid = _param(params, "contactId") or _param(params, "contactID")
    contact = t.get("Contacts", cid) if cid else None
    if contact is None:
        raise ReportError("A valid contactId must be specified")
    at = _date_param(params, "date") or _today()
    start = _date_param(params, "fromDate")
    end = _date_param(params, "toDate") or at
    at_ms = _end_ms(at)
    opening = ZERO
    rows: list[dict[str, Any]] = []
    totals = [ZERO, ZERO, ZERO, ZERO]
    earliest: date | None = None
    invoices = sorted(
        (
            inv
            for inv in t.data["Invoices"].values()
            if inv.get("Type") == "ACCREC"
            and inv.get("Status") in ("AUTHORISED", "PAID")
            and str(inv["Contact"]["ContactID"]) == contact["ContactID"]
        ),
        key=lambda inv: (int(inv["Date"][6:-7]), inv.get("InvoiceNumber", "")),
    )
    for inv in invoices:
        d = parse_date(inv["Date"])
        if d > at:
            continue
        total = to_dec(inv["Total"])
        paid = sum(
            (
                to_dec(p["Amount"])
                for p in inv.get("_payments", {}).values()
                if p.get("Status") != "DELETED" and p["_date_ms"] <= at_ms
            ),
            ZERO,
        )
        credited = sum(
            (to_dec(a["Amount"]) for a in inv.get("_allocations", {}).values() if a["_date_ms"] <= at_ms), ZERO
        )
        due = total - paid - credited
        if due <= 0:
            continue
        if start is not None and d < start:
            opening += due
            continue
        if d > end:
            continue
        earliest = d if earliest is None or d < earliest else earliest
        due_date = parse_date(inv["DueDate"]) if inv.get("DueDate") else d
        overdue = (at - due_date).days
        attrs = [{"Value": inv["InvoiceID"], "Id": "invoiceID"}]
        values = [total, paid, credited, due]
        totals = [a + b for a, b in zip(totals, values, strict=True)]
        rows.append(
            {
                "RowType": "Row",
                "Cells": _cells(
                    [
                        f"{d.isoformat()}T00:00:00",
                        str(inv.get("InvoiceNumber") or ""),
                        f"{due_date.isoformat()}T00:00:00",
                        f"{overdue} days overdue" if overdue > 0 else "",
                        *map(_money, values),
                    ],
                    attrs,
                ),
            }
        )
    since = start or earliest or at
    header = {
        "RowType": "Header",
        "Cells": _cells(["Date", "Number", "Due Date", "", "Total", "Paid", "Credited", "Due"]),
    }
    opening_row = {
        "RowType": "Row",
        "Cells": _cells([f"{since.isoformat()}T00:00:00", "Opening Balance", "", "", "", "", "", _money(opening)]),
    }
    rows.append({"RowType": "SummaryRow", "Cells": _cells(["Total", "", "", "", *map(_money, totals)])})
    closing = [totals[0], totals[1], totals[2], totals[3] + opening]
    report_rows = [
        header,
        {"RowType": "Section", "Title": "", "Rows": [opening_row]},
        {"RowType": "Section", "Title": "", "Rows": rows},
        {
            "RowType": "Section",
            "Title": "",
            "Rows": [
                {"RowType": "SummaryRow", "Cells": _cells(["Closing Balance", "", "", "", *map(_money, closing)])}
            ],
        },
    ]
    titles = ["Invoices", contact["Name"], f"From {_long(since)} to {_long(end)}", f"Showing payments to {_long(at)}"]
    return _report(t, "Aged Receivables By Contact", "AgedReceivablesByContact", titles, report_rows)


BUILDERS = {
    "ProfitAndLoss": profit_and_loss,
    "BalanceSheet": balance_sheet,
    "TrialBalance": trial_balance,
    "AgedReceivablesByContact": aged_receivables,
}
