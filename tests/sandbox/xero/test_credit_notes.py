"""Xero credit notes: allocations to invoices and refunds (payments on the credit note) together, with the
balances on both documents following, and Xero's error texts where a rule refuses."""

from __future__ import annotations

from typing import Any

from .conftest import Sandbox

LINE = {"Description": "Thing", "Quantity": 1, "UnitAmount": 100, "AccountCode": "200", "TaxType": "NONE"}


def _contact(xs: Sandbox) -> str:
    r = xs.api("PUT", "Contacts", {"Contacts": [{"Name": "Credit Co"}]})
    assert r.status_code == 200, r.text
    return str(r.json()["Contacts"][0]["ContactID"])


def _doc(xs: Sandbox, coll: str, typ: str, cid: str, amount: int, **kw: Any) -> dict[str, Any]:
    line = {**LINE, "UnitAmount": amount}
    body = {coll: [{"Type": typ, "Contact": {"ContactID": cid}, "LineItems": [line], "Status": "AUTHORISED", **kw}]}
    r = xs.api("PUT", coll, body)
    assert r.status_code == 200, r.text
    return dict(r.json()[coll][0])


def _get(xs: Sandbox, coll: str, rid: str) -> dict[str, Any]:
    return dict(xs.api("GET", f"{coll}/{rid}").json()[coll][0])


def _allocate(xs: Sandbox, note_id: str, inv_id: str, amount: Any) -> Any:
    body = {"Allocations": [{"Invoice": {"InvoiceID": inv_id}, "Amount": amount, "Date": "2024-03-01"}]}
    return xs.api("PUT", f"CreditNotes/{note_id}/Allocations", body)


def _refund(xs: Sandbox, note_id: str, amount: Any) -> Any:
    body = {"Payments": [{"CreditNote": {"CreditNoteID": note_id}, "Account": {"Code": "090"}, "Amount": amount}]}
    return xs.api("PUT", "Payments", body)


def _messages(r: Any) -> list[str]:
    return [m["Message"] for el in r.json()["Elements"] for m in el["ValidationErrors"]]


def test_an_allocation_and_a_refund_share_the_credit_and_both_documents_follow(ready: Sandbox) -> None:
    cid = _contact(ready)
    inv = _doc(ready, "Invoices", "ACCREC", cid, 100)
    note = _doc(ready, "CreditNotes", "ACCRECCREDIT", cid, 50)
    r = _allocate(ready, note["CreditNoteID"], inv["InvoiceID"], 30)
    assert r.status_code == 200, r.text
    got = _get(ready, "Invoices", inv["InvoiceID"])
    assert got["AmountCredited"] == 30 and got["AmountDue"] == 70 and got["Status"] == "AUTHORISED"
    assert [(c["CreditNoteID"], c["AppliedAmount"]) for c in got["CreditNotes"]] == [(note["CreditNoteID"], 30)]
    cn = _get(ready, "CreditNotes", note["CreditNoteID"])
    assert cn["RemainingCredit"] == 20 and [a["Amount"] for a in cn["Allocations"]] == [30]
    # A refund of the rest: a payment on the credit note, from a bank account; the allocation stays counted.
    pay = _refund(ready, note["CreditNoteID"], 20)
    assert pay.status_code == 200, pay.text
    refund = pay.json()["Payments"][0]
    assert refund["PaymentType"] == "ARCREDITPAYMENT"
    assert refund["CreditNote"]["CreditNoteID"] == note["CreditNoteID"]
    cn = _get(ready, "CreditNotes", note["CreditNoteID"])
    assert cn["RemainingCredit"] == 0 and cn["Status"] == "PAID"
    assert [a["Amount"] for a in cn["Allocations"]] == [30] and [p["Amount"] for p in cn["Payments"]] == [20]
    # More refund than credit left is refused with Xero's text.
    assert _messages(_refund(ready, note["CreditNoteID"], 1)) == [
        "Payments can only be made against Authorised documents"
    ]
    # Deleting the refund frees its part again.
    r = ready.api("POST", f"Payments/{refund['PaymentID']}", {"Payments": [{"Status": "DELETED"}]})
    assert r.status_code == 200, r.text
    cn = _get(ready, "CreditNotes", note["CreditNoteID"])
    assert cn["RemainingCredit"] == 20 and cn["Status"] == "AUTHORISED"
    assert _messages(_refund(ready, note["CreditNoteID"], 25)) == [
        "Payment amount exceeds the amount outstanding on this document"
    ]


def test_an_allocation_beyond_the_credit_or_across_currencies_is_refused(ready: Sandbox) -> None:
    cid = _contact(ready)
    inv = _doc(ready, "Invoices", "ACCREC", cid, 100)
    note = _doc(ready, "CreditNotes", "ACCRECCREDIT", cid, 40)
    r = _allocate(ready, note["CreditNoteID"], inv["InvoiceID"], 41)
    assert _messages(r) == ["The amount allocated must be less than or equal to the remaining credit."]
    small = _doc(ready, "Invoices", "ACCREC", cid, 10)
    assert _messages(_allocate(ready, note["CreditNoteID"], small["InvoiceID"], 15)) == [
        "Payment amount exceeds the amount outstanding on this document"
    ]
    draft = _doc(ready, "CreditNotes", "ACCRECCREDIT", cid, 40, Status="DRAFT")
    assert _messages(_allocate(ready, draft["CreditNoteID"], inv["InvoiceID"], 5)) == [
        "Invoice not of valid status for modification"
    ]
    # Nothing was applied by the refusals.
    assert _get(ready, "Invoices", inv["InvoiceID"])["AmountDue"] == 100
    assert _get(ready, "CreditNotes", note["CreditNoteID"])["RemainingCredit"] == 40


def test_an_allocated_credit_note_is_locked_until_its_allocation_is_deleted(ready: Sandbox) -> None:
    cid = _contact(ready)
    inv = _doc(ready, "Invoices", "ACCREC", cid, 100)
    note = _doc(ready, "CreditNotes", "ACCRECCREDIT", cid, 100)
    alloc = _allocate(ready, note["CreditNoteID"], inv["InvoiceID"], 100).json()["Allocations"][0]
    assert _get(ready, "Invoices", inv["InvoiceID"])["Status"] == "PAID"
    assert _get(ready, "CreditNotes", note["CreditNoteID"])["Status"] == "PAID"
    voided = ready.api("POST", f"CreditNotes/{note['CreditNoteID']}", {"CreditNotes": [{"Status": "VOIDED"}]})
    assert _messages(voided) == ["Invoice not of valid status for modification"]
    r = ready.api("DELETE", f"CreditNotes/{note['CreditNoteID']}/Allocations/{alloc['AllocationID']}")
    assert r.status_code == 200 and r.json()["IsDeleted"] is True
    got = _get(ready, "Invoices", inv["InvoiceID"])
    assert got["Status"] == "AUTHORISED" and got["AmountDue"] == 100 and got["CreditNotes"] == []
    cn = _get(ready, "CreditNotes", note["CreditNoteID"])
    assert cn["Status"] == "AUTHORISED" and cn["RemainingCredit"] == 100 and cn["Allocations"] == []
    voided = ready.api("POST", f"CreditNotes/{note['CreditNoteID']}", {"CreditNotes": [{"Status": "VOIDED"}]})
    assert voided.status_code == 200 and voided.json()["CreditNotes"][0]["Status"] == "VOIDED"


def test_customer_credit_of_an_overpayment_is_refunded_by_a_payment_on_it(ready: Sandbox) -> None:
    cid = _contact(ready)
    bt = ready.api(
        "PUT",
        "BankTransactions",
        {
            "BankTransactions": [
                {
                    "Type": "RECEIVE-OVERPAYMENT",
                    "Contact": {"ContactID": cid},
                    "BankAccount": {"Code": "090"},
                    "LineAmountTypes": "NoTax",
                    "LineItems": [{"Description": "Overpaid", "LineAmount": 30}],
                }
            ]
        },
    )
    ov_id = bt.json()["BankTransactions"][0]["OverpaymentID"]
    body = {"Payments": [{"Overpayment": {"OverpaymentID": ov_id}, "Account": {"Code": "090"}, "Amount": 30}]}
    r = ready.api("PUT", "Payments", body)
    assert r.status_code == 200, r.text
    pay = r.json()["Payments"][0]
    assert pay["PaymentType"] == "AROVERPAYMENTPAYMENT" and pay["Overpayment"]["OverpaymentID"] == ov_id
    ov = _get(ready, "Overpayments", ov_id)
    assert ov["RemainingCredit"] == 0 and ov["Status"] == "PAID" and [p["Amount"] for p in ov["Payments"]] == [30]
    assert _messages(ready.api("PUT", "Payments", body)) == ["Payments can only be made against Authorised documents"]
    ready.api("POST", f"Payments/{pay['PaymentID']}", {"Payments": [{"Status": "DELETED"}]})
    ov = _get(ready, "Overpayments", ov_id)
    assert ov["RemainingCredit"] == 30 and ov["Status"] == "AUTHORISED" and ov["Payments"] == []
    # The refund moved the money back out of the bank: its journal credits the bank and debits receivables.
    journals = ready.api("GET", "Journals").json()["Journals"]
    refund = [j for j in journals if j.get("SourceType") == "AROVERPAYMENTPAYMENT"]
    assert refund, [j.get("SourceType") for j in journals]
    lines = {ln["AccountCode"]: ln["NetAmount"] for ln in refund[0]["JournalLines"]}
    assert lines["090"] == -30 and lines["610"] == 30
