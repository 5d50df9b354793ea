"""Contacts: parent-first layers, match by name (ambiguity needs review), the conflict policy on edits."""

from __future__ import annotations

from typing import TYPE_CHECKING

from sqlalchemy.orm import Session

import ledgersync.engine.record as record_stage
from ledgersync.engine.entities.base import settle
from ledgersync.engine.entities.party import PartyRules
from ledgersync.model import Contact, ContactStatus, Entity, Record
from ledgersync.providers.base import RemoteRecord
from ledgersync.store import StoredRecord

if TYPE_CHECKING:
    from ledgersync.engine.context import CycleContext


class ContactRules(PartyRules):
    entity = Entity.CONTACT
    noun, platform_noun = "customers", "contact"
    hint = "Link the right customer to the platform contact, or rename the others."
    # Sub-customers need their parent's platform id, and a batch can't see what it creates itself, so contacts
    # go in layers: parents first, then the children that were waiting for them (4 levels below the top).
    max_passes = 5
    shared_everywhere = True

    def wanted(self, ctx: CycleContext, rec: StoredRecord) -> bool:
        if ctx.settings.contacts == "with_transactions":
            if ctx.referenced_contacts is None:
                ctx.referenced_contacts = ctx.store.referenced(ctx.org_id, "contact:")
            return rec.app_id in ctx.referenced_contacts
        return True

    def another_pass(self, ctx: CycleContext) -> bool:
        # Another layer only if a parent someone waited for got its platform id in this pass.
        return any(ctx.to_remote_id(Entity.CONTACT, parent) for parent in ctx.waiting_for)

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
        # Contacts keep their long-standing rule where the platform gives no time (the app's edit stays); a
        # conflict is only what the policy itself leaves open ("ask", or edits within the window).
        unsettled = remote.updated_at is not None and settle(ctx, current, remote) is None
        if app_changed and platform_changed and unsettled:
            theirs = self.merge(ctx, current, incoming, remote, app_changed=False)
            assert theirs is not None
            record_stage.conflict(ctx, s, Entity.CONTACT, current, theirs, remote)
            return None
        return self.merge(ctx, current, incoming, remote, app_changed)

    def platform_copy(self, ctx: CycleContext, current: Record, incoming: Record) -> Record:
        assert isinstance(current, Contact) and isinstance(incoming, Contact)
        return incoming.model_copy(update={"parent_id": incoming.parent_id or current.parent_id})

    def merge(
        self, ctx: CycleContext, current: StoredRecord, incoming: Record, remote: RemoteRecord, app_changed: bool
    ) -> Record | None:
        assert isinstance(current.record, Contact) and isinstance(incoming, Contact)
        status = ContactStatus.ARCHIVED if remote.archived else ContactStatus.ACTIVE
        if app_changed and _app_wins(ctx, current, remote):
            return current.record.model_copy(update={"status": status})
        # Keep what the platform does not carry (the app's own parent link) when the platform has none.
        keep_parent = incoming.parent_id or current.record.parent_id
        return incoming.model_copy(update={"status": status, "parent_id": keep_parent})


def _app_wins(ctx: CycleContext, current: StoredRecord, remote: RemoteRecord) -> bool:
    policy = ctx.settings.conflict_policy
    if policy == "app_wins":
        return True
    if policy == "platform_wins":
        return False
    return remote.updated_at is None or current.updated_at >= remote.updated_at
