"""The Celery app and its tasks: one cycle of one connection, a webhook's targeted refresh, Sync now, outbound
webhook deliveries, event-log pruning, and the beat's dispatch of due connections.

Every task is safe to run twice and to be cut off anywhere: it is acknowledged only once it has finished
(`acks_late`; a worker process lost mid-task gives its message back, `reject_on_worker_lost`), its work on a
connection runs under that connection's fenced lease, and what it writes to a platform goes through the outbox
and is reconciled by idempotency key. So a redelivered task reruns harmlessly, and a connection another worker
is syncing is not an error: the task retries a little later."""

from __future__ import annotations

import datetime as dt
import logging
import os
import random
from typing import Any

from celery import Celery, Task
from celery.signals import worker_process_init

from ledgersync import ActionCentre, Actor, ConnectionBusy, Entity, LedgerSync, ProviderError, Role
from ledgersync.worker.settings import WorkerSettings

log = logging.getLogger(__name__)

CYCLE = "ledgersync.cycle"
REFRESH = "ledgersync.refresh"
SYNC_NOW = "ledgersync.sync_now"
DELIVER = "ledgersync.deliver_webhooks"
PRUNE = "ledgersync.prune"
DISPATCH = "ledgersync.dispatch"


def make_app(settings: WorkerSettings | None = None) -> Celery:
    """A Celery app on the configured broker and queue; no result backend (nothing waits for results)."""
    settings = settings or WorkerSettings()
    celery = Celery("ledgersync", broker=settings.broker_url, set_as_current=False)
    celery.conf.update(
        task_default_queue=settings.queue,
        task_acks_late=True,
        task_reject_on_worker_lost=True,
        # One message at a time per worker process: a long cycle never holds other connections' messages.
        worker_prefetch_multiplier=1,
        task_ignore_result=True,
        task_serializer="json",
        accept_content=["json"],
        broker_connection_retry_on_startup=True,
        broker_transport_options=settings.transport_options(),
        worker_hijack_root_logger=False,
        beat_schedule={
            # One periodic task reads the store for due connections and enqueues a cycle for each (see
            # `dispatch`); the rest are housekeeping. A tick's message is worth nothing after the next tick.
            "dispatch-due-connections": {
                "task": DISPATCH,
                "schedule": settings.dispatch_every,
                "options": {"queue": settings.queue, "expires": settings.dispatch_every},
            },
            "deliver-webhooks": {
                "task": DELIVER,
                "schedule": settings.deliver_every,
                "options": {"queue": settings.queue, "expires": max(settings.deliver_every, 5.0)},
            },
            "prune-event-log": {
                "task": PRUNE,
                "schedule": settings.prune_every,
                "options": {"queue": settings.queue, "expires": settings.prune_every},
            },
        },
    )
    celery.ledgersync_settings = settings
    return celery


app = make_app()
SETTINGS: WorkerSettings = app.ledgersync_settings

# One LedgerSync per worker process (its own connection pool to the store, opened after the fork), never
# migrating: migrations run once, `ledgersync db upgrade`, and a store behind this code refuses to open.
_instance: tuple[int, LedgerSync] | None = None


def ledgersync() -> LedgerSync:
    global _instance
    if _instance is None or _instance[0] != os.getpid():
        _instance = (os.getpid(), LedgerSync(SETTINGS.database_url, migrate=False))
    return _instance[1]


@worker_process_init.connect
def _fresh_after_fork(**_: Any) -> None:
    global _instance
    _instance = None


def _later(task: Task[Any, Any]) -> float:
    """Seconds before a busy connection is tried again: the setting, spread so retries do not march together."""
    base = SETTINGS.busy_retry
    retries = int(task.request.retries or 0)
    return base * random.uniform(0.5, 1.5) + min(retries, 10)


def _retry_busy(task: Task[Any, Any], conn_id: str, what: str) -> dict[str, Any]:
    if task.max_retries is not None and task.request.retries >= task.max_retries:
        log.info("%s of %s: still busy after %d tries; left to the next one", what, conn_id, task.max_retries)
        return {"connection": conn_id, "status": "busy"}
    raise task.retry(countdown=_later(task))


@app.task(bind=True, name=CYCLE, max_retries=5)
def cycle(self: Task[Any, Any], conn_id: str) -> dict[str, Any]:
    """One cycle of one connection. Busy (another worker has it): tried again shortly, a few times, then left
    to the next scheduled cycle, which covers the same work."""
    ls = ledgersync()
    try:
        report = ls.sync(conn_id)
    except ConnectionBusy:
        return _retry_busy(self, conn_id, "cycle")
    except KeyError:
        log.info("cycle of %s: no such connection any more", conn_id)
        return {"connection": conn_id, "status": "gone"}
    except ProviderError as exc:  # disconnected meanwhile
        log.info("cycle of %s: %s", conn_id, exc.error.message)
        return {"connection": conn_id, "status": "stopped"}
    if report.status == "lease_lost":
        return _retry_busy(self, conn_id, "cycle")
    return {
        "connection": conn_id,
        "status": report.status,
        "pushed": sum(report.pushed.values()),
        "pulled": sum(report.pulled.values()),
        "calls": report.calls,
    }


@app.task(bind=True, name=REFRESH, max_retries=40)
def refresh(self: Task[Any, Any], conn_id: str, changes: dict[str, list[str]]) -> dict[str, Any]:
    """A verified platform webhook's targeted refresh (`changes`: entity -> platform ids). Idempotent: it reads
    the platform's current state, so a duplicate or a redelivery does no harm."""
    wanted = {Entity(entity): set(ids) for entity, ids in changes.items()}
    try:
        applied = ledgersync().apply_platform_changes(conn_id, wanted, wait=0, raise_busy=True)
    except ConnectionBusy:
        return _retry_busy(self, conn_id, "webhook refresh")
    return {"connection": conn_id, "applied": applied}


@app.task(bind=True, name=SYNC_NOW, max_retries=40)
def sync_now(
    self: Task[Any, Any],
    conn_id: str,
    entity: str | None = None,
    app_id: str | None = None,
    everything_not_synced: bool = False,
    actor: str = "api",
    role: str = Role.MEMBER.value,
) -> dict[str, Any]:
    """Sync now for a record (with what it needs), a connection, or everything not yet synced, as `actor`."""
    ls = ledgersync()
    try:
        report = ActionCentre(ls).sync_now(
            Actor(actor, Role(role)),
            conn_id,
            Entity(entity) if entity else None,
            app_id,
            everything_not_synced=everything_not_synced,
        )
    except ConnectionBusy:
        return _retry_busy(self, conn_id, "sync now")
    if report.status == "lease_lost":
        return _retry_busy(self, conn_id, "sync now")
    return {"connection": conn_id, "status": report.status, "pushed": sum(report.pushed.values())}


@app.task(name=DELIVER)
def deliver_webhooks() -> int:
    """Fan queued app events out to the app's endpoints and make every due attempt (claimed in the store, so
    several workers running this at once never send one attempt twice)."""
    from ledgersync.api import services

    return services.deliver_webhooks(ledgersync(), _api_settings())


@app.task(name=PRUNE)
def prune() -> int:
    """Drop event-log rows past the retention and security rows that can no longer matter."""
    ls = ledgersync()
    settings = _api_settings()
    ls.store.prune_security(
        sessions_after=dt.timedelta(seconds=settings.session_max_seconds),
        failures_after=dt.timedelta(seconds=settings.signin_window_seconds),
        inbound_after=dt.timedelta(seconds=settings.inbound_dedupe_seconds),
    )
    return ls.store.prune_events(dt.timedelta(days=ls.settings.event_retention_days))


@app.task(name=DISPATCH)
def dispatch() -> list[str]:
    """The beat's one periodic scheduling task: claim the connections due now (each platform's cadence, or the
    connection's own) in the store and enqueue one cycle each. The store is the schedule, so beat keeps no
    state of its own worth losing; a claim moves the connection's next due time on, so a second beat does not
    enqueue it again, and the lease keeps even a duplicate from doing the work twice."""
    from ledgersync.engine.schedule import claim_due

    ls = ledgersync()
    due = claim_due(ls.store, ls.providers)
    for conn_id in due:
        cycle.apply_async((conn_id,), queue=SETTINGS.queue)
    return due


def _api_settings() -> Any:
    """The API's webhook and retention settings, from the environment, without creating key files."""
    from ledgersync.api.settings import ApiSettings

    flag = os.environ.get("LEDGERSYNC_ALLOW_PRIVATE_URLS", "").strip().lower() in ("1", "true", "yes", "on")
    return ApiSettings(allow_private_urls=flag)


__all__ = [
    "CYCLE",
    "DELIVER",
    "DISPATCH",
    "PRUNE",
    "REFRESH",
    "SETTINGS",
    "SYNC_NOW",
    "app",
    "cycle",
    "deliver_webhooks",
    "dispatch",
    "ledgersync",
    "make_app",
    "prune",
    "refresh",
    "sync_now",
]
