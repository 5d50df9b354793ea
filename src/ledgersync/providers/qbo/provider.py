"""QboProvider: the Provider protocol over QuickBooks Online's Accounting API (pull, fetch, push, find, remove)."""

from __future__ import annotations

import dataclasses
import datetime as dt
import json
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from decimal import Decimal
from typing import Any

import httpx

from ledgersync.model import (
    Allocation,
    CreditNote,
    Entity,
    ErrorCode,
    Payment,
    PaymentStatus,
    ProviderError,
    Record,
    Refund,
    SyncError,
)
from ledgersync.model.errors import AUTH, TRANSIENT
from ledgersync.providers.base import (
    CallInfo,
    Capabilities,
    NameRule,
    PullPage,
    RemoteRecord,
    TokenStore,
    Write,
    WriteResult,
)
from ledgersync.providers.budget import BudgetBackend
from ledgersync.providers.config import ProviderConfig
from ledgersync.providers.org import CurrencyTexts, OrgSettings, OrgSettingsCache
from ledgersync.providers.qbo.attachments import QBO_ATTACHMENTS, QboAttachments
from ledgersync.providers.qbo.client import QboClient, qbo_policies, request_id_for
from ledgersync.providers.qbo.config import QboConfig
from ledgersync.providers.qbo.errors import archived_contact, fault_error, unknown_outcome
from ledgersync.providers.qbo.mapping import (
    ENTITY_NAME,
    NAME_LISTS,
    MappingError,
    Refs,
    credit_application_to_qbo,
    credit_payment_ids,
    deleted_stub,
    format_query_time,
    from_qbo,
    is_credit_application,
    is_voided,
    parse_date,
    parse_datetime,
    payment_customer,
    quote,
    to_qbo,
)
from ledgersync.providers.qbo.oauth import QboOAuth
from ledgersync.providers.qbo.vendor import VENDOR_SIDE, VendorSide
from ledgersync.providers.util import PullWindow, chunks, parse_cursor

ALL_ENTITIES = (
    Entity.CONTACT,
    Entity.ITEM,
    Entity.INVOICE,
    Entity.PAYMENT,
    Entity.CREDIT_NOTE,
    Entity.REFUND,
    Entity.SALES_RECEIPT,
    *VENDOR_SIDE,
)

QBO_CAPABILITIES = Capabilities(
    display_name="QuickBooks Online",
    # A QuickBooks sales line is booked to its item's income account; the line itself holds none.
    # QuickBooks keeps no link from a refund receipt to the credit memo (or credit) it refunds.
    unheld_fields=frozenset({"lines.account_code", "refund:credit_note_id", "refund:credit_id"}),
    live_updates=True,
    contacts_both_ways=True,
    payments_both_ways=True,
    purchase_orders_and_bills=False,
    products=True,
    classes_or_tracking=True,
    sub_customers=True,
    zero_invoices=True,
    tax_groups=True,
    overpayments=True,
    split_payments=True,
    one_payment_many_invoices=True,
    moved_payments=False,
    refunds=True,
    credit_note_allocations=True,
    void_and_delete=True,
    payments_editable=True,
    # A QBO payment keeps what it doesn't apply to invoices as the customer's credit (UnappliedAmt).
    payment_holds_credit=True,
    initial_import_export=True,
    # Every five minutes, plus webhooks in between (QuickBooks Online sends them for the records that changed).
    default_sync_seconds=300,
    attachments=QBO_ATTACHMENTS,
    name_rules=(
        # ':' joins a parent and its sub-customer ("Parent:Child"), so QBO refuses it in names, as it does tabs
        # and line breaks (fault 2040 "Invalid String"); DisplayName and Item Name hold at most 100 characters.
        NameRule(
            Entity.CONTACT,
            "name",
            "Customer name",
            max_length=100,
            forbidden=":\t\n\r",
            source="QBO Customer.DisplayName: max 100 characters; no ':', tab or newline (fault 2040)",
        ),
        NameRule(
            Entity.ITEM,
            "name",
            "Product name",
            max_length=100,
            forbidden=":\t\n\r",
            source="QBO Item.Name: max 100 characters; no ':', tab or newline (fault 2040)",
        ),
    ),
    batch_size=30,
    page_size=1000,
    # Purchase orders go to the platform only (the platform's own stay there): nothing of them is pulled.
    pull_entities=tuple(e for e in ALL_ENTITIES if e is not Entity.PURCHASE_ORDER),
    push_entities=ALL_ENTITIES,
    notes={
        "live_updates": "Webhooks name changed records only; the cycle reads them (and CDC) afterwards.",
        "payments": "One payment can pay several invoices; what it leaves unapplied is the customer's credit.",
        "tracking": "A line's Class tracking is the line's ClassRef; a 'Location' tracking is the document's "
        "DepartmentRef (one per document).",
        "deletions": "Deleted transactions are only visible through CDC, which reaches back 30 days.",
        "credit_notes": "A credit memo is applied to invoices through a payment of 0 that links the credit memo "
        "and the invoices (one per credit memo, made and kept by ledgersync); one applied in QuickBooks with money "
        "besides is read with its credit taken to the payment's invoices in line order.",
        "refunds": "A refund is a RefundReceipt (money out of the bank account, one line on the default service "
        "item). QuickBooks keeps no link from a refund receipt to a credit memo, so a credit memo refunded here "
        "keeps its remaining credit in QuickBooks: apply it there (or allocate it here) to close it; the refund's "
        "credit note is kept by the app only.",
        "currencies": "A foreign currency needs multicurrency on and the currency added; currency_rate is the "
        "inverse of QuickBooks' ExchangeRate (home per foreign).",
        "stock": "Stock on hand is read for inventory items (TrackQtyOnHand).",
        "purchase_lines": "A purchase line without a product holds only an amount and an expense account.",
        "attachments": "The app's invoice PDF is uploaded as an Attachable on the invoice (/upload); a changed "
        "PDF is uploaded anew and the old Attachable deleted.",
    },
)

ID_CHUNK = 100
NAME_CHUNK = 30
# CDC answers at most 1,000 objects and reaches back 30 days (a little margin for clock skew).
CDC_WINDOW = dt.timedelta(days=29, hours=23)
# Entities QBO lets be deleted (and so which can vanish from queries).
_DELETABLE = {
    Entity.INVOICE: "Invoice",
    Entity.PAYMENT: "Payment",
    Entity.CREDIT_NOTE: "CreditMemo",
    Entity.PURCHASE_ORDER: "PurchaseOrder",
    Entity.BILL: "Bill",
    Entity.BILL_PAYMENT: "BillPayment",
    Entity.SALES_RECEIPT: "SalesReceipt",
    Entity.REFUND: "RefundReceipt",
}
# The app owns these outright (the engine takes only computed fields back), so on a stale SyncToken the
# provider re-reads and re-sends; a contact is edited on both sides and is left to the next cycle's merge.
_APP_OWNED = frozenset(
    {
        Entity.ITEM,
        Entity.INVOICE,
        Entity.PAYMENT,
        Entity.CREDIT_NOTE,
        Entity.REFUND,
        Entity.PURCHASE_ORDER,
        Entity.BILL_PAYMENT,
    }
)


def _in(values: Iterable[str]) -> str:
    return "(" + ", ".join(quote(v) for v in values) + ")"


def _stamp(item: Mapping[str, Any]) -> dt.datetime | None:
    return parse_datetime((item.get("MetaData") or {}).get("LastUpdatedTime"))


# QuickBooks' refusals of a currency the company can't use (the sandbox's wording; see sandbox/qbo/currency.py)
# and the fixes.
QBO_CURRENCY_TEXTS = CurrencyTexts(
    platform="QuickBooks",
    not_added="The currency {code} has not been added to this company's currency list.",
    fix="Add {code} in QuickBooks (Settings > Currencies > Add currency), then Retry.",
    off="You can't use {code} here: multicurrency is off, so every transaction is in the company's home currency "
    "({home}).",
    off_fix="Turn on multicurrency in QuickBooks (Settings > Account and settings > Advanced > Currency) and add "
    "{code}, then Retry.",
    home_rate="A {what} in {code}, the company's home currency, takes no exchange rate (it has {rate}).",
)
_CURRENCY_CHECKED = {
    Entity.INVOICE: "invoice",
    Entity.CREDIT_NOTE: "credit memo",
    Entity.PAYMENT: "payment",
    Entity.SALES_RECEIPT: "sales receipt",
    Entity.BILL: "bill",
    Entity.PURCHASE_ORDER: "purchase order",
    Entity.BILL_PAYMENT: "bill payment",
}


class QboProvider(QboAttachments):
    """A connection to one QuickBooks Online company (realm), with its settings as QboConfig (a mapping of
    settings is validated into one)."""

    capabilities: Capabilities = QBO_CAPABILITIES

    def __init__(
        self,
        config: ProviderConfig | Mapping[str, Any],
        realm_id: str,
        tokens: TokenStore,
        *,
        transport: httpx.BaseTransport | None = None,
        budget: BudgetBackend | None = None,
        sleep: Callable[[float], None] | None = None,
    ) -> None:
        cfg = QboConfig.coerce(config)
        self.config = cfg
        self.realm_id = realm_id
        self.oauth = QboOAuth(cfg, transport=transport)
        self.page_size = cfg.page_size
        self.lookback = dt.timedelta(seconds=cfg.lookback_seconds)
        if cfg.batch_size != QBO_CAPABILITIES.batch_size or cfg.page_size != QBO_CAPABILITIES.page_size:
            self.capabilities = dataclasses.replace(
                QBO_CAPABILITIES, batch_size=cfg.batch_size, page_size=cfg.page_size
            )
        policies = qbo_policies(
            concurrent=cfg.max_in_flight,
            per_minute=cfg.per_minute,
            per_second=cfg.per_second,
            batch_per_minute=cfg.batch_per_minute,
        )
        # Set by the engine after construction; read on every call so a later assignment takes effect.
        self.on_call: Callable[[CallInfo], None] | None = None
        extra: dict[str, Any] = {"sleep": sleep} if sleep is not None else {}
        self.client = QboClient(
            realm_id,
            tokens,
            self.oauth,
            budget=budget,
            policies=policies,
            transport=transport,
            timeout=cfg.timeout,
            max_attempts=cfg.max_attempts,
            max_retry_seconds=cfg.max_retry_seconds,
            throttle_wait=cfg.throttle_wait_seconds,
            on_call=self._relay_call,
            **extra,
        )
        self.refs = Refs(
            default_item_id=cfg.default_item_id,
            deposit_account=cfg.deposit_account_id,
            income_account=cfg.income_account_id,
            home_currency=cfg.home_currency,
        )
        self._home_known = self.refs.home_currency is not None
        self._default_item_looked_up = False
        self.vendor = VendorSide(self)
        self.org = OrgSettingsCache(self.read_org_settings, QBO_CURRENCY_TEXTS)

    def _relay_call(self, info: CallInfo) -> None:
        if self.on_call is not None:
            self.on_call(info)

    # ------------------------------------------------------------ list look-ups (cached per provider)

    def _select_all(self, entity_name: str, where: str = "") -> list[dict[str, Any]]:
        """Every row of one query, a page of 1,000 at a time."""
        out: list[dict[str, Any]] = []
        start = 1
        clause = f" WHERE {where}" if where else ""
        while True:
            rows = (
                self.client.query(
                    f"SELECT * FROM {entity_name}{clause} STARTPOSITION {start} MAXRESULTS {self.page_size}"
                ).get(entity_name)
                or []
            )
            out.extend(rows)
            if len(rows) < self.page_size:
                return out
            start += self.page_size

    def _where_in(
        self, entity_name: str, field: str, values: Iterable[str], chunk: int = ID_CHUNK
    ) -> list[dict[str, Any]]:
        wanted = list(dict.fromkeys(v for v in values if v))
        inactive = (
            " AND Active IN (true, false)"
            if entity_name in ("Customer", "Vendor", "Item", "Class", "Department")
            else ""
        )
        out: list[dict[str, Any]] = []
        for part in chunks(wanted, chunk):
            out.extend(self._select_all(entity_name, f"{field} IN {_in(part)}{inactive}"))
        return out

    # ------------------------------------------------------------ the company's settings

    @property
    def org_settings(self) -> OrgSettings | None:
        return self.org.current

    @org_settings.setter
    def org_settings(self, value: OrgSettings | None) -> None:
        self.org.current = value
        if value is not None and value.home_currency and self.config.home_currency is None:
            # The stored settings name the home currency: no Preferences query for it.
            self.refs.home_currency = value.home_currency
            self._home_known = True

    def read_org_settings(self) -> OrgSettings:
        """The company's currency settings: Preferences (CurrencyPrefs.HomeCurrency, MultiCurrencyEnabled),
        CompanyInfo (name, country) and, with multicurrency on, the currencies added (CompanyCurrency)."""
        prefs = (self.client.query("SELECT * FROM Preferences").get("Preferences") or [{}])[0]
        currency_prefs = prefs.get("CurrencyPrefs") or {}
        home = str((currency_prefs.get("HomeCurrency") or {}).get("value") or "").upper() or None
        multi = str(currency_prefs.get("MultiCurrencyEnabled", False)).lower() == "true"
        info = (self.client.query("SELECT * FROM CompanyInfo").get("CompanyInfo") or [{}])[0]
        others: tuple[str, ...] = ()
        if multi:
            rows = self.client.query("SELECT * FROM CompanyCurrency").get("CompanyCurrency") or []
            others = tuple(
                dict.fromkeys(
                    str(r.get("Code")).upper() for r in rows if r.get("Code") and r.get("Active", True) is not False
                )
            )
            others = tuple(c for c in others if c != home)
        if home and self.config.home_currency is None:
            self.refs.home_currency = home
            self._home_known = True
        return OrgSettings(
            home_currency=home,
            currencies=others,
            multicurrency=multi,
            name=info.get("CompanyName"),
            country=info.get("Country"),
        )

    def _currency_refusal(self, entity: Entity, record: Any) -> SyncError | None:
        """A transaction in a currency the company can't use (multicurrency off, or not added), or in the home
        currency with a rate other than 1, is refused here, before it is sent. One in the home currency with no
        rate needs nothing read."""
        what = _CURRENCY_CHECKED.get(entity)
        code = getattr(record, "currency", None)
        if what is None or not code:
            return None
        rate = getattr(record, "currency_rate", None)
        self._ensure_home_currency()
        if code.upper() == (self.refs.home_currency or "").upper() and (rate is None or rate == 1):
            return None
        return self.org.refusal(code, rate, what=what)

    def _ensure_home_currency(self) -> None:
        if self._home_known:
            return
        self._home_known = True
        try:
            rows = self.client.query("SELECT * FROM Preferences").get("Preferences") or []
        except ProviderError as exc:
            if exc.error.code in TRANSIENT or exc.error.code in AUTH:
                self._home_known = False
                raise
            return
        prefs = rows[0] if rows else {}
        home = ((prefs.get("CurrencyPrefs") or {}).get("HomeCurrency") or {}).get("value")
        self.refs.home_currency = str(home) if home else None

    def _ensure_items_by_code(self, codes: Iterable[str]) -> None:
        missing = [c for c in dict.fromkeys(codes) if c not in self.refs.item_ids]
        if not missing:
            return
        for row in self._where_in("Item", "Sku", missing, NAME_CHUNK):
            self.refs.learn_item(row)
        rest = [c for c in missing if c not in self.refs.item_ids]
        for row in self._where_in("Item", "Name", rest, NAME_CHUNK):
            item_id = str(row.get("Id"))
            name = str(row.get("Name"))
            if name in rest:
                self.refs.item_ids[name] = item_id
                self.refs.item_codes.setdefault(item_id, str(row.get("Sku") or name))

    def _ensure_item_ids(self, ids: Iterable[str]) -> None:
        missing = [i for i in dict.fromkeys(ids) if i not in self.refs.item_codes]
        for row in self._where_in("Item", "Id", missing):
            self.refs.learn_item(row)

    def _ensure_names(self, entity_name: str, names: Iterable[str]) -> None:
        table, back = (
            (self.refs.class_ids, self.refs.class_names)
            if entity_name == "Class"
            else (self.refs.department_ids, self.refs.department_names)
        )
        missing = [n for n in dict.fromkeys(names) if n not in table]
        for row in self._where_in(entity_name, "Name", missing, NAME_CHUNK):
            table[str(row["Name"])] = str(row["Id"])
            back[str(row["Id"])] = str(row["Name"])

    def _ensure_name_ids(self, entity_name: str, ids: Iterable[str]) -> None:
        table, back = (
            (self.refs.class_ids, self.refs.class_names)
            if entity_name == "Class"
            else (self.refs.department_ids, self.refs.department_names)
        )
        missing = [i for i in dict.fromkeys(ids) if i not in back]
        for row in self._where_in(entity_name, "Id", missing):
            table.setdefault(str(row["Name"]), str(row["Id"]))
            back[str(row["Id"])] = str(row["Name"])

    def _ensure_invoices(self, ids: Iterable[str]) -> None:
        missing = [i for i in dict.fromkeys(ids) if i not in self.refs.invoice_customers]
        for row in self._where_in("Invoice", "Id", missing):
            self.refs.learn_invoice(row)

    def _income_account(self) -> str | None:
        if self.refs.income_account:
            return self.refs.income_account
        rows = (
            self.client.query("SELECT * FROM Account WHERE AccountType = 'Income' MAXRESULTS 10").get("Account") or []
        )
        preferred = [
            r for r in rows if str(r.get("Name", "")).lower() in ("services", "sales", "sales of product income")
        ]
        chosen = (preferred or rows or [None])[0]
        self.refs.income_account = str(chosen["Id"]) if chosen else None
        return self.refs.income_account

    def _ensure_default_item(self, create: bool = True) -> None:
        """The service item lines without an item code are booked to: configured, found by name, or created.
        Reads only look it up (create=False), so a line booked to it reads back without an item code."""
        if self.refs.default_item_id or (self._default_item_looked_up and not create):
            return
        name = self.config.default_item_name
        rows = self._where_in("Item", "Name", [name])
        self._default_item_looked_up = True
        active = [r for r in rows if r.get("Active", True)]
        if active:
            self.refs.default_item_id = str(active[0]["Id"])
            return
        if not create:
            return
        account = self._income_account()
        body: dict[str, Any] = {"Name": name, "Type": "Service"}
        if account:
            body["IncomeAccountRef"] = {"value": account}
        data = self.client.write("item", body, request_id=request_id_for([f"ls-default-item-{self.realm_id}-{name}"]))
        self.refs.default_item_id = str((data or {})["Item"]["Id"])

    def _prepare_read(self, entity: Entity, rows: Sequence[Mapping[str, Any]]) -> None:
        """Look up, in a few queries, what mapping these rows back needs (item codes, class names, numbers)."""
        if entity in (Entity.CONTACT, Entity.INVOICE, Entity.PAYMENT, Entity.CREDIT_NOTE):
            self._ensure_home_currency()
        if entity in (Entity.INVOICE, Entity.CREDIT_NOTE):
            items: list[str] = []
            classes: list[str] = []
            departments: list[str] = []
            for row in rows:
                dept = row.get("DepartmentRef") or {}
                if dept.get("value") and not dept.get("name"):
                    departments.append(str(dept["value"]))
                for line in row.get("Line") or []:
                    detail = line.get("SalesItemLineDetail") or {}
                    if (detail.get("ItemRef") or {}).get("value"):
                        items.append(str(detail["ItemRef"]["value"]))
                    ref = detail.get("ClassRef") or {}
                    if ref.get("value") and not ref.get("name"):
                        classes.append(str(ref["value"]))
            self._ensure_item_ids(items)
            self._ensure_name_ids("Class", classes)
            self._ensure_name_ids("Department", departments)
        if entity is Entity.PAYMENT:
            self._ensure_invoices(
                str(linked["TxnId"])
                for row in rows
                for line in row.get("Line") or []
                for linked in line.get("LinkedTxn") or []
                if linked.get("TxnType") == "Invoice" and linked.get("TxnId")
            )
        if entity is Entity.CREDIT_NOTE:
            self._learn_credit(rows)
        if entity is Entity.REFUND:
            self._ensure_home_currency()

    def _learn_credit(self, rows: Sequence[Mapping[str, Any]]) -> None:
        """The credit memos' allocations: the payments each one lists in its LinkedTxn, read in a few queries."""
        for row in rows:
            note_id = str(row.get("Id"))
            customer = (row.get("CustomerRef") or {}).get("value")
            if customer:
                self.refs.credit_customers[note_id] = str(customer)
            if row.get("DocNumber"):
                self.refs.credit_numbers[note_id] = str(row["DocNumber"])
        payment_ids = [pid for row in rows for pid in credit_payment_ids(row)]
        payments = self._where_in("Payment", "Id", payment_ids) if payment_ids else []
        self.refs.learn_credit_payments([str(r.get("Id")) for r in rows], payments)

    def _records(self, entity: Entity, rows: Sequence[Mapping[str, Any]]) -> list[RemoteRecord]:
        if entity is Entity.PAYMENT:
            # A payment of no money that only applies a credit memo is that credit note's allocations.
            rows = [r for r in rows if not is_credit_application(r)]
        self._prepare_read(entity, rows)
        self.vendor.prepare_read(entity, rows)
        if entity in (Entity.INVOICE, Entity.CREDIT_NOTE, Entity.REFUND):
            self._ensure_default_item(create=False)
        if entity is Entity.INVOICE:
            for row in rows:
                self.refs.learn_invoice(row)
        return [from_qbo(entity, row, self.refs) for row in rows]

    def _prepare_write(self, entity: Entity, writes: Sequence[Write]) -> None:
        self.vendor.prepare_write(entity, writes)
        if entity in (Entity.CONTACT, Entity.INVOICE, Entity.PAYMENT, Entity.CREDIT_NOTE):
            self._ensure_home_currency()
        if entity in (Entity.INVOICE, Entity.CREDIT_NOTE):
            lines = [line for w in writes for line in getattr(w.record, "lines", [])]
            self._ensure_items_by_code(line.item_code for line in lines if line.item_code)
            if any(not line.item_code for line in lines):
                self._ensure_default_item()
            tracking = [t for line in lines for t in line.tracking]
            self._ensure_names("Class", (t.option for t in tracking if t.category.strip().lower() == "class"))
            self._ensure_names(
                "Department",
                (t.option for t in tracking if t.category.strip().lower() in ("location", "department")),
            )
        if entity is Entity.PAYMENT:
            self._ensure_invoices(
                a.invoice_id for w in writes if isinstance(w.record, Payment) for a in w.record.allocations
            )
        if entity is Entity.ITEM and any(
            w.remote_id is None and not getattr(w.record, "account_code", None) for w in writes
        ):
            self._income_account()
        if entity is Entity.CREDIT_NOTE:
            self._ensure_invoices(
                a.invoice_id for w in writes if isinstance(w.record, CreditNote) for a in w.record.allocations
            )
        if entity is Entity.REFUND:
            self._ensure_home_currency()
            self.vendor._accounts()
            self._ensure_default_item()
            notes = [
                str(w.record.credit_note_id)
                for w in writes
                if isinstance(w.record, Refund)
                and w.record.credit_note_id
                and w.record.credit_note_id not in self.refs.credit_customers
            ]
            for row in self._where_in("CreditMemo", "Id", notes):
                self.refs.credit_customers[str(row["Id"])] = str((row.get("CustomerRef") or {}).get("value") or "")
                if row.get("DocNumber"):
                    self.refs.credit_numbers[str(row["Id"])] = str(row["DocNumber"])

    # ------------------------------------------------------------ reads

    def pull(self, entity: Entity, cursor: str | None, resume: str | None = None) -> Iterator[PullPage]:
        """Changed records by the query language, keyset-paged on LastUpdatedTime, then CDC's deletions.

        CDC alone would be one call, but it stops at 1,000 objects and 30 days with no paging, so a first
        read or a large change set must use queries; queries never show deleted transactions, so CDC is
        asked for those (when the cursor is within its 30 days). `resume` carries the keyset position."""
        name = ENTITY_NAME[entity]
        # The cursor is a PullWindow: the newest LastUpdatedTime seen and the look-back windows still to re-read
        # once (providers.util.PullWindow), so a read right after an export does not read the export again.
        position = PullWindow.load(cursor, self.lookback)
        now = dt.datetime.now(dt.UTC)
        if resume:
            state = json.loads(resume)
            since = parse_cursor(state["since"]) if state["since"] is not None else None
            lower = parse_cursor(state["lower"]) if state["lower"] is not None else None
            start = int(state["start"])
            seen = {(str(i), str(t)) for i, t in state["seen"]}
            started = parse_cursor(state["started"]) if state.get("started") else now
        else:
            since = position.since(now)
            lower = since
            start, seen, started = 1, set(), now
        newest = position.newest
        if newest is None and since is None and not resume:
            # A first, full read: what it returns is everything as of now, so the next read's CDC asks for
            # deletions from here even when nothing was there to read (a payment sent after this read and deleted
            # in QuickBooks before any payment was read was otherwise never seen: no cursor, so no CDC).
            newest = dt.datetime.now(dt.UTC)
        while True:
            conditions = ["Active IN (true, false)"] if entity in NAME_LISTS else []
            if lower is not None:
                conditions.append(f"MetaData.LastUpdatedTime >= {quote(format_query_time(lower))}")
            where = f" WHERE {' AND '.join(conditions)}" if conditions else ""
            rows = (
                self.client.query(
                    f"SELECT * FROM {name}{where} ORDERBY MetaData.LastUpdatedTime "
                    f"STARTPOSITION {start} MAXRESULTS {self.page_size}"
                ).get(name)
                or []
            )
            fresh = [r for r in rows if (str(r.get("Id")), str(r.get("SyncToken"))) not in seen]
            stamps = [s for s in (_stamp(r) for r in rows) if s is not None]
            page_newest = max(stamps) if stamps else None
            if page_newest is not None and (newest is None or page_newest > newest):
                newest = page_newest
            records = self._records(entity, fresh)
            last = len(rows) < self.page_size
            if last and since is not None and entity in _DELETABLE:
                records.extend(self._deletions(entity, since))
            if not last:
                # Keyset paging: records edited while we read move to the end, which would shift positions and
                # skip one; restarting from the newest stamp seen cannot skip (repeats are filtered by SyncToken).
                boundary = {(str(r.get("Id")), str(r.get("SyncToken"))) for r in rows if _stamp(r) == page_newest}
                if page_newest is None or (lower is not None and page_newest <= lower):
                    start += self.page_size  # a whole page shares one stamp: page through it by position
                    seen |= boundary
                else:
                    lower, start, seen = page_newest, 1, boundary
            more = (
                None
                if last
                else json.dumps(
                    {
                        "since": since.isoformat() if since is not None else None,
                        "lower": lower.isoformat() if lower is not None else None,
                        "start": start,
                        "seen": sorted(seen),
                        "started": started.isoformat(),
                    }
                )
            )
            if last:
                saved = position.after_read(newest, since, started, dt.datetime.now(dt.UTC), self.lookback)
            else:
                saved = position.seen(newest)
            yield PullPage(records, saved.dump() if saved.newest else cursor, more)
            if last:
                return

    def _deletions(self, entity: Entity, since: dt.datetime) -> list[RemoteRecord]:
        now = dt.datetime.now(dt.UTC)
        if now - since > CDC_WINDOW:
            return []  # beyond CDC's reach; the full re-read (cursor reset) is the remedy
        name = _DELETABLE[entity]
        data = (
            self.client.request("GET", "cdc", params={"entities": name, "changedSince": format_query_time(since)}) or {}
        )
        out: list[RemoteRecord] = []
        for block in data.get("CDCResponse") or []:
            for response in block.get("QueryResponse") or []:
                for row in response.get(name) or []:
                    if str(row.get("status") or "").lower() == "deleted" and row.get("Id"):
                        out.append(deleted_stub(entity, str(row["Id"]), _stamp(row)))
        return out

    def fetch(self, entity: Entity, remote_ids: Sequence[str]) -> list[RemoteRecord]:
        rows = self._where_in(ENTITY_NAME[entity], "Id", remote_ids)
        return self._records(entity, rows)

    # ------------------------------------------------------------ writes

    def _payload(self, entity: Entity, write: Write, sync_token: str | None) -> dict[str, Any]:
        return to_qbo(entity, write.record, self.refs, remote_id=write.remote_id, sync_token=sync_token)

    def _current_tokens(self, entity: Entity, ids: Sequence[str]) -> dict[str, Mapping[str, Any]]:
        return {str(r["Id"]): r for r in self._where_in(ENTITY_NAME[entity], "Id", ids)}

    def push(self, entity: Entity, writes: Sequence[Write]) -> list[WriteResult]:
        if len(writes) > self.capabilities.batch_size:
            raise ValueError(f"at most {self.capabilities.batch_size} writes per push")
        results: dict[int, WriteResult] = {}
        pending: list[int] = []
        for index, write in enumerate(writes):
            record = write.record
            if self.vendor.is_deleted_payment(record) or (
                isinstance(record, Payment | Refund) and record.status is PaymentStatus.DELETED
            ):
                results[index] = self.remove(entity, write) if write.remote_id else WriteResult(write.key)
                continue
            refusal = self._currency_refusal(entity, record)
            if refusal is not None:
                results[index] = WriteResult(write.key, error=refusal)
                continue
            pending.append(index)
        if not pending:
            return [results[i] for i in range(len(writes))]
        self._prepare_write(entity, [writes[i] for i in pending])
        # An update without a known SyncToken (a link made by reconciling) needs the current one first.
        unknown = [writes[i].remote_id for i in pending if writes[i].remote_id and not writes[i].remote_version]
        current = self._current_tokens(entity, [r for r in unknown if r]) if unknown else {}
        payloads: dict[int, dict[str, Any]] = {}
        for index in pending:
            write = writes[index]
            token = write.remote_version
            if write.remote_id and not token:
                token = str((current.get(write.remote_id) or {}).get("SyncToken") or "0")
            try:
                payloads[index] = self._payload(entity, write, token)
            except MappingError as exc:
                results[index] = WriteResult(write.key, error=exc.error)
        answers = self._send(entity, [(i, writes[i], payloads[i]) for i in pending if i in payloads])
        stale: list[int] = []
        for index, answer in answers.items():
            write = writes[index]
            if isinstance(answer, SyncError):
                if answer.code is ErrorCode.CONFLICT and write.remote_id:
                    stale.append(index)
                else:
                    results[index] = WriteResult(write.key, error=answer)
            else:
                if entity is Entity.INVOICE:
                    # The write's answer tells the invoice's customer, which a payment on it needs: no read-back.
                    self.refs.learn_invoice(answer)
                results[index] = WriteResult(write.key, remote=from_qbo(entity, answer, self.refs))
        for index in stale:
            results[index] = self._after_stale(entity, writes[index], answers[index])  # type: ignore[arg-type]
        self._explain_inactive_customers(entity, writes, results)
        if entity is Entity.CREDIT_NOTE:
            self._apply_credit(writes, results)
        if entity is Entity.REFUND:
            # A person looks a refund up by its credit memo's number (the receipt itself names no credit memo).
            for index, result in results.items():
                note = getattr(writes[index].record, "credit_note_id", None)
                number = self.refs.credit_numbers.get(str(note)) if note else None
                if result.remote is not None and number:
                    result.remote = dataclasses.replace(result.remote, doc_number=number)
        return [results[i] for i in range(len(writes))]

    # ------------------------------------------------------------ credit memos applied to invoices

    def _apply_credit(self, writes: Sequence[Write], results: dict[int, WriteResult]) -> None:
        """Make each landed credit memo's applications what the app says: the allocations other payments hold
        (a person's, in QuickBooks) stay; ledgersync's own payment of 0 holds the rest, created, changed or
        deleted. The credit memos are then read back (RemainingCredit, allocations, SyncToken)."""
        landed = {
            i: r.remote.remote_id
            for i, r in results.items()
            if r.ok and r.remote is not None and isinstance(writes[i].record, CreditNote)
        }
        if not landed:
            return
        fresh = {r.remote_id: r for r in self.fetch(Entity.CREDIT_NOTE, list(landed.values()))}
        changed: dict[int, str] = {}
        for index, note_id in landed.items():
            write = writes[index]
            wanted = write.record
            assert isinstance(wanted, CreditNote)
            current = fresh.get(note_id)
            if current is None:
                continue
            held = list(self.refs.credit_allocations.get(note_id, []))
            mine_id, mine_token = self.refs.credit_payments.get(note_id, (None, None))
            mine_now = self._own_allocations(note_id, mine_id)
            others = list(held)
            for alloc in mine_now:
                others.remove(alloc)
            mine_wanted = _without(wanted.allocations, others)
            if sorted(mine_wanted, key=_key) == sorted(mine_now, key=_key):
                results[index] = WriteResult(write.key, remote=current)
                continue
            error = self._write_credit_payment(write, wanted, note_id, mine_wanted, mine_id, mine_token)
            changed[index] = note_id
            if error is not None:
                results[index] = WriteResult(write.key, remote=current, error=error)
        if not changed:
            return
        again = {r.remote_id: r for r in self.fetch(Entity.CREDIT_NOTE, list(changed.values()))}
        for index, note_id in changed.items():
            if note_id in again:
                results[index] = WriteResult(writes[index].key, remote=again[note_id], error=results[index].error)

    def _own_allocations(self, note_id: str, payment_id: str | None) -> list[Allocation]:
        if payment_id is None:
            return []
        rows = self._where_in("Payment", "Id", [payment_id])
        from ledgersync.providers.qbo.mapping import split_credit

        return [a for row in rows for a in split_credit(row)[1].get(note_id, [])]

    def _write_credit_payment(
        self,
        write: Write,
        note: CreditNote,
        note_id: str,
        allocations: list[Allocation],
        payment_id: str | None,
        token: str | None,
    ) -> SyncError | None:
        key = request_id_for([f"{write.idempotency_key}:apply:{payment_id or ''}:{token or ''}"])
        try:
            if not allocations:
                if payment_id is not None:
                    self.client.write(
                        "payment",
                        {"Id": payment_id, "SyncToken": token},
                        request_id=key,
                        params={"operation": "delete"},
                    )
                return None
            customer = self.refs.credit_customers.get(note_id) or note.contact_id
            currency = None if self.refs.home_currency in (None, note.currency) else note.currency
            body = credit_application_to_qbo(
                note_id,
                customer,
                allocations,
                date=note.date,
                currency=currency,
                number=note.number,
                remote_id=payment_id,
                sync_token=token,
            )
            self.client.write("payment", body, request_id=key)
        except ProviderError as exc:
            if exc.error.code in TRANSIENT or exc.error.code in AUTH:
                raise
            return exc.error
        return None

    def _send(
        self, entity: Entity, items: Sequence[tuple[int, Write, dict[str, Any]]]
    ) -> dict[int, dict[str, Any] | SyncError]:
        """Create/update each payload: one plain call for one write, one batch call (<= 30) for several."""
        name = ENTITY_NAME[entity]
        if not items:
            return {}
        if len(items) == 1:
            index, write, payload = items[0]
            try:
                data = self.client.write(name.lower(), payload, request_id=request_id_for([write.idempotency_key]))
            except ProviderError as exc:
                if exc.error.code in TRANSIENT or exc.error.code in AUTH:
                    raise
                return {index: exc.error}
            found = (data or {}).get(name)
            return {
                index: dict(found) if isinstance(found, Mapping) else unknown_outcome("QuickBooks returned no record")
            }
        # Items of a batch run one after another and can't see each other's results: the engine never puts
        # a record and what it depends on in one push, so nothing here refers to a sibling.
        request = {
            "BatchItemRequest": [
                {"bId": str(pos), "operation": "update" if write.remote_id else "create", name: payload}
                for pos, (_, write, payload) in enumerate(items)
            ]
        }
        data = (
            self.client.write(
                "batch",
                request,
                request_id=request_id_for([w.idempotency_key for _, w, _ in items], 36),
                batch=True,
            )
            or {}
        )
        by_bid = {str(r.get("bId")): r for r in data.get("BatchItemResponse") or [] if isinstance(r, Mapping)}
        out: dict[int, dict[str, Any] | SyncError] = {}
        for pos, (index, _, _) in enumerate(items):
            answer = by_bid.get(str(pos))
            if answer is None:
                out[index] = unknown_outcome("QuickBooks returned no answer for this item of the batch")
            elif isinstance(answer.get("Fault"), Mapping):
                out[index] = fault_error(answer["Fault"])
            elif isinstance(answer.get(name), Mapping):
                out[index] = dict(answer[name])
            else:
                out[index] = unknown_outcome("QuickBooks returned an empty answer for this item of the batch")
        return out

    def _after_stale(self, entity: Entity, write: Write, error: SyncError) -> WriteResult:
        """5010: someone saved the record since we read it. Re-read; if it already says what we want, done;
        if the app owns the record outright, send it again on the fresh SyncToken (once)."""
        assert write.remote_id is not None
        current = self.client.read(ENTITY_NAME[entity], write.remote_id)
        if current is None:
            return WriteResult(write.key, error=error)
        remote = from_qbo(entity, current, self.refs)
        if _same_content(remote.record, write.record):
            return WriteResult(write.key, remote=remote)
        if entity not in _APP_OWNED:
            return WriteResult(write.key, error=error)
        token = str(current.get("SyncToken") or "0")
        try:
            payload = self._payload(entity, write, token)
        except MappingError as exc:
            return WriteResult(write.key, error=exc.error)
        answer = self._send(
            entity, [(0, dataclasses.replace(write, idempotency_key=f"{write.idempotency_key}:{token}"), payload)]
        )[0]
        if isinstance(answer, SyncError):
            return WriteResult(write.key, error=answer)
        return WriteResult(write.key, remote=from_qbo(entity, answer, self.refs))

    def _explain_inactive_customers(
        self, entity: Entity, writes: Sequence[Write], results: dict[int, WriteResult]
    ) -> None:
        """QBO answers 610 for any inactive reference; say so plainly when it is the customer."""
        if entity not in (Entity.INVOICE, Entity.PAYMENT, Entity.CREDIT_NOTE):
            return
        suspects = {
            i: r for i, r in results.items() if r.error is not None and r.error.platform_code in ("610", "2500")
        }
        if not suspects:
            return
        customers: dict[int, str] = {}
        for index in suspects:
            record = writes[index].record
            customer = getattr(record, "contact_id", None)
            if isinstance(record, Payment) and record.allocations:
                customer = self.refs.invoice_customers.get(record.allocations[0].invoice_id, customer)
            if customer:
                customers[index] = str(customer)
        rows = {str(r["Id"]): r for r in self._where_in("Customer", "Id", customers.values())}
        for index, customer in customers.items():
            row = rows.get(customer)
            if row is not None and not row.get("Active", True):
                error = suspects[index].error
                assert error is not None
                results[index] = WriteResult(
                    writes[index].key, error=archived_contact(error.platform_code, error.platform_message)
                )

    def restore(self, entity: Entity, write: Write) -> WriteResult:
        """Make an inactive customer or item active again (QBO keeps them, hidden, rather than deleting)."""
        if entity not in NAME_LISTS or not write.remote_id:
            return WriteResult(
                write.key,
                error=SyncError(
                    code=ErrorCode.VALIDATION,
                    message="Only an inactive QuickBooks customer or product can be made active again.",
                    hint="Skip it.",
                ),
            )
        return self._change(entity, write, "restore")

    def remove(self, entity: Entity, write: Write) -> WriteResult:
        """Void an invoice (its number stays on record), delete a payment or credit memo, make a customer or
        item inactive (QBO never deletes list records)."""
        if not write.remote_id:
            return WriteResult(
                write.key,
                error=SyncError(
                    code=ErrorCode.NOT_FOUND,
                    message="This record was never created in QuickBooks, so there is nothing to remove there.",
                    hint="Skip it.",
                ),
            )
        return self._change(entity, write, "remove")

    def _change(self, entity: Entity, write: Write, change: str) -> WriteResult:
        """Remove or restore on the record's current SyncToken (re-read, and once more after a 5010)."""
        assert write.remote_id is not None
        name = ENTITY_NAME[entity]
        for attempt in (1, 2):
            current = self.client.read(name, write.remote_id)
            if current is None or str(current.get("status") or "").lower() == "deleted":
                return WriteResult(
                    write.key,
                    error=SyncError(
                        code=ErrorCode.NOT_FOUND,
                        message="The record was not found in QuickBooks.",
                        hint="It may already have been deleted there; skip it.",
                    ),
                )
            token = str(current.get("SyncToken") or "0")
            key = request_id_for([f"{write.idempotency_key}:{change}:{token}"])
            params: dict[str, str] = {}
            if entity in NAME_LISTS:
                active = change == "restore"
                if bool(current.get("Active", True)) is active:
                    return WriteResult(write.key, remote=from_qbo(entity, current, self.refs))
                body: dict[str, Any] = {"Id": write.remote_id, "SyncToken": token, "sparse": True, "Active": active}
                if entity in (Entity.CONTACT, Entity.SUPPLIER):
                    body["DisplayName"] = current.get("DisplayName")
                else:
                    body["Name"] = current.get("Name")
            elif entity is Entity.INVOICE:
                if is_voided(current):
                    return WriteResult(write.key, remote=from_qbo(entity, current, self.refs))
                total = Decimal(str(current.get("TotalAmt") or 0))
                balance = Decimal(str(current.get("Balance") or 0))
                if balance != total:
                    return WriteResult(
                        write.key,
                        error=SyncError(
                            code=ErrorCode.DOCUMENT_LOCKED,
                            message="This invoice has payments in QuickBooks, so it can't be voided from here.",
                            hint="Remove or move the payment in QuickBooks and retry, or skip.",
                        ),
                    )
                body = {"Id": write.remote_id, "SyncToken": token}
                params = {"operation": "void"}
            else:
                if entity is Entity.CREDIT_NOTE and change == "remove":
                    # ledgersync's own application of the credit goes first (the invoices owe again); one a person
                    # made in QuickBooks stays, and QuickBooks refuses the delete with its reason.
                    self._learn_credit([current])
                    mine = self.refs.credit_payments.get(write.remote_id)
                    if mine is not None:
                        note = write.record if isinstance(write.record, CreditNote) else None
                        if note is not None:
                            error = self._write_credit_payment(write, note, write.remote_id, [], mine[0], mine[1])
                            if error is not None:
                                return WriteResult(write.key, error=error)
                            current = self.client.read(name, write.remote_id) or current
                            token = str(current.get("SyncToken") or "0")
                            key = request_id_for([f"{write.idempotency_key}:{change}:{token}"])
                body = {"Id": write.remote_id, "SyncToken": token}
                params = {"operation": "delete"}
            try:
                data = self.client.write(name.lower(), body, request_id=key, params=params)
            except ProviderError as exc:
                if exc.error.code in TRANSIENT or exc.error.code in AUTH:
                    raise
                if exc.error.code is ErrorCode.CONFLICT and attempt == 1:
                    continue
                return WriteResult(write.key, error=exc.error)
            found = (data or {}).get(name)
            if not isinstance(found, Mapping):
                return WriteResult(write.key, error=unknown_outcome("QuickBooks returned no record"))
            if str(found.get("status") or "").lower() == "deleted":
                return WriteResult(write.key, remote=deleted_stub(entity, write.remote_id, _stamp(current)))
            return WriteResult(write.key, remote=from_qbo(entity, found, self.refs))
        raise AssertionError("unreachable")

    # ------------------------------------------------------------ reconciliation

    def find(self, entity: Entity, writes: Sequence[Write]) -> dict[str, RemoteRecord]:
        """Whether earlier writes landed, by natural key: customer DisplayName (there is no external-id field
        on a QBO customer), item SKU or name, document number, and for a payment its customer, amount, date,
        reference and invoices."""
        if not writes:
            return {}
        if entity in (Entity.CONTACT, Entity.SUPPLIER):
            return self._find_by(entity, writes, "DisplayName", lambda r: getattr(r, "name", None))
        if entity is Entity.BILL_PAYMENT:
            return self.vendor.find_bill_payments(writes)
        if entity in (Entity.PURCHASE_ORDER, Entity.BILL, Entity.SALES_RECEIPT):
            return self._find_by(entity, writes, "DocNumber", lambda r: getattr(r, "number", None))
        if entity is Entity.ITEM:
            found = self._find_by(entity, writes, "Sku", lambda r: getattr(r, "code", None))
            rest = [w for w in writes if w.key not in found]
            return {**found, **self._find_by(entity, rest, "Name", lambda r: getattr(r, "name", None))}
        if entity in (Entity.INVOICE, Entity.CREDIT_NOTE):
            return self._find_by(entity, writes, "DocNumber", lambda r: getattr(r, "number", None))
        if entity is Entity.REFUND:
            return self._find_refunds(writes)
        return self._find_payments(writes)

    def _find_refunds(self, writes: Sequence[Write]) -> dict[str, RemoteRecord]:
        """A refund receipt whose outcome was unknown: by date, amount, reference and customer."""
        candidates = [(w, w.record) for w in writes if isinstance(w.record, Refund)]
        if not candidates:
            return {}
        dates = [r.date for _, r in candidates]
        rows = self._select_all(
            "RefundReceipt",
            f"TxnDate >= {quote(min(dates).isoformat())} AND TxnDate <= {quote(max(dates).isoformat())}",
        )
        records = self._records(Entity.REFUND, [r for r in rows if not is_voided(r)])
        out: dict[str, RemoteRecord] = {}
        for write, refund in candidates:
            customer = refund.contact_id or self.refs.credit_customers.get(refund.credit_note_id or "")
            for remote in records:
                found = remote.record
                assert isinstance(found, Refund)
                if remote.remote_id in {r.remote_id for r in out.values()}:
                    continue
                if (
                    found.amount == refund.amount
                    and found.date == refund.date
                    and (found.reference or None) == (refund.reference or None)
                    and (customer is None or found.contact_id == customer)
                ):
                    out[write.key] = remote
                    break
        return out

    def _find_by(
        self, entity: Entity, writes: Sequence[Write], field: str, key_of: Callable[[Any], Any]
    ) -> dict[str, RemoteRecord]:
        by_value: dict[str, list[Write]] = {}
        for write in writes:
            value = key_of(write.record)
            if value:
                by_value.setdefault(str(value), []).append(write)
        if not by_value:
            return {}
        rows = self._where_in(ENTITY_NAME[entity], field, list(by_value), NAME_CHUNK)
        # An active record beats an inactive one of the same name; a voided document never counts.
        rows = [r for r in rows if not is_voided(r)]
        rows.sort(key=lambda r: not r.get("Active", True))
        records = self._records(entity, rows)
        out: dict[str, RemoteRecord] = {}
        for row, record in zip(rows, records, strict=True):
            for write in by_value.get(str(row.get(field)), []):
                out.setdefault(write.key, record)
        return out

    def _find_payments(self, writes: Sequence[Write]) -> dict[str, RemoteRecord]:
        candidates = [(w, w.record) for w in writes if isinstance(w.record, Payment)]
        if not candidates:
            return {}
        self._ensure_home_currency()
        self._ensure_invoices(a.invoice_id for _, p in candidates for a in p.allocations)
        dates = [p.date for _, p in candidates]
        rows = self._select_all(
            "Payment",
            f"TxnDate >= {quote(min(dates).isoformat())} AND TxnDate <= {quote(max(dates).isoformat())}",
        )
        records = self._records(Entity.PAYMENT, [r for r in rows if not is_voided(r)])
        out: dict[str, RemoteRecord] = {}
        claimed: set[str] = set()
        for write, payment in candidates:
            try:
                customer: str | None = payment_customer(payment, self.refs)
            except MappingError:
                customer = None
            wanted = sorted((a.invoice_id, a.amount) for a in payment.allocations)
            for remote in records:
                found = remote.record
                assert isinstance(found, Payment)
                if remote.remote_id in claimed:
                    continue
                if (
                    found.amount == payment.amount
                    and parse_date(found.date) == payment.date
                    and (found.reference or None) == (payment.reference or None)
                    and (customer is None or found.contact_id == customer)
                    and sorted((a.invoice_id, a.amount) for a in found.allocations) == wanted
                ):
                    out[write.key] = remote
                    claimed.add(remote.remote_id)
                    break
        return out

    def close(self) -> None:
        self.client.close()


def _same_content(remote: Record, wanted: Record) -> bool:
    """Whether the platform's copy already says what the write would (ignoring ids and computed fields)."""
    return type(remote) is type(wanted) and remote.hash_view() == wanted.hash_view()


def _key(a: Allocation) -> tuple[str, Decimal]:
    return (a.invoice_id, a.amount)


def _without(wanted: Sequence[Allocation], held: Sequence[Allocation]) -> list[Allocation]:
    """`wanted` less what `held` already applies (equal invoice and amount, one for one)."""
    left = list(held)
    out: list[Allocation] = []
    for alloc in wanted:
        if alloc in left:
            left.remove(alloc)
        else:
            out.append(alloc)
    return out
