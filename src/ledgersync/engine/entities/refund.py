"""Refunds: money paid back to a customer out of a credit note (or customer credit), both ways. A refund is
not edited in place where the platform cannot (delete-then-enter, as payments); after a push the credit notes
the refunds drew on are read back (their remaining credit, PAID once used up); a refund entered on the platform
comes into the app, matched first to an unlinked app refund of the same credit note, amount and date."""

from __future__ import annotations

from typing import TYPE_CHECKING

from sqlalchemy.orm import Session

from ledgersync.engine.entities.base import EntityRules
from ledgersync.engine.entities.payment import follow_money_edit
from ledgersync.model import Entity, PaymentStatus, Record, Refund
from ledgersync.providers.base import RemoteRecord
from ledgersync.store import LinkRow, StoredRecord
from ledgersync.store.outbox import PlannedWrite
from ledgersync.store.tables import Link

if TYPE_CHECKING:
    from ledgersync.engine.context import CycleContext


class RefundRules(EntityRules):
    entity = Entity.REFUND

    def nothing_to_send(self, outgoing: Record) -> bool:
        return isinstance(outgoing, Refund) and outgoing.status is PaymentStatus.DELETED

    def replaces(self, ctx: CycleContext, link: Link | LinkRow) -> bool:
        # Where payments can't be edited (Xero: a refund is a payment on the credit note), neither can refunds.
        return not link.removed and not ctx.caps.payments_editable

    def after_push(self, ctx: CycleContext, written: list[PlannedWrite], removed: list[PlannedWrite]) -> None:
        """A refund lowers its credit note's (or customer credit's) remaining credit, and may make it Paid: read
        those back now."""
        from ledgersync.engine import pull

        refunds = [w.record for w in [*written, *removed] if isinstance(w.record, Refund)]
        for entity, ids in (
            (Entity.CREDIT_NOTE, {r.credit_note_id for r in refunds if r.credit_note_id}),
            (Entity.CREDIT, {r.credit_id for r in refunds if r.credit_id}),
        ):
            if ids and entity in ctx.caps.pull_entities:
                pull.refresh(ctx, entity, sorted(ids))

    def match(self, ctx: CycleContext, s: Session, remote: RemoteRecord) -> str | None:
        rec = remote.record
        assert isinstance(rec, Refund)
        if remote.deleted:
            return ""
        if rec.credit_note_id:
            note = ctx.to_app_id(Entity.CREDIT_NOTE, rec.credit_note_id)
            if note is None:
                return ""  # a refund of a credit note the app does not have
            refs = [f"credit_note:{note}"]
        elif rec.credit_id:
            credit = ctx.to_app_id(Entity.CREDIT, rec.credit_id)
            if credit is None:
                return ""  # a refund of customer credit the app does not have
            refs = [f"credit:{credit}"]
        elif rec.contact_id:
            contact = ctx.to_app_id(Entity.CONTACT, rec.contact_id)
            if contact is None:
                return ""  # a refund to a customer the app does not have
            refs = [f"contact:{contact}"]
        else:
            return ""
        for cand in ctx.store.records_referring(ctx.org_id, Entity.REFUND, refs, s):
            if ctx.to_remote_id(Entity.REFUND, cand.app_id) is not None:
                continue
            r = cand.record
            assert isinstance(r, Refund)
            if r.amount == rec.amount and r.date == rec.date and r.status is PaymentStatus.ACTIVE:
                return cand.app_id
        return None

    def merge(
        self, ctx: CycleContext, current: StoredRecord, incoming: Record, remote: RemoteRecord, app_changed: bool
    ) -> Record | None:
        assert isinstance(current.record, Refund)
        if remote.deleted:
            return current.record.model_copy(update={"status": PaymentStatus.DELETED})
        return None

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
        """A refund edited on the platform (where it can be: QuickBooks' RefundReceipt) is followed; an edit on
        both sides goes by the conflict policy."""
        return follow_money_edit(self, ctx, s, current, incoming, remote, app_changed, platform_changed)

    def deleted_copy(self, record: Record) -> Record | None:
        if isinstance(record, Refund):
            return record.model_copy(update={"status": PaymentStatus.DELETED})
        return None
