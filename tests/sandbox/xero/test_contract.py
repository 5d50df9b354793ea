"""Every operation the sandbox serves answers with a body valid against xero_accounting.yaml."""

from __future__ import annotations

from typing import Any

import pytest

from .conftest import Sandbox, contracts_dir
from .spec import check, spec


def test_every_served_operation_matches_the_spec(ready: Sandbox) -> None:
    contracts_dir()
    seen: list[str] = []

    def call(
        method: str,
        spec_path: str,
        real: str,
        json_body: Any = None,
        status: int = 200,
        spec_status: str | None = None,
        params: Any = None,
    ) -> dict[str, Any]:
        r = ready.api(method, real, json_body, params=params)
        assert r.status_code == status, (method, real, r.text)
        check(spec_path, method, spec_status or str(status), r.content)
        seen.append(f"{method} {spec_path} {status}")
        return dict(r.json())

    c = call(
        "PUT",
        "/Contacts",
        "Contacts",
        {"Contacts": [{"Name": "Spec Co", "EmailAddress": "a@b.co", "ContactNumber": "EXT-1"}]},
    )
    cid = c["Contacts"][0]["ContactID"]
    call("POST", "/Contacts", "Contacts", {"Contacts": [{"ContactID": cid, "FirstName": "Ann"}]})
    call("POST", "/Contacts/{ContactID}", f"Contacts/{cid}", {"Contacts": [{"LastName": "Lee"}]})
    call("GET", "/Contacts", "Contacts", params={"page": 1, "where": 'ContactStatus=="ACTIVE"'})
    call("GET", "/Contacts/{ContactID}", f"Contacts/{cid}")
    call("PUT", "/Contacts", "Contacts", {"Contacts": [{"Name": "Spec Co"}]}, status=400, spec_status="400")
    call(
        "PUT",
        "/Contacts",
        "Contacts",
        {"Contacts": [{"Name": "Spec Co"}]},
        params={"summarizeErrors": "false"},
    )

    call(
        "PUT",
        "/Items",
        "Items",
        {
            "Items": [
                {"Code": "W1", "Name": "Widget", "SalesDetails": {"UnitPrice": 12.5, "AccountCode": "200"}}
            ]
        },
    )
    items = call("POST", "/Items", "Items", {"Items": [{"Code": "W1", "Description": "A widget"}]})
    iid = items["Items"][0]["ItemID"]
    call("GET", "/Items", "Items")
    call("GET", "/Items/{ItemID}", f"Items/{iid}")
    call("POST", "/Items/{ItemID}", f"Items/{iid}", {"Items": [{"Code": "W1", "Name": "Widget 2"}]})

    inv = call(
        "PUT",
        "/Invoices",
        "Invoices",
        {
            "Invoices": [
                {
                    "Type": "ACCREC",
                    "Contact": {"ContactID": cid},
                    "Date": "2024-03-01",
                    "DueDate": "2024-03-31",
                    "Status": "AUTHORISED",
                    "LineItems": [
                        {
                            "ItemCode": "W1",
                            "Quantity": 3,
                            "AccountCode": "200",
                            "Tracking": [{"Name": "Region", "Option": "North"}],
                        }
                    ],
                }
            ]
        },
    )
    inv_id = inv["Invoices"][0]["InvoiceID"]
    call("POST", "/Invoices", "Invoices", {"Invoices": [{"InvoiceID": inv_id, "Reference": "R1"}]})
    call("POST", "/Invoices/{InvoiceID}", f"Invoices/{inv_id}", {"Invoices": [{"Reference": "R2"}]})
    call("GET", "/Invoices", "Invoices", params={"page": 1, "Statuses": "AUTHORISED"})
    call("GET", "/Invoices/{InvoiceID}", f"Invoices/{inv_id}")

    pay = call(
        "PUT",
        "/Payments",
        "Payments",
        {"Payments": [{"Invoice": {"InvoiceID": inv_id}, "Account": {"Code": "090"}, "Amount": 5}]},
    )
    pid = pay["Payments"][0]["PaymentID"]
    call(
        "POST",
        "/Payments",
        "Payments",
        {"Invoice": {"InvoiceID": inv_id}, "Account": {"Code": "090"}, "Amount": 1},
    )
    call("GET", "/Payments", "Payments", params={"page": 1})
    call("GET", "/Payments/{PaymentID}", f"Payments/{pid}")
    call("POST", "/Payments/{PaymentID}", f"Payments/{pid}", {"Status": "DELETED"})

    cn = call(
        "PUT",
        "/CreditNotes",
        "CreditNotes",
        {
            "CreditNotes": [
                {
                    "Type": "ACCRECCREDIT",
                    "Contact": {"ContactID": cid},
                    "Status": "AUTHORISED",
                    "LineItems": [
                        {"Description": "refund", "Quantity": 1, "UnitAmount": 2, "AccountCode": "200"}
                    ],
                }
            ]
        },
    )
    cn_id = cn["CreditNotes"][0]["CreditNoteID"]
    call("POST", "/CreditNotes", "CreditNotes", {"CreditNotes": [{"CreditNoteID": cn_id, "Reference": "x"}]})
    call("GET", "/CreditNotes", "CreditNotes", params={"page": 1})
    call("GET", "/CreditNotes/{CreditNoteID}", f"CreditNotes/{cn_id}")
    call(
        "PUT",
        "/CreditNotes/{CreditNoteID}/Allocations",
        f"CreditNotes/{cn_id}/Allocations",
        {"Allocations": [{"Invoice": {"InvoiceID": inv_id}, "Amount": 1, "Date": "2024-03-05"}]},
    )

    bt = call(
        "PUT",
        "/BankTransactions",
        "BankTransactions",
        {
            "BankTransactions": [
                {
                    "Type": "RECEIVE-OVERPAYMENT",
                    "Contact": {"ContactID": cid},
                    "BankAccount": {"Code": "090"},
                    "LineAmountTypes": "NoTax",
                    "LineItems": [{"Description": "Overpaid", "LineAmount": 20}],
                }
            ]
        },
    )
    call("GET", "/BankTransactions", "BankTransactions", params={"page": 1})
    call(
        "GET",
        "/BankTransactions/{BankTransactionID}",
        f"BankTransactions/{bt['BankTransactions'][0]['BankTransactionID']}",
    )
    ov_id = bt["BankTransactions"][0]["OverpaymentID"]
    call("GET", "/Overpayments", "Overpayments", params={"page": 1})
    call("GET", "/Overpayments/{OverpaymentID}", f"Overpayments/{ov_id}")
    call(
        "PUT",
        "/Overpayments/{OverpaymentID}/Allocations",
        f"Overpayments/{ov_id}/Allocations",
        {"Allocations": [{"Invoice": {"InvoiceID": inv_id}, "Amount": 3, "Date": "2024-03-06"}]},
    )

    po = call(
        "PUT",
        "/PurchaseOrders",
        "PurchaseOrders",
        {
            "PurchaseOrders": [
                {
                    "Contact": {"ContactID": cid},
                    "LineItems": [
                        {"Description": "Stock", "Quantity": 1, "UnitAmount": 9, "AccountCode": "300"}
                    ],
                }
            ]
        },
    )
    po_id = po["PurchaseOrders"][0]["PurchaseOrderID"]
    call(
        "POST",
        "/PurchaseOrders",
        "PurchaseOrders",
        {"PurchaseOrders": [{"PurchaseOrderID": po_id, "Status": "SUBMITTED"}]},
    )
    call(
        "POST",
        "/PurchaseOrders/{PurchaseOrderID}",
        f"PurchaseOrders/{po_id}",
        {"PurchaseOrders": [{"Status": "AUTHORISED"}]},
    )
    call("GET", "/PurchaseOrders", "PurchaseOrders", params={"page": 1})
    call("GET", "/PurchaseOrders/{PurchaseOrderID}", f"PurchaseOrders/{po_id}")

    acc = call("PUT", "/Accounts", "Accounts", {"Code": "499", "Name": "Spec Expenses", "Type": "EXPENSE"})
    acc_id = acc["Accounts"][0]["AccountID"]
    call("GET", "/Accounts", "Accounts", params={"where": 'Type=="BANK"'})
    call("GET", "/Accounts/{AccountID}", f"Accounts/{acc_id}")
    call("POST", "/Accounts/{AccountID}", f"Accounts/{acc_id}", {"Accounts": [{"Description": "spec"}]})

    call("GET", "/TaxRates", "TaxRates")
    call(
        "PUT",
        "/TaxRates",
        "TaxRates",
        {
            "TaxRates": [
                {
                    "Name": "Spec Tax",
                    "TaxComponents": [
                        {"Name": "S", "Rate": 5, "IsCompound": False, "IsNonRecoverable": False}
                    ],
                }
            ]
        },
    )
    call("POST", "/TaxRates", "TaxRates", {"TaxRates": [{"Name": "Spec Tax", "Status": "ACTIVE"}]})

    tc = call("PUT", "/TrackingCategories", "TrackingCategories", {"Name": "Department"})
    tc_id = tc["TrackingCategories"][0]["TrackingCategoryID"]
    call("GET", "/TrackingCategories", "TrackingCategories")
    call("GET", "/TrackingCategories/{TrackingCategoryID}", f"TrackingCategories/{tc_id}")
    call("POST", "/TrackingCategories/{TrackingCategoryID}", f"TrackingCategories/{tc_id}", {"Name": "Dept"})
    assert len(seen) >= 45


@pytest.mark.parametrize("path", ["/Contacts", "/Invoices", "/Payments", "/Items"])
def test_spec_declares_the_operations_we_serve(path: str) -> None:
    ops = spec()["paths"][path]
    assert {"get", "put"} <= set(ops)


def test_the_checker_rejects_a_wrong_body() -> None:
    contracts_dir()
    with pytest.raises(AssertionError):
        check("/Contacts", "GET", "200", b'{"Contacts": [{"Name": 5, "ContactStatus": "NOPE"}]}')


def test_the_checker_rejects_a_field_the_schema_does_not_have() -> None:
    contracts_dir()
    body = b'{"CreditNotes": [{"CreditNoteID": "x", "AmountDue": 5}]}'
    with pytest.raises(AssertionError, match="AmountDue"):
        check("/CreditNotes", "GET", "200", body)
