"""The plan stage: from the app's changes, the platform writes to make, in dependency order and batches, each
with its idempotency key, as rows in the outbox. It calls no platform; a plan nothing of which was sent is
simply superseded by the next one."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from typing import TYPE_CHECKING

from sqlalchemy.orm import Session

import ledgersync.engine.record as record_stage
from ledgersync.engine.context import idempotency_key
from ledgersync.engine.entities import rules_for
from ledgersync.engine.entities.base import EntityRules
from ledgersync.engine.translate import Unmapped, Unresolved, translate
from ledgersync.model import Entity, ErrorCode, Record, SyncError
from ledgersync.store import LinkRow, StateRow, StoredRecord, divergence
from ledgersync.store.tables import Link, SyncState, utcnow

if TYPE_CHECKING:
    from ledgersync.engine.context import CycleContext


@dataclass(frozen=True)
class _Op:
    rec: StoredRecord
    op: str
    record: Record
    key: str
    remote_id: str | None = None
    remote_version: str | None = None


def due(st: SyncState | StateRow | None, rec: StoredRecord, now: dt.datetime) -> bool:
    if st is None:
        return True
    if st.state in record_stage.HELD:
        return False
    if st.state == "failed" and st.failed_hash is not None and st.failed_hash == rec.hash:
        return False  # a data error stays until the record is edited or a person retries
    return not (st.next_attempt_at is not None and st.next_attempt_at > now)


# Candidates are read, translated and written to the outbox this many at a time, so a plan's memory is bounded
# by the chunk, not by how many records the entity has (an export of 20,000 invoices; issue 14).
PLAN_CHUNK = 500


def plan(ctx: CycleContext, entity: Entity) -> int:
    """Plan this entity's writes; returns how many outbox rows were planned. The candidates' ids are read once;
    their records are loaded, checked, translated and written as outbox rows a chunk at a time."""
    rules = rules_for(entity)
    ids = ctx.store.push_candidate_ids(ctx.org_id, ctx.conn_id, entity)
    if ctx.only is not None:
        named = ctx.only.get(entity, set())
        ids = [i for i in ids if i in named]
    now = utcnow()
    removes: list[_Op] = []
    writes: list[_Op] = []  # the writes not yet in a full batch
    planned = 0
    size = max(1, ctx.caps.batch_size)
    with ctx.store.session() as s:
        ctx.store.outbox.drop_planned(s, ctx.conn_id, entity)
        # Documents that came in from another of the organisation's platforms go out here only when it asks
        # (its own setting, else the engine's; contacts and items always do: the app's own documents need them
        # on every platform).
        relay = ctx.relay_between_platforms or rules.shared_everywhere
        foreign = {} if relay else divergence.origins(s, ctx.org_id, entity)
        first = batch = ctx.store.outbox.next_batch_number(s, ctx.conn_id)
        for start in range(0, len(ids), PLAN_CHUNK):
            candidates = ctx.store.push_candidates(ctx.org_id, ctx.conn_id, entity, ids[start : start + PLAN_CHUNK])
            pinned: list[object] = s.info.setdefault("pinned", [])
            held = len(pinned)
            _plan_chunk(ctx, s, entity, rules, candidates, foreign, now, removes, writes)
            del pinned[held:]  # what prepare read for this chunk is not needed by the next
            # Full batches go to the outbox now; the rest waits for the next chunk's writes.
            full = len(writes) - len(writes) % size
            if full:
                rows = [_row(entity, op, batch + i // size) for i, op in enumerate(writes[:full])]
                ctx.store.outbox.add_many(s, ctx.conn_id, rows)
                batch += full // size
                planned += full
                del writes[:full]
        if writes:
            ctx.store.outbox.add_many(s, ctx.conn_id, [_row(entity, op, batch) for op in writes])
            planned += len(writes)
        if removes:
            # The platform removes one record per call, and removals go ahead of the writes.
            ctx.store.outbox.shift_batches(s, ctx.conn_id, entity, first, len(removes))
            ctx.store.outbox.add_many(s, ctx.conn_id, [_row(entity, op, first + i) for i, op in enumerate(removes)])
    return planned + len(removes)


def _plan_chunk(
    ctx: CycleContext,
    s: Session,
    entity: Entity,
    rules: EntityRules,
    candidates: list[tuple[StoredRecord, LinkRow | None]],
    foreign: dict[str, str],
    now: dt.datetime,
    removes: list[_Op],
    writes: list[_Op],
) -> None:
    """One chunk of candidates: the removals and writes they need appended to `removes` and `writes`."""
    if not candidates:
        return
    states = ctx.store.state_rows(ctx.conn_id, entity, [rec.app_id for rec, _ in candidates])
    if type(rules).prepare is not EntityRules.prepare:
        # prepare reads the records new ones refer to (a payment's invoices): one read for the chunk.
        new = [rec.record for rec, link in candidates if link is None or link.removed]
        ctx.store.pin_referenced(s, ctx.org_id, new)
    for rec, link in candidates:
        if link is None and foreign.get(rec.app_id, ctx.conn_id) != ctx.conn_id:
            continue
        if not due(states.get(rec.app_id), rec, now):
            continue
        attempt = _attempt(states, rec)
        if rec.deleted:
            if link is not None:
                removes.append(_removal(ctx, entity, rec, link, "remove"))
            continue
        if not rules.wanted(ctx, rec):
            continue
        if link is not None and rules.replaces(ctx, link):
            # Remove, then enter the new version (its write follows the removal, dropped if that fails).
            try:
                fresh = ctx.outgoing(rules.as_sent(ctx, s, rec).record, rec.app_id)
            except (Unresolved, Unmapped):
                continue
            removes.append(_removal(ctx, entity, rec, link, "replace"))
            if not rules.nothing_to_send(fresh):
                writes.append(
                    _Op(rec, "write", fresh, idempotency_key(ctx.conn_id, entity, rec.app_id, rec.version, attempt))
                )
            continue
        remote_id = link.remote_id if link is not None and not link.removed else None
        if remote_id is not None:
            rec = rules.as_sent(ctx, s, rec)
        else:
            prepared = rules.prepare(ctx, s, rec)
            if prepared is None:
                continue
            rec = prepared
        key = idempotency_key(ctx.conn_id, entity, rec.app_id, rec.version, attempt)  # after prepare
        try:
            outgoing = ctx.outgoing(rec.record, remote_id or rec.app_id)
        except Unresolved as exc:
            record_stage.waiting(ctx, s, entity, rec, exc)
            continue
        except Unmapped as exc:
            record_stage.data_error(ctx, s, entity, rec, exc.error, kind="check")
            continue
        named = _apply_name_rules(ctx, s, entity, rec, outgoing)
        if named is None:
            continue
        if rules.nothing_to_send(named):
            continue
        writes.append(_Op(rec, "write", named, key, remote_id, link.remote_version if link is not None else None))


def _removal(ctx: CycleContext, entity: Entity, rec: StoredRecord, link: Link | LinkRow, op: str) -> _Op:
    resolve = lambda e, i: ctx.to_remote_id(e, i) or i  # noqa: E731
    try:
        payload = ctx.outgoing(rec.record, link.remote_id, resolve)
    except Unmapped:
        # A removal names the platform's record; its codes are not what it sends.
        payload = translate(rec.record, link.remote_id, resolve)
    return _Op(
        rec,
        op,
        payload,
        idempotency_key(ctx.conn_id, entity, rec.app_id, rec.version) + "-rm",
        link.remote_id,
        link.remote_version,
    )


def _row(entity: Entity, op: _Op, batch: int) -> dict[str, object]:
    return {
        "entity": entity,
        "app_id": op.rec.app_id,
        "op": op.op,
        "batch": batch,
        "idempotency_key": op.key,
        "version": op.rec.version,
        "app_hash": op.rec.hash,
        "record": op.record,
        "remote_id": op.remote_id,
        "remote_version": op.remote_version,
    }


def _attempt(states: dict[str, StateRow], rec: StoredRecord) -> int:
    st = states.get(rec.app_id)
    return st.attempts or 0 if st is not None else 0


def _apply_name_rules(
    ctx: CycleContext, s: Session, entity: Entity, rec: StoredRecord, outgoing: Record
) -> Record | None:
    """Check the platform's documented name rules before sending; fail with the exact rule, or clean the
    outgoing copy when configured to (the app keeps its own spelling)."""
    update: dict[str, str] = {}
    for rule in ctx.caps.name_rules:
        if rule.entity is not entity:
            continue
        value = getattr(outgoing, rule.field, None)
        if not isinstance(value, str):
            continue
        problems = rule.problems(value)
        if not problems:
            continue
        if ctx.settings.clean_names and rule.clean(value):
            update[rule.field] = rule.clean(value)
            continue
        error = SyncError(
            code=ErrorCode.INVALID_CHARACTERS,
            message=f"{ctx.caps.display_name} can't take the {rule.label.lower()} '{value}': "
            + "; ".join(problems)
            + ".",
            hint=f"Edit the {rule.label.lower()} and save; it syncs again on its own"
            + (" (or turn on automatic clean-up of names)." if not ctx.settings.clean_names else "."),
            platform_message=rule.source or None,
        )
        record_stage.data_error(ctx, s, entity, rec, error, kind="check")
        return None
    return outgoing.model_copy(update=update) if update else outgoing
