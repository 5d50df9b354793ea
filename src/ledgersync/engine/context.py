"""What the stages of one cycle share: the connection, its provider, the link cache, the report and the log."""

from __future__ import annotations

import datetime as dt
import hashlib
import re
import threading
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

from ledgersync.engine.connections import open_provider
from ledgersync.engine.settings import EngineSettings, org_relay
from ledgersync.engine.translate import CodeMap, Resolver, Unresolved, translate
from ledgersync.model import Entity, ErrorCode, Record, SyncError
from ledgersync.providers.base import CallInfo, Provider, ProviderSpec, RemoteRecord
from ledgersync.providers.budget import BudgetBackend
from ledgersync.store import Store, StoreTokenStore
from ledgersync.store.tables import utcnow

Progress = Callable[[str, int, int | None], None]


@dataclass
class CycleReport:
    connection_id: str
    started_at: dt.datetime
    finished_at: dt.datetime | None = None
    pulled: dict[str, int] = field(default_factory=dict)
    created_in_app: dict[str, int] = field(default_factory=dict)
    pushed: dict[str, int] = field(default_factory=dict)
    failed: dict[str, int] = field(default_factory=dict)
    reconciled: int = 0
    calls: int = 0
    status: str = "ok"
    message: str | None = None
    # What to do about a cycle that stopped (the connection-wide error's hint).
    hint: str | None = None

    def bump(self, bucket: dict[str, int], entity: Entity, n: int = 1) -> None:
        if n:
            bucket[entity.value] = bucket.get(entity.value, 0) + n

    @property
    def seconds(self) -> float:
        end = self.finished_at or utcnow()
        return (end - self.started_at).total_seconds()


def idempotency_key(conn_id: str, entity: Entity, app_id: str, version: int, attempt: int = 0) -> str:
    """The key of one write. `attempt` counts the record's refused or failed tries: a platform replays the
    first answer to a repeated key, so a retry after a person's fix (or after a 5xx, where nothing was
    committed) needs a new key, while a write whose outcome is unknown is reconciled under its stored key."""
    digest = hashlib.sha256(f"{conn_id}|{entity.value}|{app_id}|{version}|{attempt}".encode()).hexdigest()
    return f"ls-{digest[:48]}"


# Records a person finds by the document they belong to (an invoice's number), not by a number of their own.
DOC_OF_PARENT = frozenset({Entity.PAYMENT, Entity.CREDIT, Entity.REFUND})


# A connector's naming of a code the platform lacks: "<Platform> has no <what> <code>; map it in the connection's
# account codes" (or tax codes). The code may hold spaces (some platforms name accounts).
_NAMED_CODE = re.compile(
    r"^(?P<platform>.+?) has no (?P<what>account|tax code|tax rule) (?P<code>.+?)(?P<rest> that takes payments)?; "
    r"map it in the connection's "
    r"(?P<field>account codes|tax codes)\.$"
)


def account_codes(record: Record) -> list[str]:
    """The account codes a record names (its own, its lines')."""
    found = [getattr(record, "account_code", None)]
    found += [getattr(line, "account_code", None) for line in getattr(record, "lines", None) or []]
    return [c for c in found if isinstance(c, str) and c]


def doc_of(record: Record) -> str | None:
    """The document number (or name) a person knows a record by, for states and the event log."""
    for attr in ("number", "name", "reference", "code"):
        value = getattr(record, attr, None)
        if value:
            return str(value)
    return None


class CycleContext:
    """One connection's cycle as every stage sees it. Built per run; caches links per entity so references are
    translated without a query each, and holds what one stage learns for the next (what invoices still owe,
    which parents children wait for, which invoices' amounts proved stale)."""

    def __init__(
        self,
        store: Store,
        spec: ProviderSpec,
        conn_id: str,
        settings: EngineSettings,
        provider: Provider | None = None,
        progress: Progress | None = None,
        budget: BudgetBackend | None = None,
    ) -> None:
        self.store = store
        self.spec = spec
        self.settings = settings
        self.conn = store.get_connection(conn_id)
        self.conn_id = conn_id
        self.org_id = self.conn.org_id
        self.tokens = StoreTokenStore(store, conn_id)
        self.provider = provider or open_provider(store, spec, self.conn, budget)
        self.provider.on_call = self._on_call
        self.caps = self.provider.capabilities
        self.codes = CodeMap.from_config(self.conn.config)
        # One business on several platforms: its own relay setting, else the engine's.
        own_relay = org_relay(store, self.org_id)
        self.relay_between_platforms = settings.relay_between_platforms if own_relay is None else own_relay
        self.report = CycleReport(connection_id=conn_id, started_at=utcnow())
        self.progress = progress
        self.only: dict[Entity, set[str]] | None = None
        self._calls = 0
        self._calls_lock = threading.Lock()
        # While the push loop runs (_holding), each call's event-log row waits here and is written with the next
        # claim or batch result (one transaction per batch instead of one more per call); else written at once.
        self._holding = False
        self._call_rows: list[dict[str, Any]] = []
        # Id maps, filled as ids are looked up (None: no live link), or whole once an entity needs many.
        self._to_remote: dict[Entity, dict[str, str | None]] = {}
        self._to_app: dict[Entity, dict[str, str | None]] = {}
        self._whole: set[Entity] = set()
        self._forgotten: set[tuple[Entity, str]] = set()
        self._lookups: dict[Entity, int] = {}
        # Per-run knowledge the entity rules share between plan passes.
        self.referenced_contacts: set[str] | None = None
        self.dues: dict[str, Decimal] = {}
        self.waiting_for: set[str] = set()
        self.stale_invoices: set[str] = set()
        self._parent_docs: dict[tuple[Entity, str], str | None] = {}
        # What the record stage settled and saved for pushed records, (entity, app id) -> (stored version, stored
        # hash, record), for an after-push deriving from them in this cycle (entities/balances.py) instead of
        # reading them back. Bounded (record.SETTLED_KEPT); used only while the store holds that version and hash.
        self.settled_copies: OrderedDict[tuple[Entity, str], tuple[int, str, Record]] = OrderedDict()

    @property
    def calls(self) -> int:
        return self._calls

    def _on_call(self, info: CallInfo) -> None:
        fields: dict[str, Any] = {
            "outcome": "ok" if info.status and info.status < 400 else "error",
            "message": f"{info.method} {info.path} -> {info.status or info.error}",
            "details": {
                "status": info.status,
                "ms": round(info.duration_ms, 1),
                "request_id": info.request_id,
                "error": info.error,
            },
        }
        with self._calls_lock:
            self._calls += 1
            if self.settings.log_calls and self._holding:
                self._call_rows.append(self.event("call", **fields))
                return
        if self.settings.log_calls:
            self.log("call", **fields)

    def hold_call_rows(self, on: bool) -> None:
        """Start (True) or stop (False) holding call rows for the push loop's transactions (`take_call_rows`)."""
        with self._calls_lock:
            self._holding = on

    def take_call_rows(self) -> list[dict[str, Any]]:
        """The call rows held since the last take, for `Store.log_many` in the caller's transaction."""
        with self._calls_lock:
            rows, self._call_rows = self._call_rows, []
            return rows

    def write_call_rows(self) -> None:
        """Write the call rows still held, in a transaction of their own."""
        rows = self.take_call_rows()
        if rows:
            with self.store.session() as s:
                self.store.log_many(s, rows)

    def log(self, kind: str, **fields: Any) -> None:
        """An event-log row of this connection (see Store.log for the fields). A row about a payment, a customer
        credit or a refund carries the document number of the invoice (or credit note) it belongs to, so
        searching the log by invoice number finds it; its own reference stays in the details."""
        entity, app_id = fields.get("entity"), fields.get("app_id")
        if entity in DOC_OF_PARENT and app_id:
            doc = self.parent_doc(entity, app_id, fields.get("s"))
            if doc is not None and doc != fields.get("doc_number"):
                details = dict(fields.get("details") or {})
                if fields.get("doc_number"):
                    details.setdefault("reference", fields["doc_number"])
                fields["details"] = details
                fields["doc_number"] = doc
        self.store.log(kind, connection_id=self.conn_id, org_id=self.org_id, **fields)

    def event(self, kind: str, **fields: Any) -> dict[str, Any]:
        """The same row as `log` writes, to be written with others in one statement (`Store.log_many`)."""
        return self.store.event_row(kind, connection_id=self.conn_id, org_id=self.org_id, **fields)

    def real_cause(self, error: SyncError, sent: Record) -> SyncError:
        """A code the platform does not know, named. Where the connector's message names it ("<Platform> has no tax
        rule GST; map it in the connection's tax codes") it stays, with the app's own code put in where this
        connection's map turned the app's code into that one. The platform's words rarely say which code
        ("made inactive", "Account must be valid", a UID): then the one account code the record sent is put in
        the same way."""
        if error.code is not ErrorCode.UNKNOWN_CODE:
            return error
        named = _NAMED_CODE.search(error.message)
        if named is not None:
            what, code, field = named.group("what"), named.group("code"), named.group("field")
            rest = named.group("rest") or ""
        else:
            codes = [c for c in dict.fromkeys(account_codes(sent)) if c]
            if len(codes) != 1:
                return error
            what, code, field, rest = "account", codes[0], "account codes", ""
        table = self.codes.taxes if field == "tax codes" else self.codes.accounts
        back = {v: k for k, v in reversed(list(table.items()))}
        kind = "tax code" if field == "tax codes" else "account"
        app = f" (the app's {kind} {back[code]} is sent as {code})" if back.get(code, code) != code else ""
        platform = named.group("platform") if named is not None else self.caps.display_name
        return error.model_copy(
            update={"message": f"{platform} has no {what} {code}{rest}{app}; map it in the connection's {field}."}
        )

    def parent_doc(self, entity: Entity, app_id: str, s: Any = None) -> str | None:
        """The invoice number a payment or credit belongs to (the first, where it pays several), or the credit
        note's number for a refund; None when it has none."""
        key = (entity, app_id)
        if key in self._parent_docs:
            return self._parent_docs[key]
        found: str | None = None
        rec = self.store.get_record(self.org_id, entity, app_id, s)
        if rec is not None:
            record = rec.record
            parents: list[tuple[Entity, str]] = [
                (Entity.INVOICE, a.invoice_id) for a in getattr(record, "allocations", None) or []
            ]
            if getattr(record, "payment_id", None):
                parents.append((Entity.PAYMENT, record.payment_id))  # type: ignore[attr-defined]
            if getattr(record, "credit_note_id", None):
                parents.append((Entity.CREDIT_NOTE, record.credit_note_id))  # type: ignore[attr-defined]
            for parent, parent_id in parents:
                if parent is Entity.PAYMENT:
                    found = self.parent_doc(parent, parent_id, s)
                else:
                    p = self.store.get_record(self.org_id, parent, parent_id, s)
                    found = getattr(p.record, "number", None) if p is not None else None
                if found:
                    break
        self._parent_docs[key] = found
        return found

    # -- links ---------------------------------------------------------------------------------------
    # An incremental cycle translates a handful of references: each is one indexed lookup, kept for the cycle.
    # A cycle that looks up more than this many ids of one entity (an export) loads the entity's whole map once.
    LINK_LOOKUPS = 200

    def load_links(self, entity: Entity) -> None:
        """The entity's whole id map, once; what this cycle remembered or forgot stays as it said."""
        if entity in self._whole:
            return
        pairs = self.store.link_pairs(self.conn_id, entity)
        known_remote = {a: r for a, r in self._to_remote.get(entity, {}).items() if r is not None}
        cached = self._to_remote.get(entity, {})
        forgotten = {a for a, r in cached.items() if r is None and (entity, a) in self._forgotten}
        known_app = {r: a for r, a in self._to_app.get(entity, {}).items() if a is not None}
        to_remote: dict[str, str | None] = {a: r for a, r, removed in pairs if not removed}
        to_app: dict[str, str | None] = {r: a for a, r, _ in pairs}
        to_remote.update(known_remote)
        to_remote.update(dict.fromkeys(forgotten))
        to_app.update(known_app)
        self._to_remote[entity], self._to_app[entity] = to_remote, to_app
        self._whole.add(entity)

    def _lookup(self, entity: Entity, *, app_id: str | None = None, remote_id: str | None = None) -> None:
        """Fill the maps for one id from the store (or load the entity's whole map past LINK_LOOKUPS)."""
        count = self._lookups.get(entity, 0) + 1
        self._lookups[entity] = count
        if count > self.LINK_LOOKUPS:
            self.load_links(entity)
            return
        to_remote = self._to_remote.setdefault(entity, {})
        to_app = self._to_app.setdefault(entity, {})
        with self.store.session() as s:
            if app_id is not None:
                link = self.store.link_by_app(self.conn_id, entity, app_id, s)
                to_remote[app_id] = None if link is None or link.removed else link.remote_id
            else:
                assert remote_id is not None
                link = self.store.link_by_remote(self.conn_id, entity, remote_id, s)
                to_app[remote_id] = link.app_id if link is not None else None
            if link is not None:
                to_app.setdefault(link.remote_id, link.app_id)
                to_remote.setdefault(link.app_id, None if link.removed else link.remote_id)

    def remember(self, entity: Entity, app_id: str, remote_id: str) -> None:
        self._to_remote.setdefault(entity, {})[app_id] = remote_id
        self._to_app.setdefault(entity, {})[remote_id] = app_id
        self._forgotten.discard((entity, app_id))

    def forget_remote(self, entity: Entity, app_id: str) -> None:
        """The record's platform copy is gone (removed before re-entering): it has no live remote id now."""
        self._to_remote.setdefault(entity, {})[app_id] = None
        self._forgotten.add((entity, app_id))

    def to_remote_id(self, entity: Entity, app_id: str) -> str | None:
        known = self._to_remote.get(entity)
        if known is None or (app_id not in known and entity not in self._whole):
            self._lookup(entity, app_id=app_id)
        return self._to_remote[entity].get(app_id)

    def to_app_id(self, entity: Entity, remote_id: str) -> str | None:
        known = self._to_app.get(entity)
        if known is None or (remote_id not in known and entity not in self._whole):
            self._lookup(entity, remote_id=remote_id)
        return self._to_app[entity].get(remote_id)

    # -- translation ---------------------------------------------------------------------------------
    def app_view(self, remote: RemoteRecord, app_id: str) -> Record | None:
        """A platform record in the app's terms: app ids and the app's codes (None: a reference isn't linked)."""
        try:
            return self.codes.back(translate(remote.record, app_id, self.to_app_id))
        except Unresolved:
            return None

    def outgoing(self, record: Record, remote_id: str, resolve: Resolver | None = None) -> Record:
        """The app record as the platform must receive it: platform ids and this connection's codes."""
        return self.codes.out(translate(record, remote_id, resolve or self.to_remote_id))
