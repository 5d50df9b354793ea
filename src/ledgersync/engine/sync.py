"""The in-process driver: one cycle of one connection, running the stages in one loop (reconcile, pull, then per
entity plan -> execute -> record), under the connection's lease.

The stages live in modules of their own (plan, execute, record, reconcile, pull) and keep their state in the
store (outbox rows, sync states, checkpoints), so another driver (a Celery task, the QuickBooks Desktop SOAP
service) can run the same stages a batch or a page at a time, and a crash between any two steps loses nothing."""

from __future__ import annotations

import contextlib
import gc
import threading
from collections.abc import Generator, Iterable, Iterator, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from contextlib import contextmanager

from ledgersync.engine import attachments as attachments_stage
from ledgersync.engine import plan as plan_stage
from ledgersync.engine import pull as pull_stage
from ledgersync.engine import reconcile as reconcile_stage
from ledgersync.engine import record as record_stage
from ledgersync.engine.connections import keep_org_settings
from ledgersync.engine.context import CycleContext, CycleReport, Progress, idempotency_key
from ledgersync.engine.entities import rules_for
from ledgersync.engine.entities.base import EntityRules
from ledgersync.engine.execute import Executed, claim_next, send
from ledgersync.engine.faults import boundary
from ledgersync.engine.lease import LEASE_LOST_MESSAGE, ConnectionBusy, hold
from ledgersync.engine.settings import EngineSettings
from ledgersync.model import Entity, ErrorCode, ProviderError, SyncError
from ledgersync.providers.base import Provider, ProviderSpec
from ledgersync.providers.budget import BudgetBackend
from ledgersync.store import LeaseLost, Store
from ledgersync.store.outbox import PlannedWrite
from ledgersync.store.tables import utcnow

__all__ = ["ConnectionBusy", "Cycle", "CycleReport", "idempotency_key", "run_cycle"]


class Cycle(CycleContext):
    """One run of the cycle on one connection, in this process."""

    def run(self, entities: Iterable[Entity] | None = None, only: dict[Entity, set[str]] | None = None) -> CycleReport:
        """One cycle. `only` narrows it to named app records (Sync now on one record): no pull, and only
        those records (and what they depend on, which the caller includes) are reconciled and pushed."""
        self.only = only
        wanted = set(entities) if entities else (set(only) if only else None)
        try:
            self._check_connection()
            for entity in Entity.push_order():
                if (wanted is None or entity in wanted) and entity in self.caps.push_entities:
                    self.reconcile(entity)
            for entity in Entity.push_order():
                if only is None and (wanted is None or entity in wanted) and entity in self.caps.pull_entities:
                    self.pull(entity)
            for entity in Entity.push_order():
                if (wanted is None or entity in wanted) and entity in self.caps.push_entities:
                    self.push(entity)
                    attachments_stage.push(self, entity)
            if only is None and sum(self.report.pushed.values()) >= self.caps.page_size:
                # A closing read after a large push (an export): what this cycle wrote is read back once now,
                # skipped unapplied where the link holds the same id and version (our own writes), so a person's
                # edit made during the push (a newer stamp or version) is applied and the next cycle's read
                # starts past the export instead of paging through it.
                for entity in Entity.push_order():
                    if (wanted is None or entity in wanted) and entity in self.caps.pull_entities:
                        self.pull(entity)
            self.report.status = "ok"
        except ProviderError as exc:
            record_stage.stopped(self, exc.error)
        except LeaseLost:
            # Another worker took the connection over: stop. What cycle_finished still writes (calls used, the
            # outcome row) is true whoever holds the connection, so it goes outside the fence.
            self.report.status, self.report.message = "lease_lost", LEASE_LOST_MESSAGE
            self.store = self.store.unfenced
        finally:
            with contextlib.suppress(Exception):
                self.write_call_rows()  # through the unfenced store after a lost lease: calls were made
            self.report.finished_at = utcnow()
            self.report.calls = self.calls
            record_stage.cycle_finished(self, self.store.get_connection(self.conn_id).status)
            moved = sum(self.report.pushed.values()) + sum(self.report.pulled.values())
            if moved >= self.store.ANALYZE_AFTER:
                # An export or a first import wrote thousands of links and states: the next cycle's queries
                # are planned on fresh statistics, not on "one row" (PostgreSQL; see Store.analyze).
                self.store.unfenced.analyze("links", "sync_states", "records", "platform_fields")
            keep_org_settings(self.store.unfenced, self.conn_id, self.provider)
            self.provider.close()
        return self.report

    def _check_connection(self) -> None:
        conn = self.store.get_connection(self.conn_id)
        if conn.status == "needs_reconnect":
            raise ProviderError(
                SyncError(
                    code=ErrorCode.AUTH_REVOKED,
                    message=conn.status_reason or "The connection needs to be re-authorised.",
                    hint="Use Refresh link to reconnect; links are kept and sync resumes where it stopped.",
                )
            )
        if conn.status == "parked" and conn.parked_until and conn.parked_until > utcnow():
            raise ProviderError(
                SyncError(
                    code=ErrorCode.DAILY_LIMIT,
                    message=conn.status_reason or "Paused until the platform's daily call budget resets.",
                    retry_after=(conn.parked_until - utcnow()).total_seconds(),
                )
            )

    # -- the stages, as one loop ---------------------------------------------------------------------
    def reconcile(self, entity: Entity) -> None:
        reconcile_stage.reconcile(self, entity)

    def pull(self, entity: Entity) -> None:
        pull_stage.pull_all(self, entity)

    def refresh(self, entity: Entity, remote_ids: Sequence[str]) -> None:
        pull_stage.refresh(self, entity, remote_ids)

    def push(self, entity: Entity) -> None:
        rules = rules_for(entity)
        # What was written is kept for the entity's after-push reads only where it has some (memory: an export's
        # whole entity otherwise stays in this list until the entity is done).
        keep = type(rules).after_push is not EntityRules.after_push
        for _ in range(rules.max_passes):
            self.waiting_for = set()
            planned = plan_stage.plan(self, entity)
            boundary("planned")
            written: list[PlannedWrite] = []
            removed: list[PlannedWrite] = []
            with contextlib.closing(self._executed(entity)) as batches:
                for executed in batches:
                    self.record(executed)
                    if keep:
                        (removed if executed.removal else written).extend(executed.rows)
                    if self.progress and not executed.removal:
                        self.progress(f"push {entity.value}", len(executed.rows), planned)
            self.write_call_rows()
            rules.after_push(self, written, removed)
            if not rules.another_pass(self):
                return

    def _executed(self, entity: Entity) -> Generator[Executed, None, None]:
        """The entity's planned batches, claimed and sent one after another, each yielded to be recorded. While
        a batch of writes is recorded, the next batch of writes is already claimed and on its way (one call in a
        thread): the platform's time overlaps the engine's. A removal, a call that failed as a whole, or a
        recording that raises is never overlapped: the next batch is claimed only once it is recorded. A crash
        leaves at most the recorded-to-be batch and the one on its way `sent`, which reconcile looks up."""
        self.hold_call_rows(True)
        pool: ThreadPoolExecutor | None = None
        ahead: Future[Executed] | None = None
        try:
            while True:
                if ahead is not None:
                    executed = ahead.result()
                    ahead = None
                else:
                    rows = claim_next(self, entity)
                    if not rows:
                        return
                    executed = send(self, rows)
                boundary("executed")
                if self.settings.overlap_batches and not executed.removal and executed.error is None:
                    rows = claim_next(self, entity, writes_only=True)
                    if rows:
                        pool = pool or ThreadPoolExecutor(1, thread_name_prefix="ledgersync-send")
                        ahead = pool.submit(send, self, rows)
                yield executed
        finally:
            if ahead is not None:
                # Stopped while a batch was on its way (an error, a lost lease): let it finish; its rows stay
                # `sent` and its records `syncing` for the next reconcile, as after a crash.
                with contextlib.suppress(Exception):
                    ahead.result()
            if pool is not None:
                pool.shutdown(wait=True)
            self.hold_call_rows(False)  # what is still held is written after the loop, or at the cycle's end

    def record(self, executed: Executed) -> None:
        """Hand one call's outcome to the record stage; an error that is the connection's stops the cycle."""
        entity, rows = executed.entity, executed.rows
        if executed.removal:
            link = self.store.links(self.conn_id, entity, [rows[0].app_id]).get(rows[0].app_id)
            outcome = executed.error or (executed.results[0] if executed.results else None)
            if link is not None and outcome is not None:
                record_stage.removal_done(self, rows[0], outcome, link)
            else:
                with self.store.session() as s:
                    self.store.outbox.done(s, [rows[0].id])
            if executed.error is not None and executed.error.error.code in record_stage.STOPS:
                raise executed.error
            return
        if executed.error is not None:
            error = executed.error.error
            if error.code is ErrorCode.UNKNOWN_OUTCOME:
                keys = {r.app_id for r in rows}
                syncing = [r for r in self.store.states(self.conn_id, entity, "syncing") if r.app_id in keys]
                reconcile_stage.reconcile_rows(self, entity, syncing)
                return
            record_stage.writes_failed(self, entity, rows, error)
            if error.code in record_stage.STOPS:
                raise executed.error
            return
        record_stage.writes_done(self, entity, rows, executed.results or [])


_frozen_lock = threading.Lock()
_frozen_cycles = 0
_thresholds: tuple[int, int, int] | None = None
# The youngest generation's threshold while cycles run (CPython's default is 700): an export allocates objects by
# the million, most freed at once by reference counting, and at 700 the collector ran ~560 times in a
# 5,000-record export (each older-generation pass rescanning what the cycle had made so far), about a tenth of the
# engine's CPU; at 10,000 it runs a fourteenth as often (benchmarks/engine_cpu.py: ~0.9x engine CPU). Garbage
# cycles wait a little longer to be freed: at most this many allocations more.
CYCLE_GC_GEN0 = 10_000


@contextmanager
def heap_frozen() -> Iterator[None]:
    """The objects alive when the first of this process's running cycles started are kept out of the cyclic
    garbage collector's passes (`gc.freeze`) until the last of them ends (`gc.unfreeze`). An export makes
    many long-lived objects, which triggers full collections, and each full pass scans the whole heap (every
    imported module's objects, the app's own, a corpus the caller holds): measured at 40% of the engine's CPU
    on a 5,000-record export (benchmarks/engine_cpu.py). Garbage made meanwhile is still collected; what was
    frozen is scanned again after the last cycle. Meanwhile the youngest generation is collected less often
    (CYCLE_GC_GEN0); the process's own thresholds come back with the last cycle's end."""
    global _frozen_cycles, _thresholds
    with _frozen_lock:
        if _frozen_cycles == 0:
            gc.freeze()
            _thresholds = gc.get_threshold()
            gc.set_threshold(max(_thresholds[0], CYCLE_GC_GEN0), *_thresholds[1:])
        _frozen_cycles += 1
    try:
        yield
    finally:
        with _frozen_lock:
            _frozen_cycles -= 1
            if _frozen_cycles == 0:
                if _thresholds is not None:
                    gc.set_threshold(*_thresholds)
                    _thresholds = None
                gc.unfreeze()


def run_cycle(
    store: Store,
    spec: ProviderSpec,
    conn_id: str,
    settings: EngineSettings | None = None,
    *,
    provider: Provider | None = None,
    entities: Iterable[Entity] | None = None,
    only: dict[Entity, set[str]] | None = None,
    wait: float = 0,
    progress: Progress | None = None,
    budget: BudgetBackend | None = None,
) -> CycleReport:
    """Run one cycle under the connection's lease (one worker per connection at a time): the cycle writes
    through the fenced store, so a worker whose lease was taken over writes nothing more (status lease_lost)."""
    with heap_frozen(), hold(store, conn_id, settings, wait=wait) as (fenced, _lease):
        cycle = Cycle(
            fenced, spec, conn_id, settings or EngineSettings(), provider=provider, progress=progress, budget=budget
        )
        try:
            return cycle.run(entities, only)
        except LeaseLost:  # lost while recording the outcome itself
            cycle.report.status, cycle.report.message = "lease_lost", LEASE_LOST_MESSAGE
            return cycle.report
