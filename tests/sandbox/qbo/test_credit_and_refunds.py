"""QuickBooks Online credit memos applied through a payment of 0, and refund receipts: the invoices' Balance,
the credit memo's RemainingCredit and LinkedTxn, the customer's balance and the ledger follow."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

import pytest

from .conftest import Sandbox


def _credit_memo(qs: Sandbox, customer: str, amount: int) -> dict[str, Any]:
    body = {
        "CustomerRef": {"value": customer},
        "Line": [
            {"Amount": amount, "DetailType": "SalesItemLineDetail", "SalesItemLineDetail": {"ItemRef": {"value": "1"}}}
        ],
    }
    return dict(qs.ok("POST", "creditmemo", body)["CreditMemo"])


def _apply(qs: Sandbox, customer: str, credit_id: str, pairs: list[tuple[str, int]]) -> dict[str, Any]:
    lines = [{"Amount": a, "LinkedTxn": [{"TxnId": i, "TxnType": "Invoice"}]} for i, a in pairs]
    lines.append({"Amount": sum(a for _, a in pairs), "LinkedTxn": [{"TxnId": credit_id, "TxnType": "CreditMemo"}]})
    body = {"CustomerRef": {"value": customer}, "TotalAmt": 0, "Line": lines}
    return dict(qs.ok("POST", "payment", body)["Payment"])


def _postings(qs: Sandbox, entity: str, rid: str) -> list[tuple[str, Decimal]]:
    rows = qs.control("GET", f"/tenants/{qs.realm}/ledger").json()["postings"]
    return sorted(
        (str(p["account"]), Decimal(str(p["amount"]))) for p in rows if p["entity"] == entity and p["id"] == rid
    )


def test_a_credit_memo_applied_by_a_payment_of_nothing(ready: Sandbox) -> None:
    c = ready.customer("Credit Co")
    i1 = ready.invoice(c["Id"], "100.00")
    i2 = ready.invoice(c["Id"], "40.00")
    cm = _credit_memo(ready, c["Id"], 60)
    pay = _apply(ready, c["Id"], cm["Id"], [(i1["Id"], 30), (i2["Id"], 30)])
    assert pay["TotalAmt"] == 0 and pay["UnappliedAmt"] == 0
    assert ready.ok("GET", f"invoice/{i1['Id']}")["Invoice"]["Balance"] == 70
    assert ready.ok("GET", f"invoice/{i2['Id']}")["Invoice"]["Balance"] == 10
    got = ready.ok("GET", f"creditmemo/{cm['Id']}")["CreditMemo"]
    assert got["RemainingCredit"] == 0 and got["LinkedTxn"] == [{"TxnId": pay["Id"], "TxnType": "Payment"}]
    # Applying credit moves nothing in the ledger: the customer owes 140 - 60.
    assert ready.ok("GET", f"customer/{c['Id']}")["Customer"]["Balance"] == 80
    # More credit than the memo holds is refused; the memo can't be deleted while applied.
    err = ready.fault(
        "POST",
        "payment",
        {
            "CustomerRef": {"value": c["Id"]},
            "TotalAmt": 0,
            "Line": [
                {"Amount": 5, "LinkedTxn": [{"TxnId": i1["Id"], "TxnType": "Invoice"}]},
                {"Amount": 5, "LinkedTxn": [{"TxnId": cm["Id"], "TxnType": "CreditMemo"}]},
            ],
        },
    )
    assert err["code"] == "6000" and "exceeds its remaining credit (0.00)" in err["Detail"]
    err = ready.fault("POST", "creditmemo", {"Id": cm["Id"], "SyncToken": got["SyncToken"]}, {"operation": "delete"})
    assert "applied to a payment" in err["Detail"]
    # Changing the application (a full update of the payment) and deleting it reopen the invoices.
    pay = dict(
        ready.ok(
            "POST",
            "payment",
            {
                "Id": pay["Id"],
                "SyncToken": pay["SyncToken"],
                "CustomerRef": {"value": c["Id"]},
                "TotalAmt": 0,
                "Line": [
                    {"Amount": 20, "LinkedTxn": [{"TxnId": i1["Id"], "TxnType": "Invoice"}]},
                    {"Amount": 20, "LinkedTxn": [{"TxnId": cm["Id"], "TxnType": "CreditMemo"}]},
                ],
            },
        )["Payment"]
    )
    assert ready.ok("GET", f"invoice/{i1['Id']}")["Invoice"]["Balance"] == 80
    assert ready.ok("GET", f"invoice/{i2['Id']}")["Invoice"]["Balance"] == 40
    assert ready.ok("GET", f"creditmemo/{cm['Id']}")["CreditMemo"]["RemainingCredit"] == 40
    ready.ok("POST", "payment", {"Id": pay["Id"], "SyncToken": pay["SyncToken"]}, {"operation": "delete"})
    assert ready.ok("GET", f"invoice/{i1['Id']}")["Invoice"]["Balance"] == 100
    got = ready.ok("GET", f"creditmemo/{cm['Id']}")["CreditMemo"]
    assert got["RemainingCredit"] == 60 and not got.get("LinkedTxn")


def test_a_refund_receipt_pays_money_out_and_leaves_the_customer_balance(ready: Sandbox) -> None:
    c = ready.customer("Refund Co")
    ready.invoice(c["Id"], "100.00")
    body = {
        "CustomerRef": {"value": c["Id"]},
        "Line": [
            {"Amount": 25, "DetailType": "SalesItemLineDetail", "SalesItemLineDetail": {"ItemRef": {"value": "1"}}}
        ],
    }
    refund = ready.ok("POST", "refundreceipt", body)["RefundReceipt"]
    assert refund["TotalAmt"] == 25 and refund["Balance"] == 0
    assert refund["DepositToAccountRef"]["value"] == "3"  # money goes out of the bank account
    assert ready.ok("GET", f"customer/{c['Id']}")["Customer"]["Balance"] == 100
    postings = _postings(ready, "RefundReceipt", refund["Id"])
    assert sum(a for _, a in postings) == 0 and ("3", Decimal("-25")) in postings
    # A refund receipt names no credit memo (Intuit's XSD: a SalesTransaction without one), and can be deleted.
    assert "CreditMemoRef" not in refund
    ready.ok("POST", "refundreceipt", {"Id": refund["Id"], "SyncToken": refund["SyncToken"]}, {"operation": "delete"})
    assert ready.query(f"SELECT * FROM RefundReceipt WHERE Id = '{refund['Id']}'").get("RefundReceipt") is None


def test_python_quickbooks_writes_a_refund_receipt_and_a_credit_application(
    ready: Sandbox, monkeypatch: pytest.MonkeyPatch
) -> None:
    from quickbooks.objects.base import LinkedTxn
    from quickbooks.objects.creditmemo import CreditMemo
    from quickbooks.objects.detailline import SalesItemLine, SalesItemLineDetail
    from quickbooks.objects.invoice import Invoice
    from quickbooks.objects.payment import Payment, PaymentLine
    from quickbooks.objects.refundreceipt import RefundReceipt

    from .conftest import sdk_client

    monkeypatch.setenv("OAUTHLIB_INSECURE_TRANSPORT", "1")
    qb = sdk_client(ready)
    c = ready.customer("SDK Refunds")

    def sale(amount: str) -> SalesItemLine:
        line = SalesItemLine()
        line.Amount = Decimal(amount)
        line.SalesItemLineDetail = SalesItemLineDetail()
        line.SalesItemLineDetail.ItemRef = {"value": "1"}  # type: ignore[assignment]
        return line

    invoice = Invoice()
    invoice.CustomerRef = {"value": c["Id"]}  # type: ignore[assignment]
    invoice.Line = [sale("90.00")]
    invoice = invoice.save(qb=qb)
    memo = CreditMemo()
    memo.CustomerRef = {"value": c["Id"]}  # type: ignore[assignment]
    memo.Line = [sale("40.00")]
    memo = memo.save(qb=qb)
    pay = Payment()
    pay.CustomerRef = {"value": c["Id"]}  # type: ignore[assignment]
    pay.TotalAmt = Decimal("0")
    for txn_id, txn_type in ((invoice.Id, "Invoice"), (memo.Id, "CreditMemo")):
        line = PaymentLine()
        line.Amount = Decimal("40.00")
        link = LinkedTxn()
        link.TxnId, link.TxnType = txn_id, txn_type
        line.LinkedTxn = [link]
        pay.Line.append(line)
    pay.save(qb=qb)
    assert Invoice.get(invoice.Id, qb=qb).Balance == Decimal("50.00")
    assert CreditMemo.get(memo.Id, qb=qb).RemainingCredit == Decimal("0")
    refund = RefundReceipt()
    refund.CustomerRef = {"value": c["Id"]}  # type: ignore[assignment]
    refund.DepositToAccountRef = {"value": "3"}  # type: ignore[assignment]
    refund.Line = [sale("12.50")]
    refund = refund.save(qb=qb)
    assert RefundReceipt.get(refund.Id, qb=qb).TotalAmt == Decimal("12.50")
