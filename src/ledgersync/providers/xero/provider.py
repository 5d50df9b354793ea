"""XeroProvider: the Provider protocol over Xero's Accounting API (pull, fetch, push, find, remove)."""

from __future__ import annotations

import dataclasses
import datetime as dt
import functools
import json
from collections.abc import Callable, Iterator, Mapping, Sequence
from decimal import Decimal
from typing import Any

import httpx

from ledgersync.model import (
    Allocation,
    BillPayment,
    CreditNote,
    Entity,
    ErrorCode,
    Payment,
    ProviderError,
    Refund,
    SyncError,
)
from ledgersync.model.errors import AUTH, TRANSIENT
from ledgersync.providers.base import (
    CallInfo,
    Capabilities,
    Head,
    MappedOnRead,
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
from ledgersync.providers.util import PullWindow, chunks, parse_cursor
from ledgersync.providers.xero.attachments import XERO_ATTACHMENTS, XeroAttachments
from ledgersync.providers.xero.client import XeroClient, idempotency_key_for, xero_policies
from ledgersync.providers.xero.config import XeroConfig
from ledgersync.providers.xero.errors import element_error, unknown_outcome
from ledgersync.providers.xero.mapping import (
    BATCH_PREFIX,
    COLLECTION,
    ID_FIELD,
    MappingError,
    allocation_ids,
    allocations_to_xero,
    batch_from_xero,
    batch_to_xero,
    from_xero,
    head_of,
    is_batch,
    parse_date,
    parse_datetime,
    to_xero,
)
from ledgersync.providers.xero.oauth import XeroOAuth
from ledgersync.providers.xero.vendor_mapping import (
    VENDOR_ENTITIES,
    is_customer_contact,
    supplier_number,
    wanted_vendor,
)

ALL_ENTITIES = (
    Entity.CONTACT,
    Entity.ITEM,
    Entity.INVOICE,
    Entity.PAYMENT,
    Entity.CREDIT,
    Entity.CREDIT_NOTE,
    Entity.REFUND,
    *VENDOR_ENTITIES,
)
# Entities whose payments are read one by one (GET Payments/{id}); contacts read with archived ones too.
_PAYMENT_LIKE = (Entity.PAYMENT, Entity.CREDIT, Entity.BILL_PAYMENT, Entity.REFUND)
_CONTACT_LIKE = (Entity.CONTACT, Entity.SUPPLIER)

XERO_CAPABILITIES = Capabilities(
    display_name="Xero",
    # Xero's API keeps no link from a bill (ACCPAY invoice) to the purchase order it was made from.
    unheld_fields=frozenset({"purchase_order_id"}),
    live_updates=True,
    contacts_both_ways=True,
    payments_both_ways=True,
    purchase_orders_and_bills=True,
    products=True,
    classes_or_tracking=True,
    sub_customers=False,
    zero_invoices=True,
    tax_groups=True,
    overpayments=True,
    split_payments=False,
    one_payment_many_invoices=False,
    moved_payments=False,
    refunds=True,
    credit_note_allocations=True,
    void_and_delete=True,
    payments_editable=False,
    initial_import_export=True,
    # Every five minutes, plus webhooks in between (Xero sends them for the records that changed).
    default_sync_seconds=300,
    attachments=XERO_ATTACHMENTS,
    name_rules=(
        # Lengths from Xero's OpenAPI spec (Contact.Name 255, Item.Code 30, Item.Name 50). Xero's API carries
        # XML, which cannot hold control characters; no other forbidden characters are documented.
        NameRule(
            Entity.CONTACT,
            "name",
            "Contact name",
            max_length=255,
            no_control_characters=True,
            source="xero_accounting.yaml Contact.Name maxLength 255",
        ),
        NameRule(
            Entity.ITEM,
            "code",
            "Item code",
            max_length=30,
            no_control_characters=True,
            source="xero_accounting.yaml Item.Code maxLength 30",
        ),
        NameRule(
            Entity.ITEM,
            "name",
            "Item name",
            max_length=50,
            no_control_characters=True,
            source="xero_accounting.yaml Item.Name maxLength 50",
        ),
    ),
    batch_size=50,
    page_size=1000,
    # Purchase orders go to the platform only (the platform's own stay there): nothing of them is pulled.
    pull_entities=tuple(e for e in ALL_ENTITIES if e is not Entity.PURCHASE_ORDER),
    push_entities=ALL_ENTITIES,
    notes={
        "live_updates": "Webhooks cover contacts and invoices only; payments and items are polled.",
        "payments": "One invoice per payment; a receipt spread over several invoices is refused.",
        "deltas": "Some changes (contact balances, part-paid due dates) do not move UpdatedDateUTC.",
        "suppliers": "A supplier is a Xero contact; one made here carries ContactNumber 'supplier:<id>', since "
        "Xero sets IsSupplier itself once the contact has a bill. A contact that is both is both in the app.",
        "bills": "A bill is an ACCPAY invoice. Xero's API keeps no link from a bill to its purchase order: the "
        "order is marked BILLED and the bill carries the order's number.",
        "currencies": "Only the base currency and those added to the organisation (Settings > Currencies); a "
        "document's currency_rate is Xero's CurrencyRate.",
        "stock": "Stock on hand is read for items Xero tracks as inventory (IsTrackedAsInventory).",
        "attachments": "The app's invoice PDF goes to the invoice's Attachments (a file of the same name replaces "
        "it). 10 MB a file and 10 a document are Xero's pages as integrations quote them, not in its contract "
        "(UNVERIFIED).",
        "credit_notes": "Allocations go both ways (PUT /CreditNotes/{id}/Allocations; one taken off in the app is "
        "deleted there). A credit note with allocations or refunds can't be edited in Xero, only its allocations.",
        "refunds": "A refund is a payment on the credit note (PaymentType ARCREDITPAYMENT), or on the overpayment "
        "that holds customer credit (AROVERPAYMENTPAYMENT), from a bank account; Xero can't edit one, so a changed "
        "refund is deleted and entered again.",
        "sales_receipts": "Not supported by Xero: it has no sales receipt record. A sale paid on the spot is an "
        "invoice with a payment in Xero; a RECEIVE bank transaction would carry no customer balance or number.",
    },
)

_IMMUTABLE_CREDIT = SyncError(
    code=ErrorCode.VALIDATION,
    message="Xero does not let an overpayment (customer credit) be changed once recorded.",
    hint="Allocate or refund the credit in Xero, or skip.",
)

# Xero's refusal of a currency the organisation has not added (the sandbox's wording; see sandbox/xero/currency.py)
# and the fix; Xero has no multicurrency switch: adding a currency is what turns it on.
XERO_CURRENCY_TEXTS = CurrencyTexts(
    platform="Xero",
    not_added="The currency {code} has not been added to this organisation. Add it in Settings > Currencies.",
    fix="Enable {code} in Xero's currency settings (Settings > Currencies > Add Currency), then Retry.",
    home_rate="A {what} in {code}, the organisation's base currency, takes no currency rate (it has {rate}).",
)
# The documents whose currency Xero checks, and how a person calls each.
_CURRENCY_CHECKED = {
    Entity.INVOICE: "invoice",
    Entity.CREDIT_NOTE: "credit note",
    Entity.PAYMENT: "payment",
    Entity.CREDIT: "overpayment",
    Entity.BILL: "bill",
    Entity.PURCHASE_ORDER: "purchase order",
    Entity.BILL_PAYMENT: "bill payment",
}

FETCH_CHUNK = 50
WHERE_CHUNK = 25
# Xero's canonical document types for sales; bills and supplier credits share the endpoints.
_SALES_TYPE = {Entity.INVOICE: "ACCREC", Entity.CREDIT_NOTE: "ACCRECCREDIT"}


def _where_any(field: str, values: Sequence[str]) -> str:
    def quote(value: str) -> str:
        return '"' + value.replace("\\", "\\\\").replace('"', '\\"') + '"'

    return " OR ".join(f"{field}=={quote(v)}" for v in values)


class XeroProvider(XeroAttachments):
    """A connection to one Xero organisation, with its settings as XeroConfig (a mapping of settings is
    validated into one)."""

    capabilities: Capabilities = XERO_CAPABILITIES

    def __init__(
        self,
        config: ProviderConfig | Mapping[str, Any],
        tenant_id: str,
        tokens: TokenStore,
        *,
        transport: httpx.BaseTransport | None = None,
        budget: BudgetBackend | None = None,
        sleep: Callable[[float], None] | None = None,
    ) -> None:
        cfg = XeroConfig.coerce(config)
        self.config = cfg
        self.tenant_id = tenant_id
        self.oauth = XeroOAuth(cfg, transport=transport)
        self.page_size = cfg.page_size
        self.lookback = dt.timedelta(seconds=cfg.lookback_seconds)
        if cfg.batch_size != XERO_CAPABILITIES.batch_size or cfg.page_size != XERO_CAPABILITIES.page_size:
            self.capabilities = dataclasses.replace(
                XERO_CAPABILITIES, batch_size=cfg.batch_size, page_size=cfg.page_size
            )
        self.bank_account = cfg.bank_account_code
        policies = xero_policies(
            concurrent=cfg.max_in_flight,
            per_minute=cfg.per_minute,
            per_day=cfg.per_day,
            app_per_minute=cfg.app_per_minute,
        )
        # Set by the engine after construction; read on every call so a later assignment takes effect.
        self.on_call: Callable[[CallInfo], None] | None = None
        extra: dict[str, Any] = {"sleep": sleep} if sleep is not None else {}
        self.client = XeroClient(
            tenant_id,
            tokens,
            self.oauth,
            budget=budget,
            policies=policies,
            transport=transport,
            timeout=cfg.timeout,
            max_attempts=cfg.max_attempts,
            max_retry_seconds=cfg.max_retry_seconds,
            on_call=self._relay_call,
            **extra,
        )

        self.org = OrgSettingsCache(self.read_org_settings, XERO_CURRENCY_TEXTS)

    def _relay_call(self, info: CallInfo) -> None:
        if self.on_call is not None:
            self.on_call(info)

    # ------------------------------------------------------------ the organisation's settings

    @property
    def org_settings(self) -> OrgSettings | None:
        return self.org.current

    @org_settings.setter
    def org_settings(self, value: OrgSettings | None) -> None:
        self.org.current = value

    def read_org_settings(self) -> OrgSettings:
        """GET /Organisation (BaseCurrency, CountryCode, Name) and GET /Currencies (the base currency and those
        added). Xero has no multicurrency switch: an organisation with a currency added takes it."""
        org = ((self.client.get("Organisation") or {}).get("Organisations") or [{}])[0]
        base = str(org.get("BaseCurrency") or "").upper() or None
        listed = (self.client.get("Currencies") or {}).get("Currencies") or []
        others = tuple(dict.fromkeys(str(c.get("Code") or "").upper() for c in listed if c.get("Code")))
        others = tuple(c for c in others if c != base)
        return OrgSettings(
            home_currency=base,
            currencies=others,
            multicurrency=bool(others),
            name=org.get("Name"),
            country=org.get("CountryCode"),
        )

    def _currency_refusal(self, entity: Entity, record: Any) -> SyncError | None:
        """A document in a currency the organisation has not added, or in the base currency with a rate other
        than 1, is refused here, before it is sent."""
        what = _CURRENCY_CHECKED.get(entity)
        if what is None:
            return None
        return self.org.refusal(getattr(record, "currency", None), getattr(record, "currency_rate", None), what=what)

    # ------------------------------------------------------------ reads

    def _wanted(self, entity: Entity, data: Mapping[str, Any]) -> bool:
        if entity in VENDOR_ENTITIES:
            return wanted_vendor(entity, data)
        if entity is Entity.CONTACT:
            return is_customer_contact(data)
        if entity in _SALES_TYPE:
            return str(data.get("Type") or _SALES_TYPE[entity]) == _SALES_TYPE[entity]
        if entity is Entity.CREDIT:
            return str(data.get("Type") or "RECEIVE-OVERPAYMENT") == "RECEIVE-OVERPAYMENT"
        if entity is Entity.REFUND:
            note = data.get("CreditNote") or {}
            credit = data.get("Overpayment") or {}
            kind = data.get("PaymentType")
            return (bool(note.get("CreditNoteID")) and kind in (None, "ARCREDITPAYMENT")) or (
                bool(credit.get("OverpaymentID")) and kind in (None, "AROVERPAYMENTPAYMENT")
            )
        if entity is Entity.PAYMENT:
            invoice = data.get("Invoice") or {}
            kind = data.get("PaymentType")
            # A payment that is part of a batch is read with its batch (one canonical payment, several invoices).
            return bool(invoice.get("InvoiceID")) and kind in (None, "ACCRECPAYMENT") and not data.get("BatchPaymentID")
        return True

    def _records(self, entity: Entity, items: Sequence[Mapping[str, Any]]) -> list[RemoteRecord]:
        return [from_xero(entity, item) for item in items if self._wanted(entity, item)]

    def _pulled(
        self, entity: Entity, items: Sequence[Mapping[str, Any]], mapped: Sequence[RemoteRecord] = ()
    ) -> MappedOnRead:
        """A pulled page's records (then `mapped`), each mapped only when read: the engine skips our own writes
        coming back by id and version (`head_of`) without mapping them."""
        out: list[RemoteRecord | tuple[Head, Callable[[], RemoteRecord]]] = []
        for item in items:
            if not self._wanted(entity, item):
                continue
            head = head_of(entity, item)
            out.append(from_xero(entity, item) if head is None else (head, functools.partial(from_xero, entity, item)))
        out.extend(mapped)
        return MappedOnRead(out)

    def pull(self, entity: Entity, cursor: str | None, resume: str | None = None) -> Iterator[PullPage]:
        # The cursor is a PullWindow: the newest UpdatedDateUTC seen and the look-back windows still to re-read
        # once (see providers.util.PullWindow). A resumed pull keeps the If-Modified-Since and start it began with.
        position = PullWindow.load(cursor, self.lookback)
        now = dt.datetime.now(dt.UTC)
        if resume:
            state: dict[str, Any] = json.loads(resume)
            started = parse_cursor(state["started"]) if state.get("started") else now
        else:
            since0 = position.since(now)
            state = {"since": since0.isoformat() if since0 else None, "page": 1, "started": now.isoformat()}
            started = now
        since = parse_cursor(state["since"]) if state["since"] is not None else None
        headers: dict[str, str] = {}
        if since is not None:
            headers["If-Modified-Since"] = since.astimezone(dt.UTC).strftime("%Y-%m-%dT%H:%M:%S")
        collection = COLLECTION[entity]
        newest = position.newest
        params: dict[str, str] = {"order": "UpdatedDateUTC ASC"}
        if entity in _CONTACT_LIKE:
            params["includeArchived"] = "true"
        paged = entity is not Entity.ITEM
        page = int(state["page"])
        while True:
            if paged:
                params.update(page=str(page), pageSize=str(self.page_size))
            data = self.client.get(collection, params=params, headers=headers) or {}
            items = data.get(collection) or []
            for item in items:
                stamp = parse_datetime(item.get("UpdatedDateUTC"))
                if stamp is not None and (newest is None or stamp > newest):
                    newest = stamp
            page_count = (data.get("pagination") or {}).get("pageCount")
            last = not paged or not items or (page_count is not None and page >= int(page_count))
            more = None if last else json.dumps({**state, "page": page + 1})
            if since is not None and since == position.newest:
                # A read from the newest stamp gets that whole second again (If-Modified-Since is cut to the
                # second): what is stamped at or before the stamp was read already, or was not visible then and
                # is read by the look-back window it left, so it is not mapped again here.
                items = [i for i in items if (s := parse_datetime(i.get("UpdatedDateUTC"))) is None or s > since]
            in_batches: list[RemoteRecord] = []
            if last and entity is Entity.PAYMENT:
                # Receivable batch payments (not paged), read after the single ones, since the same time.
                batches = (self.client.get("BatchPayments", headers=headers) or {}).get("BatchPayments") or []
                for b in batches:
                    if b.get("Type", "RECBATCH") != "RECBATCH":
                        continue
                    stamp = parse_datetime(b.get("UpdatedDateUTC"))
                    if stamp is not None and (newest is None or stamp > newest):
                        newest = stamp
                    in_batches.append(batch_from_xero(b))
            records = self._pulled(entity, items, in_batches)
            if last:
                saved = position.after_read(newest, since, started, dt.datetime.now(dt.UTC), self.lookback)
            else:
                saved = position.seen(newest)
            yield PullPage(records, saved.dump() if saved.newest else cursor, more)
            if last:
                return
            page += 1

    def _get_all(self, collection: str, params: Mapping[str, str]) -> list[dict[str, Any]]:
        out: list[dict[str, Any]] = []
        page = 1
        while True:
            data = self.client.get(collection, params={**params, "page": str(page)}) or {}
            items = data.get(collection) or []
            out.extend(items)
            page_count = (data.get("pagination") or {}).get("pageCount")
            if not items or page_count is None or page >= int(page_count):
                return out
            page += 1

    def fetch(self, entity: Entity, remote_ids: Sequence[str]) -> list[RemoteRecord]:
        ids = list(dict.fromkeys(remote_ids))
        if not ids:
            return []
        collection = COLLECTION[entity]
        if entity is Entity.ITEM:
            wanted = set(ids)
            data = self.client.get(collection) or {}
            return self._records(entity, [i for i in data.get(collection) or [] if i.get("ItemID") in wanted])
        batches: list[RemoteRecord] = []
        if entity is Entity.PAYMENT:
            for batch_id in [i for i in ids if is_batch(i)]:
                data = self.client.request(
                    "GET", f"BatchPayments/{batch_id[len(BATCH_PREFIX) :]}", allow_not_found=True
                )
                batches.extend(batch_from_xero(b) for b in (data or {}).get("BatchPayments") or [])
            ids = [i for i in ids if not is_batch(i)]
        if entity in _PAYMENT_LIKE:
            found: list[dict[str, Any]] = []
            for payment_id in ids:
                data = self.client.request("GET", f"{collection}/{payment_id}", allow_not_found=True)
                found.extend((data or {}).get(collection) or [])
            return self._records(entity, found) + batches
        records: list[RemoteRecord] = []
        for chunk in chunks(ids, FETCH_CHUNK):
            # A page number makes Xero return full documents (line items included).
            params = {"IDs": ",".join(chunk), "page": "1", "pageSize": str(FETCH_CHUNK)}
            if entity in _CONTACT_LIKE:
                params["includeArchived"] = "true"
            data = self.client.get(collection, params=params) or {}
            records.extend(self._records(entity, data.get(collection) or []))
        return records

    # ------------------------------------------------------------ writes

    def push(self, entity: Entity, writes: Sequence[Write]) -> list[WriteResult]:
        if len(writes) > self.capabilities.batch_size:
            raise ValueError(f"at most {self.capabilities.batch_size} writes per push")
        results: dict[int, WriteResult] = {}
        payloads: list[dict[str, Any]] = []
        positions: list[int] = []
        batched: list[int] = []
        notes: dict[str, dict[str, Any]] = {}
        if entity is Entity.CREDIT_NOTE:
            # Allocations the app took off go first: a credit note with allocations can't be edited in Xero.
            notes = self._unallocate(writes, results)
        for index, write in enumerate(writes):
            if index in results:
                continue
            if entity is Entity.CREDIT_NOTE and _locked_and_same(write, notes.get(write.remote_id or "")):
                # Only its allocations differ: the document itself is not sent (Xero would refuse the edit).
                results[index] = WriteResult(write.key, remote=from_xero(entity, notes[str(write.remote_id)]))
                continue
            if entity in (Entity.PAYMENT, Entity.BILL_PAYMENT, Entity.REFUND) and write.remote_id:
                results[index] = self._update_payment(entity, write)
                continue
            refusal = self._currency_refusal(entity, write.record)
            if refusal is not None:
                results[index] = WriteResult(write.key, error=refusal)
                continue
            if entity is Entity.PAYMENT and isinstance(write.record, Payment) and len(write.record.allocations) > 1:
                batched.append(index)
                continue
            if entity is Entity.CREDIT and write.remote_id:
                results[index] = WriteResult(write.key, error=_IMMUTABLE_CREDIT)
                continue
            try:
                payload = to_xero(
                    entity,
                    write.record,
                    remote_id=write.remote_id,
                    app_id=write.key,
                    bank_account=self.bank_account,
                )
            except MappingError as exc:
                results[index] = WriteResult(write.key, error=exc.error)
                continue
            payloads.append(payload)
            positions.append(index)
        if payloads:
            # Overpayments are created through the bank transaction that receives the money.
            collection = "BankTransactions" if entity is Entity.CREDIT else COLLECTION[entity]
            creates_only = all(writes[i].remote_id is None for i in positions)
            data = self.client.request(
                "PUT" if creates_only else "POST",
                collection,
                params={"summarizeErrors": "false"},
                body={collection: payloads},
                idempotency_key=idempotency_key_for([writes[i].idempotency_key for i in positions]),
            )
            elements = (data or {}).get(collection) or []
            for offset, index in enumerate(positions):
                write = writes[index]
                if offset >= len(elements):
                    results[index] = WriteResult(write.key, error=unknown_outcome("Xero returned fewer elements"))
                    continue
                element = elements[offset]
                error = element_error(element)
                if error is not None:
                    results[index] = WriteResult(write.key, error=error)
                else:
                    results[index] = WriteResult(write.key, remote=from_xero(entity, element))
        if batched:
            results.update(self._push_batches(writes, batched))
        if entity is Entity.CREDIT_NOTE:
            self._allocate(writes, results)
        return [results[i] for i in range(len(writes))]

    # ------------------------------------------------------------ credit note allocations

    def _notes(self, ids: Sequence[str]) -> dict[str, dict[str, Any]]:
        out: dict[str, dict[str, Any]] = {}
        for chunk in chunks(list(dict.fromkeys(ids)), FETCH_CHUNK):
            params = {"IDs": ",".join(chunk), "page": "1", "pageSize": str(FETCH_CHUNK)}
            for item in (self.client.get("CreditNotes", params=params) or {}).get("CreditNotes") or []:
                out[str(item.get("CreditNoteID"))] = item
        return out

    def _unallocate(self, writes: Sequence[Write], results: dict[int, WriteResult]) -> dict[str, dict[str, Any]]:
        """Delete the allocations the app no longer has (DELETE /CreditNotes/{id}/Allocations/{AllocationID});
        the credit notes as they stand afterwards, by id."""
        notes = self._notes([w.remote_id for w in writes if w.remote_id])
        touched: list[str] = []
        for index, write in enumerate(writes):
            current = notes.get(write.remote_id or "")
            if current is None or not isinstance(write.record, CreditNote):
                continue
            _, extra = _allocation_diff(write.record.allocations, allocation_ids(current))
            for allocation_id in extra:
                try:
                    self.client.request(
                        "DELETE", f"CreditNotes/{write.remote_id}/Allocations/{allocation_id}", allow_not_found=True
                    )
                except ProviderError as exc:
                    if exc.error.code in TRANSIENT or exc.error.code in AUTH:
                        raise
                    results[index] = WriteResult(
                        write.key, remote=from_xero(Entity.CREDIT_NOTE, current), error=exc.error
                    )
                    break
            if extra:
                touched.append(str(write.remote_id))
        if touched:
            notes.update(self._notes(touched))
        return notes

    def _allocate(self, writes: Sequence[Write], results: dict[int, WriteResult]) -> None:
        """Add the allocations the platform's copy lacks to each credit note that landed, then read the changed
        ones back (remaining credit, PAID). A refused allocation fails the write but keeps the credit note's link
        (it exists in Xero), so the retry after a fix sends only what is still missing."""
        changed: dict[int, str] = {}
        for index, write in enumerate(writes):
            result = results.get(index)
            if result is None or not result.ok or not isinstance(write.record, CreditNote):
                continue
            assert result.remote is not None
            note = result.remote.record
            assert isinstance(note, CreditNote)
            missing, _ = _allocation_diff(write.record.allocations, [("", a) for a in note.allocations])
            if not missing:
                continue
            remote_id = result.remote.remote_id
            try:
                data = self.client.request(
                    "PUT",
                    f"CreditNotes/{remote_id}/Allocations",
                    params={"summarizeErrors": "false"},
                    body=allocations_to_xero(write.record, missing),
                    idempotency_key=idempotency_key_for([f"{write.idempotency_key}:allocate"]),
                )
            except ProviderError as exc:
                if exc.error.code in TRANSIENT or exc.error.code in AUTH:
                    raise
                results[index] = WriteResult(write.key, remote=result.remote, error=exc.error)
                continue
            changed[index] = remote_id
            for element in (data or {}).get("Allocations") or []:
                error = element_error(element)
                if error is not None:
                    results[index] = WriteResult(write.key, remote=result.remote, error=error)
                    break
        if not changed:
            return
        fresh = self._notes(list(changed.values()))
        for index, remote_id in changed.items():
            if remote_id in fresh:
                results[index] = WriteResult(
                    writes[index].key,
                    remote=from_xero(Entity.CREDIT_NOTE, fresh[remote_id]),
                    error=results[index].error,
                )

    def _push_batches(self, writes: Sequence[Write], positions: list[int]) -> dict[int, WriteResult]:
        """Payments over several invoices, as Xero BatchPayments (one call for all of them)."""
        out: dict[int, WriteResult] = {}
        payloads: list[dict[str, Any]] = []
        sent: list[int] = []
        for index in positions:
            record = writes[index].record
            assert isinstance(record, Payment)
            try:
                payloads.append(batch_to_xero(record, default_account=self.bank_account))
            except MappingError as exc:
                out[index] = WriteResult(writes[index].key, error=exc.error)
                continue
            sent.append(index)
        if not payloads:
            return out
        data = self.client.request(
            "PUT",
            "BatchPayments",
            params={"summarizeErrors": "false"},
            body={"BatchPayments": payloads},
            idempotency_key=idempotency_key_for([writes[i].idempotency_key for i in sent]),
        )
        elements = (data or {}).get("BatchPayments") or []
        for offset, index in enumerate(sent):
            write = writes[index]
            if offset >= len(elements):
                out[index] = WriteResult(write.key, error=unknown_outcome("Xero returned fewer batch payments"))
                continue
            error = element_error(elements[offset])
            out[index] = (
                WriteResult(write.key, error=error)
                if error is not None
                else WriteResult(write.key, remote=batch_from_xero(elements[offset]))
            )
        return out

    def _update_payment(self, entity: Entity, write: Write) -> WriteResult:
        status = getattr(write.record, "status", None)
        if status is not None and status.value == "deleted":
            return self.remove(entity, write)
        return WriteResult(
            write.key,
            error=SyncError(
                code=ErrorCode.VALIDATION,
                message="Xero does not let a recorded payment be changed.",
                hint="Delete the payment in Xero (or here) and record it again, or skip.",
            ),
        )

    def _single(self, method: str, path: str, body: Any, write: Write, entity: Entity, collection: str) -> WriteResult:
        try:
            data = self.client.request(
                method,
                path,
                body=body,
                idempotency_key=idempotency_key_for([f"{write.idempotency_key}:remove"]),
            )
        except ProviderError as exc:
            if exc.error.code in TRANSIENT or exc.error.code in AUTH:
                raise
            return WriteResult(write.key, error=exc.error)
        elements = (data or {}).get(collection) or []
        if not elements:
            return WriteResult(write.key, error=unknown_outcome("Xero returned no record"))
        error = element_error(elements[0])
        if error is not None:
            return WriteResult(write.key, error=error)
        return WriteResult(write.key, remote=from_xero(entity, elements[0]))

    def restore(self, entity: Entity, write: Write) -> WriteResult:
        if entity not in _CONTACT_LIKE or not write.remote_id:
            return WriteResult(
                write.key,
                error=SyncError(code=ErrorCode.VALIDATION, message="Only an archived Xero contact can be restored."),
            )
        path = f"Contacts/{write.remote_id}"
        body = {"Contacts": [{"ContactID": write.remote_id, "ContactStatus": "ACTIVE"}]}
        return self._single("POST", path, body, write, entity, "Contacts")

    def remove(self, entity: Entity, write: Write) -> WriteResult:
        if not write.remote_id:
            return WriteResult(
                write.key,
                error=SyncError(
                    code=ErrorCode.NOT_FOUND,
                    message="This record was never created in Xero, so there is nothing to remove there.",
                    hint="Skip it.",
                ),
            )
        collection = COLLECTION[entity]
        id_field = ID_FIELD[entity]
        path = f"{collection}/{write.remote_id}"
        if entity is Entity.CREDIT:
            return WriteResult(write.key, error=_IMMUTABLE_CREDIT)
        if entity is Entity.PAYMENT and is_batch(write.remote_id):
            batch_id = write.remote_id[len(BATCH_PREFIX) :]
            try:
                data = self.client.request(
                    "POST",
                    f"BatchPayments/{batch_id}",
                    body={"Status": "DELETED"},
                    idempotency_key=idempotency_key_for([f"{write.idempotency_key}:remove"]),
                )
            except ProviderError as exc:
                if exc.error.code in TRANSIENT or exc.error.code in AUTH:
                    raise
                return WriteResult(write.key, error=exc.error)
            elements = (data or {}).get("BatchPayments") or []
            if not elements:
                return WriteResult(write.key, error=unknown_outcome("Xero returned no batch payment"))
            error = element_error(elements[0])
            return (
                WriteResult(write.key, error=error)
                if error
                else WriteResult(write.key, remote=batch_from_xero(elements[0]))
            )
        if entity in (Entity.PAYMENT, Entity.BILL_PAYMENT, Entity.REFUND):
            return self._single("POST", path, {"Status": "DELETED"}, write, entity, collection)
        if entity in _CONTACT_LIKE:
            body = {collection: [{id_field: write.remote_id, "ContactStatus": "ARCHIVED"}]}
            return self._single("POST", path, body, write, entity, collection)
        if entity is Entity.ITEM:
            try:
                self.client.request("DELETE", path, allow_not_found=True)
            except ProviderError as exc:
                if exc.error.code in TRANSIENT or exc.error.code in AUTH:
                    raise
                return WriteResult(write.key, error=exc.error)
            record = write.record.model_copy(update={"id": write.remote_id})
            return WriteResult(
                write.key,
                remote=RemoteRecord(entity=entity, remote_id=write.remote_id, version="", record=record, deleted=True),
            )
        current = self.client.request("GET", path, allow_not_found=True)
        documents = (current or {}).get(collection) or []
        if not documents:
            return WriteResult(
                write.key,
                error=SyncError(
                    code=ErrorCode.NOT_FOUND,
                    message="The document was not found in Xero.",
                    hint="It may already have been deleted there; skip it.",
                ),
            )
        document = documents[0]
        if entity is Entity.CREDIT_NOTE and document.get("Allocations") and not _live_payments(document):
            # Voiding a credit note that was only allocated: take its allocations off first (the invoices owe
            # again), as a person does in Xero before voiding it.
            for allocation_id, _ in allocation_ids(document):
                try:
                    self.client.request(
                        "DELETE", f"CreditNotes/{write.remote_id}/Allocations/{allocation_id}", allow_not_found=True
                    )
                except ProviderError as exc:
                    if exc.error.code in TRANSIENT or exc.error.code in AUTH:
                        raise
                    return WriteResult(write.key, error=exc.error)
            document = (self._notes([write.remote_id]) or {}).get(write.remote_id, document)
        status = str(document.get("Status") or "")
        if status in ("DELETED", "VOIDED"):
            return WriteResult(write.key, remote=from_xero(entity, document))
        paid = Decimal(str(document.get("AmountPaid") or 0)) + Decimal(str(document.get("AmountCredited") or 0))
        if status in ("DRAFT", "SUBMITTED") or entity is Entity.PURCHASE_ORDER:
            # A purchase order has no VOIDED status: Xero deletes it whatever its status.
            target = "DELETED"
        elif status == "AUTHORISED" and paid == 0 and not document.get("Payments"):
            target = "VOIDED"
        else:
            return WriteResult(
                write.key,
                error=SyncError(
                    code=ErrorCode.DOCUMENT_LOCKED,
                    message=(
                        "This credit note has been refunded in Xero, so it can't be voided or deleted."
                        if entity is Entity.CREDIT_NOTE
                        else "This invoice is paid in Xero, so it can't be voided or deleted."
                    ),
                    hint=(
                        "Delete the refund (here or in Xero) and retry, or skip."
                        if entity is Entity.CREDIT_NOTE
                        else "Remove the payment in Xero and retry, or skip."
                    ),
                    platform_code=status,
                ),
            )
        body = {collection: [{id_field: write.remote_id, "Status": target}]}
        return self._single("POST", path, body, write, entity, collection)

    # ------------------------------------------------------------ reconciliation

    def find(self, entity: Entity, writes: Sequence[Write]) -> dict[str, RemoteRecord]:
        if not writes:
            return {}
        if entity is Entity.CONTACT:
            return self._find_contacts(writes)
        if entity is Entity.SUPPLIER:
            return self._find_contacts(writes, entity)
        if entity is Entity.PURCHASE_ORDER:
            return self._find_documents(entity, writes)
        if entity is Entity.BILL:
            return self._find_documents(entity, writes)
        if entity is Entity.BILL_PAYMENT:
            return self._find_bill_payments(writes)
        if entity is Entity.ITEM:
            data = self.client.get("Items") or {}
            by_code = {str(i.get("Code")): i for i in data.get("Items") or []}
            out: dict[str, RemoteRecord] = {}
            for write in writes:
                code = getattr(write.record, "code", None)
                if code is not None and code in by_code:
                    out[write.key] = from_xero(entity, by_code[code])
            return out
        if entity in (Entity.INVOICE, Entity.CREDIT_NOTE):
            return self._find_documents(entity, writes)
        if entity is Entity.CREDIT:
            return self._find_credits(writes)
        if entity is Entity.REFUND:
            return self._find_refunds(writes)
        return self._find_payments(writes)

    def _find_refunds(self, writes: Sequence[Write]) -> dict[str, RemoteRecord]:
        """A refund whose outcome was unknown: the credit note's payments, by amount, date and reference."""
        candidates = [(w, w.record) for w in writes if isinstance(w.record, Refund)]
        notes = self._notes([str(r.credit_note_id) for _, r in candidates if r.credit_note_id])
        for credit_id in {str(r.credit_id) for _, r in candidates if r.credit_id and not r.credit_note_id}:
            data = self.client.request("GET", f"Overpayments/{credit_id}", allow_not_found=True)
            for item in (data or {}).get("Overpayments") or []:
                notes[credit_id] = item
        matched: dict[str, str] = {}
        for write, refund in candidates:
            source = str(refund.credit_note_id or refund.credit_id or "")
            for summary in (notes.get(source) or {}).get("Payments") or []:
                payment_id = str(summary.get("PaymentID"))
                if payment_id in matched.values():
                    continue
                if (
                    Decimal(str(summary.get("Amount"))) == refund.amount
                    and parse_date(summary.get("Date")) == refund.date
                    and (summary.get("Reference") or None) == (refund.reference or None)
                ):
                    matched[write.key] = payment_id
                    break
        if not matched:
            return {}
        by_id = {r.remote_id: r for r in self.fetch(Entity.REFUND, list(matched.values()))}
        return {key: by_id[pid] for key, pid in matched.items() if pid in by_id and not by_id[pid].deleted}

    def _find_credits(self, writes: Sequence[Write]) -> dict[str, RemoteRecord]:
        by_ref: dict[str, list[Write]] = {}
        for write in writes:
            ref = getattr(write.record, "reference", None)
            if ref:
                by_ref.setdefault(str(ref), []).append(write)
        out: dict[str, RemoteRecord] = {}
        for chunk in chunks(list(by_ref), WHERE_CHUNK):
            for item in self._get_all("Overpayments", {"where": _where_any("Reference", chunk)}):
                if not self._wanted(Entity.CREDIT, item) or item.get("Status") == "VOIDED":
                    continue
                for write in by_ref.get(str(item.get("Reference")), []):
                    out.setdefault(write.key, from_xero(Entity.CREDIT, item))
        return out

    def _find_contacts(self, writes: Sequence[Write], entity: Entity = Entity.CONTACT) -> dict[str, RemoteRecord]:
        out: dict[str, RemoteRecord] = {}
        number_of = supplier_number if entity is Entity.SUPPLIER else (lambda key: key[:50])
        numbers = {number_of(w.key): w for w in writes}
        for chunk in chunks(list(numbers), WHERE_CHUNK):
            params = {"where": _where_any("ContactNumber", chunk), "includeArchived": "true"}
            for item in self._get_all("Contacts", params):
                write = numbers.get(str(item.get("ContactNumber") or ""))
                if write is not None and write.key not in out:
                    out[write.key] = from_xero(entity, item)
        rest = [w for w in writes if w.key not in out and getattr(w.record, "name", None)]
        by_name: dict[str, list[Write]] = {}
        for write in rest:
            by_name.setdefault(str(getattr(write.record, "name", "")), []).append(write)
        for chunk in chunks(list(by_name), WHERE_CHUNK):
            for item in self._get_all("Contacts", {"where": _where_any("Name", chunk)}):
                if item.get("ContactStatus", "ACTIVE") != "ACTIVE":
                    continue
                for write in by_name.get(str(item.get("Name")), []):
                    out.setdefault(write.key, from_xero(entity, item))
        return out

    def _find_documents(self, entity: Entity, writes: Sequence[Write]) -> dict[str, RemoteRecord]:
        by_number: dict[str, list[Write]] = {}
        for write in writes:
            number = getattr(write.record, "number", None)
            if number:
                by_number.setdefault(str(number), []).append(write)
        out: dict[str, RemoteRecord] = {}
        number_field = {
            Entity.INVOICE: "InvoiceNumber",
            Entity.BILL: "InvoiceNumber",
            Entity.PURCHASE_ORDER: "PurchaseOrderNumber",
        }.get(entity, "CreditNoteNumber")
        for chunk in chunks(list(by_number), FETCH_CHUNK):
            if entity in (Entity.INVOICE, Entity.BILL):
                params = {"InvoiceNumbers": ",".join(chunk), "page": "1"}
            elif entity is Entity.PURCHASE_ORDER:
                params = {"where": _where_any("PurchaseOrderNumber", chunk), "page": "1"}
            else:
                params = {"where": _where_any("CreditNoteNumber", chunk), "page": "1"}
            for item in self._get_all(COLLECTION[entity], params):
                if not self._wanted(entity, item) or item.get("Status") == "DELETED":
                    continue
                for write in by_number.get(str(item.get(number_field)), []):
                    out.setdefault(write.key, from_xero(entity, item))
        return out

    def _find_payments(self, writes: Sequence[Write]) -> dict[str, RemoteRecord]:
        candidates: list[tuple[Write, Payment]] = [
            (w, w.record) for w in writes if isinstance(w.record, Payment) and len(w.record.allocations) == 1
        ]
        invoice_ids = list(dict.fromkeys(p.allocations[0].invoice_id for _, p in candidates))
        invoices: dict[str, Mapping[str, Any]] = {}
        for chunk in chunks(invoice_ids, FETCH_CHUNK):
            params = {"IDs": ",".join(chunk), "page": "1", "pageSize": str(FETCH_CHUNK)}
            for item in (self.client.get("Invoices", params=params) or {}).get("Invoices") or []:
                invoices[str(item.get("InvoiceID"))] = item
        matched: dict[str, str] = {}
        claimed: set[str] = set()
        for write, payment in candidates:
            invoice = invoices.get(payment.allocations[0].invoice_id)
            for summary in (invoice or {}).get("Payments") or []:
                payment_id = str(summary.get("PaymentID"))
                if payment_id in claimed:
                    continue
                same_amount = Decimal(str(summary.get("Amount"))) == payment.amount
                same_date = parse_date(summary.get("Date")) == payment.date
                same_reference = (summary.get("Reference") or None) == (payment.reference or None)
                if same_amount and same_date and same_reference:
                    matched[write.key] = payment_id
                    claimed.add(payment_id)
                    break
        if not matched:
            return {}
        by_id = {r.remote_id: r for r in self.fetch(Entity.PAYMENT, list(matched.values()))}
        return {key: by_id[pid] for key, pid in matched.items() if pid in by_id and not by_id[pid].deleted}

    def _find_bill_payments(self, writes: Sequence[Write]) -> dict[str, RemoteRecord]:
        """A bill payment whose outcome was unknown: the bill's payments, by amount, date and reference."""
        candidates = [(w, w.record) for w in writes if isinstance(w.record, BillPayment) and w.record.allocations]
        bill_ids = list(dict.fromkeys(p.allocations[0].bill_id for _, p in candidates))
        bills: dict[str, Mapping[str, Any]] = {}
        for chunk in chunks(bill_ids, FETCH_CHUNK):
            params = {"IDs": ",".join(chunk), "page": "1", "pageSize": str(FETCH_CHUNK)}
            for item in (self.client.get("Invoices", params=params) or {}).get("Invoices") or []:
                bills[str(item.get("InvoiceID"))] = item
        matched: dict[str, str] = {}
        for write, payment in candidates:
            for summary in (bills.get(payment.allocations[0].bill_id) or {}).get("Payments") or []:
                payment_id = str(summary.get("PaymentID"))
                if payment_id in matched.values():
                    continue
                if (
                    Decimal(str(summary.get("Amount"))) == payment.amount
                    and parse_date(summary.get("Date")) == payment.date
                    and (summary.get("Reference") or None) == (payment.reference or None)
                ):
                    matched[write.key] = payment_id
                    break
        if not matched:
            return {}
        by_id = {r.remote_id: r for r in self.fetch(Entity.BILL_PAYMENT, list(matched.values()))}
        return {key: by_id[pid] for key, pid in matched.items() if pid in by_id and not by_id[pid].deleted}

    def close(self) -> None:
        self.client.close()


def _allocation_diff(
    wanted: Sequence[Allocation], held: Sequence[tuple[str, Allocation]]
) -> tuple[list[Allocation], list[str]]:
    """(allocations to add, ids of the platform's allocations to delete): equal (invoice, amount) pairs match
    one for one, so an allocation is never deleted and made again."""
    left = list(held)
    missing: list[Allocation] = []
    for alloc in wanted:
        hit = next((i for i, (_, a) in enumerate(left) if a == alloc), None)
        if hit is None:
            missing.append(alloc)
        else:
            left.pop(hit)
    return missing, [allocation_id for allocation_id, _ in left if allocation_id]


def _locked_and_same(write: Write, current: Mapping[str, Any] | None) -> bool:
    """Whether a credit note Xero will not let be edited (it has allocations or refunds, or is PAID) already says
    what the write would, all but its allocations: each field the app sets (its lines' too) is as Xero has it."""
    if current is None or not isinstance(write.record, CreditNote):
        return False
    # A CreditNote carries no AmountCredited / AmountPaid (its schema has none): what is used is what it lists.
    if not allocation_ids(current) and not _live_payments(current) and current.get("Status") != "PAID":
        return False
    theirs = from_xero(Entity.CREDIT_NOTE, current).record.hash_view()
    mine = write.record.hash_view()
    for view in (theirs, mine):
        view.pop("allocations", None)
    return _covers(mine, theirs)


def _covers(mine: Any, theirs: Any) -> bool:
    if mine is None:
        return True
    if isinstance(mine, dict) and isinstance(theirs, dict):
        return all(_covers(v, theirs.get(k)) for k, v in mine.items())
    if isinstance(mine, list) and isinstance(theirs, list):
        return len(mine) == len(theirs) and all(_covers(a, b) for a, b in zip(mine, theirs, strict=True))
    return bool(mine == theirs)


def _live_payments(document: Mapping[str, Any]) -> list[Mapping[str, Any]]:
    """The refunds (payments) a credit note lists that are not deleted."""
    return [p for p in document.get("Payments") or [] if p.get("Status", "AUTHORISED") != "DELETED"]
