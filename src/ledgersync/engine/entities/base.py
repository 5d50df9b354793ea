"""What differs per entity, in one place: the hooks the stages call instead of branching on the entity."""

from __future__ import annotations

from typing import TYPE_CHECKING, ClassVar

from sqlalchemy.orm import Session

from ledgersync.model import Entity, Record
from ledgersync.providers.base import RemoteRecord
from ledgersync.store import StoredRecord
from ledgersync.store.outbox import PlannedWrite
from ledgersync.store.tables import Link

if TYPE_CHECKING:
    from ledgersync.engine.context import CycleContext


class EntityRules:
    """The default behaviour of an entity; an entity module overrides what is its own. Adding an entity (purchase
    orders, bills, sales receipts) means adding one such module and registering it, not editing the stages."""

    entity: ClassVar[Entity]
    # Plan-and-execute rounds per cycle: more than one where a batch cannot see what it creates itself and
    # records wait on others of their kind (sub-customers on their parents).
    max_passes: ClassVar[int] = 1

    # -- plan ----------------------------------------------------------------------------------------
    def wanted(self, ctx: CycleContext, rec: StoredRecord) -> bool:
        """Whether this app record syncs at all under the connection's settings."""
        return True

    def prepare(self, ctx: CycleContext, s: Session, rec: StoredRecord) -> StoredRecord | None:
        """Last changes to a record before its first write is planned; None: it was failed with a reason."""
        return rec

    def nothing_to_send(self, outgoing: Record) -> bool:
        """Whether a record never synced needs no write at all (e.g. a payment already deleted in the app)."""
        return False

    def replaces(self, ctx: CycleContext, link: Link) -> bool:
        """Whether an update must be planned as remove-then-enter (the platform cannot edit it in place)."""
        return False

    def another_pass(self, ctx: CycleContext) -> bool:
        return False

    # -- after execute -------------------------------------------------------------------------------
    def after_push(self, ctx: CycleContext, written: list[PlannedWrite], removed: list[PlannedWrite]) -> None:
        """Reads that must follow this entity's writes in the same cycle (none by default)."""

    # -- record: the platform side coming back -------------------------------------------------------
    def match(self, ctx: CycleContext, s: Session, remote: RemoteRecord) -> str | None:
        """The app record an unlinked platform record is. None: none, create one in the app. '': leave it."""
        return None

    def merge(
        self, ctx: CycleContext, current: StoredRecord, incoming: Record, remote: RemoteRecord, app_changed: bool
    ) -> Record | None:
        """What the app record becomes after a platform-side change, under the conflict policy (None: keep)."""
        return incoming

    def created(self, incoming: Record, remote: RemoteRecord) -> Record:
        """A platform record new to the app, as the app stores it."""
        return incoming

    def settle_pushed(self, record: Record, incoming: Record) -> Record | None:
        """What the platform computed on a record we pushed and the app takes back (None: nothing)."""
        return None

    def deleted_copy(self, record: Record) -> Record | None:
        """The app's copy marked deleted, for a deletion the platform reports without content (None: n/a)."""
        return None
