"""Working a connection under its lease: acquire (or ConnectionBusy), a heartbeat that renews it, a fenced store."""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager

from ledgersync.engine.settings import EngineSettings
from ledgersync.store import Lease, Store

log = logging.getLogger(__name__)

# What a person reads when a cycle stopped because another worker took its connection over.
LEASE_LOST_MESSAGE = (
    "Stopped: another worker took this connection over (this worker's lease ran out); "
    "that worker carries on and nothing was written twice."
)


class ConnectionBusy(Exception):
    """Another worker holds this connection's sync lease."""

    def __init__(self, conn_id: str) -> None:
        super().__init__(f"Connection {conn_id} is being synced by another worker; try again in a minute.")
        self.connection_id = conn_id


class Heartbeat:
    """A daemon thread renewing a lease every `interval` seconds (a third of its length by default), so a long
    cycle keeps its connection. `lost` becomes true when a renewal finds another worker holds it; from then on
    every fenced write of the old holder raises LeaseLost, so nothing more is needed to stop it writing."""

    def __init__(self, store: Store, lease: Lease, interval: float | None = None) -> None:
        self.store = store.unfenced
        self.lease = lease
        self.interval = interval if interval is not None else lease.seconds / 3
        self.renewals = 0
        self._lost = threading.Event()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name=f"lease-{lease.connection_id}", daemon=True)

    @property
    def lost(self) -> bool:
        return self._lost.is_set()

    def start(self) -> Heartbeat:
        self._thread.start()
        return self

    def stop(self) -> None:
        self._stop.set()
        if self._thread.is_alive() and self._thread is not threading.current_thread():
            self._thread.join()

    def _run(self) -> None:
        wait = self.interval
        while not self._stop.wait(wait):
            try:
                renewed = self.store.renew_lease(self.lease)
            except Exception:  # the database may be busy or briefly away: try again soon, well before expiry
                log.warning("could not renew the lease on %s; retrying", self.lease.connection_id, exc_info=True)
                wait = min(self.interval, 1.0)
                continue
            if not renewed:
                log.warning("the lease on %s was taken over by another worker", self.lease.connection_id)
                self._lost.set()
                return
            self.renewals += 1
            wait = self.interval


@contextmanager
def hold(
    store: Store, conn_id: str, settings: EngineSettings | None = None, *, wait: float = 0.0, poll: float = 0.2
) -> Iterator[tuple[Store, Lease]]:
    """Hold the connection's lease for the block: acquire it (retrying for up to `wait` seconds, then
    ConnectionBusy), renew it from a heartbeat, and release it at the end. Yields (fenced store, lease): every
    write through the fenced store commits only while the lease is still this worker's, else LeaseLost."""
    settings = settings or EngineSettings()
    plain = store.unfenced
    deadline = time.monotonic() + wait
    while (lease := plain.acquire_lease(conn_id, settings.lease_seconds)) is None:
        if time.monotonic() >= deadline:
            raise ConnectionBusy(conn_id)
        time.sleep(poll)
    beat = Heartbeat(plain, lease).start()
    try:
        yield plain.fenced(lease), lease
    finally:
        beat.stop()
        try:
            plain.release_lease(lease)
        except Exception:  # it expires on its own; the block's own outcome matters more
            log.warning("could not release the lease on %s; it expires at %s", conn_id, lease.expires_at, exc_info=True)


__all__ = ["LEASE_LOST_MESSAGE", "ConnectionBusy", "Heartbeat", "hold"]
