"""The Xero sandbox's ledger: journals for every posting, reversals on change, and reports that add up."""

from __future__ import annotations

from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest

import ledgersync.sandbox.xero
from ledgersync.sandbox.cli import _preregister
from ledgersync.sandbox.common.readme import generated
from ledgersync.sandbox.xero import XeroSandbox
from ledgersync.sandbox.xero.routes import served_markdown

from .conftest import Sandbox

FAR = {"fromDate": "2000-01-01", "toDate": "2100-12-31"}
LINE = {"Description": "Service", "Quantity": 1, "UnitAmount": 100, "AccountCode": "200", "TaxType": "OUTPUT"}


@pytest.fixture
def demo(xs: Sandbox) -> Sandbox:
    r = xs.control("POST", "/tenants", {"name": "Demo Workshop", "demo": True})
    xs.tenant_id = r.json()["tenantId"]
    xs.add_app(xs.client_id, xs.client_secret)
    xs.tokens = xs.authorize()
    xs.control("PUT", "/config", {"rate_limits": {"minute": 10_000}})
    return xs


def _get(s: Sandbox, path: str, **params: Any) -> dict[str, Any]:
    r = s.api("GET", path, params=params)
    assert r.status_code == 200, r.text
    return dict(r.json())


def _journals(s: Sandbox) -> list[dict[str, Any]]:
    out: list[dict[str, Any]] = []
    while True:
        page = _get(s, "Journals", offset=out[-1]["JournalNumber"] if out else 0)["Journals"]
        if not page:
            return out
        out.extend(page)


def _invoice(s: Sandbox, contact_id: str, **extra: Any) -> dict[str, Any]:
    body = {
        "Type": "ACCREC",
        "Contact": {"ContactID": contact_id},
        "Status": "AUTHORISED",
        "LineItems": [LINE],
        **extra,
    }
    r = s.api("PUT", "Invoices", {"Invoices": [body]})
    assert r.status_code == 200, r.text
    return dict(r.json()["Invoices"][0])


def _contact(s: Sandbox) -> str:
    return str(s.api("PUT", "Contacts", {"Name": "Ledger Co"}).json()["Contacts"][0]["ContactID"])


def _row(report: dict[str, Any], label: str) -> list[str]:
    for sec in report["Rows"]:
        for row in sec.get("Rows", []):
            if label in [c["Value"] for c in row["Cells"][:2]]:
                return [c["Value"] for c in row["Cells"]]
    raise AssertionError(f"no row {label!r}")


def test_every_journal_balances_and_numbers_run_from_one_without_gaps(demo: Sandbox) -> None:
    journals = _journals(demo)
    assert [j["JournalNumber"] for j in journals] == list(range(1, len(journals) + 1))
    for j in journals:
        assert sum(Decimal(str(ln["NetAmount"])) for ln in j["JournalLines"]) == 0, j


def test_an_authorised_invoice_posts_receivable_revenue_and_gst(ready: Sandbox) -> None:
    inv = _invoice(ready, _contact(ready))
    (j,) = [j for j in _journals(ready) if j["SourceID"] == inv["InvoiceID"]]
    lines = {ln["AccountCode"]: (ln["NetAmount"], ln["TaxAmount"]) for ln in j["JournalLines"]}
    assert j["SourceType"] == "ACCREC" and lines == {"610": (110.0, 0.0), "200": (-100.0, -10.0), "820": (-10.0, 0.0)}


def test_a_draft_posts_nothing_and_approving_it_posts_once(ready: Sandbox) -> None:
    inv = _invoice(ready, _contact(ready), Status="DRAFT")
    assert not [j for j in _journals(ready) if j["SourceID"] == inv["InvoiceID"]]
    ready.api("POST", f"Invoices/{inv['InvoiceID']}", {"Status": "AUTHORISED"})
    ready.api("POST", f"Invoices/{inv['InvoiceID']}", {"Reference": "no money changes"})
    assert len([j for j in _journals(ready) if j["SourceID"] == inv["InvoiceID"]]) == 1


def test_editing_an_invoice_reverses_its_journal_and_posts_the_new_amounts(ready: Sandbox) -> None:
    inv = _invoice(ready, _contact(ready))
    ready.api("POST", f"Invoices/{inv['InvoiceID']}", {"LineItems": [{**LINE, "UnitAmount": 250}]})
    first, reversal, second = [j for j in _journals(ready) if j["SourceID"] == inv["InvoiceID"]]
    assert [ln["NetAmount"] for ln in reversal["JournalLines"]] == [-ln["NetAmount"] for ln in first["JournalLines"]]
    assert reversal["JournalDate"] == first["JournalDate"]
    assert next(ln["NetAmount"] for ln in second["JournalLines"] if ln["AccountCode"] == "610") == 275.0


def test_voiding_an_invoice_and_deleting_a_payment_reverse_what_they_posted(ready: Sandbox) -> None:
    cid = _contact(ready)
    inv = _invoice(ready, cid)
    ready.api("POST", f"Invoices/{inv['InvoiceID']}", {"Status": "VOIDED"})
    paid = _invoice(ready, cid)
    pay = {"Invoice": {"InvoiceID": paid["InvoiceID"]}, "Account": {"Code": "090"}, "Amount": 50}
    pid = ready.api("PUT", "Payments", pay).json()["Payments"][0]["PaymentID"]
    ready.api("POST", f"Payments/{pid}", {"Status": "DELETED"})
    journals = _journals(ready)
    for source in (inv["InvoiceID"], pid):
        mine = [j for j in journals if j["SourceID"] == source]
        assert len(mine) == 2
        totals: dict[str, Decimal] = {}
        for j in mine:
            for ln in j["JournalLines"]:
                totals[ln["AccountCode"]] = totals.get(ln["AccountCode"], Decimal(0)) + Decimal(str(ln["NetAmount"]))
        assert set(totals.values()) == {Decimal(0)}
    assert {j["SourceType"] for j in journals if j["SourceID"] == pid} == {"ACCRECPAYMENT"}


def test_journals_come_a_hundred_at_a_time_after_the_offset(ready: Sandbox) -> None:
    ready.control("PUT", "/config", {"rate_limits": {"minute": 10_000}})
    lines = [{"LineAmount": 5, "AccountCode": "429"}, {"LineAmount": -5, "AccountCode": "090"}]
    body = {"ManualJournals": [{"Narration": f"J{i}", "Status": "POSTED", "JournalLines": lines} for i in range(130)]}
    assert ready.api("PUT", "ManualJournals", body).status_code == 200
    first = _get(ready, "Journals")["Journals"]
    assert len(first) == 100 and first[-1]["JournalNumber"] == 100
    rest = _get(ready, "Journals", offset=100)["Journals"]
    assert [j["JournalNumber"] for j in rest] == list(range(101, 131))
    assert {j["SourceType"] for j in rest} == {"MANJOURNAL"}


def test_profit_and_loss_net_profit_is_the_sum_of_the_postings_to_revenue_and_expenses(demo: Sandbox) -> None:
    accounts = {a["AccountID"]: a for a in _get(demo, "Accounts")["Accounts"]}
    pl_types = {"REVENUE", "SALES", "OTHERINCOME", "EXPENSE", "DIRECTCOSTS", "OVERHEADS", "DEPRECIATN"}
    postings = sum(
        (
            Decimal(str(ln["NetAmount"]))
            for j in _journals(demo)
            for ln in j["JournalLines"]
            if accounts[ln["AccountID"]]["Type"] in pl_types
        ),
        Decimal(0),
    )
    report = _get(demo, "Reports/ProfitAndLoss", **FAR)["Reports"][0]
    assert Decimal(_row(report, "Net Profit")[1]) == -postings
    income, cost = Decimal(_row(report, "Total Income")[1]), Decimal(_row(report, "Total Cost of Sales")[1])
    assert Decimal(_row(report, "Gross Profit")[1]) == income - cost


def test_trial_balance_debits_equal_credits_in_both_columns(demo: Sandbox) -> None:
    report = _get(demo, "Reports/TrialBalance")["Reports"][0]
    total = _row(report, "Total")
    assert total[1] == total[2] and total[3] == total[4] and Decimal(total[3]) > 0


def test_balance_sheet_assets_less_liabilities_equal_equity_in_every_column(demo: Sandbox) -> None:
    report = _get(demo, "Reports/BalanceSheet", periods=2, timeframe="MONTH")["Reports"][0]
    assert len(report["Rows"][0]["Cells"]) == 4
    assets, liabilities = _row(report, "Total Assets"), _row(report, "Total Liabilities")
    net, equity = _row(report, "Net Assets"), _row(report, "Total Equity")
    for i in range(1, 4):
        assert Decimal(assets[i]) - Decimal(liabilities[i]) == Decimal(net[i]) == Decimal(equity[i])


def test_aged_receivables_show_what_was_outstanding_at_the_date(ready: Sandbox) -> None:
    cid = _contact(ready)
    inv = _invoice(ready, cid, Date="2024-01-10", DueDate="2024-01-31")
    pay = {"Invoice": {"InvoiceID": inv["InvoiceID"]}, "Account": {"Code": "090"}, "Amount": 40, "Date": "2024-03-01"}
    ready.api("PUT", "Payments", pay)
    before = _get(ready, "Reports/AgedReceivablesByContact", contactId=cid, date="2024-02-15")["Reports"][0]
    assert _row(before, inv["InvoiceNumber"])[3:] == ["15 days overdue", "110.00", "0.00", "0.00", "110.00"]
    after = _get(ready, "Reports/AgedReceivablesByContact", contactId=cid, date="2024-03-15")["Reports"][0]
    assert _row(after, "Closing Balance")[-1] == "70.00"
    assert ready.api("GET", "Reports/AgedReceivablesByContact").status_code == 400


def test_credit_notes_carry_only_the_fields_of_the_credit_note_schema(ready: Sandbox) -> None:
    body = {
        "Type": "ACCRECCREDIT",
        "Contact": {"ContactID": _contact(ready)},
        "Status": "AUTHORISED",
        "LineItems": [LINE],
    }
    note = ready.api("PUT", "CreditNotes", {"CreditNotes": [body]}).json()["CreditNotes"][0]
    extras = {"AmountDue", "AmountPaid", "AmountCredited", "IsDiscounted", "CreditNotes", "Overpayments", "Prepayments"}
    assert not extras & set(note) and note["RemainingCredit"] == 110.0


def test_a_tenant_made_by_the_cli_holds_every_kind_of_record() -> None:
    sb = XeroSandbox()
    _preregister(sb, None, None, [], ["Demo Workshop"])
    (tenant,) = sb.tenants.values()
    assert [coll for coll, recs in tenant.data.items() if not recs] == []
    assert tenant.organisation["Name"] == "Demo Workshop"


def test_the_readme_lists_exactly_the_routes_the_sandbox_serves() -> None:
    readme = Path(ledgersync.sandbox.xero.__file__).with_name("README.md")
    assert generated(readme, "ledgersync.sandbox.readmes") == served_markdown().strip()
