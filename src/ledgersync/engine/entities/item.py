"""Products: the app's own, sent out; the stock on hand the platform counts (where it tracks inventory) comes
back on every read and after every push."""

from __future__ import annotations

from ledgersync.engine.entities.base import EntityRules
from ledgersync.model import Entity, Item, Record


class ItemRules(EntityRules):
    entity = Entity.ITEM
    shared_everywhere = True  # the app's own documents need their products on every platform

    def settle_pushed(self, record: Record, incoming: Record) -> Record | None:
        if not (isinstance(record, Item) and isinstance(incoming, Item)):
            return None
        if record.quantity_on_hand == incoming.quantity_on_hand:
            return None
        return record.model_copy(update={"quantity_on_hand": incoming.quantity_on_hand})
