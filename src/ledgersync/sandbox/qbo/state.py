"""In-memory state of the QBO sandbox: companies (realms) with indexed entity stores, apps, tokens, config."""

from __future__ import annotations

import asyncio
import copy
import random
from bisect import bisect_right
from dataclasses import dataclass, field
from datetime import timezone
from typing import Any, ClassVar

from ..common.state import OAuthApp, OAuthSandboxState
from . import attachables
from .util import now_ms, parse_offset

# Entity name as QBO spells it; URLs use the lower-cased form.
ENTITIES: tuple[str, ...] = (
    "Customer",
    "Vendor",
    "Employee",
    "Item",
    "Class",
    "Department",
    "Account",
    "TaxCode",
    "Invoice",
    "Payment",
    "CreditMemo",
    "RefundReceipt",
    "PurchaseOrder",
    "Bill",
    "SalesReceipt",
    "Estimate",
    "Purchase",
    "BillPayment",
    "VendorCredit",
    "JournalEntry",
    "Deposit",
    "Transfer",
    "TimeActivity",
    "Term",
    "PaymentMethod",
    "TaxRate",
    "TaxAgency",
    "Budget",
    "CustomerType",
)
URL_NAMES = {e.lower(): e for e in ENTITIES}
# Name-list entities are never deleted, only made inactive (Active=false).
LIST_ENTITIES = frozenset(
    {
        "Customer",
        "Vendor",
        "Employee",
        "Item",
        "Class",
        "Department",
        "Account",
        "TaxCode",
        "Term",
        "PaymentMethod",
        "TaxRate",
        "TaxAgency",
        "Budget",
        "CustomerType",
    }
)
TXN_ENTITIES = frozenset(set(ENTITIES) - LIST_ENTITIES)
# Read with GET, query and CDC only: Intuit's API creates none of these (TaxRate comes from TaxService).
READ_ONLY = frozenset({"TaxCode", "TaxRate", "Budget", "CustomerType"})
# Change data capture covers every entity except these (Intuit, "Change data capture operation").
NOT_IN_CDC = frozenset({"JournalCode", "TaxAgency", "TimeActivity", "TaxCode", "TaxRate"})
_CRUD = frozenset({"create", "read", "update", "query", "cdc"})
_TXN = _CRUD | {"delete"}
# What the API lets a client do with each entity (Intuit's API reference, per entity).
OPERATIONS: dict[str, frozenset[str]] = {
    **dict.fromkeys(("Customer", "Vendor", "Employee", "Item", "Class", "Department", "Account"), _CRUD),
    **dict.fromkeys(("Term", "PaymentMethod"), _CRUD),
    **dict.fromkeys(("TaxCode", "TaxRate"), frozenset({"read", "query"})),
    "TaxAgency": frozenset({"create", "read", "query"}),
    **dict.fromkeys(("Budget", "CustomerType"), frozenset({"read", "query", "cdc"})),
    **dict.fromkeys(("Invoice", "Payment", "SalesReceipt", "BillPayment"), _TXN | {"void"}),
    **dict.fromkeys(
        (
            "CreditMemo",
            "RefundReceipt",
            "PurchaseOrder",
            "Bill",
            "Estimate",
            "Purchase",
            "VendorCredit",
            "JournalEntry",
            "Deposit",
            "Transfer",
        ),
        _TXN,
    ),
    "TimeActivity": frozenset({"create", "read", "update", "delete", "query"}),
}
# Transactions that carry a CustomerRef at the top (indexed for balances and CustomerRef queries).
CUSTOMER_TXNS = frozenset({"Invoice", "Payment", "CreditMemo", "RefundReceipt", "SalesReceipt", "Estimate"})
# DisplayName is unique across these three (incl. inactive records).
PEOPLE = frozenset({"Customer", "Vendor", "Employee"})
NAMED_LISTS = frozenset({"Item", "Class", "Department", "Account"})
DOC_NUMBERED = frozenset(
    {
        "Invoice",
        "CreditMemo",
        "RefundReceipt",
        "PurchaseOrder",
        "Bill",
        "SalesReceipt",
        "Estimate",
        "VendorCredit",
        "JournalEntry",
        "Purchase",
        "Deposit",
        "BillPayment",
        "Transfer",
    }
)

DEFAULT_CONFIG: dict[str, Any] = {
    "access_token_ttl": 3600,
    "refresh_token_ttl": 8_726_400,  # 101 days, the x_refresh_token_expires_in Intuit returns
    "refresh_token_max_ttl": 157_680_000,  # five-year hard expiry
    "refresh_rotate_after": 86_400,  # the refresh token value changes at most every 24 h
    "refresh_grace": 86_400,  # a superseded refresh token keeps working this long
    "code_ttl": 600,
    "rate_limits": {"minute": 500, "concurrent": 10, "batch_minute": 40, "batch_realm_minute": 120},
    "max_batch_items": 30,
    "max_query_results": 1000,
    "cdc_max_days": 30,
    "cdc_max_objects": 1000,
    "company_utc_offset": "-07:00",
    "webhook_retry_delays": [10.0, 20.0, 30.0, 300.0],
    "webhook_batch_window": 0.05,
    "webhook_timeout": 3.0,
    "webhook_entities": ["Customer", "Invoice", "Payment", "Item"],
    "persist_interval": 2.0,
}

DEFAULT_FAULTS: dict[str, Any] = {
    "latency_ms": 0,
    "error_rates": {"429": 0.0, "500": 0.0, "503": 0.0},
    "timeout_after_commit_rate": 0.0,
    "drop_after_commit_rate": 0.0,
    "hang_seconds": 30.0,
    "seed": None,
    "methods": ["GET", "POST"],
}

DEFAULT_PREFERENCES: dict[str, Any] = {
    # QBO: "Warn if duplicate ... number is used". When on, the API rejects a duplicate DocNumber (6140)
    # unless the request carries include=allowduplicatedocnum.
    "warn_duplicate_docnumber": True,
    # Preferences.CurrencyPrefs: the company's home currency; multi-currency is not modelled.
    "home_currency": "USD",
}


def _empty_counters() -> dict[str, Any]:
    return {
        "total_calls": 0,
        "calls": {},
        "rate_limited": {"minute": 0, "concurrent": 0, "batch": 0},
        "faults": {"429": 0, "500": 0, "503": 0, "timeout_after_commit": 0, "drop_after_commit": 0},
        "by_tenant": {},
        "token_grants": {"authorization_code": 0, "refresh_token": 0},
    }


def new_realm_id() -> str:
    return "9" + "".join(random.choice("0123456789") for _ in range(15))


class Company:
    """One QBO company (realm): entity stores plus the indexes the rules and queries need."""

    def __init__(self, name: str, realm_id: str | None = None, seed: bool = True) -> None:
        self.id = realm_id or new_realm_id()
        self.name = name
        self.created_ms = now_ms()
        self.preferences: dict[str, Any] = copy.deepcopy(DEFAULT_PREFERENCES)
        self.data: dict[str, dict[str, dict[str, Any]]] = {e: {} for e in ENTITIES}
        self.seq: dict[str, int] = {e: 0 for e in ENTITIES}
        self.last_ms = 0
        # casefolded DisplayName -> (entity, id) across Customer/Vendor/Employee
        self.people_names: dict[str, tuple[str, str]] = {}
        self.list_names: dict[str, dict[str, str]] = {e: {} for e in NAMED_LISTS}
        self.docnums: dict[str, dict[str, set[str]]] = {e: {} for e in DOC_NUMBERED}
        self.children: dict[str, set[str]] = {}
        # customer id -> {(entity, id)} of its sales transactions (balances)
        self.by_customer: dict[str, set[tuple[str, str]]] = {}
        # append-only change log per entity: parallel lists of stamps and ids (bisect for deltas)
        self.log_ms: dict[str, list[int]] = {e: [] for e in ENTITIES}
        self.log_ids: dict[str, list[str]] = {e: [] for e in ENTITIES}
        self.tombstones: dict[str, dict[str, int]] = {e: {} for e in ENTITIES}
        # bumped by every change, so derived figures (account balances) know when to recompute
        self.version = 0
        self.derived: dict[str, tuple[int, Any]] = {}
        # requestid -> (status, body) or an Event while the first request is in flight
        self.requestids: dict[str, tuple[int, bytes] | asyncio.Event] = {}
        # Attachables by id and their files' bytes (attachables.py); ids of their own sequence.
        self.attachables: dict[str, dict[str, Any]] = {}
        self.files: dict[str, bytes] = {}
        self.attachable_seq = 0
        if seed:
            from .seed import seed_company

            seed_company(self)

    # ---- ids & stamps ------------------------------------------------------------------------
    def next_id(self, entity: str) -> str:
        self.seq[entity] += 1
        return str(self.seq[entity])

    def stamp(self) -> int:
        """A strictly increasing ms timestamp, so every change orders after the previous one."""
        ms = max(now_ms(), self.last_ms + 1)
        self.last_ms = ms
        return ms

    # ---- storage -----------------------------------------------------------------------------
    def get(self, entity: str, rid: str) -> dict[str, Any] | None:
        return self.data[entity].get(str(rid))

    def put(self, entity: str, rec: dict[str, Any], touch: bool = True) -> dict[str, Any]:
        rid = str(rec["Id"])
        old = self.data[entity].get(rid)
        if touch or "_updated" not in rec:
            ms = self.stamp()
            rec["_updated"] = ms
            rec.setdefault("_created", ms)
        self._reindex(entity, rid, old, rec)
        self.data[entity][rid] = rec
        self.version += 1
        self.log_ms[entity].append(int(rec["_updated"]))
        self.log_ids[entity].append(rid)
        return rec

    def remove(self, entity: str, rid: str) -> int:
        old = self.data[entity].pop(rid, None)
        self.version += 1
        ms = self.stamp()
        if old is not None:
            self._reindex(entity, rid, old, None)
        self.tombstones[entity][rid] = ms
        self.log_ms[entity].append(ms)
        self.log_ids[entity].append(rid)
        return ms

    def _reindex(self, entity: str, rid: str, old: dict[str, Any] | None, new: dict[str, Any] | None) -> None:
        def name(r: dict[str, Any] | None, fld: str) -> str | None:
            v = r.get(fld) if r else None
            return v.casefold() if isinstance(v, str) and v else None

        if entity in PEOPLE:
            ov, nv = name(old, "DisplayName"), name(new, "DisplayName")
            if ov != nv:
                if ov is not None and self.people_names.get(ov) == (entity, rid):
                    del self.people_names[ov]
                if nv is not None:
                    self.people_names[nv] = (entity, rid)
        elif entity in NAMED_LISTS:
            fld = "FullyQualifiedName"
            ov, nv = name(old, fld), name(new, fld)
            idx = self.list_names[entity]
            if ov != nv:
                if ov is not None and idx.get(ov) == rid:
                    del idx[ov]
                if nv is not None:
                    idx[nv] = rid
        if entity in DOC_NUMBERED:
            ov, nv = name(old, "DocNumber"), name(new, "DocNumber")
            idx2 = self.docnums[entity]
            if ov != nv or new is None:
                if ov is not None and ov in idx2:
                    idx2[ov].discard(rid)
                    if not idx2[ov]:
                        del idx2[ov]
                if nv is not None and new is not None:
                    idx2.setdefault(nv, set()).add(rid)
        if entity == "Customer":
            op = ((old or {}).get("ParentRef") or {}).get("value")
            np = ((new or {}).get("ParentRef") or {}).get("value")
            if op != np or new is None:
                if op is not None:
                    self.children.get(str(op), set()).discard(rid)
                if np is not None and new is not None:
                    self.children.setdefault(str(np), set()).add(rid)
        if entity in CUSTOMER_TXNS:
            oc = ((old or {}).get("CustomerRef") or {}).get("value")
            nc = ((new or {}).get("CustomerRef") or {}).get("value")
            if oc != nc or new is None:
                if oc is not None:
                    self.by_customer.get(str(oc), set()).discard((entity, rid))
                if nc is not None and new is not None:
                    self.by_customer.setdefault(str(nc), set()).add((entity, rid))

    def changed_since(self, entity: str, since_ms: int) -> list[tuple[int, str]]:
        """(stamp, id) of the latest change of each object changed after since_ms, oldest first."""
        stamps, ids = self.log_ms[entity], self.log_ids[entity]
        start = bisect_right(stamps, since_ms)
        latest: dict[str, int] = {}
        for i in range(start, len(stamps)):
            latest[ids[i]] = stamps[i]
        return sorted(((ms, rid) for rid, ms in latest.items()), key=lambda t: t[0])

    # ---- persistence -------------------------------------------------------------------------
    def to_json(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "name": self.name,
            "created_ms": self.created_ms,
            "preferences": self.preferences,
            "seq": self.seq,
            "last_ms": self.last_ms,
            "data": {e: list(r.values()) for e, r in self.data.items()},
            "tombstones": self.tombstones,
            "attachables": attachables.to_json(self),
        }

    @classmethod
    def from_json(cls, obj: dict[str, Any]) -> Company:
        c = cls(obj["name"], obj["id"], seed=False)
        c.created_ms = obj["created_ms"]
        c.preferences.update(obj.get("preferences", {}))
        c.seq.update(obj["seq"])
        recs: list[tuple[str, dict[str, Any]]] = [(e, r) for e, rs in obj["data"].items() if e in c.data for r in rs]
        for e, r in sorted(recs, key=lambda t: int(t[1].get("_updated", 0))):
            c.put(e, r, touch=False)
        for e, tomb in obj.get("tombstones", {}).items():
            for rid, ms in sorted(tomb.items(), key=lambda t: t[1]):
                c.tombstones[e][rid] = ms
                c.log_ms[e].append(ms)
                c.log_ids[e].append(rid)
        for e in ENTITIES:
            order = sorted(range(len(c.log_ms[e])), key=lambda i: c.log_ms[e][i])
            c.log_ms[e] = [c.log_ms[e][i] for i in order]
            c.log_ids[e] = [c.log_ids[e][i] for i in order]
        c.last_ms = max(obj.get("last_ms", 0), c.last_ms)
        attachables.from_json(c, obj.get("attachables") or {})
        return c


@dataclass
class App(OAuthApp):
    masked: ClassVar[tuple[str, ...]] = ("webhook_verifier",)

    name: str = "ledgersync sandbox app"
    webhook_url: str | None = None
    webhook_verifier: str | None = None
    webhook_format: str = "legacy"  # legacy (eventNotifications) | cloudevents


@dataclass
class QboSandbox(OAuthSandboxState[Company, App]):
    """All sandbox state. Mutated only from the server's event loop; `save()` persists it."""

    default_config: ClassVar[dict[str, Any]] = DEFAULT_CONFIG
    default_faults: ClassVar[dict[str, Any]] = DEFAULT_FAULTS
    reset_also: ClassVar[tuple[str, ...]] = ("connections", "deliveries")

    # (client_id, realmId) pairs the user connected; webhooks go to connected apps only
    connections: dict[str, dict[str, Any]] = field(default_factory=dict)
    deliveries: list[dict[str, Any]] = field(default_factory=list)

    def tz(self) -> timezone:
        return parse_offset(str(self.config.get("company_utc_offset", "-07:00")))

    def add_tenant(self, name: str, realm_id: str | None = None, demo: bool = False) -> Company:
        """A new company; `demo` fills it with a small business's records (what `--tenant` creates)."""
        c = Company(name, realm_id)
        self.tenants[c.id] = c
        if demo:
            from .demo import seed_demo

            seed_demo(self, c)
        self.dirty = True
        return c

    def add_app(
        self,
        client_id: str,
        client_secret: str,
        redirect_uris: list[str],
        webhook_url: str | None = None,
        webhook_verifier: str | None = None,
        webhook_format: str | None = None,
        name: str | None = None,
    ) -> App:
        app = App(
            client_id,
            client_secret,
            list(redirect_uris),
            name or "ledgersync sandbox app",
            webhook_url,
            webhook_verifier,
            webhook_format or "legacy",
        )
        self.apps[client_id] = app
        self.dirty = True
        return app

    def reset_counters(self) -> None:
        self.counters = _empty_counters()

    def connected(self, client_id: str, realm_id: str) -> bool:
        return f"{client_id}|{realm_id}" in self.connections

    # ---- persistence -------------------------------------------------------------------------
    def to_json(self) -> dict[str, Any]:
        return {**self.oauth_json(), "connections": self.connections}

    def load_json(self, obj: dict[str, Any]) -> None:
        self.tenants = {t["id"]: Company.from_json(t) for t in obj.get("tenants", [])}
        self.apps = {a["client_id"]: App(**a) for a in obj.get("apps", [])}
        self.load_oauth_json(obj)
        self.connections = obj.get("connections", {})
