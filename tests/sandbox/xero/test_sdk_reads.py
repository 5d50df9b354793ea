"""xero-python reads every kind of record and every report of a demo organisation, and writes the new kinds."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import date
from decimal import Decimal
from typing import Any

import pytest
from xero_python.accounting import AccountingApi
from xero_python.accounting.models import (
    Account,
    BankTransfer,
    BankTransfers,
    Contact,
    ContactGroup,
    ContactGroups,
    Contacts,
    LineItem,
    ManualJournal,
    ManualJournalLine,
    ManualJournals,
    Quote,
    Quotes,
)
from xero_python.exceptions import AccountingBadRequestException

from .conftest import Sandbox, sdk_client


@pytest.fixture
def demo(xs: Sandbox, monkeypatch: pytest.MonkeyPatch) -> Iterator[tuple[Sandbox, AccountingApi]]:
    r = xs.control("POST", "/tenants", {"name": "Demo Workshop", "demo": True})
    assert r.status_code == 201, r.text
    xs.tenant_id = r.json()["tenantId"]
    xs.add_app(xs.client_id, xs.client_secret)
    xs.tokens = xs.authorize()
    xs.control("PUT", "/config", {"rate_limits": {"minute": 10_000}})
    api, _, _ = sdk_client(xs, monkeypatch)
    yield xs, api


def _cells(row: Any) -> list[str]:
    return [c.value for c in row.cells]


def test_the_sdk_reads_every_kind_of_record_a_demo_organisation_holds(demo: tuple[Sandbox, AccountingApi]) -> None:
    s, api = demo
    tid = s.tenant_id
    org = api.get_organisations(tid).organisations[0]
    assert (org.base_currency.value if hasattr(org.base_currency, "value") else org.base_currency) == "AUD"
    assert org.financial_year_end_month == 6 and org.short_code.startswith("!")
    reads: dict[str, list[Any]] = {
        "contacts": api.get_contacts(tid).contacts,
        "contact_groups": api.get_contact_groups(tid).contact_groups,
        "currencies": api.get_currencies(tid).currencies,
        "branding_themes": api.get_branding_themes(tid).branding_themes,
        "users": api.get_users(tid).users,
        "accounts": api.get_accounts(tid).accounts,
        "tax_rates": api.get_tax_rates(tid).tax_rates,
        "tracking_categories": api.get_tracking_categories(tid).tracking_categories,
        "items": api.get_items(tid).items,
        "invoices": api.get_invoices(tid).invoices,
        "credit_notes": api.get_credit_notes(tid).credit_notes,
        "payments": api.get_payments(tid).payments,
        "bank_transactions": api.get_bank_transactions(tid).bank_transactions,
        "bank_transfers": api.get_bank_transfers(tid).bank_transfers,
        "overpayments": api.get_overpayments(tid).overpayments,
        "prepayments": api.get_prepayments(tid).prepayments,
        "manual_journals": api.get_manual_journals(tid).manual_journals,
        "journals": api.get_journals(tid).journals,
        "quotes": api.get_quotes(tid).quotes,
        "repeating_invoices": api.get_repeating_invoices(tid).repeating_invoices,
        "linked_transactions": api.get_linked_transactions(tid).linked_transactions,
        "purchase_orders": api.get_purchase_orders(tid).purchase_orders,
    }
    assert [k for k, v in reads.items() if not v] == []
    group = api.get_contact_group(tid, reads["contact_groups"][0].contact_group_id).contact_groups[0]
    assert {c.name for c in group.contacts} == {"Harbour Couriers", "Bayside Taxis"}
    assert reads["quotes"][0].quote_number == "QU-0001"
    assert reads["prepayments"][0].remaining_credit == pytest.approx(300.0)
    numbers = [j.journal_number for j in reads["journals"]]
    assert numbers == sorted(numbers) and numbers[0] == 1
    assert api.get_journal_by_number(tid, 1).journals[0].journal_number == 1
    assert reads["linked_transactions"][0].status == "APPROVED"


def test_the_sdk_reads_each_report_and_the_reports_balance(demo: tuple[Sandbox, AccountingApi]) -> None:
    s, api = demo
    tid = s.tenant_id
    far = {"from_date": date(2000, 1, 1), "to_date": date(2100, 12, 31)}
    pl = api.get_report_profit_and_loss(tid, **far).reports[0]
    net = next(_cells(r)[1] for sec in pl.rows for r in (sec.rows or []) if _cells(r)[0] == "Net Profit")
    tb = api.get_report_trial_balance(tid).reports[0]
    total = _cells(tb.rows[-1].rows[0])
    assert total[0] == "Total" and total[3] == total[4]
    bs = api.get_report_balance_sheet(tid).reports[0]
    flat = {_cells(r)[0]: _cells(r)[1] for sec in bs.rows for r in (sec.rows or [])}
    assert Decimal(flat["Net Assets"]) == Decimal(flat["Total Equity"])
    assert Decimal(flat["Total Assets"]) - Decimal(flat["Total Liabilities"]) == Decimal(flat["Net Assets"])
    # Every demo posting is dated within the past two months, so all earnings are this year's or last.
    assert Decimal(net) != 0
    customer = next(c for c in api.get_contacts(tid).contacts if c.name == "Bayside Taxis")
    aged = api.get_report_aged_receivables_by_contact(tid, customer.contact_id).reports[0]
    rows = [_cells(r) for sec in aged.rows for r in (sec.rows or [])]
    assert rows[1][1].startswith("INV-") and rows[1][3].endswith("days overdue")
    assert rows[-1][0] == "Closing Balance" and rows[-1][-1] == "366.00"


def test_the_sdk_writes_journals_transfers_quotes_and_contact_groups(demo: tuple[Sandbox, AccountingApi]) -> None:
    s, api = demo
    tid = s.tenant_id
    journal = ManualJournal(
        narration="Depreciation",
        date=date(2024, 6, 30),
        status="POSTED",
        journal_lines=[
            ManualJournalLine(line_amount=120.0, account_code="429", description="Tools"),
            ManualJournalLine(line_amount=-120.0, account_code="090", description="Tools"),
        ],
    )
    made = api.create_manual_journals(tid, ManualJournals(manual_journals=[journal])).manual_journals[0]
    assert made.status == "POSTED" and made.manual_journal_id
    bad = ManualJournal(
        narration="Off",
        status="POSTED",
        journal_lines=[ManualJournalLine(line_amount=10.0, account_code="429")],
    )
    with pytest.raises(AccountingBadRequestException) as exc:
        api.create_manual_journals(tid, ManualJournals(manual_journals=[bad]))
    assert "must equal total credits" in str(exc.value.body)
    transfer = BankTransfer(from_bank_account=Account(code="090"), to_bank_account=Account(code="091"), amount=75.0)
    done = api.create_bank_transfer(tid, BankTransfers(bank_transfers=[transfer])).bank_transfers[0]
    assert done.from_bank_transaction_id and done.to_bank_transaction_id and done.amount == pytest.approx(75.0)
    contact = api.get_contacts(tid).contacts[0]
    quote = Quote(
        contact=Contact(contact_id=contact.contact_id),
        date=date(2024, 7, 1),
        line_items=[LineItem(description="Tyres", quantity=4.0, unit_amount=150.0, account_code="200")],
    )
    q = api.create_quotes(tid, Quotes(quotes=[quote])).quotes[0]
    assert q.quote_number == "QU-0002" and q.total == pytest.approx(660.0)
    group = api.create_contact_group(tid, ContactGroups(contact_groups=[ContactGroup(name="Walk-ins")]))
    gid = group.contact_groups[0].contact_group_id
    api.create_contact_group_contacts(tid, gid, Contacts(contacts=[Contact(contact_id=contact.contact_id)]))
    assert [c.contact_id for c in api.get_contact_group(tid, gid).contact_groups[0].contacts] == [contact.contact_id]
    api.delete_contact_group_contact(tid, gid, contact.contact_id)
    assert api.get_contact_group(tid, gid).contact_groups[0].contacts == []
