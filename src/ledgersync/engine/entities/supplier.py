"""Suppliers: both ways, matched by name among the app's unlinked suppliers (several of one name need review),
edits merged under the conflict policy as contacts are."""

from __future__ import annotations

from typing import TYPE_CHECKING

from ledgersync.engine.entities.party import PartyRules
from ledgersync.model import ContactStatus, Entity, Record, Supplier
from ledgersync.providers.base import RemoteRecord
from ledgersync.store import StoredRecord

if TYPE_CHECKING:
    from ledgersync.engine.context import CycleContext


class SupplierRules(PartyRules):
    entity = Entity.SUPPLIER
    noun, platform_noun = "suppliers", "supplier"
    hint = "Link the right supplier to the platform's, or rename the others."

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
