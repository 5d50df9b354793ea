"""The official xero-python SDK, over real loopback HTTP, works against the sandbox end to end."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import date
from decimal import Decimal
from typing import Any

import pytest
from xero_python.accounting import AccountingApi
from xero_python.accounting.models import (
    Account,
    Contact,
    Contacts,
    Invoice,
    Invoices,
    LineItem,
    Payment,
    Payments,
)
from xero_python.api_client import ApiClient
from xero_python.exceptions import AccountingBadRequestException, NotFoundException
from xero_python.identity import IdentityApi

from .conftest import Sandbox, sdk_client


@pytest.fixture
def sdk(
    ready: Sandbox, monkeypatch: pytest.MonkeyPatch
) -> Iterator[tuple[AccountingApi, ApiClient, dict[str, Any]]]:
    yield sdk_client(ready, monkeypatch)


def test_sdk_contacts_invoices_payments(
    ready: Sandbox, sdk: tuple[AccountingApi, ApiClient, dict[str, Any]]
) -> None:
    api, client, _ = sdk
    tid = ready.tenant_id
    identity = IdentityApi(client, base_url=ready.url)
    conns = identity.get_connections()
    assert [c.tenant_id for c in conns] == [tid] or [str(c.tenant_id) for c in conns] == [tid]

    created = api.create_contacts(
        tid, Contacts(contacts=[Contact(name=f"SDK {i}", email_address=f"c{i}@x.io") for i in range(5)])
    )
    assert len(created.contacts) == 5
    cid = created.contacts[0].contact_id
    assert created.contacts[0].updated_date_utc is not None

    page = api.get_contacts(tid, page=1, page_size=2, order="Name ASC")
    assert [c.name for c in page.contacts] == ["SDK 0", "SDK 1"]
    assert page.pagination.item_count == 5 and page.pagination.page_count == 3
    found = api.get_contacts(tid, where='Name=="SDK 3"')
    assert len(found.contacts) == 1

    upd = api.update_contact(tid, cid, Contacts(contacts=[Contact(contact_id=cid, name="SDK zero")]))
    assert upd.contacts[0].name == "SDK zero"

    inv = Invoice(
        type="ACCREC",
        contact=Contact(contact_id=cid),
        date=date(2024, 1, 15),
        due_date=date(2024, 2, 15),
        line_items=[
            LineItem(
                description="Widget", quantity=2.0, unit_amount=50.0, account_code="200", tax_type="OUTPUT"
            )
        ],
        status="AUTHORISED",
    )
    res = api.create_invoices(tid, Invoices(invoices=[inv]))
    invoice = res.invoices[0]
    assert invoice.invoice_number == "INV-0001"
    assert invoice.total == pytest.approx(110.0) and invoice.amount_due == pytest.approx(110.0)
    assert invoice.date == date(2024, 1, 15)

    # Per-element errors: one good, one duplicate-number invoice.
    dup = Invoice(
        type="ACCREC",
        contact=Contact(contact_id=cid),
        invoice_number="INV-0001",
        line_items=[LineItem(description="x", quantity=1.0, unit_amount=1.0, account_code="200")],
    )
    ok = Invoice(
        type="ACCREC",
        contact=Contact(contact_id=cid),
        line_items=[LineItem(description="y", quantity=1.0, unit_amount=10.0, account_code="200")],
    )
    mixed = api.create_invoices(tid, Invoices(invoices=[dup, ok]), summarize_errors=False)
    assert mixed.invoices[0].has_errors is True
    assert mixed.invoices[0].validation_errors[0].message == "Invoice # must be unique."
    assert mixed.invoices[1].has_errors in (False, None) and mixed.invoices[1].invoice_id

    with pytest.raises(AccountingBadRequestException) as exc:
        api.create_invoices(tid, Invoices(invoices=[dup]))
    assert "Invoice # must be unique." in str(exc.value.body)

    pay = api.create_payment(
        tid,
        Payment(
            invoice=Invoice(invoice_id=invoice.invoice_id),
            account=Account(code="090"),
            amount=40.0,
            date=date(2024, 1, 20),
        ),
    )
    assert pay.payments[0].amount == pytest.approx(40.0)
    got = api.get_invoice(tid, invoice.invoice_id).invoices[0]
    assert got.amount_paid == pytest.approx(40.0) and got.amount_due == pytest.approx(70.0)
    assert got.status == "AUTHORISED"

    over = api.create_payments(
        tid,
        Payments(
            payments=[
                Payment(
                    invoice=Invoice(invoice_id=invoice.invoice_id), account=Account(code="090"), amount=100.0
                )
            ]
        ),
        summarize_errors=False,
    )
    assert over.payments[0].validation_errors[0].message == (
        "Payment amount exceeds the amount outstanding on this document"
    )
    api.create_payment(
        tid, Payment(invoice=Invoice(invoice_id=invoice.invoice_id), account=Account(code="090"), amount=70.0)
    )
    assert api.get_invoice(tid, invoice.invoice_id).invoices[0].status == "PAID"
    api.delete_payment(tid, pay.payments[0].payment_id, Payment(status="DELETED"))
    assert api.get_invoice(tid, invoice.invoice_id).invoices[0].status == "AUTHORISED"

    pages = api.get_invoices(tid, page=1, page_size=1)
    assert pages.pagination.item_count == 2 and len(pages.invoices) == 1
    payments = api.get_payments(tid)
    assert {p.status for p in payments.payments} == {"AUTHORISED", "DELETED"}
    with pytest.raises(NotFoundException):
        api.get_invoice(tid, "00000000-0000-0000-0000-000000000000")
    # Every collection the sandbox serves deserialises.
    assert api.get_accounts(tid).accounts[0].code
    assert api.get_tax_rates(tid).tax_rates[0].tax_type
    assert api.get_tracking_categories(tid).tracking_categories[0].options
    assert isinstance(api.get_items(tid).items, list)
    assert Decimal(str(got.total)) == Decimal("110")


def test_sdk_refreshes_expired_token(
    ready: Sandbox, sdk: tuple[AccountingApi, ApiClient, dict[str, Any]]
) -> None:
    api, client, store = sdk
    old_refresh = store["token"]["refresh_token"]
    ready.control("POST", "/tokens/expire")
    new = client.refresh_oauth2_token()
    assert new["refresh_token"] != old_refresh
    assert api.get_contacts(ready.tenant_id).contacts == []
