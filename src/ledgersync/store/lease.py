"""The fenced sync lease: the Lease value, LeaseLost, and sessions whose every write commit checks the fence."""

from __future__ import annotations

import datetime as dt
import functools
import hashlib
import os
import socket
import uuid
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from sqlalchemy import event, update
from sqlalchemy.orm import ORMExecuteState, Session, UOWTransaction

from ledgersync.store.tables import SyncLease

_LEASE = "ledgersync.lease"
_WROTE = "ledgersync.wrote"


@dataclass(frozen=True)
class Lease:
    """One grant of a connection to one worker. `token` grows with every acquisition of the connection, so a
    worker whose lease was taken over holds a token that no longer matches and its writes are refused."""

    connection_id: str
    owner: str
    token: int
    expires_at: dt.datetime
    seconds: float


class LeaseLost(Exception):
    """A fenced write found that another worker holds the connection now; the transaction was rolled back."""

    def __init__(self, lease: Lease) -> None:
        super().__init__(
            f"the lease on connection {lease.connection_id} (token {lease.token}) was taken over by another worker"
        )
        self.lease = lease


# -- who holds a lease ------------------------------------------------------------------------------------------
@functools.cache
def _machine() -> str | None:
    """This kernel boot and PID namespace, or None where they cannot be known. Two processes with the same
    value see the same PIDs, so one can tell for sure whether the other is still running; the host name alone
    cannot (containers and cloned machines share names, and each container has PIDs of its own)."""
    try:
        boot = Path("/proc/sys/kernel/random/boot_id").read_text().strip()
        pid_ns = os.readlink("/proc/self/ns/pid")
    except OSError:
        return None
    return hashlib.sha256(f"{boot}|{pid_ns}".encode()).hexdigest()[:12]


def new_owner() -> str:
    """A lease owner id: host, process, machine identity (or '-') and a per-acquisition nonce."""
    return f"{socket.gethostname()[:64]}:{os.getpid()}:{_machine() or '-'}:{uuid.uuid4().hex[:8]}"


def holder_dead(owner: str) -> bool:
    """True only when the holder is certainly gone: a process of this same kernel boot and PID namespace whose
    PID no longer exists. A dead process commits nothing more, so its lease is free before it expires. Anything
    uncertain (another machine, no /proc, a PID reused by a new process) counts as alive and waits for expiry."""
    parts = owner.split(":")
    mine = _machine()
    if len(parts) != 4 or mine is None or parts[2] != mine or not parts[1].isdigit():
        return False
    pid = int(parts[1])
    if pid == os.getpid():
        return False  # another thread of this process; it releases or its lease expires
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return True
    except PermissionError:
        return False  # exists, owned by someone else
    return False


# -- fenced sessions --------------------------------------------------------------------------------------------
class FencedSession(Session):
    """A session made by Store.fenced: `info[_LEASE]` is the lease its write transactions must still hold."""


def lease_of(session: Session) -> Lease | None:
    lease = session.info.get(_LEASE)
    return lease if isinstance(lease, Lease) else None


def fence_info(lease: Lease) -> dict[str, Any]:
    return {_LEASE: lease}


@event.listens_for(FencedSession, "do_orm_execute")
def _core_write(state: ORMExecuteState) -> None:
    if state.is_insert or state.is_update or state.is_delete:
        state.session.info[_WROTE] = True


@event.listens_for(FencedSession, "before_flush")
def _orm_write(session: Session, _flush: UOWTransaction, _instances: Any) -> None:
    # A flush runs only when something was added, deleted or assigned (even an unchanged value): count it.
    session.info[_WROTE] = True


@event.listens_for(FencedSession, "before_commit")
def _check_fence(session: Session) -> None:
    """Refuse the commit of a write transaction whose lease was taken over.

    Why this is atomic against a takeover:
    - SQLite: a transaction that wrote already holds the database's single write lock, and a takeover
      (Store.acquire_lease) needs that lock before it reads the lease row. Either the takeover committed
      before this transaction's first write, and the UPDATE below sees the new token, or it waits until this
      transaction has committed; nothing can commit in between.
    - PostgreSQL (READ COMMITTED): the UPDATE locks the lease row until this transaction ends, so a takeover's
      SELECT ... FOR UPDATE waits for this commit. If a takeover got the row first, this UPDATE waits for it and
      then re-evaluates its WHERE against the newest committed row, whose token is no longer ours: 0 rows.
    Read-only transactions skip the check, so on SQLite they never take the write lock (the engine nests read
    sessions inside open write sessions)."""
    lease = lease_of(session)
    if lease is None or session.in_nested_transaction():
        return
    # commit() calls this hook before its final flush: flush now so pending ORM changes count as writes.
    session.flush()
    if not session.info.get(_WROTE):
        return
    fence = (
        update(SyncLease)
        .where(
            SyncLease.connection_id == lease.connection_id,
            SyncLease.owner == lease.owner,
            SyncLease.token == lease.token,
        )
        .values(token=SyncLease.token)
    )
    # On the connection, not session.execute: the fence itself is not one of the transaction's writes.
    if session.connection().execute(fence).rowcount != 1:
        raise LeaseLost(lease)


@event.listens_for(FencedSession, "after_transaction_end")
def _reset(session: Session, transaction: Any) -> None:
    if transaction.parent is None:
        session.info.pop(_WROTE, None)


__all__ = ["FencedSession", "Lease", "LeaseLost", "fence_info", "holder_dead", "lease_of", "new_owner"]
