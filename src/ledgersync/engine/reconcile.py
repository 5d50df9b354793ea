"""The reconcile stage: writes left `syncing` by a crash or an unknown outcome are looked up on the platform by
their stored key and natural key before anything is sent again; found ones are linked, the rest go again."""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING

import ledgersync.engine.record as record_stage
from ledgersync.engine.context import idempotency_key
from ledgersync.engine.execute import as_write
from ledgersync.engine.translate import Unmapped, Unresolved
from ledgersync.model import Entity
from ledgersync.providers.base import RemoteRecord, Write
from ledgersync.store import StoredRecord
from ledgersync.store.tables import SyncState

if TYPE_CHECKING:
    from ledgersync.engine.context import CycleContext


def reconcile(ctx: CycleContext, entity: Entity) -> None:
    rows = ctx.store.states(ctx.conn_id, entity, "syncing")
    if ctx.only is not None:
        rows = [r for r in rows if r.app_id in ctx.only.get(entity, set())]
    if rows:
        reconcile_rows(ctx, entity, rows)
    with ctx.store.session() as s:
        # Removals claimed but never recorded: the next plan removes again (a platform answers an already
        # removed record with not-found, which counts as done).
        left = [app_id for app_id, row in ctx.store.outbox.sent(ctx.conn_id, entity).items() if row.op != "write"]
        ctx.store.outbox.clear_sent(s, ctx.conn_id, entity, left)


def reconcile_rows(ctx: CycleContext, entity: Entity, rows: Sequence[SyncState]) -> None:
    sent = ctx.store.outbox.sent(ctx.conn_id, entity)
    writes: list[Write] = []
    stored: dict[str, StoredRecord] = {}
    for row in rows:
        rec = ctx.store.get_record(ctx.org_id, entity, row.app_id)
        if rec is None:
            continue
        stored[row.app_id] = rec
        planned = sent.get(row.app_id)
        if planned is not None and planned.op == "write":
            writes.append(as_write(planned))  # exactly what was sent
            continue
        try:
            remote_rec = ctx.outgoing(rec.record, ctx.to_remote_id(entity, rec.app_id) or rec.app_id)
        except (Unresolved, Unmapped):
            continue
        writes.append(
            Write(
                key=rec.app_id,
                record=remote_rec,
                idempotency_key=row.write_key or idempotency_key(ctx.conn_id, entity, rec.app_id, rec.version),
                remote_id=ctx.to_remote_id(entity, rec.app_id),
            )
        )
    found: dict[str, RemoteRecord] = {}
    size = max(1, ctx.caps.batch_size)
    for i in range(0, len(writes), size):
        found.update(ctx.provider.find(entity, writes[i : i + size]))
    record_stage.reconciled(ctx, entity, rows, stored, found)
