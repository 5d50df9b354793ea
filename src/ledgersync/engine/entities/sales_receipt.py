"""Sales receipts ("customer purchases"): both ways where the platform holds them; matched by number; what the
platform computes (totals, tax) comes back, and a receipt entered on the platform comes into the app."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from sqlalchemy.orm import Session

from ledgersync.engine.entities.base import EntityRules, rate_taken
from ledgersync.model import Entity, PaymentStatus, Record, SalesReceipt
from ledgersync.providers.base import RemoteRecord
from ledgersync.store import StoredRecord

if TYPE_CHECKING:
    from ledgersync.engine.context import CycleContext

COMPUTED = ("total", "total_tax")


class SalesReceiptRules(EntityRules):
    entity = Entity.SALES_RECEIPT
    keeps_platform_fields = True

    def nothing_to_send(self, outgoing: Record) -> bool:
        return isinstance(outgoing, SalesReceipt) and outgoing.status is PaymentStatus.DELETED

    def match(self, ctx: CycleContext, s: Session, remote: RemoteRecord) -> str | None:
        rec = remote.record
        assert isinstance(rec, SalesReceipt)
        if remote.deleted:
            return ""
        if rec.number:
            found = [
                r
                for r in ctx.store.find_records(ctx.org_id, Entity.SALES_RECEIPT, number=rec.number, s=s)
                if ctx.to_remote_id(Entity.SALES_RECEIPT, r.app_id) is None
            ]
            if len(found) == 1:
                return found[0].app_id
        return None

    def merge(
        self, ctx: CycleContext, current: StoredRecord, incoming: Record, remote: RemoteRecord, app_changed: bool
    ) -> Record | None:
        assert isinstance(current.record, SalesReceipt) and isinstance(incoming, SalesReceipt)
        computed: dict[str, Any] = {f: getattr(incoming, f) for f in COMPUTED}
        if remote.deleted:
            return current.record.model_copy(update={**computed, "status": PaymentStatus.DELETED})
        if app_changed:
            return current.record.model_copy(update=computed)
        return incoming

    def settle_pushed(self, record: Record, incoming: Record) -> Record | None:
        if not (isinstance(record, SalesReceipt) and isinstance(incoming, SalesReceipt)):
            return None
        update: dict[str, Any] = {f: getattr(incoming, f) for f in COMPUTED}
        update.update(rate_taken(record, incoming))
        if record.number is None and incoming.number:
            update["number"] = incoming.number
        return record.model_copy(update=update)

    def deleted_copy(self, record: Record) -> Record | None:
        if isinstance(record, SalesReceipt):
            return record.model_copy(update={"status": PaymentStatus.DELETED})
        return None
