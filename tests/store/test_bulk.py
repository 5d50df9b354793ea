"""The record stage's set-wise store paths write exactly what the one-record paths write, on SQLite and PostgreSQL:
set_states = set_state in order, save_links = save_link in order, save_records = upsert_record."""

from __future__ import annotations

import datetime as dt
from typing import Any

import pytest
from sqlalchemy import select

from ledgersync.model import Contact, Entity, ErrorCode, SyncError
from ledgersync.store import LinkChange, SecretBox, StateChange, Store
from ledgersync.store.tables import Link, SyncState

ERR = SyncError(code=ErrorCode.VALIDATION, message="refused", hint="fix it", platform_code="P1")
SLOW = SyncError(code=ErrorCode.RATE_LIMITED, message="slow down")


@pytest.fixture
def store(db_url: str, secret_key: str) -> Store:
    return Store.open(db_url, SecretBox([secret_key]))


def states(store: Store, conn: str) -> dict[str, dict[str, Any]]:
    columns = [c.name for c in SyncState.__table__.columns if c.name not in ("connection_id", "updated_at")]
    with store.session() as s:
        rows = s.scalars(select(SyncState).where(SyncState.connection_id == conn)).all()
        return {r.app_id: {c: getattr(r, c) for c in columns} for r in rows}


def links(store: Store, conn: str) -> dict[str, tuple[Any, ...]]:
    with store.session() as s:
        rows = s.scalars(select(Link).where(Link.connection_id == conn)).all()
        return {r.app_id: (r.remote_id, r.remote_version, r.app_hash, r.remote_hash, r.removed) for r in rows}


# Rounds of changes, each written as one batch: new rows, a claim, results, errors that count attempts, a pending
# that keeps its error, a missing document number that keeps the stored one, and two changes to one record.
ROUNDS: list[list[StateChange]] = [
    [StateChange("a", "pending", doc_number="A-1"), StateChange("b", "pending", doc_number="B-1")],
    [StateChange("a", "syncing", write_key="k1", write_version=1), StateChange("b", "syncing", doc_number="B-2")],
    [StateChange("a", "failed", error=ERR, failed_hash="h", count_attempt=True), StateChange("b", "synced")],
    [StateChange("a", "pending"), StateChange("b", "pending", error=SLOW, count_attempt=True)],
    [StateChange("a", "pending", error=SLOW, count_attempt=True), StateChange("c", "skipped")],
    [StateChange("a", "syncing", write_key="k2"), StateChange("b", "syncing", write_key="k3")],
    [StateChange("a", "synced", doc_number="A-9"), StateChange("b", "synced"), StateChange("c", "excluded")],
    [StateChange("a", "needs_review", error=ERR), StateChange("a", "pending", count_attempt=True)],
]


def test_set_states_writes_what_set_state_writes_in_order(store: Store) -> None:
    org = store.create_org("Acme")
    one, many = store.create_connection(org, "xero", {}), store.create_connection(org, "xero", {})
    for changes in ROUNDS:
        with store.session() as s:
            for c in changes:
                store.set_state(
                    s,
                    one,
                    Entity.CONTACT,
                    c.app_id,
                    c.state,
                    error=c.error,
                    doc_number=c.doc_number,
                    write_key=c.write_key,
                    write_version=c.write_version,
                    failed_hash=c.failed_hash,
                    next_attempt_at=c.next_attempt_at,
                    count_attempt=c.count_attempt,
                )
                s.flush()
        with store.session() as s:
            store.set_states(s, many, Entity.CONTACT, changes)
        assert states(store, many) == states(store, one), changes
    assert states(store, one)["b"]["doc_number"] == "B-2"  # kept when a change names none
    assert states(store, one)["a"]["attempts"] == 1  # synced reset it; the last pending counted one


def test_save_links_moves_a_platform_id_as_save_link_does(store: Store) -> None:
    org = store.create_org("Acme")
    one, many = store.create_connection(org, "xero", {}), store.create_connection(org, "xero", {})
    rounds = [
        [LinkChange("a", "r1", "1", "ha", "hr"), LinkChange("b", "r2", "1", None, "hr")],
        # b takes r1 from a (a merge), a moves to r3, c is new.
        [
            LinkChange("b", "r1", "2", "hb", "hr"),
            LinkChange("a", "r3", "1", "ha", "hr"),
            LinkChange("c", "r4", "1", "hc", None),
        ],
        [LinkChange("c", "r4", "2", "hc2", "hr2", removed=True)],
        # Two changes naming one platform id: applied one by one.
        [LinkChange("a", "r5", "1", "x", "y"), LinkChange("c", "r5", "1", "x", "y")],
    ]
    for changes in rounds:
        with store.session() as s:
            for c in changes:
                store.save_link(
                    s,
                    one,
                    Entity.CONTACT,
                    c.app_id,
                    c.remote_id,
                    remote_version=c.remote_version,
                    app_hash=c.app_hash,
                    remote_hash=c.remote_hash,
                    removed=c.removed,
                )
                s.flush()
        with store.session() as s:
            store.save_links(s, many, Entity.CONTACT, changes)
        assert links(store, many) == links(store, one), changes


def test_save_records_versions_as_upsert_record(store: Store) -> None:
    org = store.create_org("Acme")
    store.upsert_record(org, Contact(id="c1", name="Ann"))
    store.upsert_record(org, Contact(id="c2", name="Bob"))
    with store.session() as s:
        current = store.record_map(s, org, Entity.CONTACT, ["c1", "c2"])
        saved = store.save_records(
            s,
            org,
            [
                (Contact(id="c1", name="Ann", email="ann@example.com"), current["c1"]),  # the app's content changed
                (Contact(id="c2", name="Bob"), current["c2"]),  # the same content
            ],
        )
    assert saved == {"c1": (2, True), "c2": (1, False)}
    with store.session() as s:
        found = store.find_records(org, Entity.CONTACT, email="ANN@example.com", s=s)
    assert [f.app_id for f in found] == ["c1"] and found[0].version == 2
    assert store.upsert_record(org, Contact(id="c1", name="Ann", email="ann@example.com")) == (2, False)


def test_platform_fields_count_only_while_the_link_names_that_record_at_that_version(store: Store) -> None:
    org = store.create_org("Acme")
    conn, other = store.create_connection(org, "xero", {}), store.create_connection(org, "qbo", {})
    inv = Entity.INVOICE
    with store.session() as s:
        for app_id in ("i1", "i2", "i3", "i4", "i5"):
            store.save_link(s, conn, inv, app_id, f"r-{app_id}", remote_version="v1", app_hash="h", remote_hash="h")
        store.save_link(s, other, inv, "i1", "q-i1", remote_version="v1", app_hash="h", remote_hash="h")
        store.save_platform_fields(
            s,
            conn,
            inv,
            [
                ("i1", "r-i1", "v0", {"amount_due": "1.00"}),
                ("i1", "r-i1", "v1", {"amount_due": "70.00"}),  # the last row of an id wins
                ("i2", "r-i2", "v1", {"amount_due": "2.00"}),
                ("i3", "r-i3", "v0", {"amount_due": "3.00"}),  # read at a version the link no longer has
                ("i4", "r-other", "v1", {"amount_due": "4.00"}),  # another platform record
                ("i5", "r-i5", None, {"amount_due": "5.00"}),  # no version: never provably current
                ("i9", "r-i9", "v1", {"amount_due": "9.00"}),  # no link
            ],
        )
        store.save_platform_fields(s, other, inv, [("i1", "q-i1", "v1", {"amount_due": "100.00"})])
    with store.session() as s:
        assert store.platform_fields(s, conn, inv) == {"i1": {"amount_due": "70.00"}, "i2": {"amount_due": "2.00"}}
        assert store.platform_fields(s, conn, inv, ["i2", "i3"]) == {"i2": {"amount_due": "2.00"}}
        assert store.platform_fields(s, other, inv) == {"i1": {"amount_due": "100.00"}}
        # A newer version linked by a path that kept no figures, or a removal: the row stops counting.
        store.save_link(s, conn, inv, "i2", "r-i2", remote_version="v2", app_hash="h", remote_hash="h")
        store.save_link(s, conn, inv, "i1", "r-i1", remote_version="v1", app_hash="h", remote_hash="h", removed=True)
    with store.session() as s:
        assert store.platform_fields(s, conn, inv) == {}


def test_a_pull_position_of_several_look_back_windows_is_kept_whole(store: Store) -> None:
    # A PullWindow cursor (issue 14) is JSON of the newest stamp and up to four windows: ~330 characters, which
    # PostgreSQL refused in a column of 128 (migration 0015).
    from ledgersync.providers.util import PullWindow

    org = store.create_org("Cursors")
    conn = store.create_connection(org, "xero", {})
    t = dt.datetime(2026, 12, 1, 18, 59, 22, 684000, tzinfo=dt.UTC)
    windows = tuple((t - dt.timedelta(minutes=5 * i), t + dt.timedelta(minutes=10 + i)) for i in range(4))
    value = PullWindow(t, windows).dump()
    assert len(value) > 128
    with store.session() as s:
        store.set_cursor(s, conn, Entity.CONTACT, value)
    assert store.get_cursor(conn, Entity.CONTACT) == value
    assert PullWindow.load(store.get_cursor(conn, Entity.CONTACT), dt.timedelta(seconds=300)) == PullWindow(t, windows)
