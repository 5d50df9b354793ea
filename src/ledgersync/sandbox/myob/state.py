"""The MYOB sandbox's state: OAuth apps (API keys), company files and their records, tokens, limits, faults."""

from __future__ import annotations

import datetime as dt
import uuid
from dataclasses import dataclass
from typing import Any, ClassVar

from ..common.state import OAuthApp, OAuthSandboxState

# The resources the sandbox serves, as their path under /accountright/{businessId}/ (pymyob endpoints.py;
# .NET SDK Contracts/Version2). CustomerPayment, CreditRefund, CreditSettlement and SupplierPayment take no PUT.
RESOURCES: tuple[str, ...] = (
    "Contact/Customer",
    "Contact/Supplier",
    "Sale/Invoice/Service",
    "Sale/Invoice/Item",
    "Sale/CustomerPayment",
    "Sale/CreditRefund",
    "Sale/CreditSettlement",
    "Inventory/Item",
    "Purchase/Order/Item",
    "Purchase/Order/Service",
    "Purchase/Bill/Service",
    "Purchase/Bill/Item",
    "Purchase/SupplierPayment",
    "GeneralLedger/TaxCode",
    "GeneralLedger/Account",
    "GeneralLedger/Category",
    "GeneralLedger/Job",
)
NO_PUT = frozenset({"Sale/CustomerPayment", "Sale/CreditRefund", "Sale/CreditSettlement", "Purchase/SupplierPayment"})
# Listing a parent lists every child type (GET Sale/Invoice lists service and item invoices alike).
PARENTS: dict[str, tuple[str, ...]] = {
    "Contact": ("Contact/Customer", "Contact/Supplier"),
    "Sale/Invoice": ("Sale/Invoice/Service", "Sale/Invoice/Item"),
    "Purchase/Order": ("Purchase/Order/Item", "Purchase/Order/Service"),
    "Purchase/Bill": ("Purchase/Bill/Service", "Purchase/Bill/Item"),
}

DEFAULT_CONFIG: dict[str, Any] = {
    # 8 calls a second and 1,000,000 a day per API key (MYOB staff, community.myob.com thread 693742). MYOB's
    # error-messages page documents 403 RateLimitError for the daily limit; the per-second status is UNVERIFIED
    # (api-evangelist claims 429), so `status` can be set to 429.
    "rate_limits": {"second": 8, "day": 1_000_000, "status": 403},
    # Access-token lifetime: 1200 s is what integrators report; no MYOB source was found (UNVERIFIED).
    "access_token_seconds": 1200,
    "persist_interval": 2.0,
    "default_page_size": 400,
    "max_page_size": 1000,
}

DEFAULT_FAULTS: dict[str, Any] = {
    "latency_ms": 0,
    # "429" is answered as MYOB answers a per-second limit (403 RateLimitError), counted under "429".
    "error_rates": {"429": 0.0, "500": 0.0, "503": 0.0},
    "timeout_after_commit_rate": 0.0,
    "drop_after_commit_rate": 0.0,
    "hang_seconds": 30.0,
    "seed": None,
    "methods": ["GET", "PUT", "POST", "DELETE"],
}


def _counters() -> dict[str, Any]:
    return {
        "total_calls": 0,
        "calls": {},
        "rate_limited": {"second": 0, "day": 0},
        "faults": {"429": 0, "500": 0, "503": 0, "timeout_after_commit": 0, "drop_after_commit": 0},
        "token_grants": {"authorization_code": 0, "refresh_token": 0},
    }


def new_uid() -> str:
    return str(uuid.uuid4())


@dataclass
class App(OAuthApp):
    """A developer's app: its API key (= OAuth client id), secret and redirect URIs."""

    name: str = "ledgersync"


class CompanyFile:
    """One MYOB business (company file): its records per resource and the sequences that number them."""

    def __init__(self, name: str, file_id: str | None = None, seed: bool = True) -> None:
        self.id = (file_id or new_uid()).lower()
        self.name = name
        self.data: dict[str, dict[str, dict[str, Any]]] = {r: {} for r in RESOURCES}
        self.seq: dict[str, int] = {"record": 0, "sale": 0, "receipt": 0, "purchase": 0, "card": 0, "row": 0}
        self.last_stamp = dt.datetime(2000, 1, 1)
        if seed:
            from .seed import seed_ledger

            seed_ledger(self)

    def next(self, name: str) -> int:
        self.seq[name] = self.seq.get(name, 0) + 1
        return self.seq[name]

    def stamp(self) -> str:
        """A LastModified that always moves forward (milliseconds, no offset, as MYOB writes them)."""
        now = dt.datetime.now(dt.UTC).replace(tzinfo=None, microsecond=0) + dt.timedelta(
            microseconds=dt.datetime.now(dt.UTC).microsecond // 1000 * 1000
        )
        if now <= self.last_stamp:
            now = self.last_stamp + dt.timedelta(milliseconds=1)
        self.last_stamp = now
        return now.strftime("%Y-%m-%dT%H:%M:%S.%f")[:-3]

    def row_version(self) -> str:
        # MYOB's RowVersion is an opaque long written as a string (e.g. "-6741947553832124416").
        return str(7_000_000_000_000_000_000 - self.next("row") * 7919)

    def find(self, uid: str) -> tuple[str, dict[str, Any]] | None:
        for resource, records in self.data.items():
            rec = records.get(uid.lower())
            if rec is not None:
                return resource, rec
        return None

    def to_json(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "name": self.name,
            "data": self.data,
            "seq": self.seq,
            "last_stamp": self.last_stamp.isoformat(),
        }

    @classmethod
    def from_json(cls, obj: dict[str, Any]) -> CompanyFile:
        cf = cls(obj["name"], obj["id"], seed=False)
        cf.data = {r: dict(obj.get("data", {}).get(r, {})) for r in RESOURCES}
        cf.seq = dict(obj.get("seq", {}))
        cf.last_stamp = dt.datetime.fromisoformat(obj.get("last_stamp", "2000-01-01T00:00:00"))
        return cf


@dataclass
class MyobSandbox(OAuthSandboxState[CompanyFile, App]):
    default_config: ClassVar[dict[str, Any]] = DEFAULT_CONFIG
    default_faults: ClassVar[dict[str, Any]] = DEFAULT_FAULTS

    def add_tenant(self, name: str, tenant_id: str | None = None, demo: bool = False) -> CompanyFile:
        cf = CompanyFile(name, tenant_id)
        self.tenants[cf.id] = cf
        if demo:
            from .seed import seed_demo

            seed_demo(cf)
        self.dirty = True
        return cf

    def add_app(self, client_id: str, client_secret: str, redirect_uris: list[str], name: str | None = None) -> App:
        app = App(client_id, client_secret, list(redirect_uris), name or "ledgersync")
        self.apps[client_id] = app
        self.dirty = True
        return app

    def reset_counters(self) -> None:
        self.counters = _counters()

    def to_json(self) -> dict[str, Any]:
        return self.oauth_json()

    def load_json(self, obj: dict[str, Any]) -> None:
        self.apps = {
            a["client_id"]: App(a["client_id"], a["client_secret"], list(a["redirect_uris"]), a.get("name", ""))
            for a in obj.get("apps", [])
        }
        self.tenants = {t["id"]: CompanyFile.from_json(t) for t in obj.get("tenants", [])}
        self.load_oauth_json(obj)
