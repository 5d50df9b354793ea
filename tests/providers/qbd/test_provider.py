"""QbdProvider against sandbox/qbd's company file, request by request: vendors, purchase orders and bills
(mapped here before the engine has their rules), QuickBooks' status codes and how each is read, void and
delete, iterators that QuickBooks forgets, and every request valid against qbxmlops130.xsd."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator
from decimal import Decimal
from typing import Any

import pytest

from ledgersync import Contact, Entity, Invoice, InvoiceLine, Payment
from ledgersync.model import Allocation, Bill, ErrorCode, InvoiceStatus, PurchaseOrder, Supplier
from ledgersync.providers.base import Write
from ledgersync.providers.qbd.provider import QbdProvider

from ...conformance.test_qbd import CONTRACTS, Direct, _need_contracts
from .conftest import validate

TODAY = dt.date(2026, 11, 20)


@pytest.fixture
def qb() -> Iterator[tuple[QbdProvider, Direct, Any]]:
    _need_contracts()
    from ledgersync.sandbox.qbd import start_qbd_sandbox

    with start_qbd_sandbox(schema_dir=CONTRACTS) as handle:
        direct = Direct(handle)
        provider = QbdProvider({"app_url": "http://127.0.0.1:9/qbwc", "page_size": "2"}, direct, sleep=lambda _s: None)
        yield provider, direct, handle
    for doc in direct.sent:
        validate(doc)


def w(key: str, record: Any, remote_id: str | None = None, version: str | None = None) -> Write:
    key_ = f"k-{key}-{version}"
    return Write(key=key, record=record, idempotency_key=key_, remote_id=remote_id, remote_version=version)


def one(provider: QbdProvider, entity: Entity, write: Write) -> Any:
    [res] = provider.push(entity, [write])
    assert res.ok, res.error
    return res.remote


def test_vendors_purchase_orders_and_bills_round_trip(qb: tuple[QbdProvider, Direct, Any]) -> None:
    p, _, handle = qb
    vendor = one(p, Entity.SUPPLIER, w("s1", Supplier(id="s1", name="Parts Wholesale", email="ar@parts.example")))
    line = InvoiceLine(description="Brake pads", quantity=Decimal(4), unit_amount=Decimal("45.00"))
    po = one(
        p,
        Entity.PURCHASE_ORDER,
        w("po1", PurchaseOrder(id="po1", supplier_id=vendor.remote_id, number="PO-77", date=TODAY, lines=[line])),
    )
    assert po.record.total == Decimal("180.00")
    bill = one(
        p,
        Entity.BILL,
        w(
            "b1",
            Bill(
                id="b1",
                supplier_id=vendor.remote_id,
                number="SUP-9001",
                date=TODAY,
                lines=[InvoiceLine(description="Brake pads", unit_amount=Decimal("180.00"), account_code="Parts")],
                purchase_order_id=po.remote_id,
            ),
        ),
    )
    assert bill.record.amount_due == Decimal("180.00") and bill.record.number == "SUP-9001"
    fetched = p.fetch(Entity.SUPPLIER, [vendor.remote_id])
    assert [f.record.name for f in fetched] == ["Parts Wholesale"]
    voided = p.remove(Entity.BILL, w("b1", bill.record, bill.remote_id, bill.version))
    assert voided.ok and voided.remote.deleted
    gone = p.remove(Entity.PURCHASE_ORDER, w("po1", po.record, po.remote_id, po.version))
    assert gone.ok and gone.remote.deleted  # a purchase order cannot be voided, only deleted
    counts = handle.counters()["requests"]
    assert counts.get("TxnDelRq") == 1 and counts.get("TxnVoidRq") == 1


def test_a_name_in_use_is_the_duplicate_name_failure(qb: tuple[QbdProvider, Direct, Any]) -> None:
    p, _, _ = qb
    one(p, Entity.CONTACT, w("c1", Contact(id="c1", name="Eve Adams")))
    [res] = p.push(Entity.CONTACT, [w("c2", Contact(id="c2", name="Eve Adams"))])
    assert res.error is not None and res.error.code is ErrorCode.DUPLICATE_NAME
    assert res.error.platform_code == "3100" and "merge" in res.error.actions


def test_a_stale_edit_sequence_is_read_again(qb: tuple[QbdProvider, Direct, Any]) -> None:
    p, _, handle = qb
    c = one(p, Entity.CONTACT, w("c1", Contact(id="c1", name="Sam Ito")))
    inv = Invoice(id="i1", contact_id=c.remote_id, number="INV-1", date=TODAY,
                  lines=[InvoiceLine(description="Job", unit_amount=Decimal("50.00"))])
    made = one(p, Entity.INVOICE, w("i1", inv))
    handle.faults(stale_edit_sequence=1)
    edited = inv.model_copy(update={"lines": [InvoiceLine(description="Job", unit_amount=Decimal("75.00"))]})
    again = one(p, Entity.INVOICE, w("i1", edited, made.remote_id, made.version))
    assert again.record.total == Decimal("75.00") and again.version != made.version
    # A contact edited on both sides is left to the merge: the conflict comes back.
    handle.faults(stale_edit_sequence=1)
    [res] = p.push(Entity.CONTACT, [w("c1", Contact(id="c1", name="Sam Ito Jr"), c.remote_id, c.version)])
    assert res.error is not None and res.error.code is ErrorCode.CONFLICT


def test_paying_more_than_is_due_takes_the_credit_path_and_unapplied_money_is_credit(
    qb: tuple[QbdProvider, Direct, Any],
) -> None:
    p, _, _ = qb
    c = one(p, Entity.CONTACT, w("c1", Contact(id="c1", name="Lee Motors")))
    lines = [InvoiceLine(description="Service", unit_amount=Decimal("100.00"))]
    a = one(p, Entity.INVOICE, w("i1", Invoice(id="i1", contact_id=c.remote_id, number="A-1", date=TODAY, lines=lines)))
    b = one(p, Entity.INVOICE, w("i2", Invoice(id="i2", contact_id=c.remote_id, number="A-2", date=TODAY, lines=lines)))
    over = Payment(id="p1", date=TODAY, amount=Decimal("150.00"),
                   allocations=[Allocation(invoice_id=a.remote_id, amount=Decimal("150.00"))])
    [res] = p.push(Entity.PAYMENT, [w("p1", over)])
    assert res.error is not None and res.error.code is ErrorCode.OVERPAYMENT and res.error.platform_code == "3210"
    split = Payment(
        id="p2",
        date=TODAY,
        amount=Decimal("230.00"),
        allocations=[Allocation(invoice_id=a.remote_id, amount=Decimal("100.00")),
                     Allocation(invoice_id=b.remote_id, amount=Decimal("100.00"))],
    )
    pay = one(p, Entity.PAYMENT, w("p2", split))
    assert pay.record.amount == Decimal("230.00") and len(pay.record.allocations) == 2
    paid = p.fetch(Entity.INVOICE, [a.remote_id, b.remote_id])
    assert {r.record.status for r in paid} == {InvoiceStatus.PAID}
    found = p.find(Entity.PAYMENT, [w("p2", split)])
    assert found["p2"].remote_id == pay.remote_id  # by customer and date, accepted by its ExternalGUID
    removed = p.remove(Entity.PAYMENT, w("p2", split, pay.remote_id, pay.version))
    assert removed.ok and removed.remote.deleted


def test_locks_are_resent_and_an_iterator_quickbooks_forgot_starts_its_window_again(
    qb: tuple[QbdProvider, Direct, Any],
) -> None:
    p, _, handle = qb
    handle.faults(lock_contention={"count": 1, "code": 3180})
    one(p, Entity.CONTACT, w("c0", Contact(id="c0", name="Locked Once")))
    for i in range(1, 5):
        one(p, Entity.CONTACT, w(f"c{i}", Contact(id=f"c{i}", name=f"Customer {i}")))
    pages = p.pull(Entity.CONTACT, None)
    first = next(pages)
    assert first.resume and len(first.records) == 2
    # The session ends: QuickBooks forgets the iterator; the pull resumed from `resume` reads its window again.
    resumed = list(p.pull(Entity.CONTACT, first.cursor, first.resume))
    names = {r.record.name for page in [first, *resumed] for r in page.records}
    assert names == {"Locked Once", *(f"Customer {i}" for i in range(1, 5))}
    assert resumed[-1].resume is None and resumed[-1].cursor


def test_deletions_come_from_the_deleted_queries(qb: tuple[QbdProvider, Direct, Any]) -> None:
    p, _, handle = qb
    c = one(p, Entity.CONTACT, w("c1", Contact(id="c1", name="Gone Soon")))
    inv = one(p, Entity.INVOICE, w("i1", Invoice(id="i1", contact_id=c.remote_id, number="D-1", date=TODAY,
                                                 lines=[InvoiceLine(description="x", unit_amount=Decimal(5))])))
    pages = list(p.pull(Entity.INVOICE, None))
    cursor = pages[-1].cursor
    handle.as_user("delete", {"type": "Invoice", "id": inv.remote_id})
    later = list(p.pull(Entity.INVOICE, cursor))
    deleted = [r for page in later for r in page.records if r.deleted]
    assert [r.remote_id for r in deleted] == [inv.remote_id]
