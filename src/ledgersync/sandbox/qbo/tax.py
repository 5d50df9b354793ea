"""Sales tax as QuickBooks Online computes it from its tax entities: a line's TaxCodeRef names a TaxCode whose
SalesTaxRateList (sales forms) or PurchaseTaxRateList (bills, purchase orders) lists TaxRateDetail entries,
each a TaxRate with its RateValue. A code with several rates is a combined (group) code: its rates add up
(TaxOnAmount), a TaxOnTax rate applies to the amount plus the taxes before it in TaxOrder. The transaction's
GlobalTaxCalculation says whether line amounts are TaxExcluded (tax is added), TaxInclusive (tax is inside them)
or NotApplicable. The result is the TxnTaxDetail Intuit's XSD describes (TotalTax and one TaxLine per rate).

Sandbox guesses (not in the sources consulted): rounding is per line and per rate, half up to cents; on a
TaxInclusive line the tax is taken out of the amount at the combined rate and shared among the rates in
proportion, the last one taking the cent left over; discounts are not taken off the taxable amount."""

from __future__ import annotations

from decimal import Decimal
from typing import TYPE_CHECKING, Any

from .util import ZERO, money, to_dec

if TYPE_CHECKING:
    from .state import Company

_TAXED_LINES = ("SalesItemLineDetail", "ItemBasedExpenseLineDetail", "AccountBasedExpenseLineDetail")
HUNDRED = Decimal(100)


def _rates(c: Company, code_id: str, sales: bool) -> list[tuple[str, Decimal, bool]]:
    """(TaxRate id, percent, on tax) of a tax code, in TaxOrder."""
    code = c.data["TaxCode"].get(code_id) or {}
    listing = code.get("SalesTaxRateList" if sales else "PurchaseTaxRateList") or {}
    out: list[tuple[int, str, Decimal, bool]] = []
    for detail in listing.get("TaxRateDetail") or []:
        rate_id = str((detail.get("TaxRateRef") or {}).get("value") or "")
        rate = c.data["TaxRate"].get(rate_id)
        if rate is None:
            continue
        on_tax = detail.get("TaxTypeApplicable") == "TaxOnTax"
        out.append((int(detail.get("TaxOrder") or 0), rate_id, to_dec(rate.get("RateValue"), ZERO), on_tax))
    out.sort(key=lambda t: t[0])
    return [(rid, pct, on_tax) for _, rid, pct, on_tax in out]


def _effective(rates: list[tuple[str, Decimal, bool]]) -> Decimal:
    """The combined percent: rates on the amount add up; a rate on tax also taxes the taxes before it."""
    total = ZERO
    for _, pct, on_tax in rates:
        total += pct * (HUNDRED + total) / HUNDRED if on_tax else pct
    return total


def compute(c: Company, entity: str, rec: dict[str, Any], sales: bool) -> Decimal:
    """Set rec's TxnTaxDetail from its lines and return the transaction's tax; TotalAmt is the caller's."""
    calculation = str(rec.get("GlobalTaxCalculation") or "TaxExcluded")
    per_rate: dict[str, list[Decimal]] = {}  # rate id -> [percent, net taxable, tax]
    total_tax = ZERO
    if calculation != "NotApplicable":
        for line in rec.get("Line") or []:
            kind = line.get("DetailType")
            if kind not in _TAXED_LINES:
                continue
            code = ((line.get(kind) or {}).get("TaxCodeRef") or {}).get("value")
            if not code:
                continue
            rates = _rates(c, str(code), sales)
            if not rates:
                continue
            amount = to_dec(line.get("Amount"), ZERO)
            effective = _effective(rates)
            if calculation == "TaxInclusive":
                line_tax = money(amount - amount * HUNDRED / (HUNDRED + effective)) if effective else ZERO
                net = amount - line_tax
            else:
                net, line_tax = amount, ZERO
            shares: list[tuple[str, Decimal, Decimal]] = []
            so_far = ZERO
            for rid, pct, on_tax in rates:
                base = net + so_far if on_tax else net
                share = money(base * pct / HUNDRED)
                so_far += share
                shares.append((rid, pct, share))
            if calculation == "TaxInclusive" and shares:
                # The taxes inside the amount are line_tax; shares at the rates may miss it by a cent.
                rid, pct, last = shares[-1]
                shares[-1] = (rid, pct, last + (line_tax - so_far))
            for rid, pct, share in shares:
                slot = per_rate.setdefault(rid, [pct, ZERO, ZERO])
                slot[1] += net
                slot[2] += share
                total_tax += share
    rec["TxnTaxDetail"] = {
        "TotalTax": money(total_tax),
        "TaxLine": [
            {
                "Amount": money(tax),
                "DetailType": "TaxLineDetail",
                "TaxLineDetail": {
                    "TaxRateRef": {"value": rid},
                    "PercentBased": True,
                    "TaxPercent": pct,
                    "NetAmountTaxable": money(net),
                },
            }
            for rid, (pct, net, tax) in per_rate.items()
        ],
    }
    if not rec["TxnTaxDetail"]["TaxLine"]:
        del rec["TxnTaxDetail"]["TaxLine"]
    return money(total_tax)


def with_tax(c: Company, entity: str, rec: dict[str, Any], total: Decimal, sales: bool) -> Decimal:
    """The transaction total once tax is known: tax added to exclusive amounts, already inside inclusive ones."""
    tax = compute(c, entity, rec, sales)
    if str(rec.get("GlobalTaxCalculation") or "TaxExcluded") == "TaxInclusive":
        return total
    return money(total + tax)


def tax_postings(c: Company, rec: dict[str, Any], sign: int, first_account: str) -> list[tuple[str, Decimal]]:
    """The ledger entries of a transaction's tax (sign +1 for a sale): the tax payable account is credited;
    on inclusive amounts the tax also comes off the first line's account, which took the gross amount."""
    tax = to_dec((rec.get("TxnTaxDetail") or {}).get("TotalTax"), ZERO)
    if not tax:
        return []
    payable = next(
        (str(a["Id"]) for a in c.data["Account"].values() if a.get("AccountSubType") == "SalesTaxPayable"), ""
    )
    out = [(payable, -sign * tax)]
    if str(rec.get("GlobalTaxCalculation") or "TaxExcluded") == "TaxInclusive":
        out.append((first_account, sign * tax))
    return out
