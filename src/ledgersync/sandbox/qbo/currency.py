"""Currencies on QuickBooks Online transactions. A company has one home currency (Preferences.CurrencyPrefs
.HomeCurrency); with multicurrency off every transaction is in it; with it on (a one-way switch in QuickBooks),
a transaction may be in a currency the company has added, and carries an ExchangeRate (home currency per unit
of the transaction's), from which QuickBooks keeps HomeTotalAmt (and HomeBalance) in the home currency.

The sandbox's company preferences hold `multicurrency` (bool) and `currencies` (codes added besides the home
one), set through the control API. Sandbox guesses (not in the sources consulted): the refusal texts, and that a
foreign-currency transaction without an ExchangeRate is refused (QuickBooks would use its own daily rate)."""

from __future__ import annotations

from decimal import Decimal, InvalidOperation
from typing import TYPE_CHECKING, Any

from . import faults as F
from .util import ZERO, money, to_dec

if TYPE_CHECKING:
    from .state import Company

# The home-currency fields each form has in Intuit's XSD (SalesTransaction: HomeTotalAmt and HomeBalance;
# Bill: HomeBalance only).
_SALES = ("HomeTotalAmt", "HomeBalance")
HOME_FIELDS: dict[str, tuple[str, ...]] = {
    **dict.fromkeys(("Invoice", "SalesReceipt", "CreditMemo", "RefundReceipt", "Estimate"), _SALES),
    "Bill": ("HomeBalance",),
}


def home(c: Company) -> str:
    return str(c.preferences.get("home_currency") or "USD")


def multicurrency(c: Company) -> bool:
    return bool(c.preferences.get("multicurrency", False))


def check(c: Company, entity: str, rec: dict[str, Any]) -> None:
    """Refuse a currency the company can't use; keep the exchange rate and the home-currency amounts."""
    code = str((rec.get("CurrencyRef") or {}).get("value") or home(c)).upper()
    if code == home(c):
        rec.pop("ExchangeRate", None)
        return
    if not multicurrency(c):
        raise F.business(
            f"You can't use {code} here: multicurrency is off, so every transaction is in the company's home "
            f"currency ({home(c)}).",
            "CurrencyRef",
        )
    if code not in {str(x).upper() for x in c.preferences.get("currencies") or []}:
        raise F.business(f"The currency {code} has not been added to this company's currency list.", "CurrencyRef")
    raw = rec.get("ExchangeRate")
    if raw in (None, ""):
        raise F.required("ExchangeRate")
    try:
        rate = Decimal(str(raw))
    except InvalidOperation:
        raise F.invalid_number("ExchangeRate", raw) from None
    if rate <= 0:
        raise F.invalid_number("ExchangeRate", raw)
    rec["ExchangeRate"] = rate


def home_amounts(entity: str, rec: dict[str, Any]) -> None:
    """HomeTotalAmt / HomeBalance: the transaction's amounts in the home currency (its own when no rate)."""
    fields = HOME_FIELDS.get(entity, ())
    rate = to_dec(rec.get("ExchangeRate"), Decimal(1))
    if "HomeTotalAmt" in fields:
        rec["HomeTotalAmt"] = money(to_dec(rec.get("TotalAmt"), ZERO) * rate)
    if "HomeBalance" in fields and "Balance" in rec:
        rec["HomeBalance"] = money(to_dec(rec.get("Balance"), ZERO) * rate)
