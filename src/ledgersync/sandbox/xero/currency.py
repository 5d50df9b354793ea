"""Currencies on Xero documents: a document's CurrencyCode must be the organisation's base currency or one it
has added (GET /Currencies lists them; PUT /Currencies adds one). A foreign-currency document carries a
CurrencyRate (units of the document's currency per unit of the base currency, Xero's convention); when none is
given Xero uses its daily rate, which the sandbox does not have, so it asks for one.

Sandbox guesses (not in the sources consulted): both refusal texts."""

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
        raise ElementError(MSG_RATE.format(code=code, base=base))
    try:
        rate = Decimal(str(given_rate))
    except InvalidOperation:
        raise ElementError(f"The currency rate '{given_rate}' is not valid.") from None
    if rate <= 0:
        raise ElementError(f"The currency rate '{given_rate}' is not valid.")
    rec["CurrencyRate"] = rate
