"""python-quickbooks creates and reads vendors, purchase orders and bills (linked to their order) against the
sandbox, and meets QuickBooks' rules: a vendor's DisplayName is unique across customers, vendors and employees,
and a bill's line links the purchase order it bills, which closes."""

from __future__ import annotations

from decimal import Decimal

import pytest
from quickbooks.exceptions import QuickbooksException
from quickbooks.objects.base import LinkedTxn, Ref
from quickbooks.objects.bill import Bill
from quickbooks.objects.customer import Customer
from quickbooks.objects.detailline import AccountBasedExpenseLine, AccountBasedExpenseLineDetail
from quickbooks.objects.purchaseorder import PurchaseOrder
from quickbooks.objects.vendor import Vendor

from .conftest import Sandbox, sdk_client


@pytest.fixture(autouse=True)
def _plain_http(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("OAUTHLIB_INSECURE_TRANSPORT", "1")


def _ref(value: str) -> Ref:
    ref = Ref()
    ref.value = value
    return ref


def _line(amount: str, account: str, po: str | None = None) -> AccountBasedExpenseLine:
    line = AccountBasedExpenseLine()
    line.Amount = Decimal(amount)
    line.AccountBasedExpenseLineDetail = AccountBasedExpenseLineDetail()
    line.AccountBasedExpenseLineDetail.AccountRef = _ref(account)
    if po is not None:
        linked = LinkedTxn()
        linked.TxnId = po
        linked.TxnType = "PurchaseOrder"
        line.LinkedTxn = [linked]
    return line


def test_the_sdk_creates_and_reads_vendors_purchase_orders_and_bills(ready: Sandbox) -> None:
    qb = sdk_client(ready)
    expense = next(a["Id"] for a in ready.dump()["Account"] if a["AccountType"] == "Expense")
    vendor = Vendor()
    vendor.DisplayName = "SDK Parts Supply"
    vendor.save(qb=qb)
    assert vendor.Id and Vendor.get(vendor.Id, qb=qb).DisplayName == "SDK Parts Supply"
    assert [v.DisplayName for v in Vendor.filter(DisplayName="SDK Parts Supply", qb=qb)] == ["SDK Parts Supply"]

    # DisplayName is unique across customers, vendors and employees.
    customer = Customer()
    customer.DisplayName = "SDK Parts Supply"
    with pytest.raises(QuickbooksException) as refused:
        customer.save(qb=qb)
    assert "Duplicate Name Exists Error" in str(refused.value.message) and refused.value.error_code == 6240

    po = PurchaseOrder()
    po.VendorRef = vendor.to_ref()
    po.Line = [_line("120.00", expense), _line("30.00", expense)]
    po.save(qb=qb)
    read = PurchaseOrder.get(po.Id, qb=qb)
    assert read.TotalAmt == Decimal("150.00") and read.POStatus == "Open"

    bill = Bill()
    bill.VendorRef = vendor.to_ref()
    bill.Line = [_line("120.00", expense, po=po.Id), _line("30.00", expense, po=po.Id)]
    bill.save(qb=qb)
    got = Bill.get(bill.Id, qb=qb)
    assert got.TotalAmt == Decimal("150.00") and got.Balance == Decimal("150.00")
    assert {(lt.TxnId, lt.TxnType) for lt in got.LinkedTxn} == {(po.Id, "PurchaseOrder")}
    closed = PurchaseOrder.get(po.Id, qb=qb)
    assert closed.POStatus == "Closed" and [(lt.TxnId, lt.TxnType) for lt in closed.LinkedTxn] == [(bill.Id, "Bill")]
    assert [b.Id for b in Bill.filter(VendorRef=vendor.Id, qb=qb)] == [bill.Id]

    # A closed order can't be billed again.
    again = Bill()
    again.VendorRef = vendor.to_ref()
    again.Line = [_line("10.00", expense, po=po.Id)]
    with pytest.raises(QuickbooksException) as linked:
        again.save(qb=qb)
    assert linked.value.error_code == 620
