"""DearProvider: the Provider protocol over the Cin7 Core API v2 (pull, fetch, push, find, remove), plus the
webhook subscriptions it keeps switched on and stock on hand.

A canonical invoice is one DEAR sale: the header (customer, the app's number as CustomerReference, the app's id
as ExternalID), its order lines and its authorised invoice; payments are posted against the invoice's TaskID.
DEAR has no idempotency keys, so every create looks for what an earlier attempt may have left first (the sale by
ExternalID, a payment by reference, amount and date on its invoice)."""

from __future__ import annotations

import datetime as dt
import json
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

import httpx

from ledgersync.model import (
    Bill,
    Contact,
    ContactStatus,
    CreditNote,
    Entity,
    ErrorCode,
    Invoice,
    InvoiceStatus,
    Item,
    Payment,
    ProviderError,
    PurchaseOrder,
    Supplier,
    SyncError,
)
from ledgersync.model.errors import AUTH
from ledgersync.model.records import PurchaseOrderStatus
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
from ledgersync.providers.dear import mapping as M
from ledgersync.providers.dear.client import DearClient
from ledgersync.providers.dear.config import DEFAULT_WEBHOOK_TYPES, DearConfig

# The vendor side: a supplier, and a purchase whose order is the purchase order and whose invoice is the bill.
VENDOR = (Entity.SUPPLIER, Entity.PURCHASE_ORDER, Entity.BILL)
SYNCED = (Entity.CONTACT, Entity.ITEM, Entity.INVOICE, Entity.PAYMENT, Entity.CREDIT_NOTE, *VENDOR)

DEAR_CAPABILITIES = Capabilities(
    display_name="DEAR / Cin7 Core",
    live_updates=True,
    contacts_both_ways=True,
    payments_both_ways=True,
    purchase_orders_and_bills=True,
    products=True,
    classes_or_tracking=False,
    sub_customers=False,
    zero_invoices=True,
    tax_groups=False,
    overpayments=False,
    split_payments=True,
    one_payment_many_invoices=False,
    moved_payments=False,
    refunds=False,
    void_and_delete=True,
    initial_import_export=True,
    name_rules=(
        NameRule(
            Entity.CONTACT,
            "name",
            "Customer name",
            max_length=256,
            no_control_characters=True,
            source="openapi.yaml tag Customer: Name[256]",
        ),
    ),
    # Tracking has no place in a sale. A customer's contact person has one Name: first and last names are sent in
    # it ("first last") but cannot be told apart again when read.
    # DEAR's purchase order lines carry no account (its purchase invoice lines do).
    unheld_fields=frozenset({"lines.tracking", "first_name", "last_name", "purchase_order:lines.account_code"}),
    batch_size=1,
    payments_editable=False,
    payment_holds_credit=False,
    page_size=1000,
    default_sync_seconds=3600,
    pull_entities=SYNCED,
    push_entities=SYNCED,
    notes={
        "attachments": "Not supported by DEAR here: its OpenAPI lists /sale/attachment (POST, GET by SaleID, "
        "DELETE by ID) but gives POST no request body and Sale_Attachments no fields, so what it takes is not "
        "documented.",
        "refunds": "Not built: a DEAR credit note belongs to its sale (the invoice it credits, its one allocation); "
        "DEAR records a refund as a sale payment of Type Refund, which is not mapped yet.",
        "cadence": "Synced hourly by default (default_sync_seconds; a connection's own schedule changes it); "
        "webhooks make it live where the account has DEAR's Automation module.",
        "rate_limit": "60 calls a minute per API application, answered with 503.",
        "deletes": "DEAR deletes a payment outright and lists no deletions: a payment missing from a sale read again "
        "(when the sale changed, and hourly for up to 50 sales with payments, in turn: payment_check_seconds, "
        "payment_check_sales) is removed in the app.",
        "invoices": "An invoice is a DEAR sale: header, order lines and an authorised invoice.",
        "vendor": "Suppliers, purchase orders and bills sync both ways: a purchase order and its bill are the "
        "order and the invoice of one DEAR purchase. DEAR numbers orders itself; the app's number is in the memo.",
    },
)

_SALE_ENTITIES = (Entity.INVOICE, Entity.PAYMENT, Entity.CREDIT_NOTE)


@dataclass
class PaidSeen:
    """The payments' cursor: the change stamp, the sales seen with payments (DEAR lists no deleted payments, so
    the periodic check reads them again), where that check got to and when it last went round. A plain stamp (a
    cursor from before) reads as one with no sales seen yet."""

    at: str | None
    sales: set[str] = field(default_factory=set)
    checked: float | None = None
    after: str | None = None

    @classmethod
    def decode(cls, cursor: str | None) -> PaidSeen:
        if not cursor or not cursor.startswith("{"):
            return cls(cursor)
        data = json.loads(cursor)
        return cls(data.get("at"), set(data.get("sales") or ()), data.get("checked"), data.get("after"))

    def encode(self, at: str | None) -> str | None:
        if not self.sales and self.checked is None:
            return at
        body = {"at": at, "sales": sorted(self.sales), "checked": self.checked, "after": self.after}
        return json.dumps(body, separators=(",", ":"), sort_keys=True)

    def note(self, sale_id: str, has_payments: bool) -> None:
        if has_payments:
            self.sales.add(sale_id)
        else:
            self.sales.discard(sale_id)

    def next_batch(self, size: int, exclude: set[str]) -> tuple[list[str], bool]:
        """Up to `size` sales with payments after the last one checked (those read this pull left out), and
        whether that reaches the end of the round."""
        order = [s for s in sorted(self.sales) if s not in exclude and (self.after is None or s > self.after)]
        batch = order[:size]
        if batch:
            self.after = batch[-1]
        return batch, len(order) <= size


def cursor_stamp(cursor: str) -> str | None:
    """The change stamp of a cursor of this provider (the payments' cursor carries more)."""
    return PaidSeen.decode(cursor).at


def _err(code: ErrorCode, message: str, hint: str) -> SyncError:
    return SyncError(code=code, message=message, hint=hint)


class DearProvider:
    """A connection to one DEAR account."""

    capabilities: Capabilities = DEAR_CAPABILITIES

    def __init__(
        self,
        config: ProviderConfig | Mapping[str, Any],
        tenant_id: str = "",
        tokens: TokenStore | None = None,
        *,
        transport: httpx.BaseTransport | None = None,
        budget: BudgetBackend | None = None,
        sleep: Callable[[float], None] | None = None,
    ) -> None:
        cfg = DearConfig.coerce(config)
        self.config = cfg
        self.tenant_id = tenant_id
        self.on_call: Callable[[CallInfo], None] | None = None
        kwargs: dict[str, Any] = {} if sleep is None else {"sleep": sleep}
        self.client = DearClient(cfg, tokens=tokens, budget=budget, transport=transport, on_call=self._relay, **kwargs)
        # Sale details by SaleID with the Updated stamp they were read at: invoices and payments share reads.
        self._sales: dict[str, tuple[str, dict[str, Any]]] = {}
        self._service_product: str | None = None
        self.webhooks_checked: list[str] = []
        # The sales the last page of a sale list named, and every sale a pull has read (payments' delete check).
        self._page_sales: list[str] = []
        self._read_this_pull: list[str] = []

    def _relay(self, info: CallInfo) -> None:
        if self.on_call is not None:
            self.on_call(info)

    def close(self) -> None:
        self.client.close()

    # ------------------------------------------------------------------ reading
    def pull(self, entity: Entity, cursor: str | None, resume: str | None = None) -> Iterator[PullPage]:
        if entity is Entity.CONTACT:
            # Each cycle starts with contacts: the safety net checks the webhooks are still switched on.
            self.ensure_webhooks()
        if entity is Entity.ITEM and cursor is None and resume is None:
            # The service product lines without an item use is made before the first read, so it comes back
            # with the products instead of appearing on DEAR's side only.
            self._ensure_service_product()
        self._page_sales, self._read_this_pull = [], []
        paid = PaidSeen.decode(cursor) if entity is Entity.PAYMENT else None
        cursor = paid.at if paid is not None else cursor
        state: dict[str, Any] = (
            json.loads(resume) if resume else {"since": self._since(cursor), "page": 1, "floor": cursor}
        )
        limit = self.config.page_size
        while True:
            records, stamps, total = self._page(entity, state["since"], state["page"], limit)
            whole: tuple[str, ...] = ()
            if paid is not None:
                whole = tuple(self._page_sales)
                with_payments = {a.invoice_id for r in records for a in getattr(r.record, "allocations", None) or []}
                for sid in whole:
                    paid.note(sid, sid in with_payments)
            more = state["page"] * limit < total
            newest = max(stamps) if stamps else None
            if more:
                floor = state.get("floor") or (min(stamps) if stamps else None)
                state = {
                    "since": state["since"],
                    "page": state["page"] + 1,
                    "floor": floor,
                    "newest": max(filter(None, [state.get("newest"), newest]), default=None),
                }
                at = paid.encode(floor) if paid is not None else floor
                yield PullPage(records, at, json.dumps(state), listed_whole=whole)
                continue
            last = max(filter(None, [state.get("newest"), newest, cursor]), default=None)
            if paid is not None:
                checked, found = self._payment_check(paid)
                records, whole = records + found, whole + checked
            yield PullPage(records, paid.encode(last) if paid is not None else last, None, listed_whole=whole)
            return

    def _payment_check(self, paid: PaidSeen) -> tuple[tuple[str, ...], list[RemoteRecord]]:
        """The bounded periodic check: up to `payment_check_sales` sales seen with payments, read again in turn
        (their payments, listed whole). DEAR does not say whether deleting a payment marks its sale as changed."""
        now = time.time()
        due = paid.checked is None or now - paid.checked >= self.config.payment_check_seconds
        if not due or self.config.payment_check_sales == 0:
            return (), []
        batch, wrapped = paid.next_batch(self.config.payment_check_sales, exclude=set(self._read_this_pull))
        found: list[RemoteRecord] = []
        for sid in batch:
            self._sales.pop(sid, None)
            sale = self._sale_or_none(sid)
            current = M.payments_from_sale(sale) if sale is not None else []
            paid.note(sid, bool(current))
            found += current
        if wrapped:
            paid.checked, paid.after = now, None
        return tuple(batch), found

    def _since(self, cursor: str | None) -> str | None:
        if not cursor:
            return None
        when = M.parse_stamp(cursor)
        assert when is not None
        when -= dt.timedelta(seconds=self.config.lookback_seconds)
        return when.strftime("%Y-%m-%dT%H:%M:%S")

    def _page(
        self, entity: Entity, since: str | None, page: int, limit: int
    ) -> tuple[list[RemoteRecord], list[str], int]:
        params: dict[str, Any] = {"Page": page, "Limit": limit}
        if entity in (Entity.CONTACT, Entity.SUPPLIER, Entity.ITEM):
            path, key = {
                Entity.CONTACT: ("customer", "CustomerList"),
                Entity.SUPPLIER: ("supplier", "SupplierList"),
                Entity.ITEM: ("product", "Products"),
            }[entity]
            params["IncludeDeprecated"] = True
            if since:
                params["ModifiedSince"] = since
            body = self.client.get(path, params)
            rows = body.get(key) or []
            conv = {
                Entity.CONTACT: M.customer_from_dear,
                Entity.SUPPLIER: M.supplier_from_dear,
                Entity.ITEM: M.product_from_dear,
            }[entity]
            return [conv(r) for r in rows], [str(r["LastModifiedOn"]) for r in rows], int(body.get("Total") or 0)
        if entity in _SALE_ENTITIES:
            if since:
                params["UpdatedSince"] = since
            body = self.client.get("saleList", params)
            rows = body.get("SaleList") or []
            records: list[RemoteRecord] = []
            self._page_sales = [str(row["SaleID"]) for row in rows]
            self._read_this_pull.extend(self._page_sales)
            for row in rows:
                sale = self._sale(str(row["SaleID"]), str(row.get("Updated") or ""))
                records.extend(self._from_sale(entity, sale))
            return records, [str(r["Updated"]) for r in rows], int(body.get("Total") or 0)
        if entity in (Entity.PURCHASE_ORDER, Entity.BILL):
            if since:
                params["UpdatedSince"] = since
            body = self.client.get("purchaseList", params)
            rows = body.get("PurchaseList") or []
            records = []
            for row in rows:
                found = self._purchase_record(entity, self.client.get("purchase", {"ID": row["ID"]}))
                if found is not None:
                    records.append(found)
            return records, [str(r["LastUpdatedDate"]) for r in rows], int(body.get("Total") or 0)
        raise ProviderError(
            _err(
                ErrorCode.VALIDATION,
                f"DEAR does not sync {entity.value} records.",
                "Leave it out of the connection's entities.",
            )
        )

    def _purchase_record(self, entity: Entity, data: Mapping[str, Any]) -> RemoteRecord | None:
        sku = self.config.service_sku
        return M.purchase_order_from_dear(data, sku) if entity is Entity.PURCHASE_ORDER else M.bill_from_dear(data, sku)

    def _from_sale(self, entity: Entity, sale: Mapping[str, Any]) -> list[RemoteRecord]:
        sku = self.config.service_sku
        if entity is Entity.INVOICE:
            found = M.invoice_from_sale(sale, sku)
            return [found] if found is not None else []
        if entity is Entity.PAYMENT:
            return M.payments_from_sale(sale)
        return M.credit_notes_from_sale(sale, sku)

    def _sale(self, sale_id: str, updated: str | None = None) -> dict[str, Any]:
        cached = self._sales.get(sale_id)
        if cached is not None and updated and cached[0] == updated:
            return cached[1]
        sale: dict[str, Any] = self.client.get("sale", {"ID": sale_id})
        self._sales[sale_id] = (str(sale.get("Updated") or sale.get("LastModifiedOn") or ""), sale)
        return sale

    def fetch(self, entity: Entity, remote_ids: Sequence[str]) -> list[RemoteRecord]:
        out: list[RemoteRecord] = []
        seen: set[str] = set()
        for rid in remote_ids:
            if rid in seen:
                continue
            seen.add(rid)
            found = self._fetch_one(entity, rid)
            if found is not None:
                out.append(found)
        return out

    def _fetch_one(self, entity: Entity, rid: str) -> RemoteRecord | None:
        if entity in (Entity.CONTACT, Entity.SUPPLIER, Entity.ITEM):
            path, key = {
                Entity.CONTACT: ("customer", "CustomerList"),
                Entity.SUPPLIER: ("supplier", "SupplierList"),
                Entity.ITEM: ("product", "Products"),
            }[entity]
            rows = self.client.get(path, {"ID": rid, "IncludeDeprecated": True}).get(key) or []
            conv = {
                Entity.CONTACT: M.customer_from_dear,
                Entity.SUPPLIER: M.supplier_from_dear,
                Entity.ITEM: M.product_from_dear,
            }[entity]
            return conv(rows[0]) if rows else None
        if entity is Entity.INVOICE:
            sale = self._sale_or_none(rid)
            return next(iter(self._from_sale(entity, sale)), None) if sale else None
        if entity in (Entity.PAYMENT, Entity.CREDIT_NOTE):
            # DEAR reads payments and credit notes only through their sale, so they are found in the sales this
            # provider has read (a pull, or the push that made them); others are left out, as fetch allows.
            for sid in list(self._sales):
                fresh = self._sale(sid)
                for record in self._from_sale(entity, fresh):
                    if record.remote_id == rid:
                        return record
            return None
        if entity in (Entity.PURCHASE_ORDER, Entity.BILL):
            try:
                return self._purchase_record(entity, self.client.get("purchase", {"ID": rid}))
            except ProviderError as exc:
                if exc.error.code in (ErrorCode.NOT_FOUND, ErrorCode.VALIDATION):
                    return None
                raise
        return None

    def _sale_or_none(self, sale_id: str) -> dict[str, Any] | None:
        try:
            return self._sale(sale_id)
        except ProviderError as exc:
            if exc.error.code in (ErrorCode.NOT_FOUND, ErrorCode.VALIDATION):
                return None
            raise

    # ------------------------------------------------------------------ writing
    def push(self, entity: Entity, writes: Sequence[Write]) -> list[WriteResult]:
        return [self._push_one(entity, w) for w in writes]

    def _push_one(self, entity: Entity, write: Write) -> WriteResult:
        try:
            remote = self._write(entity, write)
        except ProviderError as exc:
            if exc.error.code in AUTH:
                raise
            if exc.error.code is ErrorCode.UNKNOWN_OUTCOME or exc.error.code is ErrorCode.RATE_LIMITED:
                raise
            return WriteResult(write.key, error=exc.error)
        except M.MappingError as exc:
            return WriteResult(write.key, error=_err(ErrorCode.VALIDATION, str(exc), "Correct the record, or skip."))
        return WriteResult(write.key, remote=remote)

    def _write(self, entity: Entity, write: Write) -> RemoteRecord:
        record = write.record
        if entity is Entity.CONTACT:
            body = self.client.request(
                "PUT" if write.remote_id else "POST",
                "customer",
                body=M.party_to_dear(M.require(record, Contact), write.remote_id),
            )
            return M.customer_from_dear(body["CustomerList"][0])
        if entity is Entity.SUPPLIER:
            body = self.client.request(
                "PUT" if write.remote_id else "POST",
                "supplier",
                body=M.party_to_dear(M.require(record, Supplier), write.remote_id),
            )
            return M.supplier_from_dear(body["SupplierList"][0])
        if entity is Entity.ITEM:
            body = self.client.request(
                "PUT" if write.remote_id else "POST",
                "product",
                body=M.product_to_dear(M.require(record, Item), write.remote_id, self.config.default_tax_rule),
            )
            return M.product_from_dear(body["Products"][0])
        if entity is Entity.INVOICE:
            return self._write_sale(write, M.require(record, Invoice))
        if entity is Entity.PAYMENT:
            return self._write_payment(write, M.require(record, Payment))
        if entity is Entity.CREDIT_NOTE:
            return self._write_credit_note(write, M.require(record, CreditNote))
        if entity is Entity.PURCHASE_ORDER:
            return self._write_purchase_order(write, M.require(record, PurchaseOrder))
        if entity is Entity.BILL:
            return self._write_bill(write, M.require(record, Bill))
        raise M.MappingError(f"DEAR does not sync {entity.value} records")

    def _lines(self, lines: Sequence[Any], with_account: bool, tax: str | None = None) -> list[dict[str, Any]]:
        if any(not line.item_code for line in lines):
            self._ensure_service_product()
        return [
            M.line_to_dear(line, self.config.service_sku, tax or self.config.default_tax_rule, with_account)
            for line in lines
        ]

    def _ensure_service_product(self) -> None:
        if self._service_product is not None:
            return
        sku = self.config.service_sku
        rows = self.client.get("product", {"Sku": sku, "IncludeDeprecated": True}).get("Products") or []
        if rows:
            self._service_product = str(rows[0]["ID"])
            return
        body = {
            "SKU": sku,
            "Name": "Services (ledgersync)",
            "Type": "Service",
            "Category": "General",
            "UOM": "Item",
            "CostingMethod": "FIFO",
            "Status": "Active",
            "PriceTier1": 0,
            "SaleTaxRule": self.config.default_tax_rule,
        }
        self._service_product = str(self.client.request("POST", "product", body=body)["Products"][0]["ID"])

    def _write_sale(self, write: Write, invoice: Invoice) -> RemoteRecord:
        if not invoice.lines:
            raise M.MappingError("DEAR needs at least one line on an invoice")
        sale_id = write.remote_id
        if sale_id is None:
            # No idempotency keys: a sale an earlier attempt created is found by its ExternalID and finished.
            rows = self.client.get("saleList", {"ExternalID": write.key, "Limit": 10}).get("SaleList") or []
            live = [r for r in rows if r.get("Status") != "VOIDED"]
            if live:
                sale_id = str(live[0]["SaleID"])
        lines = self._lines(invoice.lines, with_account=True)
        header = {
            "CustomerID": invoice.contact_id,
            "CustomerReference": invoice.number or "",
            "ExternalID": write.key,
            "SaleOrderDate": M.dear_date(invoice.date),
            "TaxInclusive": invoice.line_amount_types.value == "inclusive",
            "Note": invoice.reference or "",
        }
        if sale_id is None:
            sale_id = str(self.client.request("POST", "sale", body=header)["ID"])
            sale: dict[str, Any] = {"Invoices": []}
        else:
            sale = self._sale(sale_id)
            if sale.get("Status") == "VOIDED":
                raise ProviderError(
                    _err(
                        ErrorCode.DOCUMENT_LOCKED,
                        "This sale is voided in DEAR.",
                        "Unlink it to enter the invoice again, or skip.",
                    )
                )
            if sale.get("CustomerReference") != header["CustomerReference"] or sale.get("Note") != header["Note"]:
                self.client.request(
                    "PUT", "sale", body={"ID": sale_id, **{k: header[k] for k in ("CustomerReference", "Note")}}
                )
        order_lines = [{k: v for k, v in line.items() if k != "Account"} for line in lines]
        status = "DRAFT" if invoice.status is InvoiceStatus.DRAFT else "AUTHORISED"
        self.client.request("POST", "sale/order", body={"SaleID": sale_id, "Status": status, "Lines": order_lines})
        current = M.sale_invoice(sale)
        body: dict[str, Any] = {
            "SaleID": sale_id,
            "Status": status,
            "InvoiceDate": M.dear_date(invoice.date),
            "InvoiceDueDate": M.dear_date(invoice.due_date or invoice.date),
            "Memo": invoice.reference or "",
            "Lines": lines,
        }
        if current is not None and current.get("Status") != "VOIDED":
            body["TaskID"] = current["TaskID"]
        self.client.request("POST", "sale/invoice", body=body)
        found = M.invoice_from_sale(self._sale(sale_id), self.config.service_sku)
        assert found is not None
        return found

    def _task_of(self, sale_id: str) -> tuple[dict[str, Any], str]:
        sale = self._sale_or_none(sale_id)
        inv = M.sale_invoice(sale) if sale else None
        if sale is None or inv is None or inv.get("Status") not in ("AUTHORISED", "PAID"):
            raise ProviderError(
                _err(
                    ErrorCode.NOT_FOUND,
                    "The invoice this payment is for is not authorised in DEAR.",
                    "Sync the invoice first, or relink the payment.",
                )
            )
        return sale, str(inv["TaskID"])

    def _write_payment(self, write: Write, payment: Payment) -> RemoteRecord:
        if len(payment.allocations) != 1:
            raise M.MappingError("DEAR posts a payment against one invoice; split it into one payment per invoice")
        (alloc,) = payment.allocations
        sale, task = self._task_of(alloc.invoice_id)
        body = {
            "TaskID": task,
            "Type": "Payment",
            "Account": payment.account_code or self.config.bank_account_code,
            "Amount": alloc.amount,
            "DatePaid": M.dear_date(payment.date),
            "Reference": payment.reference or "",
        }
        if write.remote_id:
            answer = self.client.request("PUT", "sale/payment", body={"ID": write.remote_id, **body})
        else:
            same = self._same_payment(sale, body)
            answer = same or self.client.request("POST", "sale/payment", body=body)
        # The answer carries the payment whole; with the sale just read it is the record (no read back).
        inv = next(i for i in sale.get("Invoices") or [] if i.get("TaskID") == task)
        return M.payment_record(sale, inv, answer)

    @staticmethod
    def _same_payment(sale: Mapping[str, Any], body: Mapping[str, Any]) -> dict[str, Any] | None:
        for inv in sale.get("Invoices") or []:
            for p in inv.get("Payments") or []:
                if (
                    str(p.get("Reference") or "") == body["Reference"]
                    and M.dec(p.get("Amount")) == Decimal(body["Amount"])
                    and str(p.get("DatePaid") or "")[:10] == str(body["DatePaid"])[:10]
                    and body["Reference"]
                ):
                    return dict(p)
        return None

    def _write_credit_note(self, write: Write, note: CreditNote) -> RemoteRecord:
        if not note.allocations:
            raise M.MappingError("DEAR keeps a credit note on a sale: allocate it to the invoice it credits")
        sale_id = note.allocations[0].invoice_id
        body: dict[str, Any] = {
            "SaleID": sale_id,
            "Status": "DRAFT" if note.status is InvoiceStatus.DRAFT else "AUTHORISED",
            "CreditNoteDate": M.dear_date(note.date),
            # DEAR numbers credit notes itself (CR-00001); the app's number is kept in the memo.
            "Memo": note.number or "",
            "Lines": self._lines(note.lines, with_account=True),
        }
        if write.remote_id:
            body["TaskID"] = write.remote_id
        answer = self.client.request("POST", "sale/creditnote", body=body)
        notes = answer.get("CreditNotes") or []
        chosen = next((n for n in notes if n["TaskID"] == write.remote_id), notes[-1])
        fresh = self._sale(sale_id)
        return next(
            r for r in M.credit_notes_from_sale(fresh, self.config.service_sku) if r.remote_id == chosen["TaskID"]
        )

    def _write_purchase_order(self, write: Write, order: PurchaseOrder) -> RemoteRecord:
        pid = write.remote_id
        header = {
            "SupplierID": order.supplier_id,
            "Note": order.reference or "",
            "Approach": "INVOICE",
            "OrderDate": M.dear_date(order.date),
            "RequiredBy": M.dear_date(order.delivery_date),
        }
        if pid is None:
            pid = str(self.client.request("POST", "purchase", body=header)["ID"])
        status = "DRAFT" if order.status is PurchaseOrderStatus.DRAFT else "AUTHORISED"
        self.client.request(
            "POST",
            "purchase/order",
            body={
                "TaskID": pid,
                "Status": status,
                # DEAR numbers orders itself (PO-00001); the app's number is kept in the memo (as for credit notes).
                "Memo": order.number or "",
                "Lines": [self._purchase_line(line) for line in order.lines],
            },
        )
        found = M.purchase_order_from_dear(self.client.get("purchase", {"ID": pid}), self.config.service_sku)
        assert found is not None
        return found

    def _purchase_line(self, line: Any, with_account: bool = False) -> dict[str, Any]:
        (out,) = self._lines([line], with_account=with_account, tax=self.config.purchase_tax_rule)
        out.setdefault("Comment", "")
        return out

    def _write_bill(self, write: Write, bill: Bill) -> RemoteRecord:
        pid = write.remote_id or bill.purchase_order_id
        if pid is None:
            header = {"SupplierID": bill.supplier_id, "Note": bill.reference or "", "Approach": "INVOICE"}
            pid = str(self.client.request("POST", "purchase", body=header)["ID"])
        self.client.request(
            "POST",
            "purchase/invoice",
            body={
                "TaskID": pid,
                "Status": "DRAFT" if bill.status is InvoiceStatus.DRAFT else "AUTHORISED",
                "InvoiceNumber": bill.number or "",
                "InvoiceDate": M.dear_date(bill.date),
                "InvoiceDueDate": M.dear_date(bill.due_date or bill.date),
                "Lines": [self._purchase_line(line, with_account=True) for line in bill.lines],
            },
        )
        found = M.bill_from_dear(self.client.get("purchase", {"ID": pid}), self.config.service_sku)
        assert found is not None
        return found

    def restore(self, entity: Entity, write: Write) -> WriteResult:
        if entity not in (Entity.CONTACT, Entity.SUPPLIER):
            return WriteResult(
                write.key,
                error=_err(ErrorCode.VALIDATION, "DEAR can only make customers and suppliers active again.", "Skip."),
            )
        record = write.record.model_copy(update={"status": ContactStatus.ACTIVE})
        return self._push_one(entity, Write(write.key, record, write.idempotency_key, write.remote_id))

    def remove(self, entity: Entity, write: Write) -> WriteResult:
        rid = write.remote_id
        if rid is None:
            return WriteResult(write.key, error=_err(ErrorCode.NOT_FOUND, "Nothing to remove in DEAR.", "Skip."))
        try:
            if entity in (Entity.CONTACT, Entity.SUPPLIER):
                record = write.record.model_copy(update={"status": ContactStatus.ARCHIVED})
                return self._push_one(entity, Write(write.key, record, write.idempotency_key, rid))
            if entity is Entity.ITEM:
                rows = self.client.get("product", {"ID": rid, "IncludeDeprecated": True}).get("Products") or []
                if not rows:
                    return WriteResult(write.key, remote=None)
                body = self.client.request(
                    "PUT",
                    "product",
                    body={"ID": rid, "SKU": rows[0]["SKU"], "Name": rows[0]["Name"], "Status": "Deprecated"},
                )
                return WriteResult(write.key, remote=M.product_from_dear(body["Products"][0]))
            if entity is Entity.INVOICE:
                sale = self._sale_or_none(rid)
                if sale is None or sale.get("Status") == "VOIDED":
                    return WriteResult(
                        write.key, remote=M.invoice_from_sale(sale, self.config.service_sku) if sale else None
                    )
                self.client.request("DELETE", "sale", params={"ID": rid, "Void": True})
                return WriteResult(write.key, remote=M.invoice_from_sale(self._sale(rid), self.config.service_sku))
            if entity is Entity.PAYMENT:
                self.client.request("DELETE", "sale/payment", params={"ID": rid})
                self._forget_payment(rid)
                return WriteResult(write.key, remote=None)
            if entity is Entity.CREDIT_NOTE:
                self.client.request("DELETE", "sale/creditnote", params={"TaskID": rid, "Void": True})
                return WriteResult(write.key, remote=None)
            if entity in (Entity.PURCHASE_ORDER, Entity.BILL):
                self.client.request("DELETE", "purchase", params={"ID": rid, "Void": True})
                return WriteResult(write.key, remote=None)
        except ProviderError as exc:
            if exc.error.code in AUTH or exc.error.code in (ErrorCode.UNKNOWN_OUTCOME, ErrorCode.RATE_LIMITED):
                raise
            if (
                entity is Entity.PAYMENT
                and exc.error.code in (ErrorCode.NOT_FOUND, ErrorCode.VALIDATION)
                and "not found" in (exc.error.platform_message or "").lower()
            ):
                return WriteResult(write.key, remote=None)  # already gone: what remove wanted
            return WriteResult(write.key, error=exc.error)
        return WriteResult(write.key, error=_err(ErrorCode.VALIDATION, f"DEAR can't remove {entity.value}.", "Skip."))

    def _forget_payment(self, payment_id: str) -> None:
        for sid, (_, sale) in list(self._sales.items()):
            if any(p.get("ID") == payment_id for inv in sale.get("Invoices") or [] for p in inv.get("Payments") or []):
                self._sales.pop(sid, None)

    # ------------------------------------------------------------------ finding what an unknown write left
    def find(self, entity: Entity, writes: Sequence[Write]) -> dict[str, RemoteRecord]:
        found: dict[str, RemoteRecord] = {}
        for write in writes:
            hit = self._find_one(entity, write)
            if hit is not None:
                found[write.key] = hit
        return found

    def _find_one(self, entity: Entity, write: Write) -> RemoteRecord | None:
        record = write.record
        if entity in (Entity.CONTACT, Entity.SUPPLIER):
            name = str(getattr(record, "name", ""))
            path, key = ("customer", "CustomerList") if entity is Entity.CONTACT else ("supplier", "SupplierList")
            rows = self.client.get(path, {"Name": name, "IncludeDeprecated": True}).get(key) or []
            exact = [r for r in rows if str(r["Name"]).lower() == name.lower() and r.get("Status") == "Active"]
            conv = M.customer_from_dear if entity is Entity.CONTACT else M.supplier_from_dear
            return conv(exact[0]) if len(exact) == 1 else None
        if entity is Entity.ITEM:
            rows = self.client.get("product", {"Sku": getattr(record, "code", ""), "IncludeDeprecated": True})
            items = rows.get("Products") or []
            return M.product_from_dear(items[0]) if items else None
        if entity is Entity.INVOICE:
            rows = self.client.get("saleList", {"ExternalID": write.key, "Limit": 10}).get("SaleList") or []
            for row in rows:
                if row.get("Status") == "VOIDED":
                    continue
                hit = M.invoice_from_sale(self._sale(str(row["SaleID"])), self.config.service_sku)
                # A sale an interrupted create left without its invoice is not the invoice: push finishes it.
                if hit is not None:
                    return hit
            return None
        if entity is Entity.PAYMENT and isinstance(record, Payment) and len(record.allocations) == 1:
            sale = self._sale_or_none(record.allocations[0].invoice_id)
            if sale is None:
                return None
            body = {
                "Reference": record.reference or "",
                "Amount": record.allocations[0].amount,
                "DatePaid": M.dear_date(record.date),
            }
            same = self._same_payment(sale, body)
            if same is None:
                return None
            return next((r for r in M.payments_from_sale(sale) if r.remote_id == str(same["ID"])), None)
        return None

    # ------------------------------------------------------------------ stock and webhooks
    def stock_on_hand(self, skus: Sequence[str] | None = None) -> dict[str, Decimal]:
        """Units on hand per SKU, across locations (/ref/productavailability)."""
        totals: dict[str, Decimal] = {}
        page = 1
        while True:
            body = self.client.get("ref/productavailability", {"Page": page, "Limit": self.config.page_size})
            for row in body.get("ProductAvailabilityList") or []:
                sku = str(row["SKU"])
                if skus is None or sku in skus:
                    totals[sku] = totals.get(sku, Decimal(0)) + M.dec(row.get("OnHand"))
            if page * self.config.page_size >= int(body.get("Total") or 0):
                return totals
            page += 1

    def ensure_webhooks(self) -> list[str]:
        """Make sure every webhook we want exists, points at us with our bearer token and is switched on; DEAR
        switches a webhook off after 6 failed deliveries. Returns what it changed ("created Type",
        "re-enabled Type"). Without a webhook URL and token, nothing (polling alone)."""
        url = self.config.webhook_url
        token = self.config.secret("webhook_token")
        self.webhooks_checked = []
        if not url or not token:
            return []
        try:
            existing = self.client.get("webhooks").get("Webhooks") or []
        except ProviderError as exc:
            if exc.error.code in AUTH:
                raise
            # Webhooks need DEAR's Automation module; without it the connection is polled.
            self.webhooks_checked = [f"unavailable: {exc.error.platform_message or exc.error.message}"]
            return self.webhooks_checked
        mine = {w["Type"]: w for w in existing if w.get("ExternalURL") == url}
        changes: list[str] = []
        for kind in DEFAULT_WEBHOOK_TYPES:
            wanted = {
                "Type": kind,
                "IsActive": True,
                "ExternalURL": url,
                "ExternalAuthorizationType": "bearerauth",
                "ExternalBearerToken": token,
                "ExternalHeaders": [],
            }
            hook = mine.get(kind)
            if hook is None:
                self.client.request("POST", "webhooks", body=wanted)
                changes.append(f"created {kind}")
            elif (
                not hook.get("IsActive")
                or hook.get("ExternalBearerToken") != token
                or hook.get("ExternalAuthorizationType") != "bearerauth"
            ):
                self.client.request("PUT", "webhooks", body={"ID": hook["ID"], **wanted})
                changes.append(f"{'re-enabled' if not hook.get('IsActive') else 'updated'} {kind}")
        self.webhooks_checked = changes
        return changes


__all__ = ["DEAR_CAPABILITIES", "DearProvider"]
