"""Attachments in the store on SQLite and PostgreSQL (migration 0012): bytes and hash by file name, replace,
per-connection state, removal."""

from __future__ import annotations

import pytest
from sqlalchemy import inspect

from ledgersync.model import Entity
from ledgersync.store import SecretBox, Store
from ledgersync.store import attachments as files


@pytest.fixture
def store(db_url: str, secret_key: str) -> Store:
    return Store.open(db_url, SecretBox([secret_key]))


def test_the_migration_makes_both_tables(store: Store) -> None:
    with store.session() as s:
        names = set(inspect(s.connection()).get_table_names())
    assert {"attachments", "attachment_syncs"} <= names


def test_a_file_is_kept_by_name_with_its_hash_and_replaced_by_the_same_name(store: Store) -> None:
    org = store.create_org("Files")
    pdf = bytes(range(256)) * 40  # every byte value, NUL included
    with store.session() as s:
        att, changed = files.put(s, org, Entity.INVOICE, "i1", "INV-1.pdf", "application/pdf", pdf)
    assert changed and att.size == len(pdf) and att.sha256 == files.sha256_of(pdf)
    with store.session() as s:
        assert files.put(s, org, Entity.INVOICE, "i1", "INV-1.pdf", "application/pdf", pdf)[1] is False
        assert files.content(s, org, Entity.INVOICE, "i1", "INV-1.pdf") == pdf
        files.put(s, org, Entity.INVOICE, "i1", "INV-1.pdf", "application/pdf", pdf + b"v2")
        files.put(s, org, Entity.INVOICE, "i2", "other.pdf", "application/pdf", b"%PDF")
    with store.session() as s:
        listed = files.listed(s, org, Entity.INVOICE)
        got = [(a.app_id, a.filename, a.size) for a in listed]
        assert got == [("i1", "INV-1.pdf", len(pdf) + 2), ("i2", "other.pdf", 4)]
        assert [a.filename for a in files.listed(s, org, Entity.INVOICE, "i2")] == ["other.pdf"]


def test_state_rows_are_per_connection_and_go_with_the_file(store: Store) -> None:
    org = store.create_org("Files")
    other = store.create_org("Other")
    conn = store.create_connection(org, "xero", {})
    theirs = store.create_connection(other, "xero", {})
    with store.session() as s:
        att, _ = files.put(s, org, Entity.INVOICE, "i1", "a.pdf", "application/pdf", b"%PDF-1")
        mine, _ = files.put(s, other, Entity.INVOICE, "i1", "a.pdf", "application/pdf", b"%PDF-2")
        files.sync_row(s, conn, att).state = "synced"
        files.sync_row(s, theirs, mine).state = "failed"
    with store.session() as s:
        assert [r.state for r in files.syncs_of(s, org, Entity.INVOICE, "i1")] == ["synced"]
        assert files.remove(s, org, Entity.INVOICE, "i1", "a.pdf") is True
    with store.session() as s:
        assert files.syncs_of(s, org, Entity.INVOICE, "i1") == []
        assert [r.state for r in files.syncs_of(s, other, Entity.INVOICE, "i1")] == ["failed"]
        assert files.remove(s, org, Entity.INVOICE, "i1", "a.pdf") is False
