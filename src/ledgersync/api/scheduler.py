"""The in-process scheduler of `ledgersync serve`: syncs connected connections on a cadence, sends webhooks."""

from __future__ import annotations

import datetime as dt
import logging
import threading
import time
from collections.abc import Mapping, Set
from typing import Protocol

import httpx

from ledgersync import ConnectionBusy, Entity, LedgerSync
from ledgersync.api import services
from ledgersync.api.settings import ApiSettings
from ledgersync.engine.schedule import cadence
from ledgersync.model import ProviderError
from ledgersync.store.tables import utcnow

log = logging.getLogger(__name__)


class Enqueue(Protocol):
    """Hands work to the Celery workers (`ledgersync.worker.client.Enqueuer`): each call returns the task id."""

    def sync_now(
        self,
        conn_id: str,
        entity: Entity | None = None,
        app_id: str | None = None,
        *,
        everything_not_synced: bool = False,
        actor: str = "api",
        role: str = "member",
    ) -> str: ...

    def refresh(self, conn_id: str, changes: Mapping[Entity, Set[str]]) -> str: ...


class Scheduler:
    """Two daemon threads: one syncs each connected connection every `sync_every_seconds`, one sends due
    webhooks every `deliver_every_seconds` (so a long sync never holds webhooks back).

    Several processes may run one each: a connection is synced under the store's lease (a busy one is
    skipped, not waited for), "due" is read from the connection's last_sync_at in the store, and webhook
    events and attempts are claimed by conditional updates."""

    def __init__(self, ls: LedgerSync, settings: ApiSettings) -> None:
        self.ls = ls
        self.settings = settings
        self._stop = threading.Event()
        self._threads: list[threading.Thread] = []
        self._last_prune = float("-inf")

    def start(self) -> None:
        if self._threads:
            return
        self._stop.clear()
        for name, target in (("ledgersync-sync", self._sync_loop), ("ledgersync-webhooks", self._deliver_loop)):
            t = threading.Thread(target=target, name=name, daemon=True)
            t.start()
            self._threads.append(t)

    def stop(self, timeout: float = 10.0) -> None:
        self._stop.set()
        for t in self._threads:
            t.join(timeout)
        self._threads = []

    @property
    def running(self) -> bool:
        return any(t.is_alive() for t in self._threads)

    def sync_due(self) -> int:
        """One pass: sync every connection whose last sync is older than the cadence. Returns syncs run."""
        ran = 0
        now = utcnow()
        for conn in self.ls.connections():
            if self._stop.is_set():
                break
            if conn.status not in ("connected", "parked"):
                continue
            if conn.status == "parked" and conn.parked_until and conn.parked_until > now:
                continue
            # A connection's own cadence wins; a platform that calls in itself (QuickBooks Desktop's Web
            # Connector: default_sync_seconds None) is never started from here.
            every = cadence(conn, self.ls.providers.get(conn.provider))
            if not every.scheduled:
                continue
            period = float(every.seconds or 0) if every.own else self.settings.sync_every_seconds
            if conn.last_sync_at and (now - conn.last_sync_at).total_seconds() < period:
                continue
            # A Web Connector connection is synced when the Web Connector calls /qbwc, never from here.
            if self.ls.connect_kind(conn.id) == "web_connector":
                continue
            try:
                services.sync_connection(self.ls, conn.id)
                ran += 1
            except ConnectionBusy:
                continue  # another process has it
            except ProviderError as exc:
                log.warning("sync of %s stopped: %s", conn.id, exc.error.message)
            except Exception:  # one broken connection must not stop the others
                log.exception("sync of %s failed", conn.id)
        return ran

    def prune_due(self, now: float | None = None) -> int:
        """Drop event-log rows older than the retention (EngineSettings.event_retention_days), and the
        security tables' rows that can no longer matter, at most hourly. Returns event-log rows deleted."""
        now = time.monotonic() if now is None else now
        if now - self._last_prune < 3600:
            return 0
        self._last_prune = now
        days = self.ls.settings.event_retention_days
        # Sessions that ended, sign-in failures past their window, inbound event keys past the dedupe window.
        self.ls.store.prune_security(
            sessions_after=dt.timedelta(seconds=self.settings.session_max_seconds),
            failures_after=dt.timedelta(seconds=self.settings.signin_window_seconds),
            inbound_after=dt.timedelta(seconds=self.settings.inbound_dedupe_seconds),
        )
        return self.ls.store.prune_events(dt.timedelta(days=days))

    def verify_due(self) -> int:
        """The daily sampled verify of each connection (LedgerSync.verify_due: its budget of calls is the
        engine's settings'); a failing platform is logged, never stops the loop."""
        try:
            return self.ls.verify_due()
        except ProviderError as exc:
            log.warning("verify stopped: %s", exc.error.message)
            return 0

    def _sync_loop(self) -> None:
        # Look for due connections more often than the cadence so a new connection does not wait a full period.
        tick = min(self.settings.sync_every_seconds, 30.0)
        while not self._stop.is_set():
            try:
                self.sync_due()
                self.prune_due()
                self.verify_due()
            except Exception:
                log.exception("scheduler sync pass failed")
            self._stop.wait(tick)

    def _deliver_loop(self) -> None:
        with httpx.Client(follow_redirects=False) as client:
            while not self._stop.is_set():
                try:
                    services.deliver_webhooks(self.ls, self.settings, client)
                except Exception:
                    log.exception("webhook delivery pass failed")
                self._stop.wait(self.settings.deliver_every_seconds)
