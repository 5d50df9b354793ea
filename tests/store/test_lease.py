"""The fenced sync lease on SQLite and PostgreSQL: exclusive acquisition, takeover on expiry, fencing tokens."""

from __future__ import annotations

import datetime as dt
import multiprocessing as mp
import queue
import subprocess
import sys
import threading
import time
from collections import Counter
from collections.abc import Callable
from typing import Any

import pytest
from sqlalchemy import select, update

from ledgersync.model import Contact, Entity
from ledgersync.store import Lease, LeaseLost, LinkChange, SecretBox, StateChange, Store
from ledgersync.store.tables import Connection, Cursor, Event, Link, SyncLease, SyncState


@pytest.fixture
def store(db_url: str, secret_key: str) -> Store:
    return Store.open(db_url, SecretBox([secret_key]))


@pytest.fixture
def conn(store: Store) -> str:
    return store.create_connection(store.create_org("Acme"), "xero", {})


def held(store: Store, conn: str, seconds: float = 600) -> Lease:
    lease = store.acquire_lease(conn, seconds)
    assert lease is not None
    return lease


def taken_over(store: Store, conn: str) -> tuple[Store, Lease]:
    """Worker A's fenced store once its lease ran out and worker B took the connection over; and B's lease."""
    a = held(store, conn, 0.3)
    time.sleep(0.4)
    b = held(store, conn, 600)
    assert b.token == a.token + 1
    return store.fenced(a), b


def set_holder(store: Store, conn: str, owner: str, expires_in: float) -> None:
    held(store, conn)  # makes the row
    with store.session() as s:
        s.execute(
            update(SyncLease)
            .where(SyncLease.connection_id == conn)
            .values(owner=owner, expires_at=dt.datetime.now(dt.UTC) + dt.timedelta(seconds=expires_in))
        )


# -- acquisition ------------------------------------------------------------------------------------------------
def test_sync_lease_is_exclusive_and_released(store: Store, conn: str) -> None:
    lease = store.acquire_lease(conn, 600)
    assert lease is not None
    assert store.acquire_lease(conn, 600) is None
    store.release_lease(lease)
    assert store.acquire_lease(conn, 600) is not None


def test_every_acquisition_increments_the_fencing_token(store: Store, conn: str) -> None:
    tokens = []
    for _ in range(3):
        lease = held(store, conn)
        tokens.append(lease.token)
        store.release_lease(lease)
    assert tokens == [1, 2, 3]


def test_an_expired_lease_is_taken_over(store: Store, conn: str) -> None:
    held(store, conn, 0.2)
    time.sleep(0.3)
    assert store.acquire_lease(conn, 600) is not None


def test_an_expired_lease_held_on_another_host_is_taken_over(store: Store, conn: str) -> None:
    set_holder(store, conn, "worker-7.example:4242:0123456789ab:deadbeef", expires_in=-1)
    lease = held(store, conn)
    assert lease.owner != "worker-7.example:4242:0123456789ab:deadbeef"


def test_a_live_lease_held_on_another_host_is_not_taken_over_before_it_expires(store: Store, conn: str) -> None:
    # Its PID means nothing here (another machine, or another container's PID namespace): never judged dead.
    set_holder(store, conn, "worker-7.example:999999:0123456789ab:deadbeef", expires_in=600)
    assert store.acquire_lease(conn, 600) is None


def test_an_unknown_connection_cannot_be_leased(store: Store) -> None:
    with pytest.raises(KeyError):
        store.acquire_lease("conn_missing", 600)


HOLDER = """
import os, sys
from ledgersync.store import SecretBox, Store
store = Store.open(sys.argv[1], SecretBox([sys.argv[2]]), run_migrations=False)
lease = store.acquire_lease(sys.argv[3], 3600)
print("held" if lease else "busy", flush=True)
sys.stdin.readline()
os._exit(0)  # dies holding it
"""


def test_a_lease_held_by_a_dead_process_is_taken_over(store: Store, conn: str, db_url: str, secret_key: str) -> None:
    proc = subprocess.Popen(
        [sys.executable, "-c", HOLDER, db_url, secret_key, conn],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
    )
    assert proc.stdout is not None and proc.stdin is not None
    assert proc.stdout.readline().strip() == "held"
    assert store.acquire_lease(conn, 600) is None  # alive: its hour-long lease stands
    proc.stdin.write("die\n")
    proc.stdin.flush()
    proc.wait(30)
    assert store.acquire_lease(conn, 600) is not None


def _contender(url: str, key: str, conn: str, rounds: int, barrier: Any, results: Any, name: str) -> None:
    store = Store.open(url, SecretBox([key]), run_migrations=False)
    store.get_connection(conn)  # an open pooled connection, so both start from the same place
    for r in range(rounds):
        barrier.wait(60)
        lease = store.acquire_lease(conn, 60)
        results.put((r, name, lease.token if lease else None))
        barrier.wait(60)  # both have tried
        if lease is not None:
            store.release_lease(lease)
        barrier.wait(60)  # released before the next round
    store.engine.dispose()


def test_two_processes_acquiring_at_the_same_instant_never_both_get_the_lease(
    store: Store, conn: str, db_url: str, secret_key: str
) -> None:
    rounds = 200
    ctx = mp.get_context("spawn")
    barrier = ctx.Barrier(2)
    results = ctx.Queue()
    procs = [
        ctx.Process(target=_contender, args=(db_url, secret_key, conn, rounds, barrier, results, name))
        for name in ("A", "B")
    ]
    for p in procs:
        p.start()
    got: dict[int, list[tuple[str, int | None]]] = {}
    try:
        for _ in range(2 * rounds):
            r, name, token = results.get(timeout=120)
            got.setdefault(r, []).append((name, token))
    finally:
        for p in procs:
            p.join(60)
            if p.is_alive():
                p.terminate()
    winners = {r: [(n, t) for n, t in tries if t is not None] for r, tries in got.items()}
    both = [r for r, w in winners.items() if len(w) > 1]
    wins = Counter(w[0][0] for w in winners.values() if w)
    print(f"{rounds} simultaneous rounds: A won {wins['A']}, B won {wins['B']}, both won {len(both)}")
    assert len(got) == rounds
    assert both == []
    assert all(len(w) == 1 for w in winners.values())  # one of them always gets a free lease
    assert sorted(w[0][1] for w in winners.values()) == list(range(1, rounds + 1))


# -- renewal ----------------------------------------------------------------------------------------------------
def test_renewal_pushes_the_expiry_out(store: Store, conn: str) -> None:
    lease = held(store, conn, 0.5)
    time.sleep(0.3)
    assert store.renew_lease(lease)
    time.sleep(0.3)  # past the first expiry, within the renewed one
    assert store.acquire_lease(conn, 600) is None


def test_renewal_fails_once_another_worker_holds_the_lease(store: Store, conn: str) -> None:
    stale, _ = taken_over(store, conn)
    assert stale.lease is not None
    assert store.renew_lease(stale.lease) is False


def test_releasing_a_lease_taken_over_leaves_the_new_holder_alone(store: Store, conn: str) -> None:
    stale, b = taken_over(store, conn)
    assert stale.lease is not None
    store.release_lease(stale.lease)
    row = store.lease_row(conn)
    assert row is not None and (row.owner, row.token) == (b.owner, b.token)


# -- fencing ----------------------------------------------------------------------------------------------------
def write_state(store: Store, conn: str) -> None:
    with store.session() as s:
        store.set_state(s, conn, Entity.CONTACT, "c1", "synced", doc_number="Ann")


def write_link(store: Store, conn: str) -> None:
    with store.session() as s:
        store.save_link(s, conn, Entity.CONTACT, "c1", "r1", remote_version="1", app_hash="a", remote_hash="b")


def write_cursor(store: Store, conn: str) -> None:
    with store.session() as s:
        store.set_cursor(s, conn, Entity.CONTACT, "2026-12-01T00:00:00")


def write_outbox(store: Store, conn: str) -> None:
    with store.session() as s:
        store.outbox.add(
            s,
            conn,
            entity=Entity.CONTACT,
            app_id="c1",
            op="create",
            batch=store.outbox.next_batch_number(s, conn),
            idempotency_key="ls-key",
            version=1,
            app_hash="a",
            record=Contact(id="c1", name="Ann"),
        )


def write_connection(store: Store, conn: str) -> None:
    store.update_connection(conn, tenant_name="stale")  # Core UPDATE, not an ORM flush


def write_event(store: Store, conn: str) -> None:
    store.log("push", connection_id=conn, message="stale")


# The record stage's set-wise writes (Core executemany / upserts through the session) are fenced the same way.
def write_state_set(store: Store, conn: str) -> None:
    with store.session() as s:
        store.set_states(s, conn, Entity.CONTACT, [StateChange("c1", "synced", doc_number="Ann")])


def write_state_set_read(store: Store, conn: str) -> None:  # the path that reads the rows first
    with store.session() as s:
        store.set_states(s, conn, Entity.CONTACT, [StateChange("c1", "pending", count_attempt=True)])


def write_link_set(store: Store, conn: str) -> None:
    with store.session() as s:
        store.save_links(s, conn, Entity.CONTACT, [LinkChange("c1", "r1", "1", "a", "b")])


def write_event_set(store: Store, conn: str) -> None:
    with store.session() as s:
        store.log_many(s, [store.event_row("push", connection_id=conn, message="stale")])


def write_outbox_set(store: Store, conn: str) -> None:
    with store.session() as s:
        store.outbox.add_many(
            s,
            conn,
            [
                {
                    "entity": Entity.CONTACT,
                    "app_id": "c1",
                    "op": "write",
                    "batch": 1,
                    "idempotency_key": "ls-key",
                    "version": 1,
                    "app_hash": "a",
                    "record": Contact(id="c1", name="Ann"),
                }
            ],
        )


WRITES: dict[str, Callable[[Store, str], None]] = {
    "state_set": write_state_set,
    "state_set_read": write_state_set_read,
    "link_set": write_link_set,
    "event_set": write_event_set,
    "outbox_set": write_outbox_set,
    "state": write_state,
    "link": write_link,
    "cursor": write_cursor,
    "connection": write_connection,
    "event": write_event,
    "outbox": write_outbox,
}


def stored(store: Store, conn: str, kind: str) -> Any:
    kind = kind.removesuffix("_read").removesuffix("_set")
    with store.session() as s:
        if kind == "state":
            return s.scalars(select(SyncState).where(SyncState.connection_id == conn)).all()
        if kind == "link":
            return s.scalars(select(Link).where(Link.connection_id == conn)).all()
        if kind == "cursor":
            return s.scalars(select(Cursor).where(Cursor.connection_id == conn)).all()
        if kind == "outbox":
            return store.outbox.pending(conn)
        if kind == "connection":
            return s.scalar(select(Connection.tenant_name).where(Connection.id == conn))
        return s.scalars(select(Event).where(Event.connection_id == conn)).all()


@pytest.mark.parametrize("kind", sorted(WRITES))
def test_a_fenced_write_commits_while_the_lease_is_held(store: Store, conn: str, kind: str) -> None:
    WRITES[kind](store.fenced(held(store, conn)), conn)
    assert stored(store, conn, kind)


@pytest.mark.parametrize("kind", sorted(WRITES))
def test_a_stale_workers_write_is_refused_after_takeover(store: Store, conn: str, kind: str) -> None:
    stale, _ = taken_over(store, conn)
    with pytest.raises(LeaseLost):
        WRITES[kind](stale, conn)
    assert not stored(store, conn, kind)


def test_a_stale_workers_transaction_rolls_back_whole(store: Store, conn: str) -> None:
    stale, _ = taken_over(store, conn)
    with pytest.raises(LeaseLost), stale.session() as s:
        stale.set_state(s, conn, Entity.CONTACT, "c1", "synced")
        stale.save_link(s, conn, Entity.CONTACT, "c1", "r1", remote_version="1", app_hash="a", remote_hash="b")
        stale.set_cursor(s, conn, Entity.CONTACT, "2026-12-01T00:00:00")
    assert not stored(store, conn, "state") and not stored(store, conn, "link") and not stored(store, conn, "cursor")


def test_the_new_holder_writes_after_refusing_the_stale_one(store: Store, conn: str) -> None:
    stale, b = taken_over(store, conn)
    with pytest.raises(LeaseLost):
        write_cursor(stale, conn)
    write_cursor(store.fenced(b), conn)
    assert store.get_cursor(conn, Entity.CONTACT) == "2026-12-01T00:00:00"


def test_writes_under_a_released_lease_are_refused(store: Store, conn: str) -> None:
    lease = held(store, conn)
    store.release_lease(lease)
    with pytest.raises(LeaseLost):
        write_state(store.fenced(lease), conn)


def test_tokens_are_saved_whoever_holds_the_lease(store: Store, conn: str) -> None:
    from ledgersync.providers.base import OAuthToken

    stale, _ = taken_over(store, conn)
    fresh = OAuthToken("access-new", "refresh-new", dt.datetime.now(dt.UTC) + dt.timedelta(minutes=30))
    stale.save_token(conn, fresh)  # the platform already rotated the refresh token: it must not be lost
    saved = store.load_token(conn)
    assert saved is not None and saved.refresh_token == "refresh-new"


def test_a_read_only_fenced_session_does_not_take_the_write_lock(store: Store, conn: str) -> None:
    lease = held(store, conn)
    fenced = store.fenced(lease)
    done = threading.Event()
    errors: queue.Queue[BaseException] = queue.Queue()

    def other_worker() -> None:
        try:
            write_cursor(store, conn)  # needs SQLite's write lock
            assert store.renew_lease(lease)  # needs the lease row (PostgreSQL row lock)
        except BaseException as exc:  # reported to the test thread
            errors.put(exc)
        done.set()

    with fenced.session() as s:
        assert fenced.get_state(conn, Entity.CONTACT, "c1") is None
        assert s.scalars(select(SyncState).where(SyncState.connection_id == conn)).all() == []
        t = threading.Thread(target=other_worker)
        t.start()
        assert done.wait(10), "a write elsewhere waited for a read-only fenced session"
    t.join()
    assert errors.empty(), errors.get()
    assert store.get_cursor(conn, Entity.CONTACT) == "2026-12-01T00:00:00"
