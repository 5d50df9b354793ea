"""python-quickbooks reads every entity of a demo company and each report, and writes the newer entities."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from decimal import Decimal

import pytest
from quickbooks import QuickBooks
from quickbooks.cdc import change_data_capture
from quickbooks.objects.base import LinkedTxn, Ref
from quickbooks.objects.bill import Bill
from quickbooks.objects.billpayment import BillPayment, BillPaymentLine, CheckPayment
from quickbooks.objects.budget import Budget
from quickbooks.objects.company_info import CompanyInfo
from quickbooks.objects.customer import Customer
from quickbooks.objects.customertype import CustomerType
from quickbooks.objects.deposit import Deposit, DepositLine
from quickbooks.objects.detailline import AccountBasedExpenseLine, AccountBasedExpenseLineDetail
from quickbooks.objects.employee import Employee
from quickbooks.objects.estimate import Estimate
from quickbooks.objects.journalentry import JournalEntry, JournalEntryLine, JournalEntryLineDetail
from quickbooks.objects.payment import Payment
from quickbooks.objects.paymentmethod import PaymentMethod
from quickbooks.objects.preferences import Preferences
from quickbooks.objects.purchase import Purchase
from quickbooks.objects.salesreceipt import SalesReceipt
from quickbooks.objects.taxagency import TaxAgency
from quickbooks.objects.taxrate import TaxRate
from quickbooks.objects.term import Term
from quickbooks.objects.timeactivity import TimeActivity
from quickbooks.objects.transfer import Transfer
from quickbooks.objects.vendor import Vendor
from quickbooks.objects.vendorcredit import VendorCredit

from .conftest import Sandbox, sdk_client

NEW_ENTITIES = [
    Purchase,
    SalesReceipt,
    BillPayment,
    JournalEntry,
    Deposit,
    Term,
    PaymentMethod,
    Estimate,
    VendorCredit,
    TaxRate,
    TaxAgency,
    Transfer,
    TimeActivity,
    Budget,
    CustomerType,
]


@pytest.fixture(autouse=True)
def _plain_http(monkeypatch: pytest.MonkeyPatch) -> None:
    # requests-oauthlib refuses http:// unless told the transport is trusted (loopback here).
    monkeypatch.setenv("OAUTHLIB_INSECURE_TRANSPORT", "1")


def _ref(value: str) -> Ref:
    ref = Ref()
    ref.value = value
    return ref


def _expense(amount: str, account: str = "8") -> AccountBasedExpenseLine:
    line = AccountBasedExpenseLine()
    line.Amount = Decimal(amount)
    line.AccountBasedExpenseLineDetail = AccountBasedExpenseLineDetail()
    line.AccountBasedExpenseLineDetail.AccountRef = _ref(account)
    return line


@pytest.mark.parametrize("cls", NEW_ENTITIES, ids=lambda c: c.qbo_object_name)
def test_the_sdk_reads_every_entity_of_a_demo_company(demo: Sandbox, cls: type) -> None:
    qb = sdk_client(demo)
    rows = cls.all(qb=qb)
    assert rows, cls.qbo_object_name
    one = cls.get(rows[0].Id, qb=qb)
    assert one.Id == rows[0].Id
    assert cls.count(qb=qb) == len(rows)


def test_the_sdk_reads_preferences_company_info_and_each_report(demo: Sandbox) -> None:
    qb = sdk_client(demo)
    prefs = Preferences.get(qb=qb)
    assert prefs.CurrencyPrefs.HomeCurrency.value == "USD"
    info = CompanyInfo.get(demo.realm, qb=qb)
    assert info.CompanyName == "Demo Workshop"
    for name in ("ProfitAndLoss", "BalanceSheet", "TrialBalance", "AgedReceivables"):
        report = qb.get_report(name, qs={"date_macro": "This Fiscal Year-to-date"} if name != "AgedReceivables" else {})
        assert report["Header"]["ReportName"] == name and report["Rows"]["Row"]
    tb = qb.get_report("TrialBalance")
    total = tb["Rows"]["Row"][-1]["Summary"]["ColData"]
    assert total[1]["value"] == total[2]["value"]


def test_the_sdk_cdc_covers_the_new_entities(demo: Sandbox) -> None:
    qb = sdk_client(demo)
    since = (datetime.now(UTC) - timedelta(hours=1)).isoformat(timespec="seconds")
    cdc = change_data_capture([BillPayment, Purchase, Deposit, JournalEntry], since, qb=qb)
    assert cdc.BillPayment and cdc.Purchase and cdc.Deposit and cdc.JournalEntry


def test_the_sdk_writes_the_newer_entities(ready: Sandbox) -> None:
    qb = sdk_client(ready)
    vendor = Vendor()
    vendor.DisplayName = "SDK Parts"
    vendor = vendor.save(qb=qb)
    bill = Bill()
    bill.VendorRef = vendor.to_ref()
    bill.Line = [_expense("120.00")]
    bill = bill.save(qb=qb)
    pay = BillPayment()
    pay.VendorRef = vendor.to_ref()
    pay.PayType = "Check"
    pay.CheckPayment = CheckPayment()
    pay.CheckPayment.BankAccountRef = _ref("3")
    pay.TotalAmt = Decimal("120.00")
    line = BillPaymentLine()
    line.Amount = Decimal("120.00")
    link = LinkedTxn()
    link.TxnId, link.TxnType = bill.Id, "Bill"
    line.LinkedTxn = [link]
    pay.Line = [line]
    pay = pay.save(qb=qb)
    assert Bill.get(bill.Id, qb=qb).Balance == Decimal("0")

    credit = VendorCredit()
    credit.VendorRef = vendor.to_ref()
    credit.Line = [_expense("15.00")]
    assert credit.save(qb=qb).Balance == Decimal("15.00")

    expense = Purchase()
    expense.PaymentType = "Cash"
    expense.AccountRef = _ref("3")
    expense.Line = [_expense("9.99")]
    assert expense.save(qb=qb).TotalAmt == Decimal("9.99")

    entry = JournalEntry()
    for posting, account in (("Debit", "8"), ("Credit", "3")):
        je_line = JournalEntryLine()
        je_line.Amount = Decimal("42.00")
        je_line.JournalEntryLineDetail = JournalEntryLineDetail()
        je_line.JournalEntryLineDetail.PostingType = posting
        je_line.JournalEntryLineDetail.AccountRef = _ref(account)
        entry.Line.append(je_line)
    assert entry.save(qb=qb).TotalAmt == Decimal("42.00")

    customer = Customer()
    customer.DisplayName = "SDK Buyer"
    customer = customer.save(qb=qb)
    received = Payment()
    received.CustomerRef = customer.to_ref()
    received.TotalAmt = Decimal("30.00")
    received = received.save(qb=qb)
    deposit = Deposit()
    deposit.DepositToAccountRef = _ref("3")
    dline = DepositLine()
    dline.Amount = Decimal("30.00")
    dlink = LinkedTxn()
    dlink.TxnId, dlink.TxnType, dlink.TxnLineId = received.Id, "Payment", "0"
    dline.LinkedTxn = [dlink]
    deposit.Line = [dline]
    assert deposit.save(qb=qb).TotalAmt == Decimal("30.00")

    move = Transfer()
    move.FromAccountRef, move.ToAccountRef, move.Amount = _ref("3"), _ref("10"), Decimal("5.00")
    assert move.save(qb=qb).Amount == Decimal("5.00")

    term = Term()
    term.Name, term.DueDays = "Net 10", 10
    assert term.save(qb=qb).Id
    method = PaymentMethod()
    method.Name, method.Type = "Crypto", "NON_CREDIT_CARD"
    assert method.save(qb=qb).Id
    agency = TaxAgency()
    agency.DisplayName = "SDK Tax Office"
    assert agency.save(qb=qb).Id

    employee = Employee()
    employee.GivenName, employee.FamilyName = "Ada", "Lovelace"
    employee = employee.save(qb=qb)
    time_entry = TimeActivity()
    time_entry.NameOf = "Employee"
    time_entry.EmployeeRef = employee.to_ref()
    time_entry.Hours, time_entry.Minutes = 1, 30
    assert time_entry.save(qb=qb).Hours == 1
    assert isinstance(qb, QuickBooks)
