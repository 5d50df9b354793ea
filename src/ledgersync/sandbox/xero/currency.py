"""Currencies on Xero documents: a document's CurrencyCode must be the organisation's base currency or one it
has added (GET /Currencies lists them; PUT /Currencies adds one). A foreign-currency document carries a
CurrencyRate (units of the document's currency per unit of the base currency, Xero's convention); when none is
given Xero uses the XE.com rate of the day (xero_accounting.yaml, Invoice/CreditNote/PurchaseOrder.CurrencyRate).
The sandbox has no XE.com: it takes the day rate set through the control API (`/_sandbox/tenants/{id}/day-rates`)
and, without one, asks for a rate.

A payment's CurrencyRate is "the exchange rate when payment is received" (Payment.CurrencyRate); given none, the
sandbox takes the day rate, else the document's own rate. BankAmount, the amount in the (base-currency) bank
account, is Amount / CurrencyRate.

Sandbox guesses (not in the sources consulted): both refusal texts; a payment without a rate and without a day
rate taking its document's."""

from __future__ import annotations

from decimal import Decimal, InvalidOperation
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from .state import Tenant

MSG_NOT_ENABLED = "The currency {code} has not been added to this organisation. Add it in Settings > Currencies."
MSG_RATE = "A currency rate must be given for a document in {code} (the organisation's currency is {base})."


def base_currency(t: Tenant) -> str:
    return str(t.organisation.get("BaseCurrency") or "AUD")


def check(t: Tenant, rec: dict[str, Any], given_rate: Any) -> None:
    """Refuse a currency the organisation has not added; keep the rate (1 in the base currency)."""
    from .records import ElementError

    code = str(rec.get("CurrencyCode") or base_currency(t)).upper()
    base = base_currency(t)
    if code != base and t.get("Currencies", code) is None:
        raise ElementError(MSG_NOT_ENABLED.format(code=code))
    rec["CurrencyCode"] = code
    if code == base:
        rec["CurrencyRate"] = Decimal("1.000000")
        return
    if given_rate in (None, ""):
        if rec.get("CurrencyRate") not in (None, "") and Decimal(str(rec["CurrencyRate"])) != 1:
            return  # an update keeps the rate the document has
        day = day_rate(t, code)
        if day is None:
            raise ElementError(MSG_RATE.format(code=code, base=base))
        rec["CurrencyRate"] = day
        return
    try:
        rate = Decimal(str(given_rate))
    except InvalidOperation:
        raise ElementError(f"The currency rate '{given_rate}' is not valid.") from None
    if rate <= 0:
        raise ElementError(f"The currency rate '{given_rate}' is not valid.")
    rec["CurrencyRate"] = rate


def day_rate(t: Tenant, code: str) -> Decimal | None:
    """The rate of the day for `code` set through the control API (None: none set)."""
    raw = (t.organisation.get("_day_rates") or {}).get(code.upper())
    return None if raw in (None, "") else Decimal(str(raw)).quantize(Decimal("0.000001"))


def payment_rate(t: Tenant, doc: dict[str, Any], given_rate: Any) -> Decimal:
    """A payment's CurrencyRate: 1 on a base-currency document; else the one given, the day rate, or the
    document's own."""
    from .records import ElementError

    code = str(doc.get("CurrencyCode") or base_currency(t)).upper()
    if code == base_currency(t):
        return Decimal("1.000000")
    if given_rate not in (None, ""):
        try:
            rate = Decimal(str(given_rate))
        except InvalidOperation:
            raise ElementError(f"The currency rate '{given_rate}' is not valid.") from None
        if rate <= 0:
            raise ElementError(f"The currency rate '{given_rate}' is not valid.")
        return rate.quantize(Decimal("0.000001"))
    day = day_rate(t, code)
    if day is not None:
        return day
    return Decimal(str(doc.get("CurrencyRate") or 1)).quantize(Decimal("0.000001"))
