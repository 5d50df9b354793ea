"""Verify: the agreement checker as a user command. Every synced record found different from its platform copy
becomes `drifted`, with both versions and the fields side by side and the fixes that fit (push the app's
version, take the platform's, or skip); a drifted record found agreeing again is synced.

In full (`sample=None`) it reads every record of every pushed entity, as `check` does. Sampled (the scheduler's
daily run) it fetches a random sample of linked records by id, within a budget of platform calls."""

from __future__ import annotations

import datetime as dt
import random
from collections import defaultdict
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from sqlalchemy import func, select

from ledgersync.engine.check import Difference, check, compare, gone
from ledgersync.engine.entities import rules_for
from ledgersync.model import Entity, ErrorCode, Record, SyncError
from ledgersync.providers.base import CallInfo, RemoteRecord
from ledgersync.store import Store, divergence
from ledgersync.store.tables import Event, SyncState

if TYPE_CHECKING:
    from ledgersync.engine.context import CycleContext

# States that already say why the two sides differ (or will stop differing on the next push): left alone.
EXPLAINED = frozenset({"pending", "syncing", "failed", "skipped", "excluded", "needs_review", "conflict", "not_synced"})
FETCH_CHUNK = 50


@dataclass
class VerifyReport:
    connection_id: str
    sampled: bool
    compared: dict[str, int] = field(default_factory=dict)
    # (entity, app id) -> the fields found different; each such record is now `drifted`.
    drifted: dict[tuple[str, str], list[str]] = field(default_factory=dict)
    # Drifted records found agreeing again (now synced).
    resolved: int = 0
    # Differences about no single synced record (duplicates, platform records not linked), for the person.
    other: list[Difference] = field(default_factory=list)
    calls: int = 0
    budget_spent: bool = False

    @property
    def agree(self) -> bool:
        return not self.drifted and not self.other

    def summary(self) -> str:
        n = sum(self.compared.values())
        parts = [f"{n} record(s) compared" + (" (a sample)" if self.sampled else "")]
        parts.append(f"{len(self.drifted)} drifted" if self.drifted else "no drift")
        if self.resolved:
            parts.append(f"{self.resolved} agree again")
        if self.other:
            parts.append(f"{len(self.other)} other difference(s)")
        if self.budget_spent:
            parts.append("stopped at the call budget")
        return ", ".join(parts)


class _Budget(Exception):
    pass


def verify(
    ctx: CycleContext,
    *,
    sample: int | None = None,
    call_budget: int | None = None,
    entities: tuple[Entity, ...] | None = None,
    rng: random.Random | None = None,
) -> VerifyReport:
    report = VerifyReport(connection_id=ctx.conn_id, sampled=sample is not None)
    entities = entities or tuple(e for e in Entity.push_order() if e in ctx.caps.push_entities)
    calls = 0
    chained = ctx.provider.on_call

    def counted(info: CallInfo) -> None:
        nonlocal calls
        calls += 1
        if chained is not None:
            chained(info)

    ctx.provider.on_call = counted
    found: dict[tuple[Entity, str], tuple[list[Difference], Record | None, RemoteRecord | None]] = {}
    compared: dict[Entity, set[str]] = defaultdict(set)
    try:
        if sample is None:
            full = check(ctx.store, ctx.provider, ctx.conn_id, entities)
            for d in full.differences:
                if d.app_id is None:
                    report.other.append(d)
                    continue
                key = (Entity(d.entity), d.app_id)
                diffs, _, _ = found.setdefault(key, ([], full.views.get((d.entity, d.app_id)), None))
                diffs.append(d)
            for entity in entities:
                compared[entity] = {a for (e, a) in full.views if e == entity.value}
                compared[entity] |= {a for (e, a) in found if e is entity}
        else:
            _sampled(ctx, entities, sample, call_budget, rng or random.Random(), found, compared, lambda: calls)
    except _Budget:
        report.budget_spent = True
    finally:
        ctx.provider.on_call = chained
    report.calls = calls
    report.compared = {e.value: len(ids) for e, ids in compared.items() if ids}
    _record(ctx, report, found, compared)
    return report


def _sampled(
    ctx: CycleContext,
    entities: tuple[Entity, ...],
    sample: int,
    call_budget: int | None,
    rng: random.Random,
    found: dict[tuple[Entity, str], tuple[list[Difference], Record | None, RemoteRecord | None]],
    compared: dict[Entity, set[str]],
    calls: Any,
) -> None:
    """A random sample of synced, linked records, fetched by id and compared; stops at the call budget."""
    pool: list[tuple[Entity, str, str]] = []
    for entity in entities:
        states = ctx.store.state_map(ctx.conn_id, entity)
        for app_id, link in ctx.store.links(ctx.conn_id, entity).items():
            st = states.get(app_id)
            if not link.removed and st is not None and st.state in ("synced", "drifted"):
                pool.append((entity, app_id, link.remote_id))
    chosen = rng.sample(pool, min(sample, len(pool)))
    by_entity: dict[Entity, list[tuple[str, str]]] = defaultdict(list)
    for entity, app_id, remote_id in chosen:
        by_entity[entity].append((app_id, remote_id))
    for entity in entities:
        pairs = by_entity.get(entity, [])
        for i in range(0, len(pairs), FETCH_CHUNK):
            if call_budget is not None and calls() >= call_budget:
                raise _Budget
            chunk = pairs[i : i + FETCH_CHUNK]
            remotes = {r.remote_id: r for r in ctx.provider.fetch(entity, [rid for _, rid in chunk])}
            for app_id, remote_id in chunk:
                stored = ctx.store.get_record(ctx.org_id, entity, app_id)
                if stored is None:
                    continue
                compared[entity].add(app_id)
                remote = remotes.get(remote_id)
                record = stored.record
                if remote is None or remote.deleted:
                    if not gone(record):
                        d = Difference(entity.value, app_id, remote_id, "(record)", "present", "missing")
                        found[(entity, app_id)] = ([d], None, remote)
                    continue
                view, diffs = compare(entity, app_id, record, remote, ctx.codes, ctx.to_app_id, ctx.caps)
                if diffs:
                    found[(entity, app_id)] = (diffs, view, remote)


def _record(
    ctx: CycleContext,
    report: VerifyReport,
    found: dict[tuple[Entity, str], tuple[list[Difference], Record | None, RemoteRecord | None]],
    compared: dict[Entity, set[str]],
) -> None:
    """Drifted states (with both versions) for synced records that differ; synced again for drifted ones that
    agree now. Records whose state already says why they differ are left as they are."""
    name = ctx.caps.display_name
    with ctx.store.session() as s:
        for entity, ids in compared.items():
            states = ctx.store.state_map(ctx.conn_id, entity, sorted(ids), s)
            for app_id in sorted(ids):
                st: SyncState | None = states.get(app_id)
                key = (entity, app_id)
                if key not in found:
                    if st is not None and st.state == "drifted":
                        divergence.clear(s, ctx.conn_id, entity, app_id)
                        ctx.store.set_state(s, ctx.conn_id, entity, app_id, "synced")
                        report.resolved += 1
                    continue
                if st is not None and st.state in EXPLAINED:
                    continue
                diffs, view, remote = found[key]
                stored = ctx.store.get_record(ctx.org_id, entity, app_id, s)
                if stored is None:
                    continue
                link = ctx.store.link_by_app(ctx.conn_id, entity, app_id, s)
                fields = [{"field": d.field, "app": d.app_value, "platform": d.remote_value} for d in diffs]
                platform = rules_for(entity).platform_copy(ctx, stored.record, view) if view is not None else None
                divergence.save(
                    s,
                    ctx.conn_id,
                    entity,
                    app_id,
                    kind="drift",
                    app_version=stored.record.to_json(),
                    platform_version=platform.to_json() if platform is not None else None,
                    fields=fields,
                    remote_id=link.remote_id if link else (remote.remote_id if remote else None),
                    remote_version=remote.version if remote is not None else (link.remote_version if link else None),
                )
                names = ", ".join(d.field for d in diffs)
                ctx.store.set_state(
                    s,
                    ctx.conn_id,
                    entity,
                    app_id,
                    "drifted",
                    error=SyncError(
                        code=ErrorCode.DRIFTED,
                        message=f"The app and {name} differ on {names} although it showed as synced.",
                        hint=f"Push the app's version to {name}, take {name}'s, or skip it.",
                    ),
                )
                report.drifted[(entity.value, app_id)] = [d.field for d in diffs]
                ctx.log(
                    "verify",
                    entity=entity,
                    app_id=app_id,
                    remote_id=link.remote_id if link else None,
                    doc_number=st.doc_number if st is not None else None,
                    outcome="drifted",
                    message=f"differs from {name}: {names}",
                    details={"fields": fields},
                    s=s,
                )
    ctx.log(
        "verify",
        outcome="ok" if report.agree else "drifted",
        message=report.summary(),
        details={"calls": report.calls, "sampled": report.sampled},
    )


def last_verified(store: Store, conn_id: str) -> dt.datetime | None:
    """When this connection's last verify finished (its summary row in the event log), or None."""
    with store.session() as s:
        return s.scalar(
            select(func.max(Event.at)).where(
                Event.connection_id == conn_id, Event.kind == "verify", Event.entity.is_(None)
            )
        )
