"""MyobProvider: the Provider protocol over the MYOB Business API (pull, fetch, push, find, remove, restore).

What is MYOB's own, and how it is met:
- No batch endpoint: one record per call (batch_size 1), paced to 8 calls a second per API key by the budget.
- Every update names the record's RowVersion (and each line's): the record is read, changed and written back
  (two calls); a RowVersion that moved since the last pull is refused by MYOB with 409 (CONFLICT).
- No idempotency key: a create is found again by what MYOB keeps unique (a contact's card ID, an invoice's and a
  credit's number) or by a receipt number made from the write's key (payments, looked up before each create:
  one extra call per payment). A create whose answer was lost is not resent blind (see errors.py).
- Payments cannot be edited (no PUT): the engine deletes and enters them again (payments_editable False).
- Customer credit is a negative sale (Status Credit), as AccountRight makes of an overpayment (mapping.py).
- No delete feed: a pull lists every id of the entity at most every `delete_check_seconds` (default an hour, one
  call per 1,000 records: 25 calls for 25,000 invoices) and reports the ids gone since the last list as deleted.
  The ids seen are kept in the cursor (16 bytes each), so the comparison survives restarts."""

from __future__ import annotations

import base64
import dataclasses
import datetime as dt
import json
import time
import uuid
from collections.abc import Callable, Iterator, Mapping, Sequence
from typing import Any

import httpx

from ledgersync.model import (
    Bill,
    BillPayment,
    Contact,
    ContactStatus,
    CustomerCredit,
    Entity,
    ErrorCode,
    Invoice,
    InvoiceStatus,
    Item,
    Payment,
    PaymentStatus,
    ProviderError,
    PurchaseOrder,
    PurchaseOrderStatus,
    Supplier,
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
from ledgersync.providers.myob.client import MyobClient, myob_policies
from ledgersync.providers.myob.config import DEFAULT_CADENCE_SECONDS, MyobConfig
from ledgersync.providers.myob.errors import unknown_reference
from ledgersync.providers.myob.mapping import (
    ITEM_INVOICE,
    RESOURCE,
    SERVICE_INVOICE,
    Defaults,
    MappingError,
    Refs,
    card_id,
    contact_to_myob,
    credit_to_myob,
    deleted_stub,
    from_myob,
    invoice_to_myob,
    is_credit,
    item_to_myob,
    parse_stamp,
    payment_to_myob,
    tag,
    to_stamp,
    unknown_account,
    unknown_tax_code,
)
from ledgersync.providers.myob.oauth import MyobOAuth
from ledgersync.providers.myob.vendor_mapping import (
    SERVICE_BILL,
    SERVICE_ORDER,
    SUPPLIER,
    SUPPLIER_PAYMENT,
    VENDOR_ENTITIES,
    VENDOR_RESOURCE,
    bill_payment_to_myob,
    bill_to_myob,
    purchase_order_to_myob,
    supplier_card_id,
    supplier_to_myob,
    vendor_deleted,
    vendor_from_myob,
)

ENTITIES = (Entity.CONTACT, Entity.ITEM, Entity.INVOICE, Entity.PAYMENT, Entity.CREDIT)
# Purchase orders go to MYOB only (the platform's own stay there), as on Xero.
PULLED_VENDOR = tuple(e for e in VENDOR_ENTITIES if e is not Entity.PURCHASE_ORDER)

MYOB_CAPABILITIES = Capabilities(
    display_name="MYOB",
    live_updates=False,
    contacts_both_ways=True,
    payments_both_ways=True,
    purchase_orders_and_bills=True,
    products=True,
    classes_or_tracking=True,
    sub_customers=False,
    zero_invoices=True,
    tax_groups=False,
    overpayments=True,
    split_payments=False,
    one_payment_many_invoices=True,
    moved_payments=False,
    refunds=False,
    void_and_delete=True,
    payments_editable=False,
    payment_holds_credit=False,
    initial_import_export=True,
    name_rules=(
        # AccountRight's card and item fields (UNVERIFIED against the API, which publishes no lengths).
        NameRule(
            Entity.CONTACT,
            "name",
            "Card name",
            max_length=50,
            no_control_characters=True,
            source="AccountRight card file: company name 50 characters (UNVERIFIED)",
        ),
        NameRule(
            Entity.ITEM,
            "code",
            "Item number",
            max_length=30,
            no_control_characters=True,
            source="AccountRight items: item number 30 characters (UNVERIFIED)",
        ),
        NameRule(
            Entity.ITEM,
            "name",
            "Item name",
            max_length=30,
            no_control_characters=True,
            source="AccountRight items: item name 30 characters (UNVERIFIED)",
        ),
    ),
    # A MYOB company card holds one contact person (ContactName) and no account number, currency or parent;
    # a service sale's lines name no item, and a sale carries one category, not one per line.
    unheld_fields=frozenset(
        {"first_name", "last_name", "account_number", "currency", "parent_id", "lines.item_code", "lines.tracking"}
    ),
    batch_size=1,
    page_size=1000,
    default_sync_seconds=DEFAULT_CADENCE_SECONDS,
    pull_entities=(*ENTITIES, *PULLED_VENDOR),
    push_entities=(*ENTITIES, *VENDOR_ENTITIES),
    notes={
        "refunds": "Not built: MYOB keeps credit as a negative sale, refunds it with Sale/CreditRefund and applies "
        "it with Sale/CreditSettlement; credit notes, their allocations and refunds do not sync with MYOB yet.",
        "live_updates": "MYOB has no webhooks: changes are read by LastModified, hourly by default "
        "(default_sync_seconds; a connection's own schedule changes it), and Sync now reads them at once.",
        "deletes": "MYOB has no delete feed: every id is listed at most hourly (delete_check_seconds), one call "
        "per 1,000 records, and ids gone since the last list are reported deleted.",
        "payments": "Payments can't be edited in MYOB: a changed payment is deleted and entered again.",
        "writes": "One record per call (no batch endpoint), 8 calls a second per API key; an update reads the "
        "record first for its RowVersion (two calls).",
        "credit": "Customer credit is held as a negative sale (Status Credit) whose line posts to the deposit account.",
        "suppliers": "A supplier is a supplier card (Contact/Supplier); one made here has the card ID 'S:<app id>' "
        "(or a tag of it), card IDs being unique across customers and suppliers.",
        "bills": "Purchase orders and bills are service purchases (lines with an account and an amount); a bill made "
        "from an order names it (Bill.Order), which converts the order to a bill in MYOB. Bill payments are "
        "supplier payments, which MYOB can't edit: a change is refused with the fix (delete it and enter it "
        "again).",
        "sales_receipts": "Not supported by MYOB: it has no sales receipt record; a sale paid on the spot is an "
        "invoice with a payment.",
    },
)

FILTER_CHUNK = 20
_NOT_SYNCED = "MYOB does not sync {}"


def _or(field: str, values: Sequence[str], kind: str = "") -> str:
    def literal(v: str) -> str:
        text = v.replace("'", "''")
        return f"guid'{text}'" if kind == "guid" else f"'{text}'"

    return " or ".join(f"{field} eq {literal(v)}" for v in values)


def _chunks(items: Sequence[str], size: int) -> Iterator[Sequence[str]]:
    for start in range(0, len(items), size):
        yield items[start : start + size]


# ------------------------------------------------------------------------------------------------- cursors
def encode_ids(ids: set[str]) -> str:
    raw = b"".join(sorted(uuid.UUID(i).bytes for i in ids))
    return base64.b64encode(raw).decode()


def decode_ids(text: str) -> set[str]:
    raw = base64.b64decode(text.encode())
    return {str(uuid.UUID(bytes=raw[i : i + 16])) for i in range(0, len(raw), 16)}


def cursor_stamp(cursor: str) -> dt.datetime | None:
    """The LastModified a MYOB cursor has reached (the order of cursors)."""
    data = json.loads(cursor)
    return parse_stamp(data.get("t"))


def _encode_cursor(stamp: str | None, swept: float | None, ids: set[str] | None) -> str:
    return json.dumps({"t": stamp, "swept": swept, "ids": encode_ids(ids) if ids is not None else None})


def _decode_cursor(cursor: str | None) -> tuple[str | None, float | None, set[str] | None]:
    if cursor is None:
        return None, None, None
    try:
        data = json.loads(cursor)
        ids = decode_ids(data["ids"]) if data.get("ids") is not None else None
        return data.get("t"), data.get("swept"), ids
    except (ValueError, KeyError, TypeError) as exc:
        raise ProviderError(
            SyncError(
                code=ErrorCode.VALIDATION,
                message="The saved MYOB sync position is not one this connector wrote.",
                hint="Reset the sync position for this record type to re-read everything deliberately.",
            )
        ) from exc


class MyobProvider:
    """A connection to one MYOB business, with its settings as MyobConfig."""

    capabilities: Capabilities = MYOB_CAPABILITIES

    def __init__(
        self,
        config: ProviderConfig | Mapping[str, Any],
        tenant_id: str,
        tokens: TokenStore,
        *,
        transport: httpx.BaseTransport | None = None,
        budget: BudgetBackend | None = None,
        sleep: Callable[[float], None] | None = None,
        clock: Callable[[], float] = time.time,
    ) -> None:
        cfg = MyobConfig.coerce(config)
        self.config = cfg
        self.business_id = tenant_id.lower()
        self.oauth = MyobOAuth(cfg, transport=transport)
        self.page_size = cfg.page_size
        self.lookback = dt.timedelta(seconds=cfg.lookback_seconds)
        self.defaults = Defaults(
            income_account=cfg.income_account,
            deposit_account=cfg.deposit_account,
            tax_code=cfg.tax_code,
            no_tax_code=cfg.no_tax_code,
            expense_account=cfg.expense_account,
            currency=cfg.home_currency,
            category_codes=dict(cfg.category_codes),
        )
        self._refs: Refs | None = None
        self._clock = clock
        self.on_call: Callable[[CallInfo], None] | None = None
        extra: dict[str, Any] = {"sleep": sleep} if sleep is not None else {}
        self.client = MyobClient(
            self.business_id,
            tokens,
            self.oauth,
            budget=budget,
            policies=myob_policies(per_second=cfg.per_second, per_day=cfg.per_day),
            transport=transport,
            timeout=cfg.timeout,
            max_attempts=cfg.max_attempts,
            max_retry_seconds=cfg.max_retry_seconds,
            on_call=self._relay_call,
            **extra,
        )
        if cfg.batch_size != MYOB_CAPABILITIES.batch_size:
            self.capabilities = dataclasses.replace(MYOB_CAPABILITIES, batch_size=cfg.batch_size)

    def _relay_call(self, info: CallInfo) -> None:
        if self.on_call is not None:
            self.on_call(info)

    # ------------------------------------------------------------ reference lists
    def refs(self) -> Refs:
        """Accounts, tax codes and categories of the company file, read once per provider (three calls)."""
        if self._refs is None:
            refs = Refs()
            for rec in self._all("GeneralLedger/Account"):
                refs.accounts[str(rec["DisplayID"])] = rec
            for rec in self._all("GeneralLedger/TaxCode"):
                refs.taxes[str(rec["Code"])] = rec
            for rec in self._all("GeneralLedger/Category"):
                refs.categories[str(rec["DisplayID"])] = rec
            self._refs = refs
        return self._refs

    def _page(self, resource: str, params: Mapping[str, str]) -> Mapping[str, Any]:
        data = self.client.get(resource, params=params)
        return data if isinstance(data, Mapping) else {}

    def _all(self, resource: str, filter_: str | None = None) -> Iterator[dict[str, Any]]:
        skip = 0
        while True:
            params = {"$top": str(self.page_size), "$skip": str(skip)}
            if filter_:
                params["$filter"] = filter_
            data = self._page(resource, params)
            items = list(data.get("Items") or [])
            yield from items
            if not data.get("NextPageLink") or not items:
                return
            skip += len(items)

    def _wanted(self, entity: Entity, data: Mapping[str, Any]) -> bool:
        if entity is Entity.INVOICE:
            return not is_credit(data)
        if entity is Entity.CREDIT:
            return is_credit(data)
        return True

    def _record(self, entity: Entity, data: Mapping[str, Any]) -> RemoteRecord:
        if entity in VENDOR_ENTITIES:
            record, archived, doc, external = vendor_from_myob(entity, data, self.refs(), self.defaults)
            return RemoteRecord(
                entity=entity,
                remote_id=str(data["UID"]),
                version=str(data.get("RowVersion") or ""),
                record=record,
                updated_at=(parse_stamp(data.get("LastModified")) or dt.datetime(1970, 1, 1)).replace(tzinfo=dt.UTC),
                archived=archived,
                doc_number=doc,
                external_id=external,
            )
        return from_myob(entity, data, self.refs(), self.defaults)

    def _deleted(self, entity: Entity, remote_id: str) -> RemoteRecord:
        if entity in VENDOR_ENTITIES:
            return RemoteRecord(
                entity=entity,
                remote_id=remote_id,
                version="deleted",
                record=vendor_deleted(entity, remote_id),
                archived=entity is Entity.SUPPLIER,
                deleted=True,
            )
        return deleted_stub(entity, remote_id)

    def _resource(self, entity: Entity) -> str:
        if entity in VENDOR_RESOURCE:
            return VENDOR_RESOURCE[entity]
        try:
            return RESOURCE[entity]
        except KeyError:
            raise ValueError(_NOT_SYNCED.format(entity.value)) from None

    # ------------------------------------------------------------ reads
    def pull(self, entity: Entity, cursor: str | None, resume: str | None = None) -> Iterator[PullPage]:
        resource = self._resource(entity)
        stamp, swept, ids = _decode_cursor(cursor)
        state: dict[str, Any] = json.loads(resume) if resume else {"phase": "delta", "after": None, "skip": 0}
        full_read = stamp is None
        seen: set[str] = set(ids or ())
        newest = parse_stamp(stamp)
        now = self._clock()
        sweep_due = ids is not None and (
            swept is None or self.config.delete_check_seconds == 0 or now - swept >= self.config.delete_check_seconds
        )
        if state["phase"] == "delta":
            since = (newest - self.lookback) if newest is not None else None
            while True:
                params = {"$orderby": "LastModified asc,UID asc", "$top": str(self.page_size)}
                if state["after"]:
                    params["$filter"] = f"LastModified ge datetime'{state['after']}'"
                    params["$skip"] = str(state["skip"])
                elif since is not None:
                    params["$filter"] = f"LastModified gt datetime'{to_stamp(since)}'"
                data = self._page(resource, params)
                items = list(data.get("Items") or [])
                records = []
                for item in items:
                    modified = parse_stamp(item.get("LastModified"))
                    if modified is not None and (newest is None or modified > newest):
                        newest = modified
                    if self._wanted(entity, item):
                        seen.add(str(item["UID"]).lower())
                        records.append(self._record(entity, item))
                if items:
                    last = str(items[-1].get("LastModified"))
                    equal = sum(1 for i in items if str(i.get("LastModified")) == last)
                    state = {
                        "phase": "delta",
                        "after": last,
                        "skip": (int(state["skip"]) + equal) if last == state["after"] else equal,
                    }
                more = bool(data.get("NextPageLink")) and bool(items)
                last_page = not more
                new_swept = now if (full_read and last_page) else swept
                new_ids: set[str] | None = seen if (ids is not None or full_read) else None
                page_cursor = _encode_cursor(to_stamp(newest) if newest else None, new_swept, new_ids)
                if more:
                    yield PullPage(records, page_cursor, json.dumps(state))
                    continue
                if sweep_due:
                    yield PullPage(records, page_cursor, json.dumps({"phase": "sweep"}))
                    break
                yield PullPage(records, page_cursor, None)
                return
        # The delete check: every id now, against every id seen before.
        current = {str(item["UID"]).lower() for item in self._all(resource) if self._wanted(entity, item)}
        gone = sorted(seen - current)
        final = _encode_cursor(to_stamp(newest) if newest else None, now, current)
        yield PullPage([self._deleted(entity, g) for g in gone], final, None)

    def fetch(self, entity: Entity, remote_ids: Sequence[str]) -> list[RemoteRecord]:
        resource = self._resource(entity)
        ids = list(dict.fromkeys(i.lower() for i in remote_ids))
        out: list[RemoteRecord] = []
        for chunk in _chunks(ids, FILTER_CHUNK):
            for item in self._all(resource, _or("UID", chunk, "guid")):
                if self._wanted(entity, item):
                    out.append(self._record(entity, item))
        return out

    def _current(self, resource: str, remote_id: str) -> dict[str, Any] | None:
        data = self._page(resource, {"$filter": _or("UID", [remote_id], "guid")})
        items = list(data.get("Items") or [])
        return dict(items[0]) if items else None

    # ------------------------------------------------------------ writes
    def push(self, entity: Entity, writes: Sequence[Write]) -> list[WriteResult]:
        if len(writes) > self.capabilities.batch_size:
            raise ValueError(f"at most {self.capabilities.batch_size} writes per push")
        return [self._push_one(entity, write) for write in writes]

    def _push_one(self, entity: Entity, write: Write) -> WriteResult:
        try:
            if entity is Entity.CONTACT:
                return self._write_contact(write)
            if entity is Entity.ITEM:
                return self._write_item(write)
            if entity is Entity.INVOICE:
                return self._write_invoice(write)
            if entity is Entity.PAYMENT:
                return self._write_payment(write)
            if entity is Entity.CREDIT:
                return self._write_credit(write)
            if entity is Entity.SUPPLIER:
                return self._write_supplier(write)
            if entity in (Entity.PURCHASE_ORDER, Entity.BILL):
                return self._write_purchase(entity, write)
            if entity is Entity.BILL_PAYMENT:
                return self._write_bill_payment(write)
            raise ValueError(_NOT_SYNCED.format(entity.value))
        except MappingError as exc:
            return WriteResult(write.key, error=exc.error)
        except ProviderError as exc:
            if exc.error.code in TRANSIENT or exc.error.code in AUTH:
                raise
            return WriteResult(write.key, error=self._named_code(exc.error))

    def _named_code(self, error: SyncError) -> SyncError:
        """MYOB's refusal of an account or tax code UID, named by the code the company file's lists knew it by
        (the lists are read again on the next use: the one they hold is out of date)."""
        if error.code is not ErrorCode.UNKNOWN_CODE or self._refs is None:
            return error
        ref = unknown_reference(error.platform_message or "")
        known = self._refs.code_of_uid(ref[1]) if ref is not None else None
        self._refs = None
        if known is None:
            return error
        what, code = known
        named = unknown_account(code) if what == "account" else unknown_tax_code(code)
        words = {"platform_code": error.platform_code, "platform_message": error.platform_message}
        return named.model_copy(update=words)

    def _created(self, entity: Entity, data: Any, write: Write) -> WriteResult:
        if not isinstance(data, Mapping) or not data.get("UID"):
            raise ProviderError(
                SyncError(
                    code=ErrorCode.UNKNOWN_OUTCOME,
                    message="MYOB answered without the record, so we don't know whether it was saved.",
                    hint="It is checked in MYOB before being retried; nothing needs doing.",
                )
            )
        return WriteResult(write.key, remote=self._record(entity, data))

    def _replayed(self, entity: Entity, write: Write, exc: ProviderError) -> WriteResult:
        """A create refused because its unique key is taken: the first attempt of the same write landed (its
        answer was lost, or this is a replay), or someone else holds the key."""
        if exc.error.code is not ErrorCode.DUPLICATE_NUMBER:
            raise exc
        found = self.find(entity, [write])
        if write.key in found:
            return WriteResult(write.key, remote=found[write.key])
        raise exc

    def _update(self, resource: str, write: Write, body: dict[str, Any], entity: Entity) -> WriteResult:
        assert write.remote_id is not None
        body["UID"] = write.remote_id
        body["RowVersion"] = write.remote_version or body.get("RowVersion")
        for key in ("URI", "LastModified", "Created", "CurrentBalance"):
            body.pop(key, None)
        data = self.client.request("PUT", f"{resource}/{write.remote_id}", body=body)
        return self._created(entity, data, write)

    def _write_contact(self, write: Write) -> WriteResult:
        record = write.record
        assert isinstance(record, Contact)
        resource = "Contact/Customer"
        if write.remote_id is None:
            try:
                data = self.client.request("POST", resource, body=contact_to_myob(record, write.key))
            except ProviderError as exc:
                return self._replayed(Entity.CONTACT, write, exc)
            return self._created(Entity.CONTACT, data, write)
        current = self._current(resource, write.remote_id)
        if current is None:
            return WriteResult(write.key, error=_gone("contact"))
        return self._update(resource, write, contact_to_myob(record, write.key, current), Entity.CONTACT)

    def _write_item(self, write: Write) -> WriteResult:
        record = write.record
        assert isinstance(record, Item)
        resource = "Inventory/Item"
        if write.remote_id is None:
            try:
                data = self.client.request("POST", resource, body=item_to_myob(record, self.refs(), self.defaults))
            except ProviderError as exc:
                return self._replayed(Entity.ITEM, write, exc)
            return self._created(Entity.ITEM, data, write)
        current = self._current(resource, write.remote_id)
        if current is None:
            return WriteResult(write.key, error=_gone("item"))
        return self._update(resource, write, item_to_myob(record, self.refs(), self.defaults, current), Entity.ITEM)

    def _write_invoice(self, write: Write) -> WriteResult:
        record = write.record
        assert isinstance(record, Invoice)
        if write.remote_id is None:
            body = invoice_to_myob(record, self.refs(), self.defaults)
            try:
                data = self.client.request("POST", SERVICE_INVOICE, body=body)
            except ProviderError as exc:
                return self._replayed(Entity.INVOICE, write, exc)
            return self._created(Entity.INVOICE, data, write)
        current = self._current("Sale/Invoice", write.remote_id)
        if current is None:
            return WriteResult(write.key, error=_gone("invoice"))
        if current.get("InvoiceType") not in (None, "Service"):
            raise MappingError(
                SyncError(
                    code=ErrorCode.VALIDATION,
                    message=f"This is an {current.get('InvoiceType')} invoice in MYOB; only service invoices are "
                    "updated from the app.",
                    hint="Change it in MYOB, or skip.",
                )
            )
        body = invoice_to_myob(record, self.refs(), self.defaults, current)
        return self._update(SERVICE_INVOICE, write, body, Entity.INVOICE)

    def _customer_of(self, payment: Payment) -> str:
        if payment.contact_id:
            return payment.contact_id
        refs = self.refs()
        first = payment.allocations[0].invoice_id if payment.allocations else ""
        if first not in refs.invoice_customers:
            invoice = self._current("Sale/Invoice", first) if first else None
            if invoice is None:
                raise MappingError(_gone("invoice"))
            refs.invoice_customers[first] = str((invoice.get("Customer") or {}).get("UID"))
        return refs.invoice_customers[first]

    def _write_payment(self, write: Write) -> WriteResult:
        record = write.record
        assert isinstance(record, Payment)
        if record.status is PaymentStatus.DELETED:
            return self.remove(Entity.PAYMENT, write)
        if write.remote_id is not None:
            return WriteResult(
                write.key,
                error=SyncError(
                    code=ErrorCode.VALIDATION,
                    message="MYOB does not let a recorded payment be changed.",
                    hint="Delete the payment in MYOB (or here) and record it again, or skip.",
                ),
            )
        receipt = tag(write.idempotency_key)
        # MYOB takes no idempotency key: a payment already entered under this write's receipt number is the
        # answer (one call per payment; duplicate payments are not refused by MYOB).
        found = self._find_payments([write])
        if write.key in found:
            return WriteResult(write.key, remote=found[write.key])
        body = payment_to_myob(record, self._customer_of(record), receipt, self.refs(), self.defaults)
        data = self.client.request("POST", "Sale/CustomerPayment", body=body)
        return self._created(Entity.PAYMENT, data, write)

    def _write_credit(self, write: Write) -> WriteResult:
        record = write.record
        assert isinstance(record, CustomerCredit)
        if write.remote_id is not None:
            return WriteResult(
                write.key,
                error=SyncError(
                    code=ErrorCode.VALIDATION,
                    message="A customer credit recorded in MYOB is not changed from the app.",
                    hint="Settle or refund the credit in MYOB, or skip.",
                ),
            )
        body = credit_to_myob(record, tag(write.idempotency_key), self.refs(), self.defaults)
        try:
            data = self.client.request("POST", SERVICE_INVOICE, body=body)
        except ProviderError as exc:
            return self._replayed(Entity.CREDIT, write, exc)
        return self._created(Entity.CREDIT, data, write)

    # ------------------------------------------------------------ the vendor side
    def _write_supplier(self, write: Write) -> WriteResult:
        record = write.record
        assert isinstance(record, Supplier)
        if write.remote_id is None:
            try:
                data = self.client.request("POST", SUPPLIER, body=supplier_to_myob(record, write.key))
            except ProviderError as exc:
                return self._replayed(Entity.SUPPLIER, write, exc)
            return self._created(Entity.SUPPLIER, data, write)
        current = self._current(SUPPLIER, write.remote_id)
        if current is None:
            return WriteResult(write.key, error=_gone("supplier"))
        return self._update(SUPPLIER, write, supplier_to_myob(record, write.key, current), Entity.SUPPLIER)

    def _write_purchase(self, entity: Entity, write: Write) -> WriteResult:
        """A purchase order or bill, as a service purchase (Purchase/Order/Service, Purchase/Bill/Service)."""
        record = write.record
        order = entity is Entity.PURCHASE_ORDER
        resource, what = (SERVICE_ORDER, "purchase order") if order else (SERVICE_BILL, "bill")

        def body_of(current: Mapping[str, Any] | None) -> dict[str, Any]:
            if isinstance(record, PurchaseOrder):
                return purchase_order_to_myob(record, self.refs(), self.defaults, current)
            assert isinstance(record, Bill)
            return bill_to_myob(record, self.refs(), self.defaults, current)

        if write.remote_id is None:
            try:
                data = self.client.request("POST", resource, body=body_of(None))
            except ProviderError as exc:
                return self._replayed(entity, write, exc)
            return self._created(entity, data, write)
        current = self._current(VENDOR_RESOURCE[entity], write.remote_id)
        if current is None:
            return WriteResult(write.key, error=_gone(what))
        kind = current.get("OrderType" if order else "BillType")
        if kind not in (None, "Service"):
            raise MappingError(
                SyncError(
                    code=ErrorCode.VALIDATION,
                    message=f"This is an {kind} {what} in MYOB; only service ones are updated from the app.",
                    hint="Change it in MYOB, or skip.",
                )
            )
        return self._update(resource, write, body_of(current), entity)

    def _supplier_of(self, payment: BillPayment) -> str:
        if payment.supplier_id:
            return payment.supplier_id
        first = payment.allocations[0].bill_id if payment.allocations else ""
        bill = self._current("Purchase/Bill", first) if first else None
        if bill is None:
            raise MappingError(_gone("bill"))
        return str((bill.get("Supplier") or {}).get("UID"))

    def _write_bill_payment(self, write: Write) -> WriteResult:
        record = write.record
        assert isinstance(record, BillPayment)
        if record.status is PaymentStatus.DELETED:
            return self.remove(Entity.BILL_PAYMENT, write)
        if write.remote_id is not None:
            return WriteResult(
                write.key,
                error=SyncError(
                    code=ErrorCode.VALIDATION,
                    message="MYOB does not let a recorded supplier payment be changed.",
                    hint="Delete the payment in MYOB (or here) and record it again, or skip.",
                ),
            )
        # No idempotency key: a supplier payment already entered under this write's payment number is the answer.
        found = self._find_by(
            SUPPLIER_PAYMENT, Entity.BILL_PAYMENT, "PaymentNumber", {tag(write.idempotency_key).lower(): write}
        )
        if write.key in found:
            return WriteResult(write.key, remote=found[write.key])
        body = bill_payment_to_myob(
            record, self._supplier_of(record), tag(write.idempotency_key), self.refs(), self.defaults
        )
        data = self.client.request("POST", SUPPLIER_PAYMENT, body=body)
        return self._created(Entity.BILL_PAYMENT, data, write)

    def _remove_vendor(self, entity: Entity, write: Write) -> None:
        assert write.remote_id is not None
        if entity is Entity.BILL_PAYMENT:
            self.client.request("DELETE", f"{SUPPLIER_PAYMENT}/{write.remote_id}", allow_not_found=True)
            return
        current = self._current(VENDOR_RESOURCE[entity], write.remote_id)
        if current is None:
            return
        family = "Purchase/Order" if entity is Entity.PURCHASE_ORDER else "Purchase/Bill"
        kind = current.get("OrderType" if entity is Entity.PURCHASE_ORDER else "BillType") or "Service"
        kind = "Item" if kind == "Item" else "Service"
        self.client.request("DELETE", f"{family}/{kind}/{write.remote_id}", allow_not_found=True)

    # ------------------------------------------------------------ removals
    def remove(self, entity: Entity, write: Write) -> WriteResult:
        if not write.remote_id:
            return WriteResult(
                write.key,
                error=SyncError(
                    code=ErrorCode.NOT_FOUND,
                    message="This record was never created in MYOB, so there is nothing to remove there.",
                    hint="Skip it.",
                ),
            )
        try:
            if entity in (Entity.CONTACT, Entity.SUPPLIER):
                return self._set_active(write, False)
            if entity in (Entity.PURCHASE_ORDER, Entity.BILL, Entity.BILL_PAYMENT):
                self._remove_vendor(entity, write)
            elif entity in (Entity.INVOICE, Entity.CREDIT):
                current = self._current("Sale/Invoice", write.remote_id)
                if current is not None:
                    kind = ITEM_INVOICE if current.get("InvoiceType") == "Item" else SERVICE_INVOICE
                    self.client.request("DELETE", f"{kind}/{write.remote_id}", allow_not_found=True)
            elif entity is Entity.PAYMENT:
                self.client.request("DELETE", f"Sale/CustomerPayment/{write.remote_id}", allow_not_found=True)
            elif entity is Entity.ITEM:
                self.client.request("DELETE", f"Inventory/Item/{write.remote_id}", allow_not_found=True)
            else:
                raise ValueError(_NOT_SYNCED.format(entity.value))
        except ProviderError as exc:
            if exc.error.code in TRANSIENT or exc.error.code in AUTH:
                raise
            return WriteResult(write.key, error=exc.error)
        return WriteResult(write.key, remote=self._removed(entity, write))

    def _removed(self, entity: Entity, write: Write) -> RemoteRecord:
        assert write.remote_id is not None
        record = write.record.model_copy(update={"id": write.remote_id})
        if isinstance(record, Invoice):
            record = record.model_copy(update={"status": InvoiceStatus.DELETED})
        elif isinstance(record, (Payment, BillPayment)):
            record = record.model_copy(update={"status": PaymentStatus.DELETED})
        elif isinstance(record, Bill):
            record = record.model_copy(update={"status": InvoiceStatus.DELETED})
        elif isinstance(record, PurchaseOrder):
            record = record.model_copy(update={"status": PurchaseOrderStatus.DELETED})
        return RemoteRecord(entity=entity, remote_id=write.remote_id, version="deleted", record=record, deleted=True)

    def _set_active(self, write: Write, active: bool) -> WriteResult:
        assert write.remote_id is not None
        supplier = isinstance(write.record, Supplier)
        resource, entity = (SUPPLIER, Entity.SUPPLIER) if supplier else ("Contact/Customer", Entity.CONTACT)
        current = self._current(resource, write.remote_id)
        if current is None:
            return WriteResult(write.key, error=_gone("supplier" if supplier else "contact"))
        body = {**current, "IsActive": active}
        return self._update(resource, dataclasses.replace(write, remote_version=None), body, entity)

    def restore(self, entity: Entity, write: Write) -> WriteResult:
        if entity not in (Entity.CONTACT, Entity.SUPPLIER) or not write.remote_id:
            return WriteResult(
                write.key,
                error=SyncError(code=ErrorCode.VALIDATION, message="Only an inactive MYOB card can be restored."),
            )
        record = write.record
        if isinstance(record, (Contact, Supplier)):
            write = dataclasses.replace(write, record=record.model_copy(update={"status": ContactStatus.ACTIVE}))
        try:
            return self._set_active(write, True)
        except ProviderError as exc:
            if exc.error.code in TRANSIENT or exc.error.code in AUTH:
                raise
            return WriteResult(write.key, error=exc.error)

    # ------------------------------------------------------------ reconciliation
    def find(self, entity: Entity, writes: Sequence[Write]) -> dict[str, RemoteRecord]:
        if not writes:
            return {}
        if entity is Entity.CONTACT:
            keys = {card_id(w.key).lower(): w for w in writes}
            return self._find_by("Contact/Customer", Entity.CONTACT, "DisplayID", keys)
        if entity is Entity.ITEM:
            keys = {str(getattr(w.record, "code", "")).lower(): w for w in writes if getattr(w.record, "code", None)}
            return self._find_by("Inventory/Item", Entity.ITEM, "Number", keys)
        if entity is Entity.INVOICE:
            keys = {
                str(getattr(w.record, "number", "")).lower(): w for w in writes if getattr(w.record, "number", None)
            }
            found = self._find_by("Sale/Invoice", Entity.INVOICE, "Number", keys)
            # The same number on another customer's sale is someone else's document, not our write.
            return {
                k: r
                for k, r in found.items()
                if getattr(r.record, "contact_id", None)
                == getattr(next(w for w in writes if w.key == k).record, "contact_id", None)
            }
        if entity is Entity.CREDIT:
            keys = {tag(w.idempotency_key).lower(): w for w in writes}
            return self._find_by("Sale/Invoice", Entity.CREDIT, "Number", keys)
        if entity is Entity.PAYMENT:
            return self._find_payments(writes)
        if entity is Entity.SUPPLIER:
            keys = {supplier_card_id(w.key).lower(): w for w in writes}
            return self._find_by(SUPPLIER, Entity.SUPPLIER, "DisplayID", keys)
        if entity in (Entity.PURCHASE_ORDER, Entity.BILL):
            keys = {
                str(getattr(w.record, "number", "")).lower(): w for w in writes if getattr(w.record, "number", None)
            }
            found = self._find_by(VENDOR_RESOURCE[entity], entity, "Number", keys)
            # The same number on another supplier's purchase is someone else's document, not our write.
            return {
                k: r
                for k, r in found.items()
                if getattr(r.record, "supplier_id", None)
                == getattr(next(w for w in writes if w.key == k).record, "supplier_id", None)
            }
        if entity is Entity.BILL_PAYMENT:
            keys = {tag(w.idempotency_key).lower(): w for w in writes}
            return self._find_by(SUPPLIER_PAYMENT, Entity.BILL_PAYMENT, "PaymentNumber", keys)
        return {}

    def _find_by(self, resource: str, entity: Entity, field: str, keys: Mapping[str, Write]) -> dict[str, RemoteRecord]:
        out: dict[str, RemoteRecord] = {}
        for chunk in _chunks(list(keys), FILTER_CHUNK):
            for item in self._all(resource, _or(field, chunk)):
                write = keys.get(str(item.get(field) or "").lower())
                if write is not None and write.key not in out and self._wanted(entity, item):
                    out[write.key] = self._record(entity, item)
        return out

    def _find_payments(self, writes: Sequence[Write]) -> dict[str, RemoteRecord]:
        keys = {tag(w.idempotency_key).lower(): w for w in writes}
        return self._find_by("Sale/CustomerPayment", Entity.PAYMENT, "ReceiptNumber", keys)

    def close(self) -> None:
        self.client.close()


def _gone(what: str) -> SyncError:
    return SyncError(
        code=ErrorCode.NOT_FOUND,
        message=f"The {what} was not found in MYOB.",
        hint="It may have been deleted in MYOB; relink it or skip.",
    )


__all__ = ["MYOB_CAPABILITIES", "MyobProvider", "cursor_stamp"]
