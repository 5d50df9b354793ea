"""Canonical <-> Xero JSON mapping: round trips, dates, money."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from ledgersync.model import (
    Address,
    Allocation,
    Contact,
    ContactStatus,
    Entity,
    Invoice,
    InvoiceLine,
    InvoiceStatus,
    LineAmountTypes,
    Payment,
    PaymentStatus,
    Tracking,
)
from ledgersync.providers.xero import mapping
from ledgersync.providers.xero.mapping import MappingError

UPDATED = "/Date(1700000000000+0000)/"
text = st.text(
    alphabet=st.characters(codec="utf-8", exclude_categories=("Cs", "Cc")), min_size=1, max_size=30
)
opt_text = st.none() | text
cents = st.decimals(min_value=Decimal("-100000"), max_value=Decimal("1000000"), places=2, allow_nan=False)
positive_cents = st.decimals(min_value=Decimal("0.01"), max_value=Decimal("1000000"), places=2)
quantities = st.decimals(min_value=Decimal("0.0001"), max_value=Decimal("10000"), places=4)
dates = st.dates(min_value=dt.date(1971, 1, 1), max_value=dt.date(2199, 12, 31))


def through_xero(entity: Entity, body: dict[str, Any], **echo: Any) -> Any:
    """What Xero sends back for what we sent: our JSON, re-parsed as Xero's text, plus Xero's own fields."""
    wire = mapping.loads(mapping.dumps({**body, **echo, "UpdatedDateUTC": UPDATED}))
    return mapping.from_xero(entity, wire)


addresses = st.builds(
    Address,
    line1=opt_text,
    line2=opt_text,
    city=opt_text,
    region=opt_text,
    postal_code=opt_text,
    country=opt_text,
).filter(lambda a: any(a.model_dump().values()))

contacts = st.builds(
    Contact,
    id=st.just("c-1"),
    name=text.filter(lambda s: s.strip() == s),
    email=opt_text,
    first_name=opt_text,
    last_name=opt_text,
    phone=opt_text,
    tax_number=opt_text,
    account_number=opt_text,
    address=st.none() | addresses,
    is_customer=st.booleans(),
    is_supplier=st.booleans(),
    currency=st.none() | st.sampled_from(["AUD", "NZD", "USD"]),
    status=st.just(ContactStatus.ACTIVE),
).filter(lambda c: c.is_customer or c.is_supplier)

lines = st.builds(
    InvoiceLine,
    description=text,
    quantity=quantities,
    unit_amount=cents,
    item_code=opt_text,
    account_code=opt_text,
    tax_type=st.none() | st.sampled_from(["OUTPUT", "NONE", "EXEMPTOUTPUT"]),
    discount_rate=st.none() | st.decimals(min_value=Decimal("0"), max_value=Decimal("100"), places=2),
    tracking=st.lists(st.builds(Tracking, category=text, option=text), max_size=2),
)

invoices = st.builds(
    Invoice,
    id=st.just("inv-1"),
    contact_id=st.just("c-1"),
    number=opt_text,
    date=dates,
    due_date=st.none() | dates,
    currency=st.sampled_from(["AUD", "NZD", "USD"]),
    line_amount_types=st.sampled_from(list(LineAmountTypes)),
    lines=st.lists(lines, max_size=5),
    status=st.sampled_from([InvoiceStatus.DRAFT, InvoiceStatus.SUBMITTED, InvoiceStatus.AUTHORISED]),
    reference=opt_text,
)


@settings(max_examples=60, deadline=None)
@given(contacts)
def test_a_contact_survives_the_trip_to_xero_and_back(contact: Contact) -> None:
    body = mapping.contact_to_xero(contact, remote_id=None, app_id="app-7")
    remote = through_xero(Entity.CONTACT, body, ContactID="c-1", ContactStatus="ACTIVE")
    assert remote.record == contact
    assert remote.external_id == "app-7"


@settings(max_examples=60, deadline=None)
@given(invoices)
def test_an_invoice_survives_the_trip_to_xero_and_back(invoice: Invoice) -> None:
    body = mapping.invoice_to_xero(invoice, remote_id=None)
    remote = through_xero(Entity.INVOICE, body, InvoiceID="inv-1")
    assert remote.record == invoice
    assert remote.doc_number == invoice.number


@settings(max_examples=60, deadline=None)
@given(dates, positive_cents, opt_text, st.none() | st.sampled_from(["090", "091"]))
def test_a_payment_survives_the_trip_to_xero_and_back(
    date: dt.date, amount: Decimal, reference: str | None, account: str | None
) -> None:
    payment = Payment(
        id="p-1",
        contact_id="c-1",
        date=date,
        amount=amount,
        currency="NZD",
        reference=reference,
        account_code=account or "090",
        allocations=[Allocation(invoice_id="inv-1", amount=amount)],
    )
    body = mapping.payment_to_xero(payment, remote_id=None)
    body["Invoice"] = {
        **body["Invoice"],
        "InvoiceNumber": "INV-9",
        "CurrencyCode": "NZD",
        "Contact": {"ContactID": "c-1"},
    }
    remote = through_xero(Entity.PAYMENT, body, PaymentID="p-1", Status="AUTHORISED")
    assert remote.record == payment
    assert remote.doc_number == "INV-9"


@settings(max_examples=100, deadline=None)
@given(cents)
def test_money_never_loses_a_cent_on_the_wire(amount: Decimal) -> None:
    wire = mapping.dumps({"Amount": amount})
    back = mapping.loads(wire)["Amount"]
    assert isinstance(back, Decimal)
    assert back == amount


@settings(max_examples=100, deadline=None)
@given(st.datetimes(min_value=dt.datetime(1971, 1, 1), max_value=dt.datetime(2199, 1, 1)))
def test_xero_dates_round_trip_to_the_millisecond(value: dt.datetime) -> None:
    value = value.replace(microsecond=value.microsecond // 1000 * 1000, tzinfo=dt.UTC)
    assert mapping.parse_datetime(mapping.format_datetime(value)) == value


def test_xero_ms_dates_with_an_offset_are_read_as_utc() -> None:
    assert mapping.parse_datetime("/Date(1700000000000+1300)/") == dt.datetime(
        2023, 11, 14, 22, 13, 20, tzinfo=dt.UTC
    )
    assert mapping.parse_date("/Date(1439434356790)/") == dt.date(2015, 8, 13)
    assert mapping.parse_date("2024-02-29T00:00:00") == dt.date(2024, 2, 29)


def test_amounts_in_a_response_are_parsed_as_decimal_not_float() -> None:
    data = mapping.loads(b'{"Total": 0.1, "AmountDue": 1234567.89}')
    assert data["Total"] == Decimal("0.1")
    assert data["AmountDue"] == Decimal("1234567.89")


def test_a_payment_on_several_invoices_is_refused_with_a_clear_validation_error() -> None:
    payment = Payment(
        id="p",
        date=dt.date(2024, 1, 1),
        amount=Decimal("30"),
        allocations=[
            Allocation(invoice_id="a", amount=Decimal("10")),
            Allocation(invoice_id="b", amount=Decimal("20")),
        ],
    )
    with pytest.raises(MappingError) as caught:
        mapping.to_xero(Entity.PAYMENT, payment, remote_id=None)
    assert caught.value.error.code.value == "validation"
    assert "one invoice" in caught.value.error.message


def test_a_payment_goes_to_the_configured_default_bank_account() -> None:
    payment = Payment(
        id="p",
        date=dt.date(2024, 1, 1),
        amount=Decimal("5"),
        allocations=[Allocation(invoice_id="a", amount=Decimal("5"))],
    )
    assert mapping.to_xero(Entity.PAYMENT, payment, remote_id=None)["Account"] == {"Code": "090"}
    assert mapping.to_xero(Entity.PAYMENT, payment, remote_id=None, bank_account="091")["Account"] == {
        "Code": "091"
    }


def test_deleted_and_voided_documents_and_archived_contacts_are_flagged() -> None:
    base = {"InvoiceID": "i", "Contact": {"ContactID": "c"}, "Date": UPDATED, "UpdatedDateUTC": UPDATED}
    assert mapping.from_xero(Entity.INVOICE, {**base, "Status": "VOIDED"}).deleted
    assert not mapping.from_xero(Entity.INVOICE, {**base, "Status": "PAID"}).deleted
    payment = {
        "PaymentID": "p",
        "Date": UPDATED,
        "Amount": 1,
        "Status": "DELETED",
        "Invoice": {"InvoiceID": "i"},
    }
    remote = mapping.from_xero(Entity.PAYMENT, payment)
    assert remote.deleted and remote.record.status is PaymentStatus.DELETED  # type: ignore[union-attr]
    contact = {"ContactID": "c", "Name": "N", "ContactStatus": "ARCHIVED", "UpdatedDateUTC": UPDATED}
    remote = mapping.from_xero(Entity.CONTACT, contact)
    assert remote.archived and remote.version == "2023-11-14T22:13:20+00:00"


def test_read_back_totals_come_from_xero() -> None:
    data = mapping.loads(
        b'{"InvoiceID":"i","Contact":{"ContactID":"c"},"Date":"/Date(1700000000000+0000)/","Status":"PAID",'
        b'"Total":110.00,"TotalTax":10.00,"AmountDue":0.00,"AmountPaid":110.00,"LineItems":[]}'
    )
    invoice = mapping.invoice_from_xero(data)
    assert (invoice.total, invoice.total_tax, invoice.amount_due, invoice.amount_paid) == (
        Decimal("110.00"),
        Decimal("10.00"),
        Decimal("0.00"),
        Decimal("110.00"),
    )
    assert invoice.status is InvoiceStatus.PAID
