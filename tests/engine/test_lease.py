"""Working under the lease: hold() and its heartbeat on SQLite and PostgreSQL, and a cycle whose lease is taken over."""

from __future__ import annotations

import datetime as dt
import threading
import time
from collections import Counter
from pathlib import Path

import pytest
from sqlalchemy import update

from ledgersync.demo import SandboxHandle
from ledgersync.engine import ConnectionBusy, EngineSettings, Heartbeat, hold
from ledgersync.engine.actions import SYSTEM, ActionCentre
from ledgersync.model import Contact, Entity
from ledgersync.store import Lease, LeaseLost, SecretBox, Store
from ledgersync.store.tables import SyncLease

from .conftest import make_env


@pytest.fixture
def store(db_url: str, secret_key: str) -> Store:
    return Store.open(db_url, SecretBox([secret_key]))


@pytest.fixture
def conn(store: Store) -> str:
    return store.create_connection(store.create_org("Acme"), "xero", {})


class Poller:
    """A second worker trying to take the connection every 50 ms until stopped; remembers what it got."""

    def __init__(self, store: Store, conn: str) -> None:
        self.store, self.conn = store, conn
        self.got: list[Lease] = []
        self.tries = 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def __enter__(self) -> Poller:
        self._thread.start()
        return self

    def __exit__(self, *_: object) -> None:
        self._stop.set()
        self._thread.join()

    def _run(self) -> None:
        while not self._stop.wait(0.05):
            self.tries += 1
            lease = self.store.acquire_lease(self.conn, 1)
            if lease is not None:
                self.got.append(lease)
                return


def expire(store: Store, conn: str) -> None:
    """As if the holder stalled past its lease (a long pause, a lost network): the lease runs out now."""
    with store.session() as s:
        s.execute(
            update(SyncLease)
            .where(SyncLease.connection_id == conn)
            .values(expires_at=dt.datetime.now(dt.UTC) - dt.timedelta(seconds=1))
        )


# -- hold and the heartbeat -------------------------------------------------------------------------------------
def test_the_heartbeat_keeps_a_long_holds_lease_from_a_second_acquirer(store: Store, conn: str) -> None:
    settings = EngineSettings(lease_seconds=1)
    with hold(store, conn, settings) as (fenced, _lease), Poller(store, conn) as poller:
        time.sleep(4)
        with fenced.session() as s:  # still ours: a fenced write commits
            fenced.set_cursor(s, conn, Entity.CONTACT, "after four seconds")
    print(f"second acquirer tried {poller.tries} times in 4 s, got it {len(poller.got)} times")
    assert poller.tries > 40 and poller.got == []
    assert store.get_cursor(conn, Entity.CONTACT) == "after four seconds"


def test_without_a_heartbeat_the_same_lease_is_taken_over_within_the_hold(store: Store, conn: str) -> None:
    lease = store.acquire_lease(conn, 1)
    assert lease is not None
    with Poller(store, conn) as poller:
        time.sleep(2)
    assert len(poller.got) == 1 and poller.got[0].token == lease.token + 1


def test_the_heartbeat_records_a_lease_lost_to_another_worker(store: Store, conn: str) -> None:
    lease = store.acquire_lease(conn, 600)
    assert lease is not None
    expire(store, conn)
    assert store.acquire_lease(conn, 600) is not None
    beat = Heartbeat(store, lease, interval=0.05).start()
    try:
        deadline = time.monotonic() + 5
        while not beat.lost and time.monotonic() < deadline:
            time.sleep(0.02)
    finally:
        beat.stop()
    assert beat.lost and beat.renewals == 0


def test_hold_says_busy_while_another_worker_holds_the_connection(store: Store, conn: str) -> None:
    other = store.acquire_lease(conn, 600)
    assert other is not None
    with pytest.raises(ConnectionBusy, match=f"Connection {conn} is being synced by another worker"), hold(store, conn):
        pass


def test_hold_waits_for_a_lease_released_meanwhile(store: Store, conn: str) -> None:
    other = store.acquire_lease(conn, 600)
    assert other is not None
    threading.Timer(0.5, store.release_lease, args=(other,)).start()
    with hold(store, conn, wait=10) as (_fenced, lease):
        assert lease.token == other.token + 1


def test_hold_releases_the_lease_when_its_block_fails(store: Store, conn: str) -> None:
    with pytest.raises(RuntimeError), hold(store, conn):
        raise RuntimeError("the work failed")
    assert store.acquire_lease(conn, 600) is not None


def test_writes_inside_hold_are_refused_once_the_connection_is_taken_over(store: Store, conn: str) -> None:
    with hold(store, conn) as (fenced, _lease):
        expire(store, conn)
        assert store.acquire_lease(conn, 600) is not None
        with pytest.raises(LeaseLost), fenced.session() as s:
            fenced.set_state(s, conn, Entity.CONTACT, "c1", "synced")
    assert store.get_state(conn, Entity.CONTACT, "c1") is None


# -- a cycle whose lease is taken over ----------------------------------------------------------------------------
@pytest.mark.parametrize("overlap", [False, True], ids=["one_batch_at_a_time", "overlapped"])
def test_a_cycle_whose_lease_is_taken_over_stops_and_writes_nothing_more(
    sandbox: SandboxHandle, tmp_path: Path, secret_key: str, overlap: bool
) -> None:
    settings = EngineSettings(retry_base_seconds=0, overlap_batches=overlap)
    url = f"sqlite:///{tmp_path / 'app.db'}"
    env = make_env(sandbox, url, secret_key, client={"batch_size": "10"}, settings=settings)
    env.ls.upsert_many(env.org, [Contact(id=f"c{i:02d}", name=f"Customer {i:02d}") for i in range(30)])
    taken: list[Lease] = []

    def take_over_after_the_first_batch(phase: str, _n: int, _total: int | None) -> None:
        if phase == "push contact" and not taken:
            expire(env.ls.store, env.conn)
            lease = env.ls.store.acquire_lease(env.conn, 600)  # worker B
            assert lease is not None
            taken.append(lease)

    report = env.ls.sync(env.conn, entities=[Entity.CONTACT], progress=take_over_after_the_first_batch)
    assert report.status == "lease_lost"
    assert report.message and "another worker took this connection over" in report.message
    # The first batch went before the takeover; the stale cycle recorded nothing after it. One batch at a time,
    # it sent nothing more either; overlapped, the second batch was claimed (while the lease was its own) and on
    # its way when the first was recorded: it lands, unrecorded, its records left syncing for B's reconcile.
    states = Counter(st.state for st in env.ls.states(env.conn, Entity.CONTACT))
    if overlap:
        assert len(sandbox.records("Contacts")) == 20
        assert states == {"synced": 10, "syncing": 10}
    else:
        assert len(sandbox.records("Contacts")) == 10
        assert states == {"synced": 10}
    row = env.ls.store.lease_row(env.conn)
    assert row is not None and (row.owner, row.token) == (taken[0].owner, taken[0].token)  # B's, untouched
    assert env.ls.store.events(connection_id=env.conn, kind="sync", outcome="lease_lost")

    env.ls.store.release_lease(taken[0])  # B finishes; the next cycle does the rest, once
    assert env.ls.sync(env.conn).status == "ok"
    names = Counter(c["Name"] for c in sandbox.records("Contacts"))
    assert len(names) == 30 and max(names.values()) == 1


def test_an_action_that_calls_the_platform_is_refused_while_a_sync_holds_the_connection(
    sandbox: SandboxHandle, tmp_path: Path, secret_key: str
) -> None:
    env = make_env(sandbox, f"sqlite:///{tmp_path / 'app.db'}", secret_key)
    env.ls.upsert_contact(env.org, Contact(id="c1", name="Ann Lee"))
    other = env.ls.store.acquire_lease(env.conn, 600)
    assert other is not None
    with pytest.raises(ConnectionBusy):
        ActionCentre(env.ls).merge(SYSTEM, env.conn, "c1")
    with pytest.raises(ConnectionBusy):
        ActionCentre(env.ls).sync_now(SYSTEM, env.conn, Entity.CONTACT, "c1")
    assert sandbox.records("Contacts") == []
