"""Unsync (account controls): an excluded customer's invoices and payments are quietly not synced, shown as
Excluded with the reason, never as Failed; including the customer brings them back. Over the memory platform."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal
from pathlib import Path

from ledgersync import (
    ActionCentre,
    Actor,
    Allocation,
    Contact,
    EngineSettings,
    Entity,
    Invoice,
    InvoiceLine,
    LedgerSync,
    Payment,
    Role,
)
from ledgersync.testing import MemoryPlatform, MemorySpec, connect_memory

ADMIN = Actor("ada", Role.ADMIN)
DAY = dt.date(2026, 11, 2)


def _app(tmp_path: Path, secret_key: str) -> tuple[LedgerSync, str, str, MemoryPlatform]:
    platform = MemoryPlatform.with_capabilities()
    ls = LedgerSync(
        f"sqlite:///{tmp_path / 'app.db'}",
        secret_keys=[secret_key],
        settings=EngineSettings(retry_base_seconds=0),
        providers={"memory": MemorySpec(platform)},
    )
    org = ls.create_organisation("Workshop")
    return ls, org, connect_memory(ls, org, "memory", None), platform


def _invoice(i: int, contact: str) -> Invoice:
    return Invoice(
        id=f"i{i}",
        contact_id=contact,
        number=f"U-{i}",
        date=DAY,
        lines=[InvoiceLine(description="Service", unit_amount=Decimal("100"))],
    )


def _state(ls: LedgerSync, org: str, conn: str, entity: Entity, app_id: str) -> str:
    view = ls.get(org, entity, app_id, conn)
    assert view is not None
    return view.state


def test_an_excluded_customers_invoices_and_payments_are_excluded_not_failed(tmp_path: Path, secret_key: str) -> None:
    ls, org, conn, platform = _app(tmp_path, secret_key)
    ac = ActionCentre(ls)
    ls.upsert_contact(org, Contact(id="c1", name="Kept"))
    ls.upsert_contact(org, Contact(id="c2", name="Unsynced"))
    ac.exclude(ADMIN, conn, Entity.CONTACT, "c2")
    ls.upsert_invoice(org, _invoice(1, "c1"))
    ls.upsert_invoice(org, _invoice(2, "c2"))
    ls.upsert_payment(
        org,
        Payment(
            id="p2", date=DAY, amount=Decimal("100"), allocations=[Allocation(invoice_id="i2", amount=Decimal("100"))]
        ),
    )
    report = ls.sync(conn)
    assert report.status == "ok" and not report.failed
    assert _state(ls, org, conn, Entity.INVOICE, "i1") == "synced"
    assert _state(ls, org, conn, Entity.INVOICE, "i2") == "excluded"
    assert _state(ls, org, conn, Entity.PAYMENT, "p2") == "excluded"
    assert ac.errors(conn) == [] and ac.failed_count(conn) == 0
    view = ls.get(org, Entity.INVOICE, "i2", conn)
    assert view is not None and "excluded" in (view.error or "")
    assert [r.record.number for r in platform.records(Entity.INVOICE, live=True)] == ["U-1"]  # type: ignore[attr-defined]
    # Including the customer brings its invoice and payment back, and they sync.
    ac.include(ADMIN, conn, Entity.CONTACT, "c2")
    ls.sync(conn)
    assert _state(ls, org, conn, Entity.INVOICE, "i2") == "synced"
    assert _state(ls, org, conn, Entity.PAYMENT, "p2") == "synced"


def test_excluding_a_customer_later_excludes_its_waiting_records_too(tmp_path: Path, secret_key: str) -> None:
    ls, org, conn, _ = _app(tmp_path, secret_key)
    ac = ActionCentre(ls)
    ls.upsert_contact(org, Contact(id="c1", name="Later"))
    ls.upsert_invoice(org, _invoice(1, "c1"))
    ac.exclude(ADMIN, conn, Entity.CONTACT, "c1")
    assert _state(ls, org, conn, Entity.INVOICE, "i1") == "excluded"
    ls.sync(conn)
    assert _state(ls, org, conn, Entity.INVOICE, "i1") == "excluded" and ac.errors(conn) == []
