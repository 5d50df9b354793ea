"""The execute stage: take the next batch from the outbox, call the provider, hand back what it answered.
The only stage that writes to a platform; it records nothing itself but the claim (see record.claim)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

import ledgersync.engine.record as record_stage
from ledgersync.engine.faults import boundary
from ledgersync.model import Entity, ProviderError
from ledgersync.providers.base import Write, WriteResult
from ledgersync.store.outbox import PlannedWrite

if TYPE_CHECKING:
    from ledgersync.engine.context import CycleContext


@dataclass(frozen=True)
class Executed:
    """One provider call's outcome: a result per write, or the error that failed the call as a whole."""

    entity: Entity
    rows: list[PlannedWrite]
    results: list[WriteResult] | None = None
    error: ProviderError | None = None

    @property
    def removal(self) -> bool:
        return self.rows[0].op in ("remove", "replace")


def as_write(row: PlannedWrite) -> Write:
    return Write(
        key=row.app_id,
        record=row.record,
        idempotency_key=row.idempotency_key,
        remote_id=row.remote_id,
        remote_version=row.remote_version,
    )


def claim_next(ctx: CycleContext, entity: Entity | None = None, *, writes_only: bool = False) -> list[PlannedWrite]:
    """Claim the next planned batch (of `entity`, or of any entity); [] when nothing is planned, or, with
    `writes_only`, when the next batch is a removal (left planned: what follows it depends on its outcome).
    One transaction: the rows marked sent and read back in one statement, the records' states syncing."""
    with ctx.store.session() as s:
        rows = ctx.store.outbox.claim(s, ctx.conn_id, entity, writes_only=writes_only)
        if rows:
            record_stage.claim(ctx, s, rows)
    if rows:
        boundary("claimed")
    return rows


def send(ctx: CycleContext, rows: list[PlannedWrite]) -> Executed:
    """Call the provider with one claimed batch. Touches no store table (the call rows wait in the context), so
    the in-process driver may run it in a thread while it records the previous batch."""
    entity = rows[0].entity
    try:
        if rows[0].op in ("remove", "replace"):
            return Executed(entity, rows, results=[ctx.provider.remove(entity, as_write(rows[0]))])
        return Executed(entity, rows, results=ctx.provider.push(entity, [as_write(r) for r in rows]))
    except ProviderError as exc:
        return Executed(entity, rows, error=exc)


def execute_next(ctx: CycleContext, entity: Entity | None = None) -> Executed | None:
    """Claim and send the next planned batch (of `entity`, or of any entity); None when nothing is planned."""
    rows = claim_next(ctx, entity)
    return send(ctx, rows) if rows else None
