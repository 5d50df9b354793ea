"""What a landed payment does to its invoices, by the platforms' own rule, so they need not be read back.

Xero: AmountDue = Total - AmountPaid - AmountCredited, and an invoice whose AmountDue reaches 0 is PAID
(api-facts: Invoice read-only AmountDue/AmountPaid; Payment Amount is in the invoice's currency and at most its
amount due). QuickBooks Online: Balance = TotalAmt less the payment lines linked to it; the mapping shows a
zero Balance as PAID. So an invoice whose amount due the app holds from the platform's last answer, paid by
payments that all landed, owes that less what they applied. Anything less certain is read back: an invoice
without a known amount due, one whose amount proved stale, one paid beyond what it owed, one that is not
open, one in another currency than the payment, and every invoice a removed payment touched. And every invoice
of a business synced with several platforms: its one app record holds whichever platform was read last, so
"the platform's last answer" may be another platform's (it already counts a payment this one is only now told
of), and only a read of this platform tells its balance."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from decimal import Decimal
from typing import TYPE_CHECKING

from ledgersync.model import Entity, Invoice, InvoiceStatus, Payment
from ledgersync.store.outbox import PlannedWrite

if TYPE_CHECKING:
    from ledgersync.engine.context import CycleContext


# Invoices are derived and settled this many at a time, so an export's after-push holds a chunk of invoices
# at once, not all of them (issue 14).
SETTLE_CHUNK = 500


def derive_paid(
    ctx: CycleContext,
    written: Sequence[PlannedWrite],
    removed: Sequence[PlannedWrite],
    settle: Callable[[list[Invoice]], None],
) -> set[str]:
    """Invoices with their new amount due and status handed to `settle` a chunk at a time; returns the platform
    ids of the touched invoices to read back."""
    landed = {
        app_id
        for app_id, st in ctx.store.state_map(ctx.conn_id, Entity.PAYMENT, [w.app_id for w in written]).items()
        if st.state == "synced"
    }
    applied: dict[str, Decimal] = {}
    currency: dict[str, set[str]] = {}
    # A removal's payload carries platform ids already; un-paying is read back.
    read_back = {a.invoice_id for w in removed if isinstance(w.record, Payment) for a in w.record.allocations}
    for w in written:
        if not isinstance(w.record, Payment):
            continue
        for alloc in w.record.allocations:  # platform ids: the outbox holds the payment as it was sent
            if w.app_id not in landed:
                read_back.add(alloc.invoice_id)
                continue
            applied[alloc.invoice_id] = applied.get(alloc.invoice_id, Decimal(0)) + alloc.amount
            currency.setdefault(alloc.invoice_id, set()).add(w.record.currency)
    read_back |= ctx.stale_invoices
    if _several_platforms(ctx):
        return read_back | set(applied)
    rids = [rid for rid in applied if rid not in read_back]
    for start in range(0, len(rids), SETTLE_CHUNK):
        settle(_derive(ctx, rids[start : start + SETTLE_CHUNK], applied, currency, read_back))
    return read_back


def _derive(
    ctx: CycleContext,
    rids: Sequence[str],
    applied: dict[str, Decimal],
    currency: dict[str, set[str]],
    read_back: set[str],
) -> list[Invoice]:
    """One chunk of invoices (platform ids) paid by landed payments: their derived copies; the uncertain ones
    added to `read_back` instead."""
    app_ids = {rid: ctx.to_app_id(Entity.INVOICE, rid) for rid in rids}
    with ctx.store.session() as s:
        current = ctx.store.record_map(s, ctx.org_id, Entity.INVOICE, [a for a in app_ids.values() if a])
    derived: list[Invoice] = []
    for rid in rids:
        amount = applied[rid]
        app_id = app_ids.get(rid)
        stored = current.get(app_id) if app_id else None
        inv = stored.record if stored is not None else None
        if (
            not isinstance(inv, Invoice)
            or inv.amount_due is None
            or inv.status is not InvoiceStatus.AUTHORISED
            or amount > inv.amount_due
            or currency.get(rid) != {inv.currency}
        ):
            read_back.add(rid)
            continue
        due = inv.amount_due - amount
        derived.append(
            inv.model_copy(
                update={
                    "amount_due": due,
                    "amount_paid": (inv.amount_paid or Decimal(0)) + amount,
                    "status": InvoiceStatus.PAID if due == 0 else inv.status,
                }
            )
        )
    return derived


def _several_platforms(ctx: CycleContext) -> bool:
    """Whether the business has another live connection besides this one (whose reads share the app record)."""
    others = [
        c for c in ctx.store.connections(ctx.org_id) if c.id != ctx.conn_id and c.status != "disconnected"
    ]
    return bool(others)
