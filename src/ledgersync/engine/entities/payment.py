"""Payments: overpayments split into customer credit, delete-then-enter where the platform can't edit them,
invoices read back after paying, and matching a platform payment to the app's on the same invoices."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import replace
from decimal import Decimal
from typing import TYPE_CHECKING, Any

from sqlalchemy.orm import Session

import ledgersync.engine.record as record_stage
from ledgersync.engine.context import doc_of
from ledgersync.engine.credit import Excess, excess_of, split, split_view
from ledgersync.engine.entities.balances import derive_paid
from ledgersync.engine.entities.base import EntityRules, settle
from ledgersync.model import (
    Allocation,
    Entity,
    ErrorCode,
    Invoice,
    Payment,
    PaymentStatus,
    Record,
    Refund,
    SyncError,
)
from ledgersync.providers.base import RemoteRecord
from ledgersync.store import LinkRow, StoredRecord
from ledgersync.store.outbox import PlannedWrite
from ledgersync.store.tables import Link

if TYPE_CHECKING:
    from ledgersync.engine.context import CycleContext


class PaymentRules(EntityRules):
    entity = Entity.PAYMENT

    def prepare(self, ctx: CycleContext, s: Session, rec: StoredRecord) -> StoredRecord | None:
        """A new payment larger than its invoices still owe: split off the excess as customer credit (or fail
        it with that fix offered). Never sent as is, so the platform never refuses it silently."""
        pay = rec.record
        assert isinstance(pay, Payment)
        if pay.status is PaymentStatus.DELETED or not pay.allocations:
            return rec
        kept = split_view(pay, _own_splits(ctx, s).get(pay.id))
        if kept is not pay:
            # Split for this connection already (an earlier plan, or a person's "record the excess as credit").
            _consume_dues(ctx, kept.allocations)
            return replace(rec, record=kept)
        invoices: dict[str, Invoice] = {}
        own = _own_dues(ctx, s, [a.invoice_id for a in pay.allocations])
        for alloc in pay.allocations:
            inv = ctx.store.get_record(ctx.org_id, Entity.INVOICE, alloc.invoice_id, s)
            if inv is None or not isinstance(inv.record, Invoice):
                continue
            invoices[alloc.invoice_id] = inv.record
            # What this platform says is owed; the app's copy may hold another platform's balance.
            due = own.get(alloc.invoice_id, inv.record.amount_due)
            if alloc.invoice_id not in ctx.dues and due is not None:
                ctx.dues[alloc.invoice_id] = due
        excess = excess_of(pay, ctx.dues, invoices)
        if excess is None and pay.unapplied <= 0:
            stale = _own_splits(ctx, s).get(pay.id)
            if stale and stale.get("credit_id"):
                # An earlier split of this connection, refused: the payment now fits, so its credit goes.
                ctx.store.delete_record(ctx.org_id, Entity.CREDIT, str(stale["credit_id"]), s)
            _consume_dues(ctx, pay.allocations)
            return rec
        if excess is None:
            # The app itself left part unapplied: that part is the customer's credit.
            excess = Excess(
                payment=pay,
                capped=list(pay.allocations),
                amount=pay.unapplied,
                contact_id=next((i.contact_id for i in invoices.values()), pay.contact_id),
            )
        if ctx.settings.overpayments == "ask":
            doc = next((i.number for i in invoices.values() if i.number), None)
            owed = sum((a.amount for a in excess.capped), Decimal(0))
            error = SyncError(
                code=ErrorCode.OVERPAYMENT,
                message=f"This payment of {pay.amount} is more than the {owed} outstanding"
                + (f" on {doc}" if doc else "")
                + f"; {ctx.caps.display_name} refuses payments over the amount due.",
                hint=f"Record the excess of {excess.amount} as customer credit, or correct the amount.",
            )
            record_stage.data_error(ctx, s, Entity.PAYMENT, rec, error, kind="check", doc=doc)
            return None
        new_pay, credit = split(
            ctx.store, s, ctx.org_id, ctx.conn_id, excess, keep_in_payment=ctx.caps.payment_holds_credit
        )
        _own_splits(ctx, s)[pay.id] = ctx.store.splits(s, ctx.conn_id, [pay.id])[pay.id]
        ctx.log(
            "overpayment",
            entity=Entity.PAYMENT,
            app_id=rec.app_id,
            doc_number=doc_of(pay),
            message=f"{excess.amount} beyond the amount due recorded as customer credit"
            + (f" ({credit.id})" if credit else " (held in the payment)"),
            s=s,
        )
        _consume_dues(ctx, new_pay.allocations)
        s.flush()
        # What this platform gets; the app's payment (its hash, what the link keeps) is unchanged.
        return replace(rec, record=new_pay)

    def as_sent(self, ctx: CycleContext, s: Session, rec: StoredRecord) -> StoredRecord:
        """A payment this connection split is sent split again when edited (its money unchanged)."""
        pay = rec.record
        if not isinstance(pay, Payment):
            return rec
        kept = split_view(pay, _own_splits(ctx, s).get(pay.id))
        return rec if kept is pay else replace(rec, record=kept)

    def nothing_to_send(self, outgoing: Record) -> bool:
        return isinstance(outgoing, Payment) and outgoing.status is PaymentStatus.DELETED

    def gone_from(self, ctx: CycleContext, s: Session, parents: Sequence[str], listed: set[str]) -> list[str]:
        """Linked payments of these invoices (platform ids) the page does not list: deleted on the platform.
        What those invoices owe changed with them, so they are read back after the push stage (one the platform
        did not mark as changed would not be read again otherwise)."""
        invoices = {a: rid for rid in parents if (a := ctx.to_app_id(Entity.INVOICE, rid))}
        if not invoices:
            return []
        app_ids = ctx.store.referring_ids(s, ctx.org_id, Entity.PAYMENT, [f"invoice:{a}" for a in invoices])
        gone = {a: rid for a in sorted(app_ids) if (rid := ctx.to_remote_id(Entity.PAYMENT, a)) and rid not in listed}
        for stored in ctx.store.record_map(s, ctx.org_id, Entity.PAYMENT, list(gone)).values():
            for alloc in getattr(stored.record, "allocations", None) or []:
                if alloc.invoice_id in invoices:
                    ctx.stale_invoices.add(invoices[alloc.invoice_id])
        return list(gone.values())

    def replaces(self, ctx: CycleContext, link: Link | LinkRow) -> bool:
        # The platform can't edit a payment: delete the old one, then enter the new version.
        return not link.removed and not ctx.caps.payments_editable

    def after_push(self, ctx: CycleContext, written: list[PlannedWrite], removed: list[PlannedWrite]) -> None:
        """Paying or un-paying changes the invoices' status and amount due: read them back now rather than
        leave the app showing them unpaid until the next pull."""
        from ledgersync.engine import pull

        if not (written or removed or ctx.stale_invoices):
            return
        # What the payments' answers and the platform's rules tell is taken as it is; the rest is read back.
        def settle(derived: list[Invoice], based_on: dict[str, tuple[int, str]]) -> set[str]:
            return record_stage.settled(ctx, Entity.INVOICE, derived, based_on)

        touched = derive_paid(ctx, written, removed, settle)
        if len(touched) <= ctx.settings.readback_by_id_limit:
            pull.refresh(ctx, Entity.INVOICE, sorted(touched))
        else:
            # Many invoices changed: one paged delta read (1,000 a page) beats reading them 50 at a time.
            pull.pull_all(ctx, Entity.INVOICE)

    def match(self, ctx: CycleContext, s: Session, remote: RemoteRecord) -> str | None:
        rec = remote.record
        assert isinstance(rec, Payment)
        if remote.deleted or not rec.allocations:
            return ""
        app_invoices = [ctx.to_app_id(Entity.INVOICE, a.invoice_id) for a in rec.allocations]
        if any(i is None for i in app_invoices):
            return ""  # a payment on an invoice the app does not have
        refs = [f"invoice:{i}" for i in app_invoices if i]
        for cand in ctx.store.records_referring(ctx.org_id, Entity.PAYMENT, refs, s):
            if ctx.to_remote_id(Entity.PAYMENT, cand.app_id) is not None:
                continue
            p = cand.record
            assert isinstance(p, Payment)
            if p.amount == rec.amount and p.date == rec.date:
                return cand.app_id
        return None

    def merge(
        self, ctx: CycleContext, current: StoredRecord, incoming: Record, remote: RemoteRecord, app_changed: bool
    ) -> Record | None:
        assert isinstance(current.record, Payment)
        if remote.deleted:
            return current.record.model_copy(update={"status": PaymentStatus.DELETED})
        return None  # payments are not edited in place on the platform side

    def merge_edit(
        self,
        ctx: CycleContext,
        s: Session,
        current: StoredRecord,
        incoming: Record,
        remote: RemoteRecord,
        *,
        app_changed: bool,
        platform_changed: bool,
    ) -> Record | None:
        """A payment moved to another invoice, re-allocated, partly deleted or re-dated on the platform (where
        payments can be edited) is followed; an edit on both sides goes by the conflict policy."""
        return follow_money_edit(self, ctx, s, current, incoming, remote, app_changed, platform_changed)

    def deleted_copy(self, record: Record) -> Record | None:
        if isinstance(record, Payment):
            return record.model_copy(update={"status": PaymentStatus.DELETED})
        return None


def _own_splits(ctx: CycleContext, s: Session) -> dict[str, dict[str, Any]]:
    """This connection's payment splits (engine/credit.py), read once per plan session."""
    key = f"splits:{ctx.conn_id}"
    cached: dict[str, dict[str, Any]] | None = s.info.get(key)
    if cached is None:
        cached = s.info[key] = ctx.store.splits(s, ctx.conn_id)
    return cached


def _consume_dues(ctx: CycleContext, allocations: list[Allocation]) -> None:
    for alloc in allocations:
        if alloc.invoice_id in ctx.dues:
            ctx.dues[alloc.invoice_id] -= alloc.amount


def _own_dues(ctx: CycleContext, s: Session, invoice_ids: list[str]) -> dict[str, Decimal]:
    """This connection's platform's amount due per app invoice id, where it has one (engine/computed.py). Read
    once per plan for every invoice the plan's new records refer to (`Store.pin_referenced`), else for these."""
    key = f"own_dues:{ctx.conn_id}"
    cached: dict[str, Decimal] | None = s.info.get(key)
    if cached is not None and all(i in s.info.get("referenced", {}).get(Entity.INVOICE.value, ()) for i in invoice_ids):
        return cached
    ids = sorted(s.info.get("referenced", {}).get(Entity.INVOICE.value, set()) | set(invoice_ids))
    rows = ctx.store.platform_fields(s, ctx.conn_id, Entity.INVOICE, ids)
    own = {a: Decimal(str(f["amount_due"])) for a, f in rows.items() if f.get("amount_due") is not None}
    s.info[key] = own
    return own


def follow_money_edit(
    rules: EntityRules,
    ctx: CycleContext,
    s: Session,
    current: StoredRecord,
    incoming: Record,
    remote: RemoteRecord,
    app_changed: bool,
    platform_changed: bool,
) -> Record | None:
    """A money movement (payment, refund) edited on the platform: the platform's copy is taken, with the app's
    customer where the platform names none (platforms take it from the documents); an edit on both sides goes by
    the conflict policy, or becomes a `conflict`."""
    if remote.deleted or not platform_changed:
        return rules.merge(ctx, current, incoming, remote, app_changed)
    assert isinstance(current.record, (Payment, Refund)) and isinstance(incoming, (Payment, Refund))
    theirs = rules.platform_copy(ctx, current.record, incoming)
    assert isinstance(theirs, (Payment, Refund))
    theirs = theirs.model_copy(update={"contact_id": incoming.contact_id or current.record.contact_id})
    if not app_changed:
        return theirs
    winner = settle(ctx, current, remote)
    if winner == "platform":
        return theirs
    if winner is None:
        record_stage.conflict(ctx, s, rules.entity, current, theirs, remote)
    return None
