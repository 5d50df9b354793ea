"""Credit notes: both ways, with their allocations to invoices. What the platform computes (total, remaining
credit, a number, PAID once the credit is used up) comes back; an allocation made on the platform comes into the
app and one made in the app goes out (Xero: the credit note's Allocations; QuickBooks Online: a payment that links
the credit memo and the invoices); the invoices the allocations touch are read back after a push."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from sqlalchemy.orm import Session

import ledgersync.engine.record as record_stage
from ledgersync.engine.entities.base import EntityRules, settle
from ledgersync.model import CreditNote, Entity, InvoiceStatus, Record
from ledgersync.providers.base import RemoteRecord
from ledgersync.store import StoredRecord
from ledgersync.store.outbox import PlannedWrite

if TYPE_CHECKING:
    from ledgersync.engine.context import CycleContext

COMPUTED = ("total", "remaining_credit")


def _computed(current: CreditNote, incoming: CreditNote) -> dict[str, Any]:
    update: dict[str, Any] = {f: getattr(incoming, f) for f in COMPUTED}
    if current.number is None and incoming.number:
        update["number"] = incoming.number
    if incoming.status in (InvoiceStatus.PAID, InvoiceStatus.VOIDED, InvoiceStatus.DELETED):
        update["status"] = incoming.status
    elif current.status is InvoiceStatus.PAID and incoming.status is InvoiceStatus.AUTHORISED:
        update["status"] = InvoiceStatus.AUTHORISED  # an allocation or refund was removed on the platform
    return update


class CreditNoteRules(EntityRules):
    entity = Entity.CREDIT_NOTE

    def match(self, ctx: CycleContext, s: Session, remote: RemoteRecord) -> str | None:
        rec = remote.record
        assert isinstance(rec, CreditNote)
        if remote.deleted:
            return ""
        if rec.number:
            found = [
                r
                for r in ctx.store.find_records(ctx.org_id, Entity.CREDIT_NOTE, number=rec.number, s=s)
                if ctx.to_remote_id(Entity.CREDIT_NOTE, r.app_id) is None
            ]
            if len(found) == 1:
                return found[0].app_id
        return None  # a credit note entered on the platform comes into the app

    def merge(
        self, ctx: CycleContext, current: StoredRecord, incoming: Record, remote: RemoteRecord, app_changed: bool
    ) -> Record | None:
        assert isinstance(current.record, CreditNote) and isinstance(incoming, CreditNote)
        return current.record.model_copy(update=_computed(current.record, incoming))

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
        """A platform-side edit (lines, an allocation made or removed there) comes into the app as the platform
        has it; an edit on both sides goes by the conflict policy, or becomes a `conflict` when it cannot say."""
        computed = self.merge(ctx, current, incoming, remote, app_changed)
        if not platform_changed or remote.deleted:
            return computed
        assert isinstance(incoming, CreditNote)
        theirs = self.platform_copy(ctx, current.record, incoming)
        if not app_changed:
            return theirs
        winner = settle(ctx, current, remote)
        if winner == "platform":
            return theirs
        if winner is None:
            record_stage.conflict(ctx, s, Entity.CREDIT_NOTE, current, theirs, remote)
        return computed

    def settle_pushed(self, record: Record, incoming: Record) -> Record | None:
        if not (isinstance(record, CreditNote) and isinstance(incoming, CreditNote)):
            return None
        update = _computed(record, incoming)
        if record.status in (InvoiceStatus.VOIDED, InvoiceStatus.DELETED):
            update.pop("status", None)
        return record.model_copy(update=update)

    def after_push(self, ctx: CycleContext, written: list[PlannedWrite], removed: list[PlannedWrite]) -> None:
        """Allocating credit lowers the invoices' amount due (and may make them Paid): read them back now. An
        allocation taken off reaches its invoice with the next pull (the platform touches the invoice)."""
        from ledgersync.engine import pull

        touched = {
            a.invoice_id for w in [*written, *removed] if isinstance(w.record, CreditNote) for a in w.record.allocations
        }
        if touched:
            pull.refresh(ctx, Entity.INVOICE, sorted(touched))

    def deleted_copy(self, record: Record) -> Record | None:
        if isinstance(record, CreditNote):
            return record.model_copy(update={"status": InvoiceStatus.DELETED})
        return None
