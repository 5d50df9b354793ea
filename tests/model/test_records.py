"""Canonical records: money never passes through float, hashes see app edits and ignore platform fields."""

from __future__ import annotations

import datetime as dt
import json
from decimal import Decimal

from hypothesis import given
from hypothesis import strategies as st

from ledgersync.model import Contact, ContactStatus, Invoice, InvoiceLine, InvoiceStatus, Payment, money
from ledgersync.model.records import Allocation

amounts = st.decimals(min_value=Decimal("-1000000"), max_value=Decimal("1000000"), places=2, allow_nan=False)


@given(amounts)
def test_money_survives_a_json_round_trip_exactly(value: Decimal) -> None:
    inv = Invoice(
        id="i",
        contact_id="c",
        date=dt.date(2026, 1, 1),
        total=value,
        lines=[InvoiceLine(description="x", unit_amount=value)],
    )
    back = Invoice.model_validate(json.loads(json.dumps(inv.to_json())))
    assert back.total == value and back.lines[0].unit_amount == value


@given(st.decimals(min_value=Decimal("0"), max_value=Decimal("100000"), places=4, allow_nan=False))
def test_money_rounds_half_up_to_cents(value: Decimal) -> None:
    rounded = money(value)
    assert rounded.as_tuple().exponent == -2
    assert abs(rounded - value) <= Decimal("0.005")


@given(st.lists(amounts.filter(lambda d: d >= 0), min_size=1, max_size=5))
def test_a_payment_unapplied_amount_is_total_minus_allocations(parts: list[Decimal]) -> None:
    total = sum(parts, Decimal(0)) + Decimal("10.00")
    pay = Payment(
        id="p",
        date=dt.date(2026, 1, 1),
        amount=total,
        allocations=[Allocation(invoice_id=f"i{n}", amount=a) for n, a in enumerate(parts)],
    )
    assert pay.unapplied == Decimal("10.00")


def test_line_amount_applies_the_discount_and_rounds() -> None:
    line = InvoiceLine(description="x", quantity=Decimal("3"), unit_amount=Decimal("9.99"), discount_rate=Decimal("10"))
    assert line.line_amount == Decimal("26.97")


def test_paid_status_does_not_count_as_an_edit_of_the_invoice() -> None:
    inv = Invoice(id="i", contact_id="c", date=dt.date(2026, 1, 1))
    paid = inv.model_copy(update={"status": InvoiceStatus.PAID, "amount_due": Decimal("0")})
    assert inv.content_hash() == paid.content_hash()
    voided = inv.model_copy(update={"status": InvoiceStatus.VOIDED})
    assert inv.content_hash() != voided.content_hash()


def test_contact_archived_on_the_platform_is_not_an_app_edit() -> None:
    c = Contact(id="c", name="Ann")
    assert c.content_hash() == c.model_copy(update={"status": ContactStatus.ARCHIVED}).content_hash()
    assert c.content_hash() != c.model_copy(update={"name": "Anne"}).content_hash()


def test_a_hash_from_the_records_own_dump_is_the_hash_it_computes_itself() -> None:
    """The store hashes a record from the to_json() it saves (one dump for both); that must never differ from
    content_hash() alone, for any record type, remote-owned fields and PAID status included."""
    day = dt.date(2026, 11, 2)
    samples = [
        Contact(id="c1", name="Anne", email="a@example.com", status=ContactStatus.ARCHIVED),
        Invoice(
            id="i1",
            contact_id="c1",
            number="INV-1",
            date=day,
            status=InvoiceStatus.PAID,
            amount_due=Decimal("0"),
            total=Decimal("12.50"),
            lines=[InvoiceLine(description="Work", unit_amount=Decimal("12.5"))],
        ),
        Payment(
            id="p1",
            contact_id="c1",
            date=day,
            amount=Decimal("5"),
            allocations=[Allocation(invoice_id="i1", amount=Decimal("5"))],
        ),
    ]
    for record in samples:
        dumped = record.to_json()
        assert record.content_hash(dumped) == record.content_hash()
        assert record.hash_view(dumped) == record.hash_view()
        assert dumped == record.to_json()  # the view is a copy: the dump is left as it was
