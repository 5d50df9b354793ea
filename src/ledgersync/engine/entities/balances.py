"""What a landed payment does to its invoices, by the platforms' own rule, so they need not be read back.

Xero: AmountDue = Total - AmountPaid - AmountCredited, and an invoice whose AmountDue reaches 0 is PAID
(api-facts: Invoice read-only AmountDue/AmountPaid; Payment Amount is in the invoice's currency and at most its
amount due). QuickBooks Online: Balance = TotalAmt less the payment lines linked to it; the mapping shows a
zero Balance as PAID. So an invoice whose amount due this connection's platform last told us (its own figures,
engine/computed.py: not the shared app record's, which may be another platform's), paid by payments that all
landed, owes that less what they applied. Anything less certain is read back: an invoice without this
platform's figures at the version its link knows, one whose amount proved stale, one paid beyond what it owed,
one that is not open, one in another currency than the payment, and every invoice a removed payment touched."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from decimal import Decimal
from typing import TYPE_CHECKING

from ledgersync.model import Entity, Invoice, InvoiceStatus, Payment, Record
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
    settle: Callable[[list[Invoice], dict[str, tuple[int, str]]], set[str]],
) -> set[str]:
    """Invoices with their new amount due and status handed to `settle` a chunk at a time, with the stored
    (version, hash) each was derived from; `settle` returns the app ids it could not save (changed meanwhile).
    Returns the platform ids of the touched invoices to read back."""
    landed = {
        app_id
        for app_id, st in ctx.store.state_rows(ctx.conn_id, Entity.PAYMENT, [w.app_id for w in written]).items()
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
    rids = [rid for rid in applied if rid not in read_back]
    for start in range(0, len(rids), SETTLE_CHUNK):
        chunk = rids[start : start + SETTLE_CHUNK]
        derived, based_on = _derive(ctx, chunk, applied, currency, read_back)
        stale = settle(derived, based_on)
        read_back.update(rid for rid in chunk if ctx.to_app_id(Entity.INVOICE, rid) in stale)
    return read_back


def _derive(
    ctx: CycleContext,
    rids: Sequence[str],
    applied: dict[str, Decimal],
    currency: dict[str, set[str]],
    read_back: set[str],
) -> tuple[list[Invoice], dict[str, tuple[int, str]]]:
    """One chunk of invoices (platform ids) paid by landed payments: their derived copies, and the stored
    (version, hash) each was derived from; the uncertain ones added to `read_back` instead. An invoice the record
    stage settled and saved in this cycle is taken from it (CycleContext.settled_copies), not read and parsed
    again: what a derived copy takes from it is what its hash covers (the rest is overwritten here), and the copy
    is saved only while the store still holds that version and hash (record.settled)."""
    app_ids = {rid: ctx.to_app_id(Entity.INVOICE, rid) for rid in rids}
    wanted = [a for a in app_ids.values() if a]
    kept = ctx.settled_copies
    bases: dict[str, tuple[int, str, Record]] = {a: b for a in wanted if (b := kept.get((Entity.INVOICE, a)))}
    with ctx.store.session() as s:
        current = ctx.store.record_map(s, ctx.org_id, Entity.INVOICE, [a for a in wanted if a not in bases])
        own = ctx.store.platform_fields(s, ctx.conn_id, Entity.INVOICE, wanted)
    bases.update((a, (c.version, c.hash, c.record)) for a, c in current.items())
    derived: list[Invoice] = []
    based_on: dict[str, tuple[int, str]] = {}
    for rid in rids:
        amount = applied[rid]
        app_id = app_ids.get(rid)
        base = bases.get(app_id) if app_id else None
        inv = base[2] if base is not None else None
        said = own.get(app_id) if app_id else None
        if not isinstance(inv, Invoice) or said is None:
            read_back.add(rid)
            continue
        due, paid, status = _amount(said.get("amount_due")), _amount(said.get("amount_paid")), said.get("status")
        if (
            due is None
            or status != InvoiceStatus.AUTHORISED.value
            or amount > due
            or currency.get(rid) != {inv.currency}
        ):
            read_back.add(rid)
            continue
        left = due - amount
        assert base is not None and app_id is not None
        based_on[app_id] = (base[0], base[1])
        derived.append(
            inv.model_copy(
                update={
                    "total": _amount(said.get("total")),
                    "total_tax": _amount(said.get("total_tax")),
                    "amount_due": left,
                    "amount_paid": (paid or Decimal(0)) + amount,
                    "status": InvoiceStatus.PAID if left == 0 else InvoiceStatus.AUTHORISED,
                }
            )
        )
    return derived, based_on


def _amount(value: object) -> Decimal | None:
    return None if value is None else Decimal(str(value))
