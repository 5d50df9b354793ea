"""The store on SQLite and PostgreSQL: migrations, records and versions, links, states, cursors, tokens."""

from __future__ import annotations

import datetime as dt
import threading

import pytest

from ledgersync.model import Contact, ContactStatus, Entity, ErrorCode, SyncError
from ledgersync.providers.base import OAuthToken
from ledgersync.store import SecretBox, Store, StoreTokenStore
from ledgersync.store.tables import Connection


@pytest.fixture
def store(db_url: str, secret_key: str) -> Store:
    return Store.open(db_url, SecretBox([secret_key]))


def token(n: int = 0, minutes: int = 30) -> OAuthToken:
    return OAuthToken(
        access_token=f"access-{n}",
        refresh_token=f"refresh-{n}",
        expires_at=dt.datetime.now(dt.UTC) + dt.timedelta(minutes=minutes),
    )


def test_migrations_run_twice_without_error(db_url: str, secret_key: str) -> None:
    Store.open(db_url, SecretBox([secret_key]))
    Store.open(db_url, SecretBox([secret_key]))


def test_version_grows_only_when_app_owned_content_changes(store: Store) -> None:
    org = store.create_org("Acme")
    c = Contact(id="c1", name="Ann")
    assert store.upsert_record(org, c) == (1, True)
    assert store.upsert_record(org, c) == (1, False)
    assert store.upsert_record(org, c.model_copy(update={"email": "ann@example.com"})) == (2, True)
    # Status is the platform's (archived there): not an app-side edit.
    archived = c.model_copy(update={"email": "ann@example.com", "status": ContactStatus.ARCHIVED})
    assert store.upsert_record(org, archived) == (2, False)


def test_records_are_found_by_name_case_insensitively(store: Store) -> None:
    org = store.create_org("Acme")
    store.upsert_record(org, Contact(id="c1", name="Bob's Garage"))
    with store.session() as s:
        found = store.find_records(org, Entity.CONTACT, name="BOB'S GARAGE", s=s)
    assert [f.app_id for f in found] == ["c1"]


def test_tokens_are_encrypted_at_rest(store: Store) -> None:
    org = store.create_org("Acme")
    conn = store.create_connection(org, "xero", {})
    store.save_token(conn, token(1))
    with store.session() as s:
        raw = s.get(Connection, conn).token  # type: ignore[union-attr]
    assert raw is not None and b"access-1" not in raw and b"refresh-1" not in raw
    loaded = store.load_token(conn)
    assert loaded is not None and loaded.refresh_token == "refresh-1"


def test_tokens_cannot_be_read_with_another_key(db_url: str, secret_key: str) -> None:
    from cryptography.fernet import Fernet

    a = Store.open(db_url, SecretBox([secret_key]))
    conn = a.create_connection(a.create_org("Acme"), "xero", {})
    a.save_token(conn, token(1))
    b = Store.open(db_url, SecretBox([Fernet.generate_key().decode()]))
    with pytest.raises(ValueError, match="LEDGERSYNC_SECRET_KEY"):
        b.load_token(conn)


def test_a_refresh_asked_for_by_twenty_threads_happens_once(store: Store) -> None:
    org = store.create_org("Acme")
    conn = store.create_connection(org, "xero", {})
    stale = token(0, minutes=-1)
    store.save_token(conn, stale)
    calls: list[int] = []
    lock = threading.Lock()

    def do_refresh(current: OAuthToken) -> OAuthToken:
        with lock:
            calls.append(1)
        return token(len(calls))

    results: list[OAuthToken] = []

    def worker() -> None:
        results.append(StoreTokenStore(store, conn).refresh(stale, do_refresh))

    threads = [threading.Thread(target=worker) for _ in range(20)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert len(calls) == 1
    assert {r.access_token for r in results} == {"access-1"}
    assert store.load_token(conn).refresh_token == "refresh-1"  # type: ignore[union-attr]


def test_states_keep_the_error_and_its_actions(store: Store) -> None:
    org = store.create_org("Acme")
    conn = store.create_connection(org, "xero", {})
    err = SyncError(code=ErrorCode.DUPLICATE_NAME, message="name taken", hint="rename", platform_message="x")
    with store.session() as s:
        store.set_state(s, conn, Entity.CONTACT, "c1", "failed", error=err, failed_hash="h", count_attempt=True)
    st = store.get_state(conn, Entity.CONTACT, "c1")
    assert st is not None and st.state == "failed" and st.error_code == "duplicate_name"
    assert st.actions == ["edit", "merge", "link", "skip"] and st.attempts == 1
    with store.session() as s:
        store.set_state(s, conn, Entity.CONTACT, "c1", "synced")
    st = store.get_state(conn, Entity.CONTACT, "c1")
    assert st is not None and st.error_code is None and st.attempts == 0


def test_cursor_saved_in_a_rolled_back_transaction_does_not_move(store: Store) -> None:
    org = store.create_org("Acme")
    conn = store.create_connection(org, "xero", {})
    with pytest.raises(RuntimeError), store.session() as s:
        store.set_cursor(s, conn, Entity.CONTACT, "2026-01-01T00:00:00")
        raise RuntimeError("crash before the page was stored")
    assert store.get_cursor(conn, Entity.CONTACT) is None


def test_push_candidates_are_new_changed_or_deleted_linked_records(store: Store) -> None:
    org = store.create_org("Acme")
    conn = store.create_connection(org, "xero", {})
    for i in range(3):
        store.upsert_record(org, Contact(id=f"c{i}", name=f"N{i}"))
    recs = {r.app_id: r for r in store.records(org, Entity.CONTACT)}
    with store.session() as s:
        store.save_link(
            s, conn, Entity.CONTACT, "c0", "r0", remote_version="1", app_hash=recs["c0"].hash, remote_hash=None
        )
        store.save_link(s, conn, Entity.CONTACT, "c1", "r1", remote_version="1", app_hash="old", remote_hash=None)
    ids = [r.app_id for r, _ in store.push_candidates(org, conn, Entity.CONTACT)]
    assert sorted(ids) == ["c1", "c2"]
    store.delete_record(org, Entity.CONTACT, "c0")
    ids = [r.app_id for r, _ in store.push_candidates(org, conn, Entity.CONTACT)]
    assert sorted(ids) == ["c0", "c1", "c2"]


def test_oauth_state_is_single_use(store: Store) -> None:
    org = store.create_org("Acme")
    conn = store.create_connection(org, "xero", {})
    store.save_oauth_state("s1", conn)
    assert store.pop_oauth_state("s1") == conn
    assert store.pop_oauth_state("s1") is None
