"""A pulled invoice whose version moved but whose app copy would not change (a payment's effect the engine
settled already, or a touch that changed nothing the app holds) is not written to the app's records; the link
and this connection's platform figures still move to the version read. A real change of what the platform
computes (a payment a person entered) is still written."""

from __future__ import annotations

from collections import Counter
from decimal import Decimal
from pathlib import Path
from typing import Any

from sqlalchemy import event

from ledgersync import Allocation, Entity, Invoice, Payment
from tests.engine.test_set_wise import DAY, export


def test_a_version_bump_alone_writes_no_record_but_moves_link_and_figures(tmp_path: Path, secret_key: str) -> None:
    _, _, _, ls, org, platform = export(tmp_path, secret_key, 3)
    (connection,) = ls.store.connections(org)
    conn = connection.id
    inv = ls.get(org, Entity.INVOICE, "i0", conn)
    assert inv is not None and inv.remote_id and isinstance(inv.record, Invoice)
    due_before = inv.record.amount_due
    assert due_before is not None
    # The app's payment lands; the engine settles the invoice's amount due from it (no read-back), and the
    # platform's copy of the invoice gets a new version, which the next cycle reads.
    ls.upsert_many(org, [Payment(id="p_new", date=DAY, amount=Decimal("10.00"), reference="Rnew",
                                 allocations=[Allocation(invoice_id="i0", amount=Decimal("10.00"))])])
    first = ls.sync(conn)
    assert first.status == "ok" and not first.failed and first.pushed.get("payment") == 1, first
    settled = ls.get(org, Entity.INVOICE, "i0", conn)
    assert settled is not None and isinstance(settled.record, Invoice)
    assert settled.record.amount_due == due_before - Decimal("10.00")
    touched = platform.get(Entity.INVOICE, inv.remote_id)
    assert touched is not None
    with ls.store.session() as s:
        link = ls.store.link_by_app(conn, Entity.INVOICE, "i0", s)
        assert link is not None and link.remote_version != touched.version, "nothing left for the next read"
    updates: Counter[str] = Counter()

    def sql(_c: Any, _cur: Any, statement: str, *_: Any) -> None:
        words = statement.split()
        if words and words[0].upper() == "UPDATE":
            updates[words[1].strip('"')] += 1

    events = len(ls.store.app_events(org, limit=10_000))
    event.listen(ls.store.engine, "before_cursor_execute", sql)
    try:
        report = ls.sync(conn)
    finally:
        event.remove(ls.store.engine, "before_cursor_execute", sql)
    assert report.status == "ok" and not report.failed, report
    assert updates["records"] == 0, updates
    with ls.store.session() as s:
        link = ls.store.link_by_app(conn, Entity.INVOICE, "i0", s)
        assert link is not None and link.remote_version == touched.version
        figures = ls.store.platform_fields(s, conn, Entity.INVOICE, ["i0"])
    assert "i0" in figures, "the platform's figures at the new version were not kept"
    assert len(ls.store.app_events(org, limit=10_000)) == events

    # A person's payment changes the amount due: that is written, and kept as this platform's figure.
    platform.pay(inv.remote_id, Decimal("5.00"))
    report = ls.sync(conn)
    assert report.status == "ok" and not report.failed, report
    after = ls.get(org, Entity.INVOICE, "i0", conn)
    assert after is not None and isinstance(after.record, Invoice)
    assert after.record.amount_due == due_before - Decimal("15.00"), after.record
    with ls.store.session() as s:
        figures = ls.store.platform_fields(s, conn, Entity.INVOICE, ["i0"])
    assert Decimal(str(figures["i0"]["amount_due"])) == after.record.amount_due
