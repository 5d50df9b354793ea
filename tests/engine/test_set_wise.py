"""The record stage works in sets: the SQL statements and ORM flushes of an export grow with the number of
batches, not with the number of records (counted, never timed), and a page pulled back is applied the same way."""

from __future__ import annotations

import datetime as dt
from collections import Counter
from decimal import Decimal
from pathlib import Path
from typing import Any

from sqlalchemy import event
from sqlalchemy.orm import Session

from ledgersync import Allocation, Contact, EngineSettings, Entity, Invoice, InvoiceLine, LedgerSync, Payment
from ledgersync.testing import MemoryPlatform, MemorySpec, connect_memory

DAY = dt.date(2026, 11, 2)


def corpus(n: int) -> list[Any]:
    """n contacts, 2n invoices and 2n payments (half of each invoice)."""
    out: list[Any] = [Contact(id=f"c{i}", name=f"Customer {i:05d}") for i in range(n)]
    out += [
        Invoice(id=f"i{i}", contact_id=f"c{i % n}", number=f"S-{i:05d}", date=DAY,
                lines=[InvoiceLine(description="Service", unit_amount=Decimal("100.00"))])
        for i in range(2 * n)
    ]
    out += [
        Payment(id=f"p{i}", date=DAY, amount=Decimal("50.00"), reference=f"R{i}",
                allocations=[Allocation(invoice_id=f"i{i}", amount=Decimal("50.00"))])
        for i in range(2 * n)
    ]
    return out


def export(tmp: Path, secret_key: str, n: int) -> tuple[Counter[str], int, int, LedgerSync, str, MemoryPlatform]:
    platform = MemoryPlatform.with_capabilities(batch_size=50, page_size=1000)
    ls = LedgerSync(f"sqlite:///{tmp / f'set{n}.db'}", secret_keys=[secret_key],
                    settings=EngineSettings(retry_base_seconds=0), providers={"memory": MemorySpec(platform)})
    org = ls.create_organisation("Sets")
    conn = connect_memory(ls, org, "memory")
    ls.upsert_many(org, corpus(n))
    statements: Counter[str] = Counter()
    flushes = [0]

    def sql(_c: Any, _cur: Any, statement: str, *_: Any) -> None:
        statements[statement.lstrip().split(None, 1)[0].upper()] += 1

    def flushed(_s: Any, _ctx: Any) -> None:
        flushes[0] += 1

    event.listen(ls.store.engine, "before_cursor_execute", sql)
    event.listen(Session, "after_flush", flushed)
    calls0 = platform.total_calls
    try:
        report = ls.sync(conn)
    finally:
        event.remove(ls.store.engine, "before_cursor_execute", sql)
        event.remove(Session, "after_flush", flushed)
    assert report.status == "ok" and sum(report.pushed.values()) == 5 * n, report
    return statements, flushes[0], platform.total_calls - calls0, ls, org, platform


def test_an_exports_statements_grow_with_its_batches_not_its_records(tmp_path: Path, secret_key: str) -> None:
    small, small_flushes, small_calls, *_ = export(tmp_path, secret_key, 20)  # 100 records
    big, big_flushes, big_calls, *_ = export(tmp_path, secret_key, 100)  # 500 records
    more_calls = big_calls - small_calls
    assert more_calls > 0
    for kind in ("SELECT", "INSERT", "UPDATE", "DELETE"):
        # A statement or two per table and batch; one per record would add 400 here.
        assert big[kind] - small[kind] <= 10 * more_calls, (kind, small, big, more_calls)
    assert big_flushes - small_flushes <= 2 * more_calls, (small_flushes, big_flushes)


def _cycle_after_edits(tmp_path: Path, secret_key: str, edits: int) -> Counter[str]:
    """Statements of one cycle after a person edited `edits` contacts' email on the platform (one page)."""
    _, _, _, ls, org, platform = export(tmp_path / f"e{edits}", secret_key, 20)
    conn = ls.connections(org)[0].id
    edited = {}
    for i in range(edits):
        view = ls.get(org, Entity.CONTACT, f"c{i}", conn)
        assert view is not None and view.remote_id
        platform.edit(Entity.CONTACT, view.remote_id, email=f"person{i}@example.com")
        edited[f"c{i}"] = f"person{i}@example.com"
    statements: Counter[str] = Counter()

    def sql(_c: Any, _cur: Any, statement: str, *_: Any) -> None:
        statements[statement.lstrip().split(None, 1)[0].upper()] += 1

    event.listen(ls.store.engine, "before_cursor_execute", sql)
    try:
        report = ls.sync(conn)
    finally:
        event.remove(ls.store.engine, "before_cursor_execute", sql)
    # The look-back re-reads the whole export either way (issue 14: the export cursor is still open).
    assert report.status == "ok" and report.pulled.get("contact", 0) >= edits
    for app_id, email in edited.items():
        view = ls.get(org, Entity.CONTACT, app_id, conn)
        assert view is not None and getattr(view.record, "email", None) == email and view.state == "synced"
    return statements


def test_a_page_of_platform_changes_is_applied_with_a_few_statements(tmp_path: Path, secret_key: str) -> None:
    # The cycle's fixed cost (every entity's checkpoint, plan and outbox) is the same for 2 and 20 edits; the 18
    # more edited contacts of one page must not add a statement each.
    few = _cycle_after_edits(tmp_path, secret_key, 2)
    many = _cycle_after_edits(tmp_path, secret_key, 20)
    for kind in ("SELECT", "INSERT", "UPDATE", "DELETE"):
        assert many[kind] - few[kind] < 9, (kind, few, many)
