"""Xero business rules, with Xero's error texts, through the API and the as-user control routes."""

from __future__ import annotations

import ast
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import ledgersync.sandbox

from .conftest import Sandbox

LINE = {"Description": "Thing", "Quantity": 1, "UnitAmount": 100, "AccountCode": "200", "TaxType": "OUTPUT"}


def _errors(r: Any) -> list[str]:
    body = r.json()
    return [m["Message"] for el in body["Elements"] for m in el["ValidationErrors"]]


def _contact(xs: Sandbox, name: str = "Acme", **kw: Any) -> str:
    r = xs.api("PUT", "Contacts", {"Contacts": [{"Name": name, **kw}]})
    assert r.status_code == 200, r.text
    return str(r.json()["Contacts"][0]["ContactID"])


def _invoice(xs: Sandbox, cid: str, status: str = "AUTHORISED", **kw: Any) -> dict[str, Any]:
    r = xs.api(
        "PUT",
        "Invoices",
        {
            "Invoices": [
                {"Type": "ACCREC", "Contact": {"ContactID": cid}, "LineItems": [LINE], "Status": status, **kw}
            ]
        },
    )
    assert r.status_code == 200, r.text
    return dict(r.json()["Invoices"][0])


def _pay(xs: Sandbox, inv_id: str, amount: Any) -> Any:
    return xs.api(
        "PUT",
        "Payments",
        {"Payments": [{"Invoice": {"InvoiceID": inv_id}, "Account": {"Code": "090"}, "Amount": amount}]},
    )


def test_sandbox_never_imports_the_connector_side() -> None:
    root = Path(ledgersync.sandbox.__file__).parent
    banned = ("ledgersync.engine", "ledgersync.providers", "ledgersync.model", "ledgersync.store")
    files = list(root.rglob("*.py"))
    assert files
    for f in files:
        for node in ast.walk(ast.parse(f.read_text(), str(f))):
            names: list[str] = []
            if isinstance(node, ast.Import):
                names = [a.name for a in node.names]
            elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
                names = [node.module]
            for n in names:
                assert not any(n == b or n.startswith(b + ".") for b in banned), f"{f} imports {n}"


def test_contact_names_unique_among_active(ready: Sandbox) -> None:
    cid = _contact(ready, "Buzz Lightyear")
    r = ready.api("PUT", "Contacts", {"Contacts": [{"Name": "buzz lightyear"}]})
    assert r.status_code == 400
    assert _errors(r) == [
        "The contact name buzz lightyear is already assigned to another contact. "
        "The contact name must be unique across all active contacts."
    ]
    assert r.json()["ErrorNumber"] == 10 and r.json()["Type"] == "ValidationException"
    ready.as_user("POST", f"Contacts/{cid}", {"ContactStatus": "ARCHIVED"})
    assert ready.api("PUT", "Contacts", {"Contacts": [{"Name": "Buzz Lightyear"}]}).status_code == 200
    # The archived one cannot be restored while a same-named active contact exists.
    r = ready.api("POST", f"Contacts/{cid}", {"Contacts": [{"ContactStatus": "ACTIVE"}]})
    assert r.status_code == 400


def test_contact_must_be_identified(ready: Sandbox) -> None:
    r = ready.api("PUT", "Contacts", {"Contacts": [{"EmailAddress": "x@y.io"}]})
    assert _errors(r) == [
        "The Contact must contain at least 1 of the following elements to identify the "
        "contact: Name, ContactID, ContactNumber"
    ]


def test_summarized_batch_still_saves_valid_elements(ready: Sandbox) -> None:
    _contact(ready, "Dup")
    r = ready.api("PUT", "Contacts", {"Contacts": [{"Name": "Fresh"}, {"Name": "Dup"}]})
    assert r.status_code == 400 and len(r.json()["Elements"]) == 1
    names = [c["Name"] for c in ready.dump()["Contacts"]]
    assert "Fresh" in names  # Xero's documented danger


def test_summarize_false_reports_per_element(ready: Sandbox) -> None:
    _contact(ready, "Dup")
    r = ready.api(
        "PUT",
        "Contacts",
        {"Contacts": [{"Name": "Fresh"}, {"Name": "Dup"}]},
        params={"summarizeErrors": "false"},
    )
    assert r.status_code == 200
    ok, bad = r.json()["Contacts"]
    assert ok["StatusAttributeString"] == "OK" and ok["ContactID"]
    assert bad["StatusAttributeString"] == "ERROR" and bad["HasValidationErrors"] is True
    assert bad["ValidationErrors"][0]["Message"].startswith("The contact name Dup is already")


def test_archived_contact_gets_no_new_invoices(ready: Sandbox) -> None:
    cid = _contact(ready)
    ready.as_user("POST", f"Contacts/{cid}", {"ContactStatus": "ARCHIVED"})
    r = ready.api(
        "PUT",
        "Invoices",
        {"Invoices": [{"Type": "ACCREC", "Contact": {"ContactID": cid}, "LineItems": [LINE]}]},
    )
    assert _errors(r) == [
        "The contact with the specified contact details has been archived. "
        "The contact must be un-archived before creating new invoices or credit notes."
    ]
    r = ready.api(
        "PUT",
        "CreditNotes",
        {"CreditNotes": [{"Type": "ACCRECCREDIT", "Contact": {"ContactID": cid}, "LineItems": [LINE]}]},
    )
    assert r.status_code == 400


def test_invoice_totals_numbers_and_tax_modes(ready: Sandbox) -> None:
    cid = _contact(ready)
    a = _invoice(ready, cid)
    assert (a["InvoiceNumber"], a["SubTotal"], a["TotalTax"], a["Total"], a["AmountDue"]) == (
        "INV-0001",
        100.0,
        10.0,
        110.0,
        110.0,
    )
    b = _invoice(ready, cid, LineAmountTypes="Inclusive")
    assert (b["InvoiceNumber"], b["SubTotal"], b["TotalTax"], b["Total"]) == ("INV-0002", 90.91, 9.09, 100.0)
    c = _invoice(ready, cid, LineAmountTypes="NoTax")
    assert (c["TotalTax"], c["Total"]) == (0.0, 100.0)
    r = ready.api(
        "PUT",
        "Invoices",
        {
            "Invoices": [
                {
                    "Type": "ACCREC",
                    "Contact": {"ContactID": cid},
                    "InvoiceNumber": "INV-0001",
                    "LineItems": [LINE],
                }
            ]
        },
    )
    assert _errors(r) == ["Invoice # must be unique."]
    # Money is exact decimal on the wire; dates are MS JSON dates, and only the fields the Invoice schema has
    # (xero_accounting.yaml has no DateString on invoices).
    raw = ready.api("GET", f"Invoices/{a['InvoiceID']}").text
    assert '"Total":110.00' in raw and '"Date":"/Date(' in raw and '"DateString"' not in raw


def test_line_items_replaced_wholesale_and_updated_date_bumps(ready: Sandbox) -> None:
    cid = _contact(ready)
    inv = _invoice(ready, cid, status="DRAFT", LineItems=[LINE, {**LINE, "Description": "Two"}])
    assert len(inv["LineItems"]) == 2
    time.sleep(0.01)
    r = ready.api(
        "POST", f"Invoices/{inv['InvoiceID']}", {"Invoices": [{"LineItems": [{**LINE, "UnitAmount": 7}]}]}
    )
    out = r.json()["Invoices"][0]
    assert len(out["LineItems"]) == 1 and out["Total"] == 7.7
    assert out["UpdatedDateUTC"] != inv["UpdatedDateUTC"]


def test_payment_rules_and_status_transitions(ready: Sandbox) -> None:
    cid = _contact(ready)
    draft = _invoice(ready, cid, status="DRAFT")
    assert _errors(_pay(ready, draft["InvoiceID"], 10)) == [
        "Payments can only be made against Authorised documents"
    ]
    inv = _invoice(ready, cid)
    assert _errors(_pay(ready, inv["InvoiceID"], "110.01")) == [
        "Payment amount exceeds the amount outstanding on this document"
    ]
    p1 = _pay(ready, inv["InvoiceID"], "10.10").json()["Payments"][0]
    # Part-paid: no voiding, no financial edits.
    r = ready.api("POST", f"Invoices/{inv['InvoiceID']}", {"Status": "VOIDED"})
    assert r.status_code == 400
    _pay(ready, inv["InvoiceID"], "99.90")
    paid = ready.api("GET", f"Invoices/{inv['InvoiceID']}").json()["Invoices"][0]
    assert paid["Status"] == "PAID" and paid["AmountDue"] == 0 and paid["AmountPaid"] == 110.0
    r = ready.api("POST", f"Invoices/{inv['InvoiceID']}", {"Reference": "late edit"})
    assert _errors(r) == ["Invoice not of valid status for modification"]
    r = ready.api("POST", f"Payments/{p1['PaymentID']}", {"Status": "DELETED"})
    assert r.status_code == 200 and r.json()["Payments"][0]["Status"] == "DELETED"
    back = ready.api("GET", f"Invoices/{inv['InvoiceID']}").json()["Invoices"][0]
    assert back["Status"] == "AUTHORISED" and back["AmountDue"] == 10.1


def test_delete_draft_void_authorised(ready: Sandbox) -> None:
    cid = _contact(ready)
    d = _invoice(ready, cid, status="DRAFT")
    r = ready.api("POST", f"Invoices/{d['InvoiceID']}", {"Status": "DELETED"})
    assert r.json()["Invoices"][0]["Status"] == "DELETED"
    a = _invoice(ready, cid)
    assert _errors(ready.api("POST", f"Invoices/{a['InvoiceID']}", {"Status": "DELETED"})) == [
        "Invoice not of valid status for modification"
    ]
    r = ready.as_user("POST", f"Invoices/{a['InvoiceID']}", {"Status": "VOIDED"})
    assert r.json()["Invoices"][0]["Status"] == "VOIDED"
    assert ready.api("POST", f"Invoices/{a['InvoiceID']}", {"Reference": "x"}).status_code == 400


def test_overpayment_via_bank_transaction_and_allocation(ready: Sandbox) -> None:
    cid = _contact(ready)
    inv = _invoice(ready, cid)
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
                    "LineItems": [{"Description": "Overpaid", "LineAmount": 150}],
                }
            ]
        },
    )
    ov_id = bt.json()["BankTransactions"][0]["OverpaymentID"]
    ov = ready.api("GET", f"Overpayments/{ov_id}").json()["Overpayments"][0]
    assert ov["RemainingCredit"] == 150.0 and ov["Status"] == "AUTHORISED"
    r = ready.api(
        "PUT",
        f"Overpayments/{ov_id}/Allocations",
        {"Allocations": [{"Invoice": {"InvoiceID": inv["InvoiceID"]}, "Amount": 110, "Date": "2024-01-01"}]},
    )
    assert r.status_code == 200, r.text
    ov = ready.api("GET", f"Overpayments/{ov_id}").json()["Overpayments"][0]
    assert ov["RemainingCredit"] == 40.0
    got = ready.api("GET", f"Invoices/{inv['InvoiceID']}").json()["Invoices"][0]
    assert got["Status"] == "PAID" and got["AmountCredited"] == 110.0


def test_item_code_rules(ready: Sandbox) -> None:
    assert ready.api("PUT", "Items", {"Items": [{"Code": "abc", "Name": "A"}]}).status_code == 200
    assert _errors(ready.api("PUT", "Items", {"Items": [{"Code": "abc"}]})) == [
        "Price List Item with Code ''abc'' already exists"
    ]
    assert ready.api("PUT", "Items", {"Items": [{"Code": "x" * 31}]}).status_code == 400
    assert ready.api("PUT", "Items", {"Items": [{"Name": "no code"}]}).status_code == 400


def test_where_order_filters_and_if_modified_since(ready: Sandbox) -> None:
    ids = [_contact(ready, f"C{i}", ContactNumber=f"N{i}", EmailAddress=f"c{i}@x.io") for i in range(4)]
    q = 'Name=="C1" OR ContactNumber=="N2" OR EmailAddress=="c3@x.io"'
    names = {c["Name"] for c in ready.api("GET", "Contacts", params={"where": q}).json()["Contacts"]}
    assert names == {"C1", "C2", "C3"}
    r = ready.api("GET", "Contacts", params={"where": 'Name=="C1" AND ContactStatus=="ACTIVE"'})
    assert [c["Name"] for c in r.json()["Contacts"]] == ["C1"]
    r = ready.api("GET", "Contacts", params={"order": "Name DESC"})
    assert [c["Name"] for c in r.json()["Contacts"]] == ["C3", "C2", "C1", "C0"]
    r = ready.api("GET", "Contacts", params={"IDs": ",".join(ids[:2])})
    assert len(r.json()["Contacts"]) == 2
    ready.as_user("POST", f"Contacts/{ids[0]}", {"ContactStatus": "ARCHIVED"})
    assert len(ready.api("GET", "Contacts").json()["Contacts"]) == 3
    assert len(ready.api("GET", "Contacts", params={"includeArchived": "true"}).json()["Contacts"]) == 4
    assert ready.api("GET", "Contacts", params={"where": 'Name=="x" AND'}).status_code == 400
    # If-Modified-Since: second precision; records modified after the given second are returned.
    time.sleep(1.05)
    cut = datetime.now(tz=UTC).strftime("%Y-%m-%dT%H:%M:%S")
    time.sleep(1.05)
    ready.api("POST", f"Contacts/{ids[2]}", {"Contacts": [{"FirstName": "Changed"}]})
    r = ready.api(
        "GET", "Contacts", headers={"If-Modified-Since": cut}, params={"order": "UpdatedDateUTC ASC"}
    )
    assert [c["ContactID"] for c in r.json()["Contacts"]] == [ids[2]]


def test_invoice_filters(ready: Sandbox) -> None:
    cid = _contact(ready)
    other = _contact(ready, "Other")
    a = _invoice(ready, cid, Reference="REF-1")
    _invoice(ready, other, status="DRAFT")
    r = ready.api("GET", "Invoices", params={"where": 'Reference=="REF-1"'})
    assert [i["InvoiceID"] for i in r.json()["Invoices"]] == [a["InvoiceID"]]
    assert len(ready.api("GET", "Invoices", params={"Statuses": "DRAFT"}).json()["Invoices"]) == 1
    assert len(ready.api("GET", "Invoices", params={"ContactIDs": other}).json()["Invoices"]) == 1
    assert len(ready.api("GET", "Invoices", params={"InvoiceNumbers": "INV-0001"}).json()["Invoices"]) == 1
    r = ready.api("GET", "Invoices", params={"where": 'Status=="AUTHORISED" AND Type=="ACCREC"'})
    assert len(r.json()["Invoices"]) == 1


def test_invoice_with_unknown_contact_name_creates_it(ready: Sandbox) -> None:
    r = ready.api(
        "PUT",
        "Invoices",
        {"Invoices": [{"Type": "ACCREC", "Contact": {"Name": "Walk-in"}, "LineItems": [LINE]}]},
    )
    assert r.status_code == 200
    assert [c["Name"] for c in ready.dump()["Contacts"]] == ["Walk-in"]


def test_seeded_demo_data(ready: Sandbox) -> None:
    accounts = {a["Code"]: a for a in ready.api("GET", "Accounts").json()["Accounts"]}
    assert accounts["090"]["Type"] == "BANK" and accounts["200"]["Name"] == "Sales"
    assert accounts["400"]["Name"] == "Advertising"
    taxes = {t["TaxType"]: t for t in ready.api("GET", "TaxRates").json()["TaxRates"]}
    assert {"OUTPUT", "INPUT", "NONE", "EXEMPTOUTPUT"} <= set(taxes) and taxes["OUTPUT"][
        "EffectiveRate"
    ] == 10
    assert ready.api("GET", "TrackingCategories").json()["TrackingCategories"][0]["Name"] == "Region"


def test_dump_includes_everything(ready: Sandbox) -> None:
    cid = _contact(ready)
    ready.as_user("POST", f"Contacts/{cid}", {"ContactStatus": "ARCHIVED"})
    d = _invoice(ready, _contact(ready, "B"), status="DRAFT")
    ready.as_user("POST", f"Invoices/{d['InvoiceID']}", {"Status": "DELETED"})
    dump = ready.dump()
    assert {c["ContactStatus"] for c in dump["Contacts"]} == {"ARCHIVED", "ACTIVE"}
    assert dump["Invoices"][0]["Status"] == "DELETED"
    assert not any(k.startswith("_") for k in dump["Invoices"][0])
