"""What contacts and suppliers share: a platform record matches the one unlinked app record of its name (several
of one name need review), and one archived on the platform arrives archived."""

from __future__ import annotations

from typing import TYPE_CHECKING

from sqlalchemy.orm import Session

import ledgersync.engine.record as record_stage
from ledgersync.engine.entities.base import EntityRules
from ledgersync.model import ContactStatus, ErrorCode, Record, SyncError
from ledgersync.model.records import Party
from ledgersync.providers.base import RemoteRecord

if TYPE_CHECKING:
    from ledgersync.engine.context import CycleContext


class PartyRules(EntityRules):
    """`noun` names the app's records in the review message ("customers"), `platform_noun` the platform's
    ("contact"), and `hint` says what a person does about several of one name."""

    noun: str
    platform_noun: str
    hint: str

    def match(self, ctx: CycleContext, s: Session, remote: RemoteRecord) -> str | None:
        rec = remote.record
        assert isinstance(rec, Party)
        candidates = ctx.store.find_records(ctx.org_id, self.entity, name=rec.name, s=s)
        unlinked = [c for c in candidates if ctx.to_remote_id(self.entity, c.app_id) is None]
        if len(unlinked) == 1:
            return unlinked[0].app_id
        if len(unlinked) > 1:
            error = SyncError(
                code=ErrorCode.CONFLICT,
                message=f"Several {self.noun} are named '{rec.name}'; which one is the "
                f"{ctx.caps.display_name} {self.platform_noun} is not clear.",
                hint=self.hint,
            )
            for c in unlinked:
                record_stage.needs_review(ctx, s, self.entity, c.app_id, error, doc=rec.name)
            return ""
        return None

    def created(self, incoming: Record, remote: RemoteRecord) -> Record:
        if remote.archived:
            return incoming.model_copy(update={"status": ContactStatus.ARCHIVED})
        return incoming
