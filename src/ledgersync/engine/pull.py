"""The pull stage: resumable reads of what changed on the platform, one page per step, each page recorded with
its checkpoint (cursor and the provider's resume state) so a driver can stop after any page and go on later."""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING

import ledgersync.engine.record as record_stage
from ledgersync.model import Entity

if TYPE_CHECKING:
    from ledgersync.engine.context import CycleContext


def pull_step(ctx: CycleContext, entity: Entity) -> bool:
    """Read and record the next page of `entity`; True while the same pull has pages left. A provider whose
    pages carry no resume state is read to the end in this one step."""
    cursor, resume = ctx.store.get_checkpoint(ctx.conn_id, entity)
    pages = ctx.provider.pull(entity, cursor, resume=resume) if resume else ctx.provider.pull(entity, cursor)
    try:
        for page in pages:
            record_stage.page_pulled(ctx, entity, page)
            if ctx.progress:
                ctx.progress(f"pull {entity.value}", len(page.records), None)
            if page.resume is not None:
                return True
        return False
    finally:
        close = getattr(pages, "close", None)
        if close is not None:
            close()


def pull_all(ctx: CycleContext, entity: Entity) -> None:
    while pull_step(ctx, entity):
        pass


def refresh(ctx: CycleContext, entity: Entity, remote_ids: Sequence[str]) -> None:
    """Read named records now and apply them as a pull would (without moving the checkpoint)."""
    if remote_ids:
        record_stage.refreshed(ctx, entity, ctx.provider.fetch(entity, remote_ids))
