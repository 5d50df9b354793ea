"""Suppliers: both ways, matched by name among the app's unlinked suppliers (several of one name need review),
edits merged under the conflict policy as contacts are."""

from __future__ import annotations

from typing import TYPE_CHECKING

from sqlalchemy.orm import Session

import ledgersync.engine.record as record_stage
from ledgersync.engine.entities.base import EntityRules
from ledgersync.model import ContactStatus, Entity, ErrorCode, Record, Supplier, SyncError
from ledgersync.providers.base import RemoteRecord
from ledgersync.store import StoredRecord

if TYPE_CHECKING:
    from ledgersync.engine.context import CycleContext


class SupplierRules(EntityRules):
    entity = Entity.SUPPLIER

    def match(self, ctx: CycleContext, s: Session, remote: RemoteRecord) -> str | None:
        rec = remote.record
        assert isinstance(rec, Supplier)
        candidates = ctx.store.find_records(ctx.org_id, Entity.SUPPLIER, name=rec.name, s=s)
        unlinked = [c for c in candidates if ctx.to_remote_id(Entity.SUPPLIER, c.app_id) is None]
        if len(unlinked) == 1:
            return unlinked[0].app_id
        if len(unlinked) > 1:
            error = SyncError(
                code=ErrorCode.CONFLICT,
                message=f"Several suppliers are named '{rec.name}'; which one is the "
                f"{ctx.caps.display_name} supplier is not clear.",
                hint="Link the right supplier to the platform's, or rename the others.",
            )
            for c in unlinked:
                record_stage.needs_review(ctx, s, Entity.SUPPLIER, c.app_id, error, doc=rec.name)
            return ""
        return None

    def created(self, incoming: Record, remote: RemoteRecord) -> Record:
        if remote.archived:
            return incoming.model_copy(update={"status": ContactStatus.ARCHIVED})
        return incoming

    def merge(
        self, ctx: CycleContext, current: StoredRecord, incoming: Record, remote: RemoteRecord, app_changed: bool
    ) -> Record | None:
        assert isinstance(current.record, Supplier) and isinstance(incoming, Supplier)
        status = ContactStatus.ARCHIVED if remote.archived else ContactStatus.ACTIVE
        policy = ctx.settings.conflict_policy
        app_wins = policy == "app_wins" or (
            policy != "platform_wins" and (remote.updated_at is None or current.updated_at >= remote.updated_at)
        )
        if app_changed and app_wins:
            return current.record.model_copy(update={"status": status})
        return incoming.model_copy(update={"status": status})
