"""Invoices: created in the app and sent out; what the platform computes (totals, amount due, paid) comes back."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from sqlalchemy.orm import Session

import ledgersync.engine.record as record_stage
from ledgersync.engine.entities.base import EntityRules, rate_taken, settle
from ledgersync.model import Entity, Invoice, InvoiceStatus, Record
from ledgersync.providers.base import RemoteRecord
from ledgersync.store import StoredRecord

if TYPE_CHECKING:
    from ledgersync.engine.context import CycleContext

COMPUTED = ("total", "total_tax", "amount_due", "amount_paid")


class InvoiceRules(EntityRules):
    entity = Entity.INVOICE
    keeps_platform_fields = True

    def match(self, ctx: CycleContext, s: Session, remote: RemoteRecord) -> str | None:
        rec = remote.record
        assert isinstance(rec, Invoice)
        if rec.number:
            found = ctx.store.find_records(ctx.org_id, Entity.INVOICE, number=rec.number, s=s)
            if len(found) == 1 and ctx.to_remote_id(Entity.INVOICE, found[0].app_id) is None:
                return found[0].app_id
        return ""  # invoices are created in the app and flow out; platform-only invoices stay there

    def merge(
        self, ctx: CycleContext, current: StoredRecord, incoming: Record, remote: RemoteRecord, app_changed: bool
    ) -> Record | None:
        assert isinstance(current.record, Invoice) and isinstance(incoming, Invoice)
        # Invoices flow app -> platform: only what the platform computes comes back.
        update: dict[str, Any] = {f: getattr(incoming, f) for f in COMPUTED}
        if current.record.number is None and incoming.number:
            update["number"] = incoming.number
        if incoming.status in (InvoiceStatus.PAID, InvoiceStatus.VOIDED, InvoiceStatus.DELETED):
            update["status"] = incoming.status
        elif current.record.status is InvoiceStatus.PAID and incoming.status is InvoiceStatus.AUTHORISED:
            update["status"] = InvoiceStatus.AUTHORISED  # a payment was removed on the platform
        # The app may hold these figures already (settled from the payments): then the record itself, no copy.
        return _with(current.record, update)

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
        """A platform-side edit (lines, dates, reference, status) comes into the app as the platform has it;
        an edit on both sides goes by the conflict policy, or becomes a `conflict` when it cannot say."""
        computed = self.merge(ctx, current, incoming, remote, app_changed)
        if not platform_changed or remote.deleted:
            return computed  # only what the platform computes moved (a payment applied, a number assigned)
        theirs = self.platform_copy(ctx, current.record, incoming)
        if not app_changed:
            return theirs
        winner = settle(ctx, current, remote)
        if winner == "platform":
            return theirs
        if winner is None:
            record_stage.conflict(ctx, s, Entity.INVOICE, current, theirs, remote)
        return computed  # the app's edit stays (and goes out unless held as a conflict)

    def settle_pushed(self, record: Record, incoming: Record) -> Record | None:
        if not (isinstance(record, Invoice) and isinstance(incoming, Invoice)):
            return None
        # Totals, amount due and an auto-assigned number come back from the platform.
        update: dict[str, Any] = {f: getattr(incoming, f) for f in COMPUTED}
        update.update(rate_taken(record, incoming))
        if record.number is None and incoming.number:
            update["number"] = incoming.number
        if incoming.status is InvoiceStatus.PAID:
            update["status"] = InvoiceStatus.PAID
        return _with(record, update)  # nothing new: the record itself, which the record stage does not save

    def deleted_copy(self, record: Record) -> Record | None:
        if isinstance(record, Invoice):
            return record.model_copy(update={"status": InvoiceStatus.DELETED})
        return None


def _with(record: Invoice, update: dict[str, Any]) -> Invoice:
    """`record` with `update`, or `record` itself when it holds those values already (callers test identity)."""
    if all(getattr(record, f) == v for f, v in update.items()):
        return record
    return record.model_copy(update=update)
