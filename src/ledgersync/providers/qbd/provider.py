"""QbdProvider: the Provider protocol over qbXML, each call a request through the Web Connector mailbox."""

from __future__ import annotations

import dataclasses
import datetime as dt
import json
import secrets
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from typing import Any

from ledgersync.model import Contact, Entity, InvoiceStatus, Payment, ProviderError, SyncError
from ledgersync.model import ErrorCode as EC
from ledgersync.providers.base import CallInfo, Capabilities, NameRule, PullPage, RemoteRecord, Write, WriteResult
from ledgersync.providers.config import ProviderConfig
from ledgersync.providers.qbd import mapping as m
from ledgersync.providers.qbd import qbxml as x
from ledgersync.providers.qbd.config import QbdConfig
from ledgersync.providers.qbd.errors import (
    ITERATOR_INVALID,
    STALE_EDIT_SEQUENCE,
    QbdErrors,
    sync_error,
    unavailable,
)
from ledgersync.providers.qbd.mailbox import Asks
from ledgersync.providers.qbd.qbxml import Node, Response
from ledgersync.providers.retry import Action

ENTITIES = (
    Entity.CONTACT,
    Entity.ITEM,
    Entity.INVOICE,
    Entity.PAYMENT,
    Entity.CREDIT_NOTE,
    Entity.SUPPLIER,
    Entity.PURCHASE_ORDER,
    Entity.BILL,
)

QBD_CAPABILITIES = Capabilities(
    display_name="QuickBooks Desktop",
    live_updates=False,
    # Synced when its Web Connector calls (the .qwc's RunEveryNMinutes), never by our scheduler.
    default_sync_seconds=None,
    contacts_both_ways=True,
    payments_both_ways=True,
    purchase_orders_and_bills=True,
    products=True,
    classes_or_tracking=True,
    sub_customers=True,
    zero_invoices=True,
    tax_groups=False,
    overpayments=True,
    split_payments=True,
    one_payment_many_invoices=True,
    moved_payments=False,
    refunds=False,
    void_and_delete=True,
    # ReceivePaymentMod edits a payment in place (TotalAmount, AppliedToTxnMod) on its EditSequence.
    payments_editable=True,
    payment_holds_credit=True,
    initial_import_export=True,
    unheld_fields=frozenset(
        {
            "lines.account_code",
            "lines.discount_rate",
            "tax_number",
            "currency",
            "description",
            "is_sold",
            "is_purchased",
            "allocations",
            # A bill is not linked to its order (LinkToTxnID would add the order's lines a second time); the
            # order itself is closed when it is billed.
            "purchase_order_id",
        }
    ),
    name_rules=(
        # qbxmlops130.xsd: CustomerAdd/VendorAdd Name maxLength 41; ':' joins a parent and its sub-customer
        # in FullName, so it cannot be part of a name.
        NameRule(
            Entity.CONTACT,
            "name",
            "Customer name",
            max_length=41,
            forbidden=":",
            no_control_characters=True,
            source="qbXML 13.0 CustomerAdd Name: max 41 characters; ':' separates FullName levels",
        ),
        NameRule(
            Entity.SUPPLIER,
            "name",
            "Vendor name",
            max_length=41,
            forbidden=":",
            no_control_characters=True,
            source="qbXML 13.0 VendorAdd Name: max 41 characters",
        ),
        NameRule(
            Entity.ITEM,
            "code",
            "Item name",
            max_length=31,
            forbidden=":",
            no_control_characters=True,
            source="qbXML 13.0 ItemServiceAdd Name: max 31 characters",
        ),
        NameRule(
            Entity.INVOICE,
            "number",
            "Invoice number",
            max_length=11,
            no_control_characters=True,
            source="qbXML 13.0 InvoiceAdd RefNumber: max 11 characters",
        ),
        NameRule(
            Entity.CREDIT_NOTE,
            "number",
            "Credit memo number",
            max_length=11,
            no_control_characters=True,
            source="qbXML 13.0 CreditMemoAdd RefNumber: max 11 characters",
        ),
    ),
    batch_size=10,
    page_size=100,
    pull_entities=ENTITIES,
    push_entities=ENTITIES,
    notes={
        "live_updates": "Reached only through the QuickBooks Web Connector, on its schedule (every N minutes); "
        "Sync now waits for its next run.",
        "payments": "One payment can pay several invoices; what it leaves unapplied is the customer's credit "
        "(UnusedPayment).",
        "tracking": "A line's tracking option is its Class.",
        "deletions": "Deletions are read with ListDeletedQuery / TxnDeletedQuery; payments and purchase orders "
        "can only be deleted, invoices, credit memos and bills are voided.",
        "credit_notes": "Credit memos sync; applying one to invoices is done in QuickBooks (not built: qbXML "
        "applies credit through ReceivePayment's SetCredit, and refunds it with ARRefundCreditCard or a cheque).",
    },
)

# Contacts are edited on both sides and left to the next cycle's merge on a stale EditSequence; the app owns
# the rest outright, so those are read again and re-sent with the fresh EditSequence.
_APP_OWNED = frozenset(ENTITIES) - {Entity.CONTACT, Entity.SUPPLIER}


# QuickBooks refuses dates before 1970-01-02 (status 3020).
EARLIEST = dt.datetime(1970, 1, 2, tzinfo=dt.UTC)


def _rid() -> str:
    return secrets.token_hex(8)


def _stamp(value: str | None) -> dt.datetime | None:
    return x.parse_datetime(value) if value else None


class QbdProvider:
    """One QuickBooks Desktop company file. Without a mailbox (no Web Connector session is open) every call
    says the work waits for the next Web Connector run."""

    capabilities: Capabilities = QBD_CAPABILITIES

    def __init__(
        self,
        config: ProviderConfig | Mapping[str, Any],
        mailbox: Asks | None = None,
        *,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        cfg = QbdConfig.coerce(config)
        self.config = cfg
        self.mailbox = mailbox
        self.sleep = sleep
        self.errors = QbdErrors()
        self.page_size = cfg.page_size
        self.lookback = dt.timedelta(seconds=cfg.lookback_seconds)
        self.refs = m.Refs(
            income_account=cfg.income_account,
            expense_account=cfg.expense_account,
            default_item=cfg.default_item,
            deposit_account=cfg.deposit_account,
            class_category=cfg.class_category,
        )
        if cfg.batch_size != QBD_CAPABILITIES.batch_size or cfg.page_size != QBD_CAPABILITIES.page_size:
            self.capabilities = dataclasses.replace(
                QBD_CAPABILITIES, batch_size=cfg.batch_size, page_size=cfg.page_size
            )
        self.on_call: Callable[[CallInfo], None] | None = None
        # Every request document sent, for tests that validate them against the schema.
        self.sent: list[str] = []
        self._default_item_ready = False

    # -- one exchange ----------------------------------------------------------------------------------------
    def _ask(self, requests: Sequence[Node], *, is_write: bool) -> list[Response]:
        if self.mailbox is None:
            raise ProviderError(
                unavailable(
                    "QuickBooks Desktop is reached only through its Web Connector: the work waits for the next "
                    f"Web Connector run (every {self.config.run_every_minutes} minutes)."
                )
            )
        started = time.monotonic()
        kind = ",".join(rq.tag for rq in requests)
        try:
            out = self.mailbox.ask(requests, is_write=is_write)
        except ProviderError as exc:
            self._log(kind, None, started, requests, exc.error.message)
            raise
        self.sent.append(x.document(requests))
        self._log(kind, out, started, requests, None)
        return out

    def _log(
        self, kind: str, out: list[Response] | None, started: float, rqs: Sequence[Node], error: str | None
    ) -> None:
        if self.on_call is None:
            return
        status = None if out is None else max((r.code for r in out), default=0)
        self.on_call(
            CallInfo(
                method="QBXML",
                path=kind[:200],
                status=status,
                duration_ms=(time.monotonic() - started) * 1000,
                request_id=rqs[0].get("requestID") if rqs else None,
                error=error,
            )
        )

    def _one(self, rq: Node, *, is_write: bool) -> Response:
        """One request, resent while another QuickBooks user holds the record (lock errors)."""
        attempts = self.config.max_attempts
        waited = 0.0
        for attempt in range(attempts):
            rs = self._ask([rq], is_write=is_write)[0]
            res = self.errors.interpret(rs)
            pause = min(0.5 * (attempt + 1), 5.0)
            budget_left = waited + pause <= self.config.max_retry_seconds
            if res.action is Action.RETRY and attempt + 1 < attempts and budget_left:
                rq.set("requestID", _rid())
                self.sleep(pause)
                waited += pause
                continue
            return rs
        raise AssertionError("unreachable")  # pragma: no cover

    # -- reading ---------------------------------------------------------------------------------------------
    def _query(self, entity: Entity, *, iterator: str | None = None, iterator_id: str | None = None) -> Node:
        attrs = {"iterator": iterator} if iterator else {}
        if iterator_id:
            attrs["iteratorID"] = iterator_id
        return x.new_request(m.QUERY[entity], _rid(), **attrs)

    def _filter(self, entity: Entity, rq: Node, since: dt.datetime | None, *, max_returned: int | None) -> None:
        if entity in m.LISTS:
            if max_returned:
                x.el(rq, "MaxReturned", max_returned)
            x.el(rq, "ActiveStatus", "All")
            if since is not None:
                x.el(rq, "FromModifiedDate", x.datetime(since))
            return
        if max_returned:
            x.el(rq, "MaxReturned", max_returned)
        if since is not None:
            f = x.el(rq, "ModifiedDateRangeFilter")
            x.el(f, "FromModifiedDate", x.datetime(since))
        self._tail(entity, rq)

    def _tail(self, entity: Entity, rq: Node) -> None:
        if entity in (Entity.INVOICE, Entity.CREDIT_NOTE, Entity.PURCHASE_ORDER, Entity.BILL, Entity.PAYMENT):
            x.el(rq, "IncludeLineItems", "true")
        if entity in (Entity.INVOICE, Entity.CREDIT_NOTE, Entity.PURCHASE_ORDER, Entity.BILL):
            x.el(rq, "IncludeLinkedTxns", "true")

    def _rets(self, entity: Entity, rs: Response) -> list[Node]:
        if entity is Entity.ITEM:
            return [r for r in rs.rets if r.tag in m.ITEM_RETS]
        return [r for r in rs.rets if r.tag == m.OBJECT[entity] + "Ret"]

    def _records(self, entity: Entity, rets: Sequence[Node]) -> list[RemoteRecord]:
        return [m.from_ret(entity, r, self.refs) for r in rets]

    def pull(self, entity: Entity, cursor: str | None, resume: str | None = None) -> Iterator[PullPage]:
        """Records modified since `cursor` (less the look-back), an iterator page at a time. `resume` carries
        the iterator's id, the window's start and the newest stamp seen; an iterator QuickBooks no longer knows
        (3391, after the session ended) starts the same window again. Deletions follow on the last page."""
        state = json.loads(resume) if resume else {}
        last = _stamp(cursor)
        since_text: str | None = state.get("since")
        if not state:
            since = max(last - self.lookback, EARLIEST) if last is not None else None
            since_text = x.datetime(since) if since is not None else None
        newest = _stamp(state.get("hi")) or last
        iterator_id: str | None = state.get("it")
        while True:
            since_dt = _stamp(since_text)
            if iterator_id:
                rq = self._query(entity, iterator="Continue", iterator_id=iterator_id)
            else:
                rq = self._query(entity, iterator="Start")
            self._filter(entity, rq, since_dt, max_returned=self.page_size)
            rs = self._one(rq, is_write=False)
            if rs.code == ITERATOR_INVALID and iterator_id:
                iterator_id = None  # start the same window again; pages already applied apply again harmlessly
                continue
            if not rs.ok:
                raise ProviderError(sync_error(rs))
            records = self._records(entity, self._rets(entity, rs))
            if entity is Entity.ITEM:  # the item lines without one are booked to is ours, not the app's
                records = [r for r in records if getattr(r.record, "code", None) != self.refs.default_item]
            for r in records:
                if r.updated_at is not None and (newest is None or r.updated_at > newest):
                    newest = r.updated_at
            more = bool(rs.remaining) and bool(rs.iterator_id)
            hi = x.datetime(newest) if newest is not None else None
            if more:
                iterator_id = rs.iterator_id
                resume_state = json.dumps({"it": iterator_id, "since": since_text, "hi": hi})
                # The checkpoint stays where the window started until the whole window is read (a first
                # read's window starts at QuickBooks' earliest date).
                yield PullPage(records, cursor or x.datetime(EARLIEST), resume_state)
                continue
            if cursor is not None and since_dt is not None:
                records.extend(self._deletions(entity, since_dt))
            yield PullPage(records, hi or cursor, None)
            return

    def _deletions(self, entity: Entity, since: dt.datetime) -> list[RemoteRecord]:
        listed = entity in m.LISTS
        rq = x.new_request("ListDeletedQueryRq" if listed else "TxnDeletedQueryRq", _rid())
        if entity is Entity.ITEM:
            for t in ("ItemService", "ItemNonInventory", "ItemInventory"):
                x.el(rq, "ListDelType", t)
        else:
            x.el(rq, "ListDelType" if listed else "TxnDelType", m.DEL_TYPE[entity])
        f = x.el(rq, "DeletedDateRangeFilter")
        x.el(f, "FromDeletedDate", x.datetime(since))
        rs = self._ask([rq], is_write=False)[0]
        if not rs.ok:
            raise ProviderError(sync_error(rs))
        key = "ListID" if listed else "TxnID"
        return [m.deleted_stub(entity, x.text(r, key) or "", x.text(r, "TimeDeleted")) for r in rs.rets]

    def fetch(self, entity: Entity, remote_ids: Sequence[str]) -> list[RemoteRecord]:
        if not remote_ids:
            return []
        return self._records(entity, self._by_ids(entity, remote_ids))

    def _by_ids(self, entity: Entity, ids: Sequence[str]) -> list[Node]:
        rq = self._query(entity)
        for rid in dict.fromkeys(ids):
            x.el(rq, "ListID" if entity in m.LISTS else "TxnID", rid)
        if entity not in m.LISTS:
            self._tail(entity, rq)
        rs = self._one(rq, is_write=False)
        # 1 "no matching object" and 500 "one or more objects cannot be found" still carry what was found.
        if not rs.ok and rs.code != 500 and rs.code not in (3120,):
            raise ProviderError(sync_error(rs))
        return self._rets(entity, rs)

    # -- writing ---------------------------------------------------------------------------------------------
    def _element(self, entity: Entity, write: Write, edit_sequence: str | None) -> Node:
        rec = write.record
        guid = m.external_guid(write.idempotency_key)
        rid = write.remote_id
        if entity is Entity.CONTACT:
            assert isinstance(rec, Contact)
            return m.contact_element(rec, remote_id=rid, edit_sequence=edit_sequence, guid=guid)
        if entity is Entity.SUPPLIER:
            return m.supplier_element(rec, remote_id=rid, edit_sequence=edit_sequence, guid=guid)  # type: ignore[arg-type]
        if entity is Entity.ITEM:
            return m.item_element(rec, self.refs, remote_id=rid, edit_sequence=edit_sequence, guid=guid)  # type: ignore[arg-type]
        if entity in (Entity.INVOICE, Entity.CREDIT_NOTE):
            return m.sales_element(rec, self.refs, remote_id=rid, edit_sequence=edit_sequence, guid=guid)  # type: ignore[arg-type]
        if entity is Entity.PURCHASE_ORDER:
            return m.purchase_order_element(rec, self.refs, remote_id=rid, edit_sequence=edit_sequence, guid=guid)  # type: ignore[arg-type]
        if entity is Entity.BILL:
            return m.bill_element(rec, self.refs, remote_id=rid, edit_sequence=edit_sequence, guid=guid)  # type: ignore[arg-type]
        raise ValueError(f"QuickBooks Desktop does not push {entity.value} this way")

    def _wrap(self, body: Node) -> Node:
        tag = body.tag
        rq = x.new_request(tag + "Rq", _rid())
        rq.append(body)
        return rq

    def push(self, entity: Entity, writes: Sequence[Write]) -> list[WriteResult]:
        """Up to batch_size writes in one qbXML document (continueOnError: each *Rs stands alone, tied to its
        write by requestID). A stale EditSequence (3200) is read again: app-owned records are re-sent on the
        fresh EditSequence, contacts come back as a conflict for the next cycle's merge."""
        if not writes:
            return []
        if entity is Entity.PAYMENT:
            return [self._push_payment(w) for w in writes]
        if entity in (Entity.INVOICE, Entity.CREDIT_NOTE, Entity.PURCHASE_ORDER) and any(
            not ln.item_code for w in writes for ln in getattr(w.record, "lines", [])
        ):
            self._ensure_default_item()
        replayed = self._replayed(entity, writes)
        todo = [w for w in writes if w.key not in replayed]
        rqs = [self._wrap(self._element(entity, w, w.remote_version)) for w in todo]
        answers = self._ask(rqs, is_write=True) if rqs else []
        done: dict[str, WriteResult] = {k: WriteResult(k, remote=r) for k, r in replayed.items()}
        for w, rq, rs in zip(todo, rqs, answers, strict=True):
            res = self.errors.interpret(rs)
            if res.action is Action.RETRY:  # a lock: send this one alone, again
                rs = self._one(rq, is_write=True)
                res = self.errors.interpret(rs)
            if res.action is Action.SUCCESS:
                done[w.key] = self._result(entity, w, rs)
            elif rs.code == STALE_EDIT_SEQUENCE and w.remote_id:
                done[w.key] = self._after_stale(entity, w, rs)
            else:
                done[w.key] = WriteResult(w.key, error=res.error)
        return [done[w.key] for w in writes]

    def _replayed(self, entity: Entity, writes: Sequence[Write]) -> dict[str, RemoteRecord]:
        """QuickBooks has no idempotency key, and a document number need not be unique: before adding a
        transaction, look it up by its ExternalGUID (derived from the key), so a write sent again after an
        answer was lost answers with the first record instead of adding another. List elements need no
        look-up: their names are unique, and a second Add is refused (3100)."""
        creates = [w for w in writes if w.remote_id is None]
        if entity in m.LISTS or not creates:
            return {}
        found = self.find(entity, creates)
        return {k: r for k, r in found.items() if r.external_id == m.external_guid(_by_key(creates)[k].idempotency_key)}

    def _result(self, entity: Entity, w: Write, rs: Response) -> WriteResult:
        rets = self._rets(entity, rs)
        if not rets:
            return WriteResult(w.key, error=sync_error(rs) if not rs.ok else _no_record())
        return WriteResult(w.key, remote=m.from_ret(entity, rets[0], self.refs))

    def _after_stale(self, entity: Entity, w: Write, stale: Response) -> WriteResult:
        """3200: someone saved the record in QuickBooks since we read it, and QuickBooks kept their version. Read
        it again (the 3200 answer carries the current *Ret; else a query by id). If it already says what we
        want, done. If the app owns the record outright (invoices and the other transactions: their rules take
        nothing but computed fields back), send it again on the fresh EditSequence. A contact is edited on both
        sides: the conflict comes back with the current record, and the engine applies the connection's
        conflict policy to it (a change at the desk to something we do not carry is no conflict: the app's
        version goes again on the fresh EditSequence)."""
        error = sync_error(stale)
        if not w.remote_id:
            return WriteResult(w.key, error=error)
        current = [r for r in self._rets(entity, stale) if x.text(r, "ListID") == w.remote_id]
        current = current or [r for r in self._rets(entity, stale) if x.text(r, "TxnID") == w.remote_id]
        if not current:
            current = self._by_ids(entity, [w.remote_id])
        if not current:
            return WriteResult(w.key, error=error)
        fresh = m.from_ret(entity, current[0], self.refs)
        if type(fresh.record) is type(w.record) and fresh.record.hash_view() == w.record.hash_view():
            return WriteResult(w.key, remote=fresh)
        if entity not in _APP_OWNED:
            return WriteResult(w.key, remote=fresh, error=error)
        rs = self._one(self._wrap(self._element(entity, w, fresh.version)), is_write=True)
        if rs.ok:
            return self._result(entity, w, rs)
        return WriteResult(w.key, error=sync_error(rs))

    def _ensure_default_item(self) -> None:
        """Lines without an item are booked to the default service item: found by name, else created once."""
        if self._default_item_ready:
            return
        rq = self._query(Entity.ITEM)
        x.el(rq, "FullName", self.refs.default_item)
        rs = self._ask([rq], is_write=False)[0]
        if not self._rets(Entity.ITEM, rs):
            add = x.etree.Element("ItemServiceAdd")
            x.el(add, "Name", self.refs.default_item)
            sop = x.el(add, "SalesOrPurchase")
            x.el(sop, "Desc", self.refs.default_item)
            x.el(sop, "Price", "0")
            x.ref(sop, "AccountRef", full_name=self.refs.income_account)
            made = self._one(self._wrap(add), is_write=True)
            if not made.ok and made.code != 3100:  # 3100: someone made it meanwhile
                raise ProviderError(sync_error(made))
        self._default_item_ready = True

    def _customer_of(self, invoice_ids: Sequence[str]) -> str | None:
        rets = self._by_ids(Entity.INVOICE, invoice_ids[:1])
        return x.text(rets[0], "CustomerRef/ListID") if rets else None

    def _push_payment(self, w: Write) -> WriteResult:
        rec = w.record
        assert isinstance(rec, Payment)
        customer = rec.contact_id or self._customer_of([a.invoice_id for a in rec.allocations])
        if not customer:
            return WriteResult(
                w.key,
                error=SyncError(
                    code=EC.MISSING_DEPENDENCY,
                    message="The payment names no customer and no invoice QuickBooks Desktop knows.",
                    hint="Sync the customer or the invoice first, then retry.",
                ),
            )
        replayed = self._replayed(Entity.PAYMENT, [w])
        if w.key in replayed:
            return WriteResult(w.key, remote=replayed[w.key])
        guid = m.external_guid(w.idempotency_key)
        body = m.payment_element(
            rec, customer, self.refs, guid=guid, remote_id=w.remote_id, edit_sequence=w.remote_version
        )
        rs = self._one(self._wrap(body), is_write=True)
        if rs.ok:
            return self._result(Entity.PAYMENT, w, rs)
        if rs.code == STALE_EDIT_SEQUENCE and w.remote_id:
            current = self._by_ids(Entity.PAYMENT, [w.remote_id])
            if current:
                fresh = x.text(current[0], "EditSequence")
                body = m.payment_element(
                    rec, customer, self.refs, guid=guid, remote_id=w.remote_id, edit_sequence=fresh
                )
                rs = self._one(self._wrap(body), is_write=True)
                if rs.ok:
                    return self._result(Entity.PAYMENT, w, rs)
        return WriteResult(w.key, error=sync_error(rs))

    # -- removing and restoring ------------------------------------------------------------------------------
    def _set_active(self, entity: Entity, write: Write, active: bool) -> WriteResult:
        assert write.remote_id
        current = self._by_ids(entity, [write.remote_id])
        if not current:
            return WriteResult(write.key, remote=m.deleted_stub(entity, write.remote_id, None))
        obj = {Entity.CONTACT: "Customer", Entity.SUPPLIER: "Vendor"}.get(entity)
        if obj is None:
            obj = current[0].tag[: -len("Ret")]
        body = x.etree.Element(obj + "Mod")
        x.el(body, "ListID", write.remote_id)
        x.el(body, "EditSequence", x.text(current[0], "EditSequence") or "")
        x.el(body, "IsActive", "true" if active else "false")
        rs = self._one(self._wrap(body), is_write=True)
        if not rs.ok:
            return WriteResult(write.key, error=sync_error(rs))
        return self._result(entity, write, rs)

    def restore(self, entity: Entity, write: Write) -> WriteResult:
        if entity not in m.LISTS or not write.remote_id:
            return WriteResult(
                write.key,
                error=SyncError(code=EC.VALIDATION, message="Only list records can be made active again."),
            )
        return self._set_active(entity, write, True)

    def remove(self, entity: Entity, write: Write) -> WriteResult:
        """Make a list record inactive; void an invoice, credit memo or bill (a deleted one in the app is
        deleted); delete a payment or purchase order (QuickBooks cannot void those)."""
        if not write.remote_id:
            return WriteResult(write.key, error=_no_record())
        if entity in m.LISTS:
            return self._set_active(entity, write, False)
        rec = write.record
        delete = entity not in m.VOIDABLE or getattr(rec, "status", None) is InvoiceStatus.DELETED
        tag = "TxnDelRq" if delete else "TxnVoidRq"
        rq = x.new_request(tag, _rid())
        x.el(rq, "TxnDelType" if delete else "TxnVoidType", m.DEL_TYPE[entity])
        x.el(rq, "TxnID", write.remote_id)
        rs = self._one(rq, is_write=True)
        if not rs.ok and rs.code not in (3120, 500):
            return WriteResult(write.key, error=sync_error(rs))
        if delete or not rs.ok:
            return WriteResult(write.key, remote=m.deleted_stub(entity, write.remote_id, x.datetime(_now())))
        current = self._by_ids(entity, [write.remote_id])
        if not current:
            return WriteResult(write.key, remote=m.deleted_stub(entity, write.remote_id, None))
        return WriteResult(write.key, remote=m.from_ret(entity, current[0], self.refs))

    # -- finding what an unknown outcome left --------------------------------------------------------------
    def find(self, entity: Entity, writes: Sequence[Write]) -> dict[str, RemoteRecord]:
        """Look each write up by its natural key (Name, RefNumber; a payment by its date) and accept the record
        only if it carries the write's ExternalGUID (or, having none, the same natural key). One qbXML
        document holds the look-ups of all the writes."""
        out: dict[str, RemoteRecord] = {}
        if not writes:
            return out
        rqs = [self._candidate_query(entity, w) for w in writes]
        answers = [self._retry_locks(rq, rs) for rq, rs in zip(rqs, self._ask(rqs, is_write=False), strict=True)]
        for w, rs in zip(writes, answers, strict=True):
            if not rs.ok:
                raise ProviderError(sync_error(rs))
            guid = m.external_guid(w.idempotency_key)
            for ret in self._rets(entity, rs):
                theirs = x.text(ret, "ExternalGUID")
                if theirs == guid or (theirs is None and self._same_key(entity, ret, w)):
                    out[w.key] = m.from_ret(entity, ret, self.refs)
                    break
        return out

    def _retry_locks(self, rq: Node, rs: Response) -> Response:
        if self.errors.interpret(rs).action is Action.RETRY:
            return self._one(rq, is_write=False)
        return rs

    def _candidate_query(self, entity: Entity, w: Write) -> Node:
        rec = w.record
        rq = self._query(entity)
        if entity in (Entity.CONTACT, Entity.SUPPLIER, Entity.ITEM):
            name = getattr(rec, "code" if entity is Entity.ITEM else "name")
            x.el(rq, "ActiveStatus", "All")
            f = x.el(rq, "NameFilter")
            x.el(f, "MatchCriterion", "EndsWith")
            x.el(f, "Name", name)
        elif getattr(rec, "number", None):
            x.el(rq, "RefNumber", rec.number)  # type: ignore[attr-defined]
            self._tail(entity, rq)
        else:
            day = getattr(rec, "date", None)
            if day is not None:
                f = x.el(rq, "TxnDateRangeFilter")
                x.el(f, "FromTxnDate", x.date(day))
                x.el(f, "ToTxnDate", x.date(day))
            self._tail(entity, rq)
        return rq

    def _same_key(self, entity: Entity, ret: Node, w: Write) -> bool:
        rec = w.record
        if entity in (Entity.CONTACT, Entity.SUPPLIER):
            return x.text(ret, "Name") == getattr(rec, "name", None)
        if entity is Entity.ITEM:
            return x.text(ret, "Name") == getattr(rec, "code", None)
        if getattr(rec, "number", None):
            return x.text(ret, "RefNumber") == getattr(rec, "number", None)
        return False  # a payment without its ExternalGUID is a person's, not ours

    def close(self) -> None:
        return None


def _by_key(writes: Sequence[Write]) -> dict[str, Write]:
    return {w.key: w for w in writes}


def _now() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


def _no_record() -> SyncError:
    return SyncError(
        code=EC.UNKNOWN_OUTCOME,
        message="QuickBooks Desktop answered without the record.",
        hint="It is looked up before being sent again.",
    )


__all__ = ["ENTITIES", "QBD_CAPABILITIES", "QbdProvider"]
