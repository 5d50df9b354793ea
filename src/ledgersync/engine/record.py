"""The record stage: the single path that writes sync states, links, cursors and event-log rows, and queues the
app's events. Every other stage decides; this one writes what was decided, in the caller's transaction."""

from __future__ import annotations

import datetime as dt
import uuid
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from sqlalchemy.orm import Session

from ledgersync.engine import computed
from ledgersync.engine.context import DOC_OF_PARENT, doc_of
from ledgersync.engine.entities import rules_for
from ledgersync.engine.entities.base import EntityRules, changed_fields
from ledgersync.engine.translate import Unresolved
from ledgersync.model import AUTH, Entity, ErrorCode, ProviderError, Record, SyncError
from ledgersync.providers.base import Head, MappedOnRead, PullPage, RemoteRecord, WriteResult
from ledgersync.store import LinkChange, LinkRow, StateChange, StoredRecord, divergence
from ledgersync.store.outbox import PlannedWrite
from ledgersync.store.tables import Link, SyncState, utcnow

if TYPE_CHECKING:
    from ledgersync.engine.context import CycleContext

# States a push leaves alone until a person acts (or, for failed, until the record is edited).
HELD = frozenset({"skipped", "excluded", "needs_review", "conflict", "drifted"})
# Errors that are the connection's, not a record's: they stop the cycle and count no attempt.
STOPS = frozenset({*AUTH, ErrorCode.DAILY_LIMIT})


# -- states ------------------------------------------------------------------------------------------
def pending(ctx: CycleContext, s: Session, entity: Entity, app_id: str, doc: str | None) -> None:
    ctx.store.set_state(s, ctx.conn_id, entity, app_id, "pending", doc_number=doc)


def needs_review(ctx: CycleContext, s: Session, entity: Entity, app_id: str, error: SyncError, doc: str) -> None:
    ctx.store.set_state(s, ctx.conn_id, entity, app_id, "needs_review", error=error, doc_number=doc)


def waiting(ctx: CycleContext, s: Session, entity: Entity, rec: StoredRecord, exc: Unresolved) -> None:
    """A record whose reference has no platform id yet: pending behind it, or failed if it is stuck."""
    if exc.entity is entity:
        ctx.waiting_for.add(exc.ref_id)
    dep_state = ctx.store.get_state(ctx.conn_id, exc.entity, exc.ref_id)
    dep = ctx.store.get_record(ctx.org_id, exc.entity, exc.ref_id, s)
    label = doc_of(dep.record) if dep else exc.ref_id
    if dep_state is not None and dep_state.state == "excluded":
        # Unsync: what depends on an excluded record is excluded with it, quietly (never Failed).
        from ledgersync.engine.exclusion import exclude_with

        exclude_with(ctx.store, s, ctx.conn_id, entity, rec.record, exc.entity, label or exc.ref_id)
        return
    if dep_state is not None and dep_state.state in ("failed", "skipped", "excluded", "needs_review"):
        ctx.store.set_state(
            s,
            ctx.conn_id,
            entity,
            rec.app_id,
            "failed",
            doc_number=doc_of(rec.record),
            error=SyncError(
                code=ErrorCode.MISSING_DEPENDENCY,
                message=f"Waiting for {exc.entity.value} '{label}', which is {dep_state.state}: "
                f"{dep_state.error_message or 'it has not synced'}",
                hint=f"Fix the {exc.entity.value} first; this record follows on the next sync.",
            ),
        )
        ctx.report.bump(ctx.report.failed, entity)
    else:
        pending(ctx, s, entity, rec.app_id, doc_of(rec.record))


def conflict(
    ctx: CycleContext,
    s: Session,
    entity: Entity,
    current: StoredRecord,
    platform: Record,
    remote: RemoteRecord,
) -> None:
    """Edited in the app and on the platform since the last sync, and the conflict policy could not say which
    stays: held as `conflict` with both versions until a person keeps one (nothing is sent meanwhile)."""
    fields = changed_fields(current.record, platform)
    names = ", ".join(f["field"] for f in fields) or "the record"
    doc = doc_of(current.record)
    divergence.save(
        s,
        ctx.conn_id,
        entity,
        current.app_id,
        kind="conflict",
        app_version=current.record.to_json(),
        platform_version=platform.to_json(),
        fields=fields,
        remote_id=remote.remote_id,
        remote_version=remote.version,
    )
    ctx.store.set_state(
        s,
        ctx.conn_id,
        entity,
        current.app_id,
        "conflict",
        doc_number=doc,
        error=SyncError(
            code=ErrorCode.EDIT_CONFLICT,
            message=f"Changed in the app and in {ctx.caps.display_name} since the last sync ({names}); "
            "neither version was kept over the other.",
            hint=f"Compare the two versions and keep the app's or {ctx.caps.display_name}'s.",
        ),
    )
    ctx.report.bump(ctx.report.failed, entity)
    ctx.log(
        "conflict",
        entity=entity,
        app_id=current.app_id,
        remote_id=remote.remote_id,
        doc_number=doc,
        outcome="conflict",
        message=f"edited on both sides: {names}",
        details={"fields": [f["field"] for f in fields]},
        s=s,
    )


def data_error(
    ctx: CycleContext,
    s: Session,
    entity: Entity,
    rec: StoredRecord | PlannedWrite,
    error: SyncError,
    *,
    kind: str,
    doc: str | None = None,
    remote_id: str | None = None,
    request_id: str | None = None,
) -> None:
    """A refusal that stays until the record is edited or a person acts: Failed, counted, and logged with
    the platform's own words and the document number (a payment's: its invoice's)."""
    doc = doc or (ctx.parent_doc(entity, rec.app_id, s) if entity in DOC_OF_PARENT else None) or doc_of(rec.record)
    if isinstance(rec, PlannedWrite):
        error = ctx.real_cause(error, rec.record)
    ctx.store.set_state(
        s,
        ctx.conn_id,
        entity,
        rec.app_id,
        "failed",
        error=error,
        doc_number=doc,
        failed_hash=rec.hash if isinstance(rec, StoredRecord) else rec.app_hash,
        count_attempt=True,
    )
    ctx.report.bump(ctx.report.failed, entity)
    ctx.log(
        kind,
        entity=entity,
        app_id=rec.app_id,
        remote_id=remote_id,
        doc_number=doc,
        outcome="failed",
        message=error.message,
        details={
            "code": error.code.value,
            "platform_code": error.platform_code,
            "platform_message": error.platform_message,
            "request_id": request_id,
        },
        s=s,
    )


def backoff(ctx: CycleContext, attempts: int) -> float:
    base = ctx.settings.retry_base_seconds
    return float(min(ctx.settings.retry_max_seconds, base * (2 ** (attempts - 1))))


def transient(ctx: CycleContext, s: Session, entity: Entity, app_id: str, doc: str | None, error: SyncError) -> None:
    """A failure that may pass (429, 5xx, timeout): retried on a backoff; shown Failed past the limit."""
    st = s.get(SyncState, (ctx.conn_id, entity.value, app_id))
    if entity in DOC_OF_PARENT:
        doc = ctx.parent_doc(entity, app_id, s) or doc
    attempts = (st.attempts if st else 0) + 1
    over = attempts >= ctx.settings.transient_failure_limit
    ctx.store.set_state(
        s,
        ctx.conn_id,
        entity,
        app_id,
        "failed" if over else "pending",
        error=error,
        doc_number=doc,
        count_attempt=True,
        next_attempt_at=utcnow() + dt.timedelta(seconds=backoff(ctx, attempts)),
    )
    if over:
        ctx.report.bump(ctx.report.failed, entity)
    ctx.log(
        "push",
        entity=entity,
        app_id=app_id,
        doc_number=doc,
        outcome="retrying",
        message=error.message,
        details={"attempt": attempts},
        s=s,
    )


# -- the execute stage's claim and its results -------------------------------------------------------
def claim(ctx: CycleContext, s: Session, rows: Sequence[PlannedWrite]) -> None:
    """A batch's records syncing with their keys, in the transaction that marked its rows sent
    (`Outbox.claim`), committed before the call: if the process dies mid-call, the next run looks the writes up
    by these keys before sending anything again."""
    ctx.store.log_many(s, ctx.take_call_rows())
    # One upsert, without reading the rows first (Store.set_states).
    ctx.store.set_states(
        s,
        ctx.conn_id,
        rows[0].entity,
        [
            StateChange(
                row.app_id,
                "syncing",
                doc_number=doc_of(row.record),
                write_key=row.idempotency_key,
                write_version=row.version,
            )
            for row in rows
            if row.op == "write"
        ],
    )


def writes_failed(ctx: CycleContext, entity: Entity, rows: Sequence[PlannedWrite], error: SyncError) -> None:
    """The call as a whole failed before anything was committed: each record goes back to pending, counted
    as an attempt unless the cause is the connection's (revoked, daily limit), which stops the cycle."""
    count = error.code not in STOPS
    with ctx.store.session() as s:
        ctx.store.log_many(s, ctx.take_call_rows())
        for row in rows:
            if count:
                transient(ctx, s, entity, row.app_id, doc_of(row.record), error)
            else:
                pending(ctx, s, entity, row.app_id, doc_of(row.record))
            ctx.store.outbox.done(s, [row.id])
        if not count:
            ctx.store.outbox.drop_planned(s, ctx.conn_id)


def writes_done(
    ctx: CycleContext, entity: Entity, rows: Sequence[PlannedWrite], results: Sequence[WriteResult]
) -> None:
    """Results of one batch: links and states for those that landed, the reason for those refused. What landed
    is written set-wise (a read of the batch's records, states and links, then one statement per table)."""
    by_key = {r.key: r for r in results}
    landed: list[Landed] = []
    events: list[dict[str, Any]] = []
    with ctx.store.session() as s, s.no_autoflush:
        for row in rows:
            result = by_key.get(row.app_id) or WriteResult(
                key=row.app_id,
                error=SyncError(code=ErrorCode.UNKNOWN_OUTCOME, message="the platform returned no result"),
            )
            if not result.ok:
                _write_refused(ctx, s, entity, row, result)
                continue
            assert result.remote is not None
            landed.append(
                Landed(row.app_id, result.remote, app_hash=row.app_hash, version=row.version, doc=doc_of(row.record))
            )
            ctx.report.bump(ctx.report.pushed, entity)
            events.append(
                ctx.event(
                    "push",
                    entity=entity,
                    app_id=row.app_id,
                    remote_id=result.remote.remote_id,
                    doc_number=result.remote.doc_number or doc_of(row.record),
                    message=("updated in " if row.remote_id else "created in ") + ctx.caps.display_name,
                    details={"request_id": row.idempotency_key, "version": row.version},
                )
            )
        link_pushed_many(ctx, s, entity, landed)
        ctx.store.log_many(s, ctx.take_call_rows() + events)
        ctx.store.outbox.done(s, [r.id for r in rows])


def _write_refused(ctx: CycleContext, s: Session, entity: Entity, row: PlannedWrite, result: WriteResult) -> None:
    doc = doc_of(row.record)
    error = result.error or SyncError(code=ErrorCode.VALIDATION, message="rejected without a reason")
    if error.code is ErrorCode.OVERPAYMENT and ctx.settings.overpayments == "record_credit":
        st = s.get(SyncState, (ctx.conn_id, entity.value, row.app_id))
        if st is None or (st.attempts or 0) < 2:
            # Our copy of the amount due was stale: re-read the invoices and split on the next pass (from the
            # app's payment again, not from the split this connection kept).
            ctx.stale_invoices.update(a.invoice_id for a in getattr(row.record, "allocations", []) or [])
            ctx.store.drop_split(s, ctx.conn_id, row.app_id)
            ctx.store.set_state(
                s, ctx.conn_id, entity, row.app_id, "pending", error=error, doc_number=doc, count_attempt=True
            )
            return
    if error.code is ErrorCode.CONFLICT and result.remote is not None:
        # A stale version refused with the platform's current record (QuickBooks Desktop's 3200): the rare path,
        # so its link is read here rather than with the batch.
        link = ctx.store.link_by_app(ctx.conn_id, entity, row.app_id, s)
        if link is not None:
            stale_version(ctx, s, entity, row, result.remote, link, error)
            return
    if result.remote is not None:
        # The record exists on the platform although part of the write was refused (a credit note whose
        # allocation was refused): link it, vouching for no app version, so the retry updates it, never
        # creating it twice.
        link_pushed(ctx, s, entity, row.app_id, result.remote, app_hash=None)
    if error.transient:
        transient(ctx, s, entity, row.app_id, doc, error)
        return
    data_error(ctx, s, entity, row, error, kind="push", request_id=row.idempotency_key)


@dataclass(frozen=True)
class Landed:
    """A write that landed: the app record, what the platform answered, and the app hash the link vouches for
    (None: the app's copy changed while the write was in flight, so it must go again)."""

    app_id: str
    remote: RemoteRecord
    app_hash: str | None
    version: int | None = None
    # The document number of the record as planned (its state's, when the platform's answer has none).
    doc: str | None = None


def stale_version(
    ctx: CycleContext, s: Session, entity: Entity, row: PlannedWrite, remote: RemoteRecord, link: Link, error: SyncError
) -> None:
    """The platform refused an update made on a stale version and gave back its current record (QuickBooks
    Desktop's 3200): take that record as a pull would, under the conflict policy, and keep the version, so the
    next push goes on it. A platform-side change to nothing the app carries (the record reads as it did when
    we last synced: a person's Notes edit) is no conflict, and the app's edit goes again as it is."""
    doc = doc_of(row.record)
    current = ctx.store.get_record(ctx.org_id, entity, row.app_id, s)
    incoming = ctx.app_view(remote, row.app_id)
    if current is None or incoming is None:
        data_error(ctx, s, entity, row, error, kind="push", request_id=row.idempotency_key)
        return
    record = current.record
    if link.remote_hash is None or incoming.content_hash() != link.remote_hash:
        merged = rules_for(entity).merge(ctx, current, incoming, remote, True)
        if merged is not None:
            record = merged
            _, changed = ctx.store.upsert_record(ctx.org_id, merged, s=s)
            if changed:
                _tell_app(
                    ctx, s, entity, row.app_id, remote, merged, "updated",
                    f"updated in the app from {ctx.caps.display_name} (edited there meanwhile)",
                )
        link.remote_hash = incoming.content_hash()
    link.remote_version = remote.version
    computed.keep(ctx.store, s, ctx.conn_id, entity, [(row.app_id, remote.remote_id, remote.version, incoming)])
    ctx.remember(entity, row.app_id, remote.remote_id)
    if record.content_hash() == incoming.content_hash():
        # The platform's version stands (the policy chose it, or it already said what the app wanted).
        link.app_hash = record.content_hash()
        ctx.store.set_state(s, ctx.conn_id, entity, row.app_id, "synced", doc_number=doc)
        return
    st = s.get(SyncState, (ctx.conn_id, entity.value, row.app_id))
    if (st.attempts if st else 0) + 1 >= ctx.settings.transient_failure_limit:
        data_error(ctx, s, entity, row, error, kind="push", request_id=row.idempotency_key)
        return
    # The app's edit goes again on the fresh version (the next pass or cycle plans it: its hash differs).
    ctx.store.set_state(s, ctx.conn_id, entity, row.app_id, "pending", error=error, doc_number=doc, count_attempt=True)
    ctx.log(
        "push",
        entity=entity,
        app_id=row.app_id,
        remote_id=remote.remote_id,
        doc_number=doc,
        outcome="retrying",
        message=error.message,
        details={"version": remote.version},
        s=s,
    )


def link_pushed(
    ctx: CycleContext,
    s: Session,
    entity: Entity,
    app_id: str,
    remote: RemoteRecord,
    *,
    app_hash: str | None,
    version: int | None = None,
) -> None:
    """One write that landed (see link_pushed_many)."""
    link_pushed_many(ctx, s, entity, [Landed(app_id, remote, app_hash, version)])


# How many settled records the cycle keeps for an after-push (CycleContext.settled_copies): a chunk of the
# derived balances' worth, many times over, and a bounded share of an export's memory (a miss is read instead).
SETTLED_KEPT = 5_000


def keep_settled(ctx: CycleContext, entity: Entity, copies: Sequence[tuple[str, int, str, Record]]) -> None:
    """Keep what was just saved, (app id, stored version, stored hash, record), for this cycle's after-push."""
    kept = ctx.settled_copies
    for app_id, version, content_hash, record in copies:
        kept.pop((entity, app_id), None)
        kept[(entity, app_id)] = (version, content_hash, record)
    while len(kept) > SETTLED_KEPT:
        kept.popitem(last=False)


def link_pushed_many(ctx: CycleContext, s: Session, entity: Entity, landed: Sequence[Landed]) -> None:
    """Writes that landed: link the records, take back what the platform computed, and mark them synced (or
    pending, when the app's copy changed while the write was in flight and must go again). One read of the
    records, then one statement each for the records that changed, the links and the states."""
    if not landed:
        return
    rules = rules_for(entity)
    # The app's copies are read only where something needs them: rules that take platform-computed fields
    # back, or a platform answer and a planned record that both lack the document number the state shows.
    settles = type(rules).settle_pushed is not EntityRules.settle_pushed
    needed = [w.app_id for w in landed if settles or not (w.remote.doc_number or w.doc)]
    current = ctx.store.record_map(s, ctx.org_id, entity, needed) if needed else {}
    incoming: dict[str, Record | None] = {}
    settled: dict[str, Record] = {}
    unchanged: list[tuple[str, int, str, Record]] = []
    for w in landed:
        incoming[w.app_id] = view = ctx.app_view(w.remote, w.app_id)
        cur = current.get(w.app_id)
        if view is not None and cur is not None:
            record = rules.settle_pushed(cur.record, view)
            if record is cur.record and not cur.deleted:
                unchanged.append((w.app_id, cur.version, cur.hash, record))  # nothing to take back: not saved
            elif record is not None:
                settled[w.app_id] = record
    hashes: dict[str, str] = {}
    saved = ctx.store.save_records(s, ctx.org_id, [(r, current[a]) for a, r in settled.items()], hashes)
    if settled or unchanged:
        keep_settled(ctx, entity, [(a, saved[a][0], hashes[a], r) for a, r in settled.items()] + unchanged)
    links: list[LinkChange] = []
    states: list[StateChange] = []
    for w in landed:
        app_hash, cur = w.app_hash, current.get(w.app_id)
        record = settled.get(w.app_id) or (cur.record if cur else None)
        if w.app_id in settled and cur is not None:
            _, changed = saved[w.app_id]
            if changed and app_hash is not None and (w.version is None or w.version == cur.version):
                app_hash = hashes[w.app_id]
        view = incoming[w.app_id]
        links.append(
            LinkChange(
                w.app_id,
                w.remote.remote_id,
                remote_version=w.remote.version,
                app_hash=app_hash,
                remote_hash=view.content_hash() if view else None,
                removed=w.remote.deleted,
            )
        )
        ctx.remember(entity, w.app_id, w.remote.remote_id)
        states.append(
            StateChange(
                w.app_id,
                "synced" if app_hash is not None else "pending",
                doc_number=w.remote.doc_number or (doc_of(record) if record else None) or w.doc,
            )
        )
    ctx.store.save_links(s, ctx.conn_id, entity, links)
    ctx.store.set_states(s, ctx.conn_id, entity, states)
    said = [(w.app_id, w.remote.remote_id, w.remote.version, incoming[w.app_id]) for w in landed]
    computed.keep(ctx.store, s, ctx.conn_id, entity, [(a, r, v, rec) for a, r, v, rec in said if rec is not None])


def settled(
    ctx: CycleContext,
    entity: Entity,
    records: Sequence[Record],
    based_on: Mapping[str, tuple[int, str]] | None = None,
) -> set[str]:
    """Platform-computed fields the engine derived from a write's answer and the platform's rules (an invoice's
    amount due after a payment): saved as a read-back would save them, in one transaction. The link keeps its
    platform version (the next pull may read the record once more and finds nothing new) and vouches for the
    new content when the app had not changed the record meanwhile; a changed record is told to the app.
    `based_on`: the stored (version, hash) each record was derived from; one the store no longer holds (the app
    changed or deleted it meanwhile) is not saved, and its id is returned, to be read back instead."""
    if not records:
        return set()
    with ctx.store.session() as s:
        # The records are the caller's (derived from what it read): only the stored hash and version are needed.
        current = ctx.store.record_meta(s, ctx.org_id, entity, [r.id for r in records])
        stale = {
            r.id
            for r in records
            if based_on is not None
            and r.id in current
            and r.id in based_on
            and (current[r.id].version, current[r.id].hash) != based_on[r.id]
        }
        pairs = [(r, current[r.id]) for r in records if r.id in current and r.id not in stale]
        links = ctx.store.links_by_app(s, ctx.conn_id, entity, [r.id for r, _ in pairs])
        hashes: dict[str, str] = {}
        dumped: dict[str, dict[str, Any]] = {}
        saved = ctx.store.save_records(s, ctx.org_id, pairs, hashes, dumped)
        keep_settled(ctx, entity, [(r.id, saved[r.id][0], hashes[r.id], r) for r, _ in pairs])
        link_updates: list[dict[str, Any]] = []
        app_events: list[dict[str, Any]] = []
        events: list[dict[str, Any]] = []
        # This connection's own figures now are the derived ones, at the platform version the link knows.
        computed.keep(
            ctx.store,
            s,
            ctx.conn_id,
            entity,
            [(r.id, links[r.id].remote_id, links[r.id].remote_version, r) for r, _ in pairs if r.id in links],
        )
        for record, cur in pairs:
            link = links.get(record.id)
            if link is not None and link.app_hash == cur.hash and hashes[record.id] != cur.hash:
                link_updates.append(link.update(app_hash=hashes[record.id]))
            if not saved[record.id][1]:
                continue  # what the app owns is the same: nothing to tell (as when a read-back finds this)
            app_events.append(
                {
                    "org_id": ctx.org_id,
                    "type": f"{entity.value}.updated",
                    "entity": entity.value,
                    "app_id": record.id,
                    "payload": dumped[record.id],
                }
            )
            events.append(
                ctx.event(
                    "pull",
                    entity=entity,
                    app_id=record.id,
                    remote_id=link.remote_id if link else None,
                    doc_number=doc_of(record),
                    message=f"updated in the app from {ctx.caps.display_name}'s answer to the write",
                )
            )
        ctx.store.update_links(s, link_updates)
        ctx.store.emit_many(s, app_events)
        ctx.store.log_many(s, events)
    return stale


def removal_done(ctx: CycleContext, row: PlannedWrite, outcome: WriteResult | ProviderError, link: Link) -> bool:
    """The result of voiding / deleting / archiving one record (or removing a payment to re-enter it). False
    when it did not happen; then whatever was planned after it for the record is dropped."""
    entity, replacing = row.entity, row.op == "replace"
    doc = doc_of(row.record)
    with ctx.store.session() as s:
        ctx.store.log_many(s, ctx.take_call_rows())
        ctx.store.outbox.done(s, [row.id])
        if isinstance(outcome, ProviderError):
            if outcome.error.code in STOPS:
                ctx.store.outbox.drop_planned(s, ctx.conn_id)
                return False
            transient(ctx, s, entity, row.app_id, doc, outcome.error)
            ctx.store.outbox.drop_record(s, ctx.conn_id, entity, row.app_id)
            return False
        if outcome.error is not None and outcome.error.code is not ErrorCode.NOT_FOUND:
            data_error(ctx, s, entity, row, outcome.error, kind="remove", doc=doc, remote_id=link.remote_id)
            ctx.store.outbox.drop_record(s, ctx.conn_id, entity, row.app_id)
            return False
        ctx.store.save_link(
            s,
            ctx.conn_id,
            entity,
            row.app_id,
            link.remote_id,
            remote_version=outcome.remote.version if outcome.remote else link.remote_version,
            app_hash=None if replacing else row.app_hash,
            remote_hash=link.remote_hash,
            removed=True,
        )
        if replacing:
            ctx.forget_remote(entity, row.app_id)
        else:
            ctx.store.set_state(s, ctx.conn_id, entity, row.app_id, "synced", doc_number=doc)
        ctx.log(
            "remove",
            entity=entity,
            app_id=row.app_id,
            remote_id=link.remote_id,
            doc_number=doc,
            message=("replaced in " if replacing else "voided/deleted in ") + ctx.caps.display_name,
            s=s,
        )
        ctx.report.bump(ctx.report.pushed, entity)
    return True


# -- reconcile ---------------------------------------------------------------------------------------
def reconciled(
    ctx: CycleContext,
    entity: Entity,
    rows: Sequence[SyncState],
    stored: dict[str, StoredRecord],
    found: dict[str, RemoteRecord],
) -> None:
    """Writes whose outcome was unknown, looked up: linked where they landed, pending where they did not."""
    with ctx.store.session() as s:
        for row in rows:
            rec = stored.get(row.app_id)
            if rec is None:
                ctx.store.set_state(s, ctx.conn_id, entity, row.app_id, "not_synced")
                continue
            remote = found.get(row.app_id)
            if remote is not None and ctx.to_app_id(entity, remote.remote_id) not in (None, row.app_id):
                remote = None  # that platform record is another app record's: this write did not land
            if remote is None:
                # The write never landed: push it again (same idempotency key while the version holds).
                pending(ctx, s, entity, row.app_id, doc_of(rec.record))
                continue
            same_version = row.write_version == rec.version
            link_pushed(ctx, s, entity, rec.app_id, remote, app_hash=rec.hash if same_version else None)
            ctx.report.reconciled += 1
            ctx.log(
                "reconcile",
                entity=entity,
                app_id=rec.app_id,
                remote_id=remote.remote_id,
                doc_number=remote.doc_number or doc_of(rec.record),
                message="an earlier write whose outcome was unknown had landed; linked, not re-sent",
                s=s,
            )
        ctx.store.outbox.clear_sent(s, ctx.conn_id, entity, [r.app_id for r in rows])


# -- the platform side coming back (pull, refresh) ---------------------------------------------------
def page_pulled(ctx: CycleContext, entity: Entity, page: PullPage) -> None:
    """One pulled page applied, and the checkpoint moved in the same transaction: never ahead of the data.
    The page's links are read in one statement; our own writes coming back are skipped unread, and what changed
    on linked records is applied set-wise (_apply_linked_many). Records with no link are matched one by one."""
    records = page.records
    # A provider that maps on read (MappedOnRead) tells each record's id, version and deletion unmapped: what is
    # skipped below is never mapped.
    heads: Sequence[Head | RemoteRecord] = records.heads() if isinstance(records, MappedOnRead) else records
    with ctx.store.session() as s, s.no_autoflush:
        ids = [h.remote_id for h in heads]
        links = ctx.store.link_rows(s, ctx.conn_id, entity, ids)
        changed: dict[str, tuple[RemoteRecord, LinkRow]] = {}
        for i, head in enumerate(heads):
            link = links.get(head.remote_id)
            if link is None:
                _apply_unlinked(ctx, s, entity, records[i])
            elif link.remote_version != head.version or (head.deleted and not link.removed):
                changed[head.remote_id] = (records[i], link)  # a later copy of one record in the page wins
        if page.listed_whole:
            for remote, link in _gone_from_parents(ctx, s, entity, page, ids):
                changed.setdefault(remote.remote_id, (remote, link))
        _apply_linked_many(ctx, s, entity, list(changed.values()))
        ctx.store.set_cursor(s, ctx.conn_id, entity, page.cursor, page.resume)
    ctx.report.bump(ctx.report.pulled, entity, len(page.records))


# The version of a record found gone by listing (not read): its app copy is marked deleted untranslated.
GONE = "gone"


def _gone_from_parents(
    ctx: CycleContext, s: Session, entity: Entity, page: PullPage, listed: Sequence[str]
) -> list[tuple[RemoteRecord, LinkRow]]:
    """Linked records of the parents a page lists whole that the page does not list (a platform that deletes
    them outright and lists no deletions): marked deleted in the app, untranslated (version GONE)."""
    rules = rules_for(entity)
    gone = rules.gone_from(ctx, s, page.listed_whole, set(listed))
    links = ctx.store.link_rows(s, ctx.conn_id, entity, gone)
    current = ctx.store.record_map(s, ctx.org_id, entity, [links[rid].app_id for rid in gone if rid in links])
    out: list[tuple[RemoteRecord, LinkRow]] = []
    for rid in gone:
        link = links.get(rid)
        stored = current.get(link.app_id) if link is not None else None
        if link is None or link.removed or stored is None:
            continue
        out.append((RemoteRecord(entity, rid, GONE, stored.record, deleted=True), link))
    return out


def refreshed(ctx: CycleContext, entity: Entity, records: Sequence[RemoteRecord]) -> None:
    """Records read by id, applied as a pull would, without moving the cursor (only linked ones)."""
    with ctx.store.session() as s, s.no_autoflush:
        links = ctx.store.link_rows(s, ctx.conn_id, entity, [r.remote_id for r in records])
        pairs = {r.remote_id: (r, links[r.remote_id]) for r in records if r.remote_id in links}
        _apply_linked_many(ctx, s, entity, list(pairs.values()))


def _apply_unlinked(ctx: CycleContext, s: Session, entity: Entity, remote: RemoteRecord) -> None:
    if remote.external_id and ctx.store.get_record(ctx.org_id, entity, remote.external_id, s):
        app_id: str | None = remote.external_id
    else:
        app_id = rules_for(entity).match(ctx, s, remote)
    if app_id == "":
        return
    if app_id is None:
        _create_in_app(ctx, s, entity, remote)
        return
    link_row = ctx.store.link_by_app(ctx.conn_id, entity, app_id, s)
    if link_row is not None and link_row.remote_id != remote.remote_id:
        return  # that app record is linked elsewhere already; leave this one alone
    _link_matched(ctx, s, entity, app_id, remote)


def _apply_linked_many(
    ctx: CycleContext, s: Session, entity: Entity, pairs: Sequence[tuple[RemoteRecord, LinkRow]]
) -> None:
    """Platform-side changes to linked records: one read of their app records, then one statement each for the
    records, the links, the app's events and the log rows."""
    if not pairs:
        return
    rules = rules_for(entity)
    current = ctx.store.record_map(s, ctx.org_id, entity, [link.app_id for _, link in pairs])
    saves: list[tuple[Record, StoredRecord]] = []
    link_updates: list[dict[str, Any]] = []
    said: list[tuple[str, str, str | None, Record]] = []  # what the platform computed, for this connection
    told: list[tuple[str, RemoteRecord, Record, str, bool]] = []  # app id, remote, record, message, always
    vouched: list[tuple[dict[str, Any], str]] = []  # link updates whose app_hash is the saved record's
    for remote, link in pairs:
        cur = current.get(link.app_id)
        if cur is None:
            continue
        incoming = None if remote.version == GONE else ctx.app_view(remote, link.app_id)
        if incoming is None:
            if remote.deleted:
                # A platform reports a deletion with no content (QuickBooks CDC gives just the id): mark the
                # app's copy without translating anything.
                record = rules.deleted_copy(cur.record)
                if record is None:
                    continue
                saves.append((record, cur))
                link_updates.append(
                    link.update(removed=True, remote_version=remote.version, app_hash=record.content_hash())
                )
                message = f"deleted in {ctx.caps.display_name}; marked deleted in the app"
                told.append((link.app_id, remote, record, message, True))
            continue
        if not remote.deleted:
            said.append((link.app_id, remote.remote_id, remote.version, incoming))
        app_changed = link.app_hash is not None and cur.hash != link.app_hash
        incoming_hash = incoming.content_hash()  # hashed once: compared here, kept as the link's remote_hash
        platform_changed = link.remote_hash is None or incoming_hash != link.remote_hash
        # The conflict policy (issue 15): may settle the edit, or record a conflict and keep the app's copy.
        merged = rules.merge_edit(
            ctx, s, cur, incoming, remote, app_changed=app_changed, platform_changed=platform_changed
        )
        if merged is None:
            link_updates.append(link.update(remote_version=remote.version))
            continue
        removed = True if remote.deleted else link.removed
        if not cur.deleted and (merged is cur.record or merged == cur.record):
            # Nothing the app holds changes (a payment landed on an invoice whose figures were settled from it
            # already): no record write and nothing to tell; the link moves to the version read.
            link_updates.append(
                link.update(
                    removed=removed,
                    remote_version=remote.version,
                    remote_hash=incoming_hash,
                    app_hash=link.app_hash if app_changed else cur.hash,
                )
            )
            ctx.remember(entity, link.app_id, remote.remote_id)
            continue
        saves.append((merged, cur))
        update = link.update(removed=removed, remote_version=remote.version, remote_hash=incoming_hash)
        if not app_changed:
            vouched.append((update, link.app_id))  # the saved record's hash, once save_records has it
        link_updates.append(update)
        told.append((link.app_id, remote, merged, f"updated in the app from {ctx.caps.display_name}", False))
        ctx.remember(entity, link.app_id, remote.remote_id)
    hashes: dict[str, str] = {}
    saved = ctx.store.save_records(s, ctx.org_id, saves, hashes)
    for update, app_id in vouched:
        update["app_hash"] = hashes[app_id]
    ctx.store.update_links(s, link_updates)
    computed.keep(ctx.store, s, ctx.conn_id, entity, said)
    app_events: list[dict[str, Any]] = []
    events: list[dict[str, Any]] = []
    for app_id, remote, record, message, always in told:
        if always or saved[app_id][1]:
            app_events.append(
                {
                    "org_id": ctx.org_id,
                    "type": f"{entity.value}.updated",
                    "entity": entity.value,
                    "app_id": app_id,
                    "payload": record.to_json(),
                }
            )
            events.append(
                ctx.event(
                    "pull",
                    entity=entity,
                    app_id=app_id,
                    remote_id=remote.remote_id,
                    doc_number=remote.doc_number or doc_of(record),
                    message=message,
                )
            )
    ctx.store.emit_many(s, app_events)
    ctx.store.log_many(s, events)


def _tell_app(
    ctx: CycleContext,
    s: Session,
    entity: Entity,
    app_id: str,
    remote: RemoteRecord,
    record: Record,
    event: str,
    message: str,
) -> None:
    """A platform-side change applied to the app's record: queue the app event and log it."""
    ctx.store.emit(s, ctx.org_id, f"{entity.value}.{event}", entity, app_id, record.to_json())
    ctx.log(
        "pull",
        entity=entity,
        app_id=app_id,
        remote_id=remote.remote_id,
        doc_number=remote.doc_number or doc_of(record),
        message=message,
        s=s,
    )


def _link_matched(ctx: CycleContext, s: Session, entity: Entity, app_id: str, remote: RemoteRecord) -> None:
    current = ctx.store.get_record(ctx.org_id, entity, app_id, s)
    incoming = ctx.app_view(remote, app_id)
    if current is None or incoming is None:
        return
    # The app's content is the one to keep for a record it already had; the next push sends it if the
    # two differ (app_hash None marks it unsent). Platform-computed fields are taken as they are.
    merged = rules_for(entity).merge(ctx, current, incoming, remote, app_changed=True) or current.record
    ctx.store.upsert_record(ctx.org_id, merged, s=s)
    same = incoming.content_hash() == merged.content_hash()
    ctx.store.save_link(
        s,
        ctx.conn_id,
        entity,
        app_id,
        remote.remote_id,
        remote_version=remote.version,
        app_hash=merged.content_hash() if same else None,
        remote_hash=incoming.content_hash(),
        removed=remote.deleted,
    )
    computed.keep(ctx.store, s, ctx.conn_id, entity, [(app_id, remote.remote_id, remote.version, incoming)])
    ctx.remember(entity, app_id, remote.remote_id)
    if same:
        ctx.store.set_state(s, ctx.conn_id, entity, app_id, "synced", doc_number=doc_of(merged))
    ctx.log(
        "match",
        entity=entity,
        app_id=app_id,
        remote_id=remote.remote_id,
        doc_number=remote.doc_number or doc_of(merged),
        message=f"matched to the existing {ctx.caps.display_name} record",
        s=s,
    )


def _create_in_app(ctx: CycleContext, s: Session, entity: Entity, remote: RemoteRecord) -> None:
    if remote.deleted:
        return
    app_id = f"{entity.value[:3]}_{uuid.uuid4().hex[:16]}"
    incoming = ctx.app_view(remote, app_id)
    if incoming is None:
        return
    incoming = rules_for(entity).created(incoming, remote)
    ctx.store.upsert_record(ctx.org_id, incoming, s=s)
    divergence.set_origin(s, ctx.org_id, entity, app_id, ctx.conn_id)  # other connections relay it only if asked
    h = incoming.content_hash()
    ctx.store.save_link(
        s, ctx.conn_id, entity, app_id, remote.remote_id, remote_version=remote.version, app_hash=h, remote_hash=h
    )
    computed.keep(ctx.store, s, ctx.conn_id, entity, [(app_id, remote.remote_id, remote.version, incoming)])
    ctx.remember(entity, app_id, remote.remote_id)
    doc = remote.doc_number or doc_of(incoming)
    ctx.store.set_state(s, ctx.conn_id, entity, app_id, "synced", doc_number=doc)
    _tell_app(ctx, s, entity, app_id, remote, incoming, "created", f"created in the app from {ctx.caps.display_name}")
    ctx.report.bump(ctx.report.created_in_app, entity)


# -- the connection --------------------------------------------------------------------------------------
def cycle_finished(ctx: CycleContext, connection_status: str) -> None:
    """The connection's last-sync figures, the app's outcome events and the cycle's log row."""
    report = ctx.report
    values: dict[str, Any] = {"last_sync_at": report.finished_at}
    if report.status == "ok":
        values["last_success_at"] = report.finished_at
        if connection_status == "parked":
            values.update(status="connected", status_reason=None, parked_until=None)
    ctx.store.update_connection(ctx.conn_id, **values)
    ctx.store.add_calls(ctx.conn_id, ctx.calls)
    failed = sum(report.failed.values())
    base: dict[str, Any] = {
        "connection_id": ctx.conn_id,
        "provider": ctx.conn.provider,
        "status": report.status,
        "message": report.message,
    }
    # Emitted here so every path that syncs (CLI, scheduler, API, dashboard, Python API) tells the app the same;
    # needs_reconnect only from the cycle that found it.
    with ctx.store.session() as s:
        if report.status == "needs_reconnect" and ctx.conn.status != "needs_reconnect":
            after = ctx.store.get_connection(ctx.conn_id)
            ctx.store.emit(
                s, ctx.org_id, "connection.needs_reconnect", None, None, {**base, "reason": after.status_reason}
            )
        if report.status == "error" or failed:
            ctx.store.emit(s, ctx.org_id, "sync.failed", None, None, {**base, "failed": dict(report.failed)})
    ctx.log(
        "sync",
        outcome=report.status,
        message=report.message or "sync finished",
        details={
            "pulled": report.pulled,
            "pushed": report.pushed,
            "failed": report.failed,
            "created_in_app": report.created_in_app,
            "calls": ctx.calls,
            "seconds": round(report.seconds, 3),
        },
    )


def stopped(ctx: CycleContext, error: SyncError) -> None:
    """The cycle stopped on a connection-wide error: the connection's status says why."""
    ctx.report.message, ctx.report.hint = error.message, error.hint
    if error.code in AUTH:
        ctx.report.status = "needs_reconnect"
        ctx.store.update_connection(ctx.conn_id, status="needs_reconnect", status_reason=error.message)
    elif error.code is ErrorCode.DAILY_LIMIT:
        ctx.report.status = "parked"
        until = utcnow() + dt.timedelta(seconds=error.retry_after or 3600)
        ctx.store.update_connection(
            ctx.conn_id,
            status="parked",
            parked_until=until,
            status_reason=f"Paused: the platform's daily API limit is used up; resumes at {until:%H:%M} UTC.",
        )
    else:
        ctx.report.status = "error"
