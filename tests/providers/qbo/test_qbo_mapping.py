"""Canonical <-> QuickBooks Online JSON mapping: round trips (property-based), refs, tracking, money to the cent."""

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
    ErrorCode,
    Invoice,
    InvoiceLine,
    InvoiceStatus,
    Item,
    LineAmountTypes,
    Payment,
    PaymentStatus,
    Tracking,
)
from ledgersync.providers.qbo import mapping
from ledgersync.providers.qbo.mapping import MappingError, Refs

UPDATED = "2025-03-01T10:20:30-08:00"
name_text = st.text(
    alphabet=st.characters(codec="utf-8", exclude_categories=("Cs", "Cc"), exclude_characters=":"),
    min_size=1,
    max_size=40,
)
text = st.text(alphabet=st.characters(codec="utf-8", exclude_categories=("Cs", "Cc")), min_size=1, max_size=30)
opt_text = st.none() | text
cents = st.decimals(min_value=Decimal("0"), max_value=Decimal("1000000"), places=2, allow_nan=False)
positive_cents = st.decimals(min_value=Decimal("0.01"), max_value=Decimal("100000"), places=2)
quantities = st.decimals(min_value=Decimal("0.0001"), max_value=Decimal("10000"), places=4)
dates = st.dates(min_value=dt.date(1971, 1, 1), max_value=dt.date(2199, 12, 31))


def refs() -> Refs:
    return Refs(
        item_ids={"LAB": "11", "OIL": "12"},
        item_codes={"11": "LAB", "12": "OIL"},
        class_ids={"Workshop": "c1", "Mobile": "c2"},
        class_names={"c1": "Workshop", "c2": "Mobile"},
        department_ids={"Brisbane": "d1", "Sydney": "d2"},
        department_names={"d1": "Brisbane", "d2": "Sydney"},
        default_item_id="1",
        invoice_customers={"inv-1": "cust-9", "inv-2": "cust-9", "inv-3": "cust-9"},
        invoice_numbers={"inv-1": "1001", "inv-2": "1002"},
        home_currency="USD",
    )


def through_qbo(entity: Entity, body: dict[str, Any], **echo: Any) -> Any:
    """What QBO sends back for what we sent: our JSON re-parsed as QBO's text, plus QBO's own fields."""
    wire = mapping.loads(
        mapping.dumps({"Id": "77", "SyncToken": "3", **body, **echo, "MetaData": {"LastUpdatedTime": UPDATED}})
    )
    return mapping.from_qbo(entity, wire, refs())


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
    id=st.just("77"),
    name=name_text.filter(lambda s: s.strip() == s and "\n" not in s and "\t" not in s),
    email=opt_text,
    first_name=opt_text,
    last_name=opt_text,
    phone=opt_text,
    address=st.none() | addresses,
    parent_id=st.none() | st.sampled_from(["5", "6"]),
    currency=st.none() | st.sampled_from(["EUR", "AUD"]),
    status=st.sampled_from(list(ContactStatus)),
)

trackings = st.lists(
    st.builds(Tracking, category=st.just("Class"), option=st.sampled_from(["Workshop", "Mobile"])), max_size=1
)

lines = st.builds(
    InvoiceLine,
    description=text,
    quantity=quantities,
    unit_amount=cents,
    item_code=st.none() | st.sampled_from(["LAB", "OIL"]),
    tax_type=st.none() | st.sampled_from(["TAX", "NON", "7"]),
    tracking=trackings,
)


@st.composite
def invoices(draw: st.DrawFn) -> Invoice:
    body = draw(st.lists(lines, min_size=1, max_size=5))
    location = draw(st.none() | st.sampled_from(["Brisbane", "Sydney"]))
    if location:
        # QBO keeps one location per document: every line carries it, after the line's class.
        body = [
            line.model_copy(update={"tracking": [*line.tracking, Tracking(category="Location", option=location)]})
            for line in body
        ]
    date = draw(dates)
    return Invoice(
        id="77",
        contact_id=draw(st.sampled_from(["5", "6"])),
        number=draw(st.none() | st.text(alphabet="ABC-0123456789", min_size=1, max_size=21)),
        date=date,
        due_date=draw(st.none() | dates),
        currency=draw(st.sampled_from(["USD", "EUR"])),
        line_amount_types=draw(st.sampled_from(list(LineAmountTypes))),
        lines=body,
        reference=draw(opt_text),
    )


@st.composite
def payments(draw: st.DrawFn) -> Payment:
    invoices_paid = draw(st.lists(st.sampled_from(["inv-1", "inv-2", "inv-3"]), min_size=0, max_size=3, unique=True))
    allocations = [Allocation(invoice_id=i, amount=draw(positive_cents)) for i in invoices_paid]
    unapplied = draw(st.just(Decimal("0")) | cents)
    total = sum((a.amount for a in allocations), Decimal(0)) + unapplied
    return Payment(
        id="77",
        contact_id="cust-9",
        date=draw(dates),
        amount=total,
        currency="USD",
        reference=draw(opt_text),
        account_code=draw(st.none() | st.just("35")),
        allocations=allocations,
    )


@settings(max_examples=150, deadline=None)
@given(contacts)
def test_a_contact_survives_a_round_trip_through_qbo_json(contact: Contact) -> None:
    body = mapping.contact_to_qbo(contact, home_currency="USD")
    remote = through_qbo(Entity.CONTACT, body)
    assert remote.record == contact
    assert remote.version == "3"
    assert remote.archived is (contact.status is ContactStatus.ARCHIVED)


@settings(max_examples=150, deadline=None)
@given(invoices())
def test_an_invoice_survives_a_round_trip_with_money_exact_to_the_cent(invoice: Invoice) -> None:
    body = mapping.invoice_to_qbo(invoice, refs())
    total = sum((line.line_amount for line in invoice.lines), Decimal(0))
    remote = through_qbo(Entity.INVOICE, body, TotalAmt=total, Balance=total)
    expected = invoice.model_copy(
        update={"total": total, "amount_due": total, "amount_paid": Decimal(0), "status": InvoiceStatus.AUTHORISED}
    )
    if total == 0:
        expected = expected.model_copy(update={"status": InvoiceStatus.AUTHORISED})
    assert remote.record == expected
    assert remote.doc_number == invoice.number
    assert [line["Amount"] for line in body["Line"]] == [line.line_amount for line in invoice.lines]


@settings(max_examples=150, deadline=None)
@given(payments())
def test_a_payment_to_several_invoices_survives_a_round_trip_with_its_unapplied_credit(payment: Payment) -> None:
    body = mapping.payment_to_qbo(payment, refs())
    assert body["CustomerRef"] == {"value": "cust-9"}
    assert len(body["Line"]) == len(payment.allocations)
    remote = through_qbo(Entity.PAYMENT, body, UnappliedAmt=payment.unapplied)
    assert remote.record == payment
    assert remote.record.unapplied == payment.unapplied
    first = payment.allocations[0].invoice_id if payment.allocations else None
    assert remote.doc_number == (refs().invoice_numbers.get(first or "") or payment.reference)


def test_a_payment_line_links_each_invoice_with_its_amount() -> None:
    payment = Payment(
        id="p",
        date=dt.date(2025, 1, 2),
        amount=Decimal("65.00"),
        currency="USD",
        allocations=[
            Allocation(invoice_id="inv-1", amount=Decimal("40.00")),
            Allocation(invoice_id="inv-2", amount=Decimal("15.00")),
        ],
    )
    body = mapping.payment_to_qbo(payment, refs())
    assert body["TotalAmt"] == Decimal("65.00")
    assert body["Line"] == [
        {"Amount": Decimal("40.00"), "LinkedTxn": [{"TxnId": "inv-1", "TxnType": "Invoice"}]},
        {"Amount": Decimal("15.00"), "LinkedTxn": [{"TxnId": "inv-2", "TxnType": "Invoice"}]},
    ]
    assert "CurrencyRef" not in body  # the company's own currency goes unsaid
    assert mapping.dumps(body).count("65.00") == 1  # written as an exact number, never a float


def test_a_payment_over_invoices_of_two_customers_is_refused() -> None:
    r = refs()
    r.invoice_customers["inv-3"] = "cust-other"
    payment = Payment(
        id="p",
        date=dt.date(2025, 1, 2),
        amount=Decimal("2"),
        allocations=[
            Allocation(invoice_id="inv-1", amount=Decimal(1)),
            Allocation(invoice_id="inv-3", amount=Decimal(1)),
        ],
    )
    with pytest.raises(MappingError) as caught:
        mapping.payment_to_qbo(payment, r)
    assert caught.value.error.code is ErrorCode.VALIDATION


def test_a_line_without_an_item_code_is_booked_to_the_default_service_item() -> None:
    invoice = Invoice(
        id="i",
        contact_id="5",
        date=dt.date(2025, 1, 2),
        currency="USD",
        lines=[InvoiceLine(description="Labour", quantity=Decimal(2), unit_amount=Decimal("60.50"))],
    )
    body = mapping.invoice_to_qbo(invoice, refs())
    line = body["Line"][0]
    assert line["SalesItemLineDetail"]["ItemRef"] == {"value": "1"}
    assert line["Amount"] == Decimal("121.00")
    assert mapping.invoice_from_qbo({**body, "Id": "i"}, refs()).lines[0].item_code is None


def test_a_location_tracking_becomes_the_invoice_department_and_a_class_the_line_class() -> None:
    invoice = Invoice(
        id="i",
        contact_id="5",
        date=dt.date(2025, 1, 2),
        lines=[
            InvoiceLine(
                description="x",
                item_code="LAB",
                tracking=[Tracking(category="Class", option="Mobile"), Tracking(category="Location", option="Sydney")],
            )
        ],
    )
    body = mapping.invoice_to_qbo(invoice, refs())
    assert body["DepartmentRef"]["value"] == "d2"
    assert body["Line"][0]["SalesItemLineDetail"]["ClassRef"]["value"] == "c2"


def test_two_locations_on_one_invoice_are_refused_with_a_reason() -> None:
    invoice = Invoice(
        id="i",
        contact_id="5",
        date=dt.date(2025, 1, 2),
        lines=[
            InvoiceLine(description="a", tracking=[Tracking(category="Location", option="Sydney")]),
            InvoiceLine(description="b", tracking=[Tracking(category="Location", option="Brisbane")]),
        ],
    )
    with pytest.raises(MappingError, match="one location"):
        mapping.invoice_to_qbo(invoice, refs())


@pytest.mark.parametrize(
    ("line", "code"),
    [
        (InvoiceLine(description="a", item_code="NOPE"), ErrorCode.MISSING_DEPENDENCY),
        (InvoiceLine(description="a", tracking=[Tracking(category="Region", option="N")]), ErrorCode.VALIDATION),
        (
            InvoiceLine(description="a", tracking=[Tracking(category="Class", option="Unknown")]),
            ErrorCode.MISSING_DEPENDENCY,
        ),
        (InvoiceLine(description="a", discount_rate=Decimal(10)), ErrorCode.VALIDATION),
    ],
)
def test_lines_qbo_cannot_hold_are_refused_with_a_canonical_code(line: InvoiceLine, code: ErrorCode) -> None:
    invoice = Invoice(id="i", contact_id="5", date=dt.date(2025, 1, 2), lines=[line])
    with pytest.raises(MappingError) as caught:
        mapping.invoice_to_qbo(invoice, refs())
    assert caught.value.error.code is code


@pytest.mark.parametrize("name", ["Smith: Plumbing", "Tab\there", "Two\nlines", "x" * 101])
def test_a_customer_name_qbo_refuses_is_caught_before_sending(name: str) -> None:
    with pytest.raises(MappingError) as caught:
        mapping.contact_to_qbo(Contact(id="c", name=name))
    assert caught.value.error.code in (ErrorCode.INVALID_CHARACTERS, ErrorCode.VALIDATION)


def test_an_update_is_sparse_and_carries_id_and_sync_token() -> None:
    body = mapping.contact_to_qbo(Contact(id="c", name="Ann"), remote_id="42", sync_token="7")
    assert body["Id"] == "42" and body["SyncToken"] == "7" and body["sparse"] is True
    assert body["Job"] is False


def test_a_sub_customer_names_its_parent_and_is_a_job() -> None:
    body = mapping.contact_to_qbo(Contact(id="c", name="Ann's van", parent_id="5"))
    assert body["ParentRef"] == {"value": "5"} and body["Job"] is True


def test_a_voided_invoice_reads_as_voided_and_deleted() -> None:
    data = {
        "Id": "9",
        "SyncToken": "2",
        "CustomerRef": {"value": "5"},
        "TxnDate": "2025-01-02",
        "TotalAmt": 0,
        "Balance": 0,
        "PrivateNote": "Voided - Job 12",
        "Line": [],
    }
    remote = mapping.from_qbo(Entity.INVOICE, data, refs())
    assert remote.deleted and remote.record.status is InvoiceStatus.VOIDED


def test_a_fully_paid_invoice_reads_as_paid_with_amounts_from_qbo() -> None:
    data = {
        "Id": "9",
        "CustomerRef": {"value": "5"},
        "TxnDate": "2025-01-02",
        "TotalAmt": Decimal("110.00"),
        "Balance": 0,
        "TxnTaxDetail": {"TotalTax": Decimal("10.00")},
        "Line": [{"DetailType": "SubTotalLineDetail", "Amount": Decimal("110.00")}],
    }
    record = mapping.from_qbo(Entity.INVOICE, data, refs()).record
    assert isinstance(record, Invoice)
    assert record.status is InvoiceStatus.PAID
    assert (record.total, record.total_tax, record.amount_due, record.amount_paid) == (
        Decimal("110.00"),
        Decimal("10.00"),
        Decimal("0"),
        Decimal("110.00"),
    )
    assert record.lines == []  # QBO's own subtotal line is layout, not a line of ours


def test_an_item_maps_code_to_sku_and_needs_an_income_account_when_new() -> None:
    item = Item(id="i", code="LAB", name="Labour", unit_price=Decimal("95.50"))
    with pytest.raises(MappingError):
        mapping.item_to_qbo(item)
    body = mapping.item_to_qbo(item, income_account="79")
    assert body == {
        "Name": "Labour",
        "Sku": "LAB",
        "UnitPrice": Decimal("95.50"),
        "IncomeAccountRef": {"value": "79"},
        "Type": "Service",
        "Active": True,
    }
    back = mapping.from_qbo(Entity.ITEM, {**body, "Id": "i", "SyncToken": "0"}, refs()).record
    assert back == item.model_copy(update={"account_code": "79"})


def test_a_deleted_payment_from_cdc_is_a_deleted_placeholder() -> None:
    remote = mapping.deleted_stub(Entity.PAYMENT, "88", None)
    assert remote.deleted and isinstance(remote.record, Payment)
    assert remote.record.status is PaymentStatus.DELETED


def test_query_literals_escape_quotes_and_backslashes() -> None:
    assert mapping.quote("O'Brien \\ Sons") == "'O\\'Brien \\\\ Sons'"


# ---------------------------------------------------------------- credit memos applied through payments (issue 15)


def _pay_lines(*links: tuple[str, str, str]) -> list[dict[str, Any]]:
    return [{"Amount": amount, "LinkedTxn": [{"TxnId": tid, "TxnType": kind}]} for kind, tid, amount in links]


def test_a_payment_using_a_credit_memo_pays_with_money_only_what_the_credit_leaves() -> None:
    # A person in QuickBooks: invoices of 150 and 30, a credit memo of 50, 130 of money.
    data = {
        "Id": "9",
        "TxnDate": "2024-05-01",
        "TotalAmt": "130.00",
        "Line": _pay_lines(("Invoice", "1", "150.00"), ("Invoice", "2", "30.00"), ("CreditMemo", "7", "50.00")),
    }
    cash, credit = mapping.split_credit(data)
    # The credit goes to the invoices in line order; the money pays the rest.
    assert credit == {"7": [Allocation(invoice_id="1", amount=Decimal("50.00"))]}
    assert cash == [
        Allocation(invoice_id="1", amount=Decimal("100.00")),
        Allocation(invoice_id="2", amount=Decimal("30.00")),
    ]
    payment = mapping.payment_from_qbo(data, Refs())
    assert payment.amount == Decimal("130.00") and payment.unapplied == 0
    assert not mapping.is_credit_application(data)


def test_a_payment_of_nothing_applying_a_credit_memo_is_that_credit_notes_allocations() -> None:
    data = {
        "Id": "10",
        "SyncToken": "2",
        "TxnDate": "2024-05-01",
        "TotalAmt": 0,
        "Line": _pay_lines(("Invoice", "1", "20.00"), ("Invoice", "2", "15.00"), ("CreditMemo", "7", "35.00")),
    }
    assert mapping.is_credit_application(data)
    refs = Refs()
    refs.learn_credit_payments(["7", "8"], [data])
    assert refs.credit_allocations["7"] == [
        Allocation(invoice_id="1", amount=Decimal("20.00")),
        Allocation(invoice_id="2", amount=Decimal("15.00")),
    ]
    assert refs.credit_allocations["8"] == [] and refs.credit_payments == {"7": ("10", "2")}
    note = mapping.credit_note_from_qbo(
        {
            "Id": "7",
            "TxnDate": "2024-04-01",
            "TotalAmt": "35.00",
            "RemainingCredit": "0",
            "CustomerRef": {"value": "3"},
        },
        refs,
    )
    assert note.status is InvoiceStatus.PAID and [a.invoice_id for a in note.allocations] == ["1", "2"]
    # The app's allocations go back out as one such payment: invoices, then the credit memo for their sum.
    body = mapping.credit_application_to_qbo(
        "7",
        "3",
        note.allocations,
        date=dt.date(2024, 5, 1),
        currency=None,
        number="CM-7",
        remote_id="10",
        sync_token="2",
    )
    assert body["TotalAmt"] == 0 and body["Id"] == "10" and body["SyncToken"] == "2"
    assert [(ln["LinkedTxn"][0]["TxnType"], ln["Amount"]) for ln in body["Line"]] == [
        ("Invoice", Decimal("20.00")),
        ("Invoice", Decimal("15.00")),
        ("CreditMemo", Decimal("35.00")),
    ]


def test_a_refund_of_a_credit_memo_is_a_refund_receipt_that_names_only_the_customer() -> None:
    from ledgersync.model import Refund

    refs = Refs(default_item_id="1", home_currency="USD")
    refs.credit_customers["7"] = "3"
    refs.credit_numbers["7"] = "CM-7"
    refs.bank_account = "35"
    refund = Refund(id="r", credit_note_id="7", date=dt.date(2024, 5, 2), amount=Decimal("12.50"), currency="USD")
    body = mapping.refund_to_qbo(refund, refs)
    assert body["CustomerRef"] == {"value": "3"} and body["DepositToAccountRef"] == {"value": "35"}
    assert (
        body["Line"][0]["Amount"] == Decimal("12.50") and body["Line"][0]["Description"] == "Refund of credit memo CM-7"
    )
    assert "CurrencyRef" not in body and "CreditMemoRef" not in body
    with pytest.raises(MappingError) as exc:
        mapping.refund_to_qbo(refund.model_copy(update={"credit_note_id": "99"}), refs)
    assert exc.value.error.code is ErrorCode.MISSING_DEPENDENCY
