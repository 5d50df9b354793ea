"""Per-connection cadence: each platform's default (capability data), a connection's own setting, and which
connections are due. Read by `ledgersync beat`'s dispatch task, the in-process scheduler, the Integrations page
and `ledgersync status`."""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping
from dataclasses import dataclass

from sqlalchemy import update

from ledgersync.providers.base import ProviderSpec
from ledgersync.store import Store
from ledgersync.store.tables import Connection, utcnow

# Statuses the scheduler starts cycles for (a parked connection once its parking has run out).
SCHEDULED_STATUSES = ("connected", "parked")


@dataclass(frozen=True)
class Cadence:
    """How a connection is scheduled: `seconds` between cycles, None when its platform calls in itself
    (QuickBooks Desktop's Web Connector), 0 when scheduling is off for it; `own` when the connection's setting
    (not the platform's default) decides."""

    seconds: int | None
    own: bool

    @property
    def scheduled(self) -> bool:
        return bool(self.seconds)


def cadence(conn: Connection, spec: ProviderSpec | None) -> Cadence:
    """The connection's setting if it has one, else its platform's `default_sync_seconds`."""
    if conn.sync_every_seconds is not None:
        return Cadence(int(conn.sync_every_seconds), True)
    default = spec.capabilities.default_sync_seconds if spec is not None else None
    return Cadence(default, False)


def due_at(conn: Connection, every: Cadence) -> dt.datetime | None:
    """When the connection's next scheduled cycle is due (None: never by the scheduler)."""
    if not every.scheduled or conn.status not in SCHEDULED_STATUSES:
        return None
    assert every.seconds is not None
    if conn.next_sync_at is not None:
        due = conn.next_sync_at
    elif conn.last_sync_at is not None:
        due = conn.last_sync_at + dt.timedelta(seconds=every.seconds)
    else:
        due = conn.created_at
    if conn.status == "parked" and conn.parked_until is not None:
        due = max(due, conn.parked_until)
    return due


def set_cadence(store: Store, conn_id: str, seconds: int | None) -> None:
    """Give a connection its own cadence (seconds; 0 = not scheduled) or, with None, its platform's default.
    The next cycle is due one new period after the last sync."""
    if seconds is not None and seconds < 0:
        raise ValueError("a cadence is a number of seconds >= 0 (0: not scheduled)")
    store.get_connection(conn_id)  # KeyError for an unknown id
    store.update_connection(conn_id, sync_every_seconds=seconds, next_sync_at=None)


def claim_due(store: Store, specs: Mapping[str, ProviderSpec], now: dt.datetime | None = None) -> list[str]:
    """The connections due now, each claimed for this period: its `next_sync_at` is moved one period on by a
    conditional update, so two dispatchers (two beats by mistake, a beat and a restart) never both enqueue
    it. The cycle itself still runs under the lease, so even a duplicate enqueue only meets a busy connection."""
    now = now or utcnow()
    claimed: list[str] = []
    for conn in store.connections():
        every = cadence(conn, specs.get(conn.provider))
        due = due_at(conn, every)
        if due is None or due > now:
            continue
        assert every.seconds is not None
        seen = conn.next_sync_at
        with store.session() as s:
            result = s.execute(
                update(Connection)
                .where(
                    Connection.id == conn.id,
                    Connection.next_sync_at.is_(None) if seen is None else Connection.next_sync_at == seen,
                )
                .values(next_sync_at=now + dt.timedelta(seconds=every.seconds))
            )
            if getattr(result, "rowcount", 0) == 1:
                claimed.append(conn.id)
    return claimed


__all__ = ["SCHEDULED_STATUSES", "Cadence", "cadence", "claim_due", "due_at", "set_cadence"]
