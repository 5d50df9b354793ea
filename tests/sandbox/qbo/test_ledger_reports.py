"""QBO's posting rules for the newer entities, and reports that add up from the postings."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

import ledgersync.sandbox.qbo
from ledgersync.sandbox.cli import _preregister
from ledgersync.sandbox.common.readme import generated
from ledgersync.sandbox.qbo import QboSandbox
from ledgersync.sandbox.qbo.routes import served_markdown
from ledgersync.sandbox.qbo.state import OPERATIONS

from .conftest import Sandbox

FAR = {"start_date": "2000-01-01", "end_date": "2100-12-31"}
PL_TYPES = {"Income", "Cost of Goods Sold", "Expense", "Other Income", "Other Expense"}


def _je(posting: str, account: str, amount: float, **detail: Any) -> dict[str, Any]:
    return {
        "Amount": amount,
        "DetailType": "JournalEntryLineDetail",
        "JournalEntryLineDetail": {"PostingType": posting, "AccountRef": {"value": account}, **detail},
    }


def _spend(amount: float, account: str = "8") -> dict[str, Any]:
    return {
        "Amount": amount,
        "DetailType": "AccountBasedExpenseLineDetail",
        "AccountBasedExpenseLineDetail": {"AccountRef": {"value": account}},
    }


def _summary(rows: list[dict[str, Any]], group: str) -> Decimal:
    for row in rows:
        if row.get("group") == group:
            return Decimal(row["Summary"]["ColData"][-1]["value"])
        inner = _summary(row.get("Rows", {}).get("Row", []), group) if row.get("Rows") else None
        if inner is not None:
            return inner
    return None  # type: ignore[return-value]


def test_a_journal_entry_must_balance(ready: Sandbox) -> None:
    err = ready.fault("POST", "journalentry", {"Line": [_je("Debit", "8", 50), _je("Credit", "3", 40)]})
    assert err["code"] == "6000" and "debits (50.00)" in err["Detail"]
    je = ready.ok("POST", "journalentry", {"Line": [_je("Debit", "8", 50), _je("Credit", "3", 50)]})["JournalEntry"]
    assert je["TotalAmt"] == 50


def test_a_receivable_line_in_a_journal_entry_names_a_customer(ready: Sandbox) -> None:
    err = ready.fault("POST", "journalentry", {"Line": [_je("Debit", "1", 5), _je("Credit", "6", 5)]})
    assert err["code"] == "6000" and "customer" in err["Detail"]
    c = ready.customer("JE Customer")
    entity = {"Entity": {"Type": "Customer", "EntityRef": {"value": c["Id"]}}}
    assert ready.ok("POST", "journalentry", {"Line": [_je("Debit", "1", 5, **entity), _je("Credit", "6", 5)]})


def test_a_bill_payment_pays_its_bills_less_vendor_credits(ready: Sandbox) -> None:
    v = ready.ok("POST", "vendor", {"DisplayName": "Parts Co"})["Vendor"]
    bill = ready.ok("POST", "bill", {"VendorRef": {"value": v["Id"]}, "Line": [_spend(100)]})["Bill"]
    credit = ready.ok("POST", "vendorcredit", {"VendorRef": {"value": v["Id"]}, "Line": [_spend(30)]})["VendorCredit"]
    lines = [
        {"Amount": 100, "LinkedTxn": [{"TxnId": bill["Id"], "TxnType": "Bill"}]},
        {"Amount": 30, "LinkedTxn": [{"TxnId": credit["Id"], "TxnType": "VendorCredit"}]},
    ]
    body = {"VendorRef": {"value": v["Id"]}, "PayType": "Check", "CheckPayment": {"BankAccountRef": {"value": "3"}}}
    assert ready.fault("POST", "billpayment", {**body, "TotalAmt": 60, "Line": lines})["code"] == "6000"
    paid = ready.ok("POST", "billpayment", {**body, "TotalAmt": 70, "Line": lines})["BillPayment"]
    after = ready.ok("GET", f"bill/{bill['Id']}")["Bill"]
    assert after["Balance"] == 0 and after["LinkedTxn"] == [{"TxnId": paid["Id"], "TxnType": "BillPayment"}]
    assert ready.ok("GET", f"vendorcredit/{credit['Id']}")["VendorCredit"]["Balance"] == 0
    card = {"PayType": "CreditCard", "CreditCardPayment": {"CCAccountRef": {"value": "3"}}}
    err = ready.fault("POST", "billpayment", {**body, **card, "TotalAmt": 1, "Line": []})
    assert "Credit Card" in err["Detail"]
    ref = {"Id": paid["Id"], "SyncToken": paid["SyncToken"], "sparse": True}
    ready.ok("POST", "billpayment", ref, params={"operation": "update", "include": "void"})
    assert ready.ok("GET", f"bill/{bill['Id']}")["Bill"]["Balance"] == 100


def test_a_deposit_banks_undeposited_payments_once(ready: Sandbox) -> None:
    c = ready.customer("Deposit Co")
    inv = ready.invoice(c["Id"], "60.00")
    link = [{"Amount": 60, "LinkedTxn": [{"TxnId": inv["Id"], "TxnType": "Invoice"}]}]
    pay = ready.ok("POST", "payment", {"CustomerRef": {"value": c["Id"]}, "TotalAmt": 60, "Line": link})["Payment"]
    assert pay["DepositToAccountRef"]["value"] == "2"
    line = {"Amount": 60, "LinkedTxn": [{"TxnId": pay["Id"], "TxnType": "Payment", "TxnLineId": "0"}]}
    assert ready.fault("POST", "deposit", {"DepositToAccountRef": {"value": "2"}, "Line": [line]})["code"] == "6000"
    dep = ready.ok("POST", "deposit", {"DepositToAccountRef": {"value": "3"}, "Line": [line]})["Deposit"]
    assert dep["TotalAmt"] == 60
    assert ready.fault("POST", "deposit", {"DepositToAccountRef": {"value": "3"}, "Line": [line]})["code"] == "620"
    ref = {"Id": pay["Id"], "SyncToken": pay["SyncToken"]}
    assert ready.fault("POST", "payment", ref, params={"operation": "delete"})["code"] == "6000"
    banked_payment = {"CustomerRef": {"value": c["Id"]}, "TotalAmt": 5, "DepositToAccountRef": {"value": "3"}}
    direct = ready.ok("POST", "payment", banked_payment)
    banked = {"Amount": 5, "LinkedTxn": [{"TxnId": direct["Payment"]["Id"], "TxnType": "Payment"}]}
    assert ready.fault("POST", "deposit", {"DepositToAccountRef": {"value": "3"}, "Line": [banked]})["code"] == "620"


def test_an_expense_is_paid_from_a_bank_or_card_account_as_its_payment_type_says(ready: Sandbox) -> None:
    base = {"Line": [_spend(10)]}
    check_from_card = {**base, "PaymentType": "Check", "AccountRef": {"value": "9"}}
    assert ready.fault("POST", "purchase", check_from_card)["code"] == "6000"
    card = ready.ok("POST", "purchase", {**base, "PaymentType": "CreditCard", "AccountRef": {"value": "9"}})["Purchase"]
    assert card["TotalAmt"] == 10 and card["Credit"] is False
    assert ready.fault("POST", "purchase", {**base, "AccountRef": {"value": "3"}})["code"] == "2020"


def test_tax_codes_name_their_rates_and_rates_their_agency(ready: Sandbox) -> None:
    code = ready.ok("GET", "taxcode/TAX")["TaxCode"]
    rate_ref = code["SalesTaxRateList"]["TaxRateDetail"][0]["TaxRateRef"]["value"]
    rate = ready.ok("GET", f"taxrate/{rate_ref}")["TaxRate"]
    agency = ready.ok("GET", f"taxagency/{rate['AgencyRef']['value']}")["TaxAgency"]
    assert rate["RateValue"] == 8 and agency["TaxTrackedOnSales"] is True
    assert ready.fault("POST", "taxrate", {"Name": "New", "RateValue": 1})["code"] == "500"


def test_profit_and_loss_net_income_is_the_sum_of_the_postings(demo: Sandbox) -> None:
    accounts = {a["Id"]: a for a in demo.query("SELECT * FROM Account MAXRESULTS 1000")["Account"]}
    postings = demo.control("GET", f"/tenants/{demo.realm}/ledger").json()["postings"]
    by_txn: dict[tuple[str, str], Decimal] = {}
    for p in postings:
        key = (p["entity"], p["id"])
        by_txn[key] = by_txn.get(key, Decimal(0)) + Decimal(str(p["amount"]))
    assert set(by_txn.values()) == {Decimal(0)}  # every transaction balances
    to_pl = [Decimal(str(p["amount"])) for p in postings if accounts[p["account"]]["AccountType"] in PL_TYPES]
    pl = -sum(to_pl, Decimal(0))
    report = demo.ok("GET", "reports/ProfitAndLoss", params=FAR)
    assert _summary(report["Rows"]["Row"], "NetIncome") == pl != 0
    income, cogs = _summary(report["Rows"]["Row"], "Income"), _summary(report["Rows"]["Row"], "COGS")
    assert _summary(report["Rows"]["Row"], "GrossProfit") == income - cogs


def test_the_trial_balance_and_the_balance_sheet_balance(demo: Sandbox) -> None:
    tb = demo.ok("GET", "reports/TrialBalance")
    total = tb["Rows"]["Row"][-1]["Summary"]["ColData"]
    assert total[0]["value"] == "TOTAL" and total[1]["value"] == total[2]["value"] != "0.00"
    bs = demo.ok("GET", "reports/BalanceSheet")["Rows"]["Row"]
    assert _summary(bs, "TotalAssets") == _summary(bs, "TotalLiabilitiesAndEquity") > 0


def test_aged_receivables_buckets_open_invoices_by_days_past_due(ready: Sandbox) -> None:
    c = ready.customer("Aged Co")
    ready.invoice(c["Id"], "100.00", TxnDate="2024-01-01", DueDate="2024-01-31")
    ready.invoice(c["Id"], "40.00", TxnDate="2024-03-01", DueDate="2024-03-31")
    report = ready.ok("GET", "reports/AgedReceivables", params={"report_date": "2024-03-15"})
    row = next(r for r in report["Rows"]["Row"] if r.get("ColData", [{}])[0].get("value") == "Aged Co")
    assert [v["value"] for v in row["ColData"][1:]] == ["40.00", "0.00", "100.00", "0.00", "0.00", "140.00"]


def test_a_company_made_by_the_cli_holds_every_kind_of_record() -> None:
    sb = QboSandbox()
    _preregister(sb, None, None, [], ["Demo Workshop"])
    (company,) = sb.tenants.values()
    assert [e for e in OPERATIONS if not company.data[e]] == []


def test_the_readme_lists_exactly_what_the_routing_table_serves() -> None:
    readme = ledgersync.sandbox.qbo.__file__.replace("__init__.py", "README.md")
    from pathlib import Path

    assert generated(Path(readme), "ledgersync.sandbox.readmes") == served_markdown().strip()


def test_account_current_balances_follow_the_postings(ready: Sandbox) -> None:
    c = ready.customer("Balance Co")
    inv = ready.invoice(c["Id"], "60.00")
    assert ready.ok("GET", "account/1")["Account"]["CurrentBalance"] == 60
    link = [{"Amount": 60, "LinkedTxn": [{"TxnId": inv["Id"], "TxnType": "Invoice"}]}]
    body = {"CustomerRef": {"value": c["Id"]}, "TotalAmt": 60, "DepositToAccountRef": {"value": "3"}, "Line": link}
    ready.ok("POST", "payment", body)
    assert ready.ok("GET", "account/3")["Account"]["CurrentBalance"] == 60
    assert ready.ok("GET", "account/1")["Account"]["CurrentBalance"] == 0
    v = ready.ok("POST", "vendor", {"DisplayName": "Balance Vendor"})["Vendor"]
    ready.ok("POST", "bill", {"VendorRef": {"value": v["Id"]}, "Line": [_spend(25)]})
    assert ready.ok("GET", "account/4")["Account"]["CurrentBalance"] == 25
