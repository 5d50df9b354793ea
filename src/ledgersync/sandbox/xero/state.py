"""In-memory state of the Xero sandbox (tenants, records and their indexes, OAuth apps, tokens, config)."""

from __future__ import annotations

import asyncio
import bisect
import os
from dataclasses import dataclass, field
from typing import Any, ClassVar

from ..common.state import OAuthApp, OAuthSandboxState
from . import attachments, ledger
from .seed import seed_accounts, seed_organisation, seed_settings, seed_tax_rates, seed_tracking
from .util import ms_date, new_id, now_ms

ID_FIELDS: dict[str, str] = {
    "Contacts": "ContactID",
    "Invoices": "InvoiceID",
    "Payments": "PaymentID",
    "CreditNotes": "CreditNoteID",
    "Items": "ItemID",
    "TaxRates": "TaxType",
    "TrackingCategories": "TrackingCategoryID",
    "PurchaseOrders": "PurchaseOrderID",
    "Accounts": "AccountID",
    "Overpayments": "OverpaymentID",
    "BankTransactions": "BankTransactionID",
    "Prepayments": "PrepaymentID",
    "Currencies": "Code",
    "ContactGroups": "ContactGroupID",
    "BrandingThemes": "BrandingThemeID",
    "Users": "UserID",
    "ManualJournals": "ManualJournalID",
    "BankTransfers": "BankTransferID",
    "Quotes": "QuoteID",
    "RepeatingInvoices": "RepeatingInvoiceID",
    "LinkedTransactions": "LinkedTransactionID",
    "Journals": "JournalID",
    "BatchPayments": "BatchPaymentID",
}
# Ids that are codes rather than GUIDs: looked up exactly as given (TaxType) or upper-cased (currency codes).
CODE_IDS = {"TaxRates", "Currencies"}

# Secondary indexes (case-folded value -> ids) so `where` lookups stay O(1) at benchmark volumes.
INDEXED: dict[str, tuple[str, ...]] = {
    "Contacts": ("Name", "ContactNumber", "EmailAddress", "AccountNumber"),
    "Invoices": ("InvoiceNumber", "Reference"),
    "CreditNotes": ("CreditNoteNumber", "Reference"),
    "Items": ("Code", "Name"),
    "PurchaseOrders": ("PurchaseOrderNumber", "Reference"),
    "Accounts": ("Code", "Name"),
    "Payments": ("Reference",),
    "TaxRates": ("Name",),
    "TrackingCategories": ("Name",),
    "BankTransactions": ("Reference",),
    "Overpayments": (),
    "Prepayments": (),
    "ContactGroups": ("Name",),
    "ManualJournals": (),
    "BankTransfers": (),
    "Quotes": ("QuoteNumber",),
    "RepeatingInvoices": (),
    "LinkedTransactions": ("SourceTransactionID", "TargetTransactionID"),
    "Journals": (),
    "BatchPayments": (),
}

# Collections whose public objects carry UpdatedDateUTC in the spec.
_STAMPED = {
    "BatchPayments",
    "Contacts",
    "Invoices",
    "Payments",
    "CreditNotes",
    "Items",
    "PurchaseOrders",
    "Accounts",
    "Overpayments",
    "BankTransactions",
    "Prepayments",
    "Users",
    "ManualJournals",
    "Quotes",
    "LinkedTransactions",
}

DEFAULT_CONFIG: dict[str, Any] = {
    "access_token_ttl": 1800,
    "refresh_token_ttl": 5_184_000,
    "refresh_grace": 1800,
    "code_ttl": 300,
    "rate_limits": {"concurrent": 5, "minute": 60, "day": 5000, "app_minute": 10000},
    "webhook_retry_delays": [1.0, 5.0, 30.0, 300.0],
    "webhook_batch_window": 0.05,
    "webhook_timeout": 5.0,
    "persist_interval": 2.0,
}

DEFAULT_FAULTS: dict[str, Any] = {
    "latency_ms": 0,
    "error_rates": {"429": 0.0, "500": 0.0, "503": 0.0},
    "timeout_after_commit_rate": 0.0,
    "drop_after_commit_rate": 0.0,
    "hang_seconds": 30.0,
    "seed": None,
    "methods": ["GET", "PUT", "POST"],
}


def _empty_counters() -> dict[str, Any]:
    return {
        "total_calls": 0,
        "calls": {},
        "rate_limited": {"concurrent": 0, "minute": 0, "day": 0, "appminute": 0},
        "faults": {"429": 0, "500": 0, "503": 0, "timeout_after_commit": 0, "drop_after_commit": 0},
        "by_tenant": {},
        "token_grants": {"authorization_code": 0, "refresh_token": 0},
    }


class Tenant:
    """One Xero organisation: its records per collection plus the indexes and counters rules need."""

    def __init__(self, name: str, tenant_id: str | None = None, seed: bool = True) -> None:
        self.id = tenant_id or new_id()
        self.name = name
        self.created_ms = now_ms()
        self.data: dict[str, dict[str, dict[str, Any]]] = {c: {} for c in ID_FIELDS}
        self.idx: dict[str, dict[str, dict[str, set[str]]]] = {
            c: {f: {} for f in INDEXED.get(c, ())} for c in ID_FIELDS
        }
        # Per collection, (_updated_ms, id) in stamp order: what a GET with If-Modified-Since answers is found by
        # bisection, not by filtering the whole collection. An entry whose record has since been stamped again
        # or deleted is stale and skipped (and dropped when stale entries outnumber live records).
        self.stamps: dict[str, list[tuple[int, str]]] = {c: [] for c in ID_FIELDS}
        self.seq: dict[str, int] = {"INV": 0, "CN": 0, "PO": 0, "QU": 0, "JOURNAL": 0}
        self.last_ms = 0
        self.created = 0
        # Idempotency-Key -> (status, headers, body) or an Event while the first request is in flight.
        self.idempotency: dict[str, tuple[int, list[tuple[str, str]], bytes] | asyncio.Event] = {}
        # What each posting record last posted (source id -> posting), so a change can be reversed.
        self.posted: dict[str, dict[str, Any]] = {}
        # False while a saved state is loaded: its journals are restored, never re-posted.
        self.posting = True
        # Invoice id (lower case) -> its attachments, bytes included (attachments.py).
        self.attachments: dict[str, list[dict[str, Any]]] = {}
        self.organisation: dict[str, Any] = seed_organisation(self.id, name, self.created_ms)
        if seed:
            stamp = self.stamp()
            for rec in seed_accounts(stamp):
                self.put("Accounts", rec, touch=False)
            for rec in seed_tax_rates():
                self.put("TaxRates", rec, touch=False)
            for rec in seed_tracking(stamp):
                self.put("TrackingCategories", rec, touch=False)
            for coll, recs in seed_settings(stamp).items():
                for rec in recs:
                    self.put(coll, rec, touch=False)

    def stamp(self) -> int:
        """A strictly increasing ms timestamp, so every change orders after the previous one."""
        ms = max(now_ms(), self.last_ms + 1)
        self.last_ms = ms
        return ms

    def get(self, coll: str, rid: str) -> dict[str, Any] | None:
        recs = self.data[coll]
        rec = recs.get(rid)
        if rec is None and coll not in CODE_IDS:
            rec = recs.get(rid.lower())
        elif rec is None and coll == "Currencies":
            rec = recs.get(rid.upper())
        return rec

    def lookup(self, coll: str, fld: str, value: str) -> list[dict[str, Any]]:
        ids = self.idx[coll].get(fld, {}).get(value.casefold(), ())
        recs = self.data[coll]
        return [recs[i] for i in ids if i in recs]

    def put(self, coll: str, rec: dict[str, Any], touch: bool = True) -> dict[str, Any]:
        """Store a (new dict for a) record, re-indexing it; `touch` bumps UpdatedDateUTC."""
        idf = ID_FIELDS[coll]
        rid = str(rec[idf])
        if touch:
            ms = self.stamp()
            rec["_updated_ms"] = ms
            if coll in _STAMPED:
                rec["UpdatedDateUTC"] = ms_date(ms)
        elif "_updated_ms" not in rec:
            rec["_updated_ms"] = self.stamp()
        old = self.data[coll].get(rid)
        # A stamp this record has no entry for yet: new, touched, or loaded with another stamp.
        restamped = touch or old is None or old.get("_updated_ms") != rec["_updated_ms"]
        if "_n" not in rec:
            self.created += 1
            rec["_n"] = self.created
        indexes = self.idx[coll]
        for fld, index in indexes.items():
            ov = old.get(fld) if old else None
            nv = rec.get(fld)
            if ov == nv and old is not None:
                continue
            if isinstance(ov, str):
                bucket = index.get(ov.casefold())
                if bucket:
                    bucket.discard(rid)
                    if not bucket:
                        del index[ov.casefold()]
            if isinstance(nv, str) and nv:
                index.setdefault(nv.casefold(), set()).add(rid)
        self.data[coll][rid] = rec
        if restamped:
            self._stamped(coll, rid, int(rec["_updated_ms"]))
        if self.posting and coll in ledger.SOURCES:
            ledger.sync(self, coll, rec, rid)
        return rec

    def _stamped(self, coll: str, rid: str, ms: int) -> None:
        entries = self.stamps[coll]
        if not entries or ms >= entries[-1][0]:
            entries.append((ms, rid))  # the usual case: stamps only grow
        else:
            bisect.insort(entries, (ms, rid))
        if len(entries) > 2 * len(self.data[coll]) + 1024:
            self.stamps[coll] = sorted((int(r.get("_updated_ms", 0)), i) for i, r in self.data[coll].items())

    def modified_since(self, coll: str, since_ms: int) -> list[dict[str, Any]]:
        """The records of `coll` stamped after `since_ms`, in creation order (as a scan of the collection)."""
        entries = self.stamps[coll]
        start = bisect.bisect_right(entries, since_ms, key=lambda e: e[0])
        recs = self.data[coll]
        found: dict[str, dict[str, Any]] = {}
        for ms, rid in entries[start:]:
            rec = recs.get(rid)
            if rec is not None and rec.get("_updated_ms") == ms:
                found[rid] = rec
        return sorted(found.values(), key=lambda r: int(r.get("_n", 0)))

    def delete(self, coll: str, rid: str) -> None:
        old = self.data[coll].pop(rid, None)
        if old is None:
            return
        for fld, index in self.idx[coll].items():
            ov = old.get(fld)
            if isinstance(ov, str) and ov.casefold() in index:
                index[ov.casefold()].discard(rid)

    def next_number(self, prefix: str, coll: str, fld: str) -> str:
        while True:
            self.seq[prefix] += 1
            candidate = f"{prefix}-{self.seq[prefix]:04d}"
            if not self.lookup(coll, fld, candidate):
                return candidate

    def to_json(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "name": self.name,
            "created_ms": self.created_ms,
            "seq": self.seq,
            "last_ms": self.last_ms,
            "organisation": self.organisation,
            "posted": self.posted,
            "data": {c: list(r.values()) for c, r in self.data.items()},
            "attachments": attachments.to_json(self),
        }

    @classmethod
    def from_json(cls, obj: dict[str, Any]) -> Tenant:
        t = cls(obj["name"], obj["id"], seed=False)
        t.created_ms = obj["created_ms"]
        t.seq.update(obj["seq"])
        t.organisation.update(obj.get("organisation") or {})
        t.posted = dict(obj.get("posted") or {})
        t.posting = False
        for coll, recs in obj["data"].items():
            if coll in t.data:
                for rec in recs:
                    t.put(coll, rec, touch=False)
        t.posting = True
        attachments.from_json(t, obj.get("attachments") or {})
        if not t.data["Currencies"]:
            # A state file saved before these lists existed.
            for coll, seeded in seed_settings(t.created_ms).items():
                for rec in seeded:
                    t.put(coll, rec, touch=False)
        t.last_ms = obj.get("last_ms", t.last_ms)
        t.created = max(
            [t.created, *(int(r.get("_n", 0)) for recs in t.data.values() for r in recs.values())]
        )
        return t


@dataclass
class App(OAuthApp):
    masked: ClassVar[tuple[str, ...]] = ("webhook_key",)

    name: str = "ledgersync sandbox app"
    webhook_url: str | None = None
    webhook_key: str | None = None
    intent_to_receive: dict[str, Any] | None = None
    webhook_sequence: int = 0


@dataclass
class XeroSandbox(OAuthSandboxState[Tenant, App]):
    """All sandbox state. Mutated only from the server's event loop; `save()` persists it."""

    default_config: ClassVar[dict[str, Any]] = DEFAULT_CONFIG
    default_faults: ClassVar[dict[str, Any]] = DEFAULT_FAULTS
    reset_also: ClassVar[tuple[str, ...]] = ("connections", "deliveries")

    connections: dict[str, dict[str, Any]] = field(default_factory=dict)
    deliveries: list[dict[str, Any]] = field(default_factory=list)
    signing_secret: str = field(default_factory=lambda: os.urandom(16).hex())

    # ---- tenants & apps -------------------------------------------------------------------
    def add_tenant(self, name: str, tenant_id: str | None = None, demo: bool = False) -> Tenant:
        """A new organisation; `demo` fills it with a small company's records (what `--tenant` creates)."""
        t = Tenant(name, tenant_id)
        self.tenants[t.id] = t
        if demo:
            from .demo import seed_demo

            seed_demo(t)
        self.dirty = True
        return t

    def add_app(
        self,
        client_id: str,
        client_secret: str,
        redirect_uris: list[str],
        webhook_url: str | None = None,
        webhook_key: str | None = None,
        name: str | None = None,
    ) -> App:
        app = App(
            client_id,
            client_secret,
            list(redirect_uris),
            name or "ledgersync sandbox app",
            webhook_url,
            webhook_key,
        )
        self.apps[client_id] = app
        self.dirty = True
        return app

    def reset_counters(self) -> None:
        self.counters = _empty_counters()

    def granted_tenants(self, token: dict[str, Any]) -> list[str]:
        """Tenants this access token may reach: granted at consent and still connected."""
        live = {c["tenantId"] for c in self.connections.values() if c["client_id"] == token["client_id"]}
        return [t for t in token["tenants"] if t in live and t in self.tenants]

    # ---- persistence ---------------------------------------------------------------------
    def to_json(self) -> dict[str, Any]:
        return {**self.oauth_json(), "connections": self.connections, "signing_secret": self.signing_secret}

    def load_json(self, obj: dict[str, Any]) -> None:
        self.tenants = {t["id"]: Tenant.from_json(t) for t in obj.get("tenants", [])}
        self.apps = {a["client_id"]: App(**a) for a in obj.get("apps", [])}
        self.load_oauth_json(obj)
        self.connections = obj.get("connections", {})
        self.signing_secret = obj.get("signing_secret", self.signing_secret)
