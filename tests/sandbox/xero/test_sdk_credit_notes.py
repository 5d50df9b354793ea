"""The official xero-python SDK allocates a credit note to an invoice and refunds one against the sandbox."""

from __future__ import annotations

from datetime import date

import pytest
from xero_python.accounting import AccountingApi
from xero_python.accounting.models import (
    Account,
    Allocation,
    Allocations,
    Contact,
    Contacts,
    CreditNote,
    CreditNotes,
    Invoice,
    Invoices,
    LineItem,
    Payment,
)

from .conftest import Sandbox, sdk_client


def test_sdk_allocates_and_refunds_a_credit_note(ready: Sandbox, monkeypatch: pytest.MonkeyPatch) -> None:
    api: AccountingApi
    api, _, _ = sdk_client(ready, monkeypatch)
    tid = ready.tenant_id
    cid = api.create_contacts(tid, Contacts(contacts=[Contact(name="SDK Credit")])).contacts[0].contact_id
    line = LineItem(description="Job", quantity=1.0, unit_amount=100.0, account_code="200", tax_type="NONE")
    invoice = api.create_invoices(
        tid,
        Invoices(
            invoices=[Invoice(type="ACCREC", contact=Contact(contact_id=cid), line_items=[line], status="AUTHORISED")]
        ),
    ).invoices[0]
    credit_line = LineItem(description="Credit", quantity=1.0, unit_amount=60.0, account_code="200", tax_type="NONE")
    note = api.create_credit_notes(
        tid,
        CreditNotes(
            credit_notes=[
                CreditNote(
                    type="ACCRECCREDIT", contact=Contact(contact_id=cid), line_items=[credit_line], status="AUTHORISED"
                )
            ]
        ),
    ).credit_notes[0]
    made = api.create_credit_note_allocation(
        tid,
        note.credit_note_id,
        Allocations(
            allocations=[Allocation(invoice=Invoice(invoice_id=invoice.invoice_id), amount=45.0, date=date(2024, 3, 1))]
        ),
    )
    assert made.allocations[0].amount == pytest.approx(45.0)
    assert api.get_invoice(tid, invoice.invoice_id).invoices[0].amount_due == pytest.approx(55.0)
    assert api.get_credit_note(tid, note.credit_note_id).credit_notes[0].remaining_credit == pytest.approx(15.0)
    refund = api.create_payment(
        tid,
        Payment(
            credit_note=CreditNote(credit_note_id=note.credit_note_id),
            account=Account(code="090"),
            amount=15.0,
            date=date(2024, 3, 2),
        ),
    ).payments[0]
    assert refund.payment_type == "ARCREDITPAYMENT"
    got = api.get_credit_note(tid, note.credit_note_id).credit_notes[0]
    assert got.remaining_credit == pytest.approx(0.0) and got.status == "PAID"
    allocation = got.allocations[0]
    api.delete_credit_note_allocations(tid, note.credit_note_id, allocation.allocation_id)
    assert api.get_invoice(tid, invoice.invoice_id).invoices[0].amount_due == pytest.approx(100.0)
    assert api.get_credit_note(tid, note.credit_note_id).credit_notes[0].remaining_credit == pytest.approx(45.0)
