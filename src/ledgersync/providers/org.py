"""An organisation's own settings that decide what it takes (issue 16): its home currency, whether it takes other
currencies and which. A provider reads them from the platform (Xero `/Organisation` and `/Currencies`;
QuickBooks Online `preferences` and `CompanyCurrency`), the engine keeps them on the connection
(`connections.platform_settings`), hands them back to the next provider it opens, and shows them on the
dashboard. They are read again when older than a day, and once per provider when a record names a currency
they lack (the person may just have added it), so a refusal is given before anything is sent, with the
platform's own words and the fix."""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any, Protocol, runtime_checkable

from ledgersync.model import ErrorCode, SyncError

# Read again when older than this, the next time a provider needs them.
MAX_AGE = dt.timedelta(days=1)


def _now() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


@dataclass(frozen=True)
class OrgSettings:
    """What a platform says of the organisation. `currencies`: the foreign ones it takes, besides the home one."""

    home_currency: str | None
    currencies: tuple[str, ...] = ()
    multicurrency: bool = False
    name: str | None = None
    country: str | None = None
    read_at: dt.datetime = field(default_factory=_now)

    def takes(self, code: str) -> bool:
        code = code.upper()
        if self.home_currency is None or code == self.home_currency:
            return True
        return self.multicurrency and code in self.currencies

    def stale(self, now: dt.datetime | None = None, max_age: dt.timedelta = MAX_AGE) -> bool:
        return (now or _now()) - self.read_at > max_age

    def summary(self) -> str:
        """One line for a person: "Home currency AUD · multicurrency on: USD, NZD"."""
        home = f"Home currency {self.home_currency or 'unknown'}"
        if not self.multicurrency:
            return f"{home} · multicurrency off"
        others = ", ".join(self.currencies)
        return f"{home} · multicurrency on" + (f": {others}" if others else " (no other currency added)")

    def same_as(self, other: OrgSettings | None) -> bool:
        """Equal in everything but when they were read."""
        return other is not None and self.to_json() | {"read_at": None} == other.to_json() | {"read_at": None}

    def to_json(self) -> dict[str, Any]:
        return {
            "home_currency": self.home_currency,
            "currencies": list(self.currencies),
            "multicurrency": self.multicurrency,
            "name": self.name,
            "country": self.country,
            "read_at": self.read_at.isoformat(),
        }

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> OrgSettings:
        stamp = data.get("read_at")
        read_at = dt.datetime.fromisoformat(str(stamp)) if stamp else dt.datetime.fromtimestamp(0, dt.UTC)
        if read_at.tzinfo is None:
            read_at = read_at.replace(tzinfo=dt.UTC)
        home = data.get("home_currency")
        return cls(
            home_currency=str(home).upper() if home else None,
            currencies=tuple(str(c).upper() for c in data.get("currencies") or ()),
            multicurrency=bool(data.get("multicurrency")),
            name=data.get("name"),
            country=data.get("country"),
            read_at=read_at,
        )


@runtime_checkable
class ReadsOrgSettings(Protocol):
    """A provider that reads its organisation's settings. The engine seeds `org_settings` with the stored ones
    when it opens the provider and stores them again when the provider read newer ones."""

    org_settings: OrgSettings | None

    def read_org_settings(self) -> OrgSettings: ...


@dataclass(frozen=True)
class CurrencyTexts:
    """How one platform words a currency it will not take: its own refusal and the fix, with {code} and
    {home}. `off` is for multicurrency switched off (None: the platform has no such switch)."""

    platform: str
    not_added: str
    fix: str
    off: str | None = None
    off_fix: str | None = None
    home_rate: str = (
        "A document in {code}, the home currency, takes no exchange rate (it has {rate}); remove the rate and retry."
    )


class OrgSettingsCache:
    """A provider's copy of its organisation's settings: seeded by the engine, read when missing or stale, and
    read once more when a record names a currency the copy lacks."""

    def __init__(self, read: Callable[[], OrgSettings], texts: CurrencyTexts) -> None:
        self._read = read
        self.texts = texts
        self.current: OrgSettings | None = None
        self._reread = False

    def get(self) -> OrgSettings:
        if self.current is None or self.current.stale():
            self.current = self._read()
        return self.current

    def refusal(self, code: str | None, rate: Decimal | None = None, *, what: str = "document") -> SyncError | None:
        """Why the organisation will not take a `what` in `code` (None: it will), before anything is sent."""
        if not code:
            return None
        code = code.upper()
        settings = self.get()
        if not settings.takes(code) and not self._reread:
            # The person may have added it since the settings were read: read them once more.
            self._reread = True
            self.current = settings = self._read()
        home = settings.home_currency or ""
        if code == home and rate is not None and rate != 1:
            return SyncError(
                code=ErrorCode.VALIDATION,
                message=self.texts.home_rate.format(code=code, rate=rate, what=what),
                hint=f"Send the {what} without an exchange rate (or 1), then Retry.",
            )
        if settings.takes(code):
            return None
        t = self.texts
        if not settings.multicurrency and t.off is not None:
            message, fix = t.off.format(code=code, home=home), (t.off_fix or t.fix).format(code=code, home=home)
        else:
            message, fix = t.not_added.format(code=code, home=home), t.fix.format(code=code, home=home)
        return SyncError(
            code=ErrorCode.VALIDATION,
            message=f"{t.platform} does not take {code} on this {what}: {message}",
            hint=fix,
            platform_message=message,
            platform_code="currency",
        )


__all__ = ["MAX_AGE", "CurrencyTexts", "OrgSettings", "OrgSettingsCache", "ReadsOrgSettings"]
