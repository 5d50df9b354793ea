"""The customers list stays one page of SQL with 20,000 customers: counted queries and rows, timing printed."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

from fastapi.testclient import TestClient
from sqlalchemy import event, insert

from ledgersync.engine import LedgerSync
from ledgersync.model import Contact, Entity
from ledgersync.store.tables import AppRecord, SyncState, utcnow
from ledgersync.web import create_user
from ledgersync.web.queries import PAGE_SIZE, list_events, list_records

from .conftest import ADMIN, build_app, login

N = 20_000


def big_store(tmp_path: Path, secret_key: str) -> tuple[LedgerSync, str, str]:
    ls = LedgerSync(f"sqlite:///{tmp_path / 'big.db'}", secret_keys=[secret_key])
    org = ls.create_organisation("Big Workshop")
    conn = ls.store.create_connection(org, "xero", {})
    ls.store.update_connection(conn, status="connected", tenant_name="Big Co", last_success_at=utcnow())
    now = utcnow()
    states = ("synced", "synced", "synced", "failed", "pending", "skipped")
    rows: list[dict[str, Any]] = []
    sts: list[dict[str, Any]] = []
    for i in range(N):
        c = Contact(id=f"cust-{i:06d}", name=f"Customer {i:06d}", email=f"c{i}@example.com")
        rows.append(
            {
                "org_id": org,
                "entity": "contact",
                "app_id": c.id,
                "data": c.to_json(),
                "hash": c.content_hash(),
                "version": 1,
                "deleted": False,
                "name": c.name.lower(),
                "email": c.email,
                "number": None,
                "refs": [],
                "updated_at": now,
            }
        )
        st = states[i % len(states)]
        sts.append(
            {
                "connection_id": conn,
                "entity": "contact",
                "app_id": c.id,
                "state": st,
                "error_message": "Xero already has a contact with this name." if st == "failed" else None,
                "actions": ["edit", "merge", "link", "skip"] if st == "failed" else [],
                "attempts": 0,
                "updated_at": now,
            }
        )
    with ls.store.session() as s:
        s.execute(insert(AppRecord), rows)
        s.execute(insert(SyncState), sts)
    create_user(ls.store, *ADMIN, org, "admin")
    return ls, org, conn


def test_page_one_of_20000_customers_loads_one_page_of_rows_in_a_few_queries(tmp_path: Path, secret_key: str) -> None:
    ls, org, conn = big_store(tmp_path, secret_key)
    page = list_records(ls.store, org, conn, Entity.CONTACT, page=1)
    assert page.total == N and len(page.rows) == PAGE_SIZE and page.pages == N // PAGE_SIZE
    failed = list_records(ls.store, org, conn, Entity.CONTACT, state="failed", search="customer 0199", page=1)
    assert failed.total == len([i for i in range(19900, 20000) if i % 6 == 3])

    statements: list[str] = []

    def count(_conn: Any, _cursor: Any, statement: str, *_: Any) -> None:
        statements.append(statement)

    with TestClient(build_app(ls)) as client:
        login(client, ADMIN)
        client.get("/customers")  # warm: template compile, first connection
        event.listen(ls.store.engine, "before_cursor_execute", count)
        try:
            started = time.perf_counter()
            resp = client.get("/customers")
            elapsed = time.perf_counter() - started
            last = client.get(f"/customers?page={N // PAGE_SIZE}&state=failed&q=customer")
        finally:
            event.remove(ls.store.engine, "before_cursor_execute", count)
    assert resp.status_code == 200 and last.status_code == 200
    assert resp.text.count('<tr data-id="') == PAGE_SIZE
    assert "Showing 1\u201350 of 20,000" in resp.text
    record_reads = [s for s in statements if "FROM records" in s]
    print(f"\n/customers page 1 of {N:,}: {elapsed * 1000:.0f} ms, {len(statements) // 2} queries per page view")
    # Per page view: the user, the connections, the banner's health and failed count, one count and one page.
    assert len(statements) <= 2 * 12, statements
    assert all("LIMIT" in s or "count(" in s.lower() for s in record_reads), record_reads


def test_the_list_and_log_queries_run_on_sqlite_and_postgresql(db_url: str, secret_key: str) -> None:
    ls = LedgerSync(db_url, secret_keys=[secret_key])
    org = ls.create_organisation("Both Backends")
    conn = ls.store.create_connection(org, "xero", {})
    ls.upsert_many(org, [Contact(id=f"c{i}", name=f"Name_{i} 100%", email=f"c{i}@example.com") for i in range(7)])
    with ls.store.session() as s:
        ls.store.set_state(s, conn, Entity.CONTACT, "c3", "synced")
    ls.store.log("push", connection_id=conn, entity=Entity.CONTACT, app_id="c3", doc_number="INV-7", outcome="failed")
    assert list_records(ls.store, org, conn, Entity.CONTACT, per_page=5).pages == 2
    assert [r.app_id for r in list_records(ls.store, org, conn, Entity.CONTACT, state="synced").rows] == ["c3"]
    assert list_records(ls.store, org, conn, Entity.CONTACT, state="not_synced").total == 6
    assert list_records(ls.store, org, conn, Entity.CONTACT, search="E_1 100%").total == 1  # LIKE wildcards escaped
    assert list_records(ls.store, org, conn, Entity.CONTACT, search="e_ 1").total == 0
    found = list_events(ls.store, org, search="inv-7", outcome="failed")
    assert [e.doc_number for e in found.events] == ["INV-7"] and found.next_before is None
