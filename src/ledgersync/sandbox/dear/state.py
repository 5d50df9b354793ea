"""The DEAR / Cin7 Core sandbox's state: accounts (companies) with their API applications, records, webhooks.

Written from the Cin7 Core API v2 documentation (the OpenAPI document FalconEyeSolutions/CIN7-DearInventory
api/openapi.yaml, `info.description` and the tags "Customer", "Sale", "Webhooks"). Where the sandbox has to
guess (error wording, webhook payloads) the code says so."""

from __future__ import annotations

import copy
import datetime as dt
import secrets
import uuid
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ..common.persistence import PersistedState

# Collections an account holds, keyed by the record's ID.
COLLECTIONS = ("customer", "supplier", "product", "sale", "purchase", "webhook")

DEFAULT_CONFIG: dict[str, Any] = {
    # "60 calls per minute" per API application (openapi.yaml info.description, status 503).
    "rate_limits": {"per_minute": 60},
    # Webhook retries after a failed delivery, minutes after the previous attempt (tag "Webhooks": up to 6
    # attempts +1, +5, +10, +15, +20, +25 minutes; then the webhook is deactivated). The first delivery is sent
    # at once here, so live updates are live in tests.
    "webhook_retry_minutes": [1, 5, 10, 15, 20, 25],
    "webhook_timeout": 5.0,
    "persist_interval": 2.0,
    # Tag "Webhooks": at most 5 webhooks of the same type.
    "webhooks_per_type": 5,
    # sandbox guess: whether deleting a payment marks its sale as changed (LastModifiedOn / saleList Updated);
    # DEAR's documents do not say. Off, a deleted payment is found only by reading its sale again.
    "payment_delete_touches_sale": True,
}

DEFAULT_FAULTS: dict[str, Any] = {
    # {"500": 0.1, "rate_limit": 0.2}: "rate_limit" answers DEAR's 503 "You reached 60 calls per minute API limit".
    "error_rates": {},
    "timeout_after_commit_rate": 0.0,
    "drop_after_commit_rate": 0.0,
    "hang_seconds": 30.0,
    "latency_ms": 0,
    "methods": ["GET", "POST", "PUT", "DELETE"],
    "seed": None,
}

# Webhook types (nnhansg/dear-ruby lib/dear-inventory-ruby/models/webhook_type.rb).
WEBHOOK_TYPES = (
    "Sale/QuoteAuthorised",
    "Sale/OrderAuthorised",
    "Sale/Voided",
    "Sale/Backordered",
    "Sale/ShipmentAuthorised",
    "Sale/InvoiceAuthorised",
    "Sale/PickAuthorised",
    "Sale/PackAuthorised",
    "Sale/CreditNoteAuthorised",
    "Sale/Undo",
    "Sale/PartialPaymentReceived",
    "Sale/FullPaymentReceived",
    "Sale/ShipmentTrackingNumberChanged",
    "Purchase/OrderAuthorised",
    "Purchase/InvoiceAuthorised",
    "Purchase/StockReceivedAuthorised",
    "Purchase/CreditNoteAuthorised",
    "Customer/Updated",
    "Supplier/Updated",
    "Stock/AvailableStockLevelChanged",
)


def stamp(seconds: float) -> str:
    """DEAR's date-time: ISO 8601 UTC with milliseconds and no zone, e.g. 2012-11-14T13:28:33.363."""
    return dt.datetime.fromtimestamp(seconds, tz=dt.UTC).strftime("%Y-%m-%dT%H:%M:%S.%f")[:-3]


def parse_stamp(value: str) -> float:
    """A date-time a caller sends (ModifiedSince, UpdatedSince): ISO 8601, UTC when no zone is given."""
    text = value.strip().replace(" ", "T")
    if text.endswith("Z"):
        text = text[:-1] + "+00:00"
    when = dt.datetime.fromisoformat(text)
    if when.tzinfo is None:
        when = when.replace(tzinfo=dt.UTC)
    return when.timestamp()


def new_id() -> str:
    return str(uuid.uuid4())


def _reference_data() -> dict[str, list[dict[str, Any]]]:
    tax = [
        ("GST on Income", 10, True, False, "2200"),
        ("GST on Expenses", 10, False, True, "2200"),
        ("GST Free Income", 0, True, False, "2200"),
        ("GST Free Expenses", 0, False, True, "2200"),
        ("BAS Excluded", 0, True, True, "2200"),
    ]
    accounts = [
        ("090", "Business Bank Account", "ASSET", "BANK", True),
        ("091", "Business Savings Account", "ASSET", "BANK", True),
        ("200", "Sales", "REVENUE", "REVENUE", False),
        ("260", "Other Revenue", "REVENUE", "OTHERINCOME", False),
        ("310", "Cost of Goods Sold", "EXPENSE", "DIRECTCOSTS", False),
        ("400", "Purchases", "EXPENSE", "EXPENSE", False),
        ("610", "Accounts Receivable", "ASSET", "CURRENT", False),
        ("630", "Inventory", "ASSET", "INVENTORY", False),
        ("800", "Accounts Payable", "LIABILITY", "CURRLIAB", False),
        ("2200", "GST", "LIABILITY", "CURRLIAB", False),
    ]
    return {
        "tax": [
            {
                "ID": new_id(),
                "Name": name,
                "TaxPercent": pct,
                "TaxInclusive": False,
                "IsActive": True,
                "IsTaxForSale": sale,
                "IsTaxForPurchase": purchase,
                "Account": acct,
                "Components": [
                    {
                        "ID": new_id(),
                        "Name": name,
                        "Percent": str(pct),
                        "AccountCode": acct,
                        "ComponentOrder": "1",
                        "Compound": "false",
                    }
                ],
            }
            for name, pct, sale, purchase, acct in tax
        ],
        "account": [
            {
                "Code": code,
                "Name": name,
                "DisplayName": f"{code}: {name}",
                "Description": name,
                "Class": cls,
                "Type": typ,
                "Status": "ACTIVE",
                "ForPayments": bank,
                "BankAccountId": None,
                "BankAccountNumber": None,
                "OldCode": None,
                "SystemAccount": "",
            }
            for code, name, cls, typ, bank in accounts
        ],
        "paymentterm": [
            {"ID": new_id(), "Name": name, "Duration": days, "Method": method, "IsActive": True, "IsDefault": default}
            for name, days, method, default in (
                ("30 days", 30, "number of days", True),
                ("7 days", 7, "number of days", False),
                ("COD", 0, "number of days", False),
                ("20th of next month", 20, "day of next month", False),
            )
        ],
        "location": [
            {
                "ID": new_id(),
                "Name": name,
                "IsDefault": default,
                "IsDeprecated": False,
                "IsCoMan": False,
                "IsShopfloor": False,
                "IsStaging": False,
                "FixedAssetsLocation": False,
                "ParentID": None,
                "ParentName": None,
                "PickZones": None,
                "ReferenceCount": 0,
                "Bins": [],
                "AddressLine1": "1 Example St",
                "AddressLine2": "",
                "AddressCitySuburb": "Sydney",
                "AddressStateProvince": "NSW",
                "AddressZipPostCode": "2000",
                "AddressCountry": "Australia",
            }
            for name, default in (("Main Warehouse", True), ("Shop", False))
        ],
    }


@dataclass
class Account:
    """One DEAR company: its Account ID, its API applications (application key -> name), data and webhooks."""

    id: str
    name: str
    currency: str = "AUD"
    applications: dict[str, str] = field(default_factory=dict)
    data: dict[str, dict[str, dict[str, Any]]] = field(default_factory=lambda: {c: {} for c in COLLECTIONS})
    ref: dict[str, list[dict[str, Any]]] = field(default_factory=_reference_data)
    numbers: dict[str, int] = field(default_factory=dict)
    # Stock on hand per product ID per location name.
    stock: dict[str, dict[str, Any]] = field(default_factory=dict)

    def next_number(self, prefix: str) -> str:
        n = self.numbers.get(prefix, 0) + 1
        self.numbers[prefix] = n
        return f"{prefix}-{n:05d}"

    def to_json(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "name": self.name,
            "currency": self.currency,
            "applications": self.applications,
            "data": self.data,
            "ref": self.ref,
            "numbers": self.numbers,
            "stock": self.stock,
        }

    @classmethod
    def from_json(cls, obj: dict[str, Any]) -> Account:
        acct = cls(obj["id"], obj["name"], obj.get("currency", "AUD"))
        acct.applications = dict(obj.get("applications") or {})
        acct.data = {c: dict((obj.get("data") or {}).get(c) or {}) for c in COLLECTIONS}
        acct.ref = obj.get("ref") or _reference_data()
        acct.numbers = dict(obj.get("numbers") or {})
        acct.stock = dict(obj.get("stock") or {})
        return acct


@dataclass
class DearSandbox(PersistedState):
    accounts: dict[str, Account] = field(default_factory=dict)
    config: dict[str, Any] = field(default_factory=lambda: copy.deepcopy(DEFAULT_CONFIG))
    faults: dict[str, Any] = field(default_factory=lambda: copy.deepcopy(DEFAULT_FAULTS))
    counters: dict[str, Any] = field(default_factory=dict)
    deliveries: list[dict[str, Any]] = field(default_factory=list)
    clock_offset: float = 0.0
    data_path: Path | None = None
    dirty: bool = False
    # The control API's tokens/expire is shared with the OAuth sandboxes; DEAR has no tokens.
    access_tokens: dict[str, dict[str, Any]] = field(default_factory=dict)

    def __post_init__(self) -> None:
        if not self.counters:
            self.reset_counters()

    def reset_counters(self) -> None:
        self.counters = {
            "total_calls": 0,
            "calls": {},
            "by_account": {},
            "rate_limited": 0,
            "auth_failed": 0,
            "faults": {"500": 0, "rate_limit": 0, "timeout_after_commit": 0, "drop_after_commit": 0},
            "webhooks": {"delivered": 0, "failed_attempts": 0, "deactivated": 0},
        }

    def reset(self) -> None:
        self.accounts.clear()
        self.deliveries.clear()
        self.faults = copy.deepcopy(DEFAULT_FAULTS)
        self.clock_offset = 0.0
        self.reset_counters()
        self.dirty = True

    def add_account(
        self, name: str, account_id: str | None = None, application_key: str | None = None, currency: str = "AUD"
    ) -> tuple[Account, str]:
        """A company with one API application; returns it and the application's key."""
        acct = self.accounts.get(account_id or "")
        if acct is None:
            acct = Account(account_id or new_id(), name, currency)
            self.accounts[acct.id] = acct
        key = application_key or secrets.token_hex(16)
        acct.applications[key] = f"Application {len(acct.applications) + 1}"
        self.dirty = True
        return acct, key

    def authenticate(self, account_id: str | None, key: str | None) -> Account | None:
        acct = self.accounts.get((account_id or "").strip())
        if acct is None or not key or key.strip() not in acct.applications:
            return None
        return acct

    def to_json(self) -> dict[str, Any]:
        return {
            "accounts": [a.to_json() for a in self.accounts.values()],
            "config": self.config,
            "faults": self.faults,
            "clock_offset": self.clock_offset,
            "deliveries": self.deliveries[-500:],
        }

    def load_json(self, obj: dict[str, Any]) -> None:
        self.accounts = {a.id: a for a in (Account.from_json(x) for x in obj.get("accounts") or [])}
        self.config = {**copy.deepcopy(DEFAULT_CONFIG), **(obj.get("config") or {})}
        self.faults = {**copy.deepcopy(DEFAULT_FAULTS), **(obj.get("faults") or {})}
        self.clock_offset = float(obj.get("clock_offset") or 0.0)
        self.deliveries = list(obj.get("deliveries") or [])
