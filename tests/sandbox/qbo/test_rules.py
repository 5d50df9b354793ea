"""Business rules with Intuit's fault codes and texts; plus the no-import boundary."""

from __future__ import annotations

import ast
from pathlib import Path

import ledgersync.sandbox.qbo

from .conftest import Sandbox

STALE = (
    "Stale Object Error : You and Sandbox Accountant were working on this at the same time. "
    "Sandbox Accountant finished before you did, so your work was not saved."
)
DUP = (
    "The name supplied already exists. : Another customer, vendor or employee is already using this name. "
    "Please use a different name."
)
INACTIVE = (
    "Something you're trying to use has been made inactive. "
    "Check the fields with accounts, customers, items, vendors or employees."
)


def test_qbo_sandbox_never_imports_the_connector_side() -> None:
    root = Path(ledgersync.sandbox.qbo.__file__).parent
    banned = ("ledgersync.engine", "ledgersync.providers", "ledgersync.model", "ledgersync.store")
    files = list(root.rglob("*.py"))
    assert len(files) > 5
    for f in files:
        for node in ast.walk(ast.parse(f.read_text(), str(f))):
            names: list[str] = []
            if isinstance(node, ast.Import):
                names = [a.name for a in node.names]
            elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
                names = [node.module]
            for n in names:
                assert not any(n == b or n.startswith(b + ".") for b in banned), f"{f} imports {n}"


def test_synctoken_optimistic_concurrency(ready: Sandbox) -> None:
    c = ready.customer("Stale Co")
    # someone else (a QuickBooks user) edits it first
    r = ready.as_user("POST", "customer", {"Id": c["Id"], "SyncToken": "0", "sparse": True, "Notes": "user edit"})
    assert r.status_code == 200 and r.json()["Customer"]["SyncToken"] == "1"
    err = ready.fault("POST", "customer", {"Id": c["Id"], "SyncToken": "0", "sparse": True, "Notes": "mine"})
    assert err["code"] == "5010" and err["Message"] == "Stale Object Error"
    assert err["Detail"].startswith("Stale Object Error : You and ")
    err = ready.as_user("POST", "customer", {"Id": c["Id"], "SyncToken": "0", "sparse": True}).json()
    assert err["Fault"]["Error"][0]["Detail"] == STALE
    ok = ready.ok("POST", "customer", {"Id": c["Id"], "SyncToken": "1", "sparse": True, "Notes": "mine"})
    assert ok["Customer"]["SyncToken"] == "2" and ok["Customer"]["Notes"] == "mine"
    assert ready.fault("POST", "customer", {"Id": c["Id"], "DisplayName": "x"})["code"] == "2020"


def test_display_name_unique_across_people_incl_inactive(ready: Sandbox) -> None:
    c = ready.customer("Jane Doe")
    for entity in ("customer", "vendor", "employee"):
        err = ready.fault("POST", entity, {"DisplayName": "jane doe"})
        assert (err["code"], err["Message"], err["Detail"]) == ("6240", "Duplicate Name Exists Error", DUP)
    ready.ok("POST", "customer", {"Id": c["Id"], "SyncToken": "0", "sparse": True, "Active": False})
    assert ready.fault("POST", "vendor", {"DisplayName": "Jane Doe"})["code"] == "6240"
    v = ready.ok("POST", "vendor", {"DisplayName": "Jane Supplies"})["Vendor"]
    e = ready.ok("POST", "employee", {"GivenName": "Jim", "FamilyName": "Halpert"})["Employee"]
    assert e["DisplayName"] == "Jim Halpert"
    err = ready.fault(
        "POST", "customer", {"Id": c["Id"], "SyncToken": "1", "sparse": True, "DisplayName": v["DisplayName"]}
    )
    assert err["code"] == "6240"


def test_display_name_may_not_contain_colon(ready: Sandbox) -> None:
    err = ready.fault("POST", "customer", {"DisplayName": "Rob:Barnett:Company"})
    assert err["code"] == "2040" and err["element"] == "DisplayName"
    assert err["Message"] == "Invalid String. The String may contain unsupported or illegal chars"
    assert err["Detail"] == "Element contains invalid characters. Rob:Barnett:Company"


def test_object_not_found_and_invalid_reference(ready: Sandbox) -> None:
    err = ready.fault("GET", "invoice/424242")
    assert (err["code"], err["Message"], err["Detail"]) == ("610", "Object Not Found", f"Object Not Found : {INACTIVE}")
    err = ready.fault("POST", "invoice", {"CustomerRef": {"value": "999"}, "Line": []})
    assert err["code"] == "2500" and err["element"] == "CustomerRef"
    c = ready.customer("Gone Ltd")
    ready.ok("POST", "customer", {"Id": c["Id"], "SyncToken": "0", "sparse": True, "Active": False})
    err = ready.fault("POST", "invoice", {"CustomerRef": {"value": c["Id"]}, "Line": []})
    assert err["code"] == "610" and err["element"] == "CustomerRef"
    cls = ready.ok("POST", "class", {"Name": "Retail"})["Class"]
    ready.ok("POST", "class", {**cls, "Active": False})
    live = ready.customer("Live Ltd")
    err = ready.fault("POST", "invoice", {"CustomerRef": {"value": live["Id"]}, "ClassRef": {"value": cls["Id"]}})
    assert err["code"] == "610" and err["element"] == "ClassRef"


def test_duplicate_docnumber_follows_company_preference(ready: Sandbox) -> None:
    c = ready.customer("Doc Co")
    ready.invoice(c["Id"], "10.00", DocNumber="INV-1")
    err = ready.fault("POST", "invoice", {"CustomerRef": {"value": c["Id"]}, "DocNumber": "inv-1"})
    assert err["code"] == "6140" and err["Message"] == "Duplicate Document Number Error"
    assert err["Detail"].startswith("Duplicate Document Number Error : You must specify a different number.")
    ok = ready.ok(
        "POST",
        "invoice",
        {"CustomerRef": {"value": c["Id"]}, "DocNumber": "INV-1"},
        params={"include": "allowduplicatedocnum"},
    )
    assert ok["Invoice"]["DocNumber"] == "INV-1"
    ready.control("PUT", f"/tenants/{ready.realm}/preferences", {"warn_duplicate_docnumber": False})
    ready.invoice(c["Id"], "10.00", DocNumber="INV-1")
    auto = ready.invoice(c["Id"], "1.00")
    assert auto["DocNumber"] == "1001"


def test_invoice_totals_and_discount(ready: Sandbox) -> None:
    c = ready.customer("Calc Co")
    body = {
        "CustomerRef": {"value": c["Id"]},
        "Line": [
            {
                "DetailType": "SalesItemLineDetail",
                "SalesItemLineDetail": {"ItemRef": {"value": "1"}, "Qty": 3, "UnitPrice": 0.1},
            },
            {"Amount": 10.005, "DetailType": "SalesItemLineDetail", "SalesItemLineDetail": {"ItemRef": {"value": "1"}}},
            {"DetailType": "DiscountLineDetail", "DiscountLineDetail": {"PercentBased": True, "DiscountPercent": 10}},
        ],
    }
    inv = ready.ok("POST", "invoice", body)["Invoice"]
    amounts = [ln["Amount"] for ln in inv["Line"]]
    assert amounts == [0.3, 10.01, 1.03, 10.31]  # sales, sales, discount (10% of 10.31), subtotal
    assert inv["Line"][-1]["DetailType"] == "SubTotalLineDetail"
    assert inv["TotalAmt"] == 9.28 and inv["Balance"] == 9.28
    # client-sent TotalAmt/Balance are ignored: the server recomputes
    upd = ready.ok("POST", "invoice", {**inv, "TotalAmt": 1, "Balance": 1, "sparse": True})["Invoice"]
    assert upd["TotalAmt"] == 9.28 and upd["SyncToken"] == "1"


def test_payment_to_invoices_and_credit_memo(ready: Sandbox) -> None:
    c = ready.customer("Payer Co")
    i1 = ready.invoice(c["Id"], "70.00")
    i2 = ready.invoice(c["Id"], "30.00")
    cm = ready.ok(
        "POST",
        "creditmemo",
        {
            "CustomerRef": {"value": c["Id"]},
            "Line": [{"Amount": 20, "DetailType": "SalesItemLineDetail", "SalesItemLineDetail": {}}],
        },
    )["CreditMemo"]
    assert cm["RemainingCredit"] == 20
    pay = ready.ok(
        "POST",
        "payment",
        {
            "CustomerRef": {"value": c["Id"]},
            "TotalAmt": 65,
            "Line": [
                {"Amount": 55, "LinkedTxn": [{"TxnId": i1["Id"], "TxnType": "Invoice"}]},
                {"Amount": 20, "LinkedTxn": [{"TxnId": i2["Id"], "TxnType": "Invoice"}]},
                {"Amount": 20, "LinkedTxn": [{"TxnId": cm["Id"], "TxnType": "CreditMemo"}]},
            ],
        },
    )["Payment"]
    assert pay["UnappliedAmt"] == 10  # 65 - (55 + 20 - 20): excess is customer credit, not an error
    inv1 = ready.ok("GET", f"invoice/{i1['Id']}")["Invoice"]
    assert inv1["Balance"] == 15 and inv1["SyncToken"] == "1"
    assert inv1["LinkedTxn"] == [{"TxnId": pay["Id"], "TxnType": "Payment"}]
    assert ready.ok("GET", f"creditmemo/{cm['Id']}")["CreditMemo"]["RemainingCredit"] == 0
    assert ready.ok("GET", f"customer/{c['Id']}")["Customer"]["Balance"] == 15 + 10 - 10
    # a line may not exceed the invoice's open balance
    err = ready.fault(
        "POST",
        "payment",
        {
            "CustomerRef": {"value": c["Id"]},
            "TotalAmt": 100,
            "Line": [{"Amount": 16, "LinkedTxn": [{"TxnId": i1["Id"], "TxnType": "Invoice"}]}],
        },
    )
    assert err["code"] == "6000" and "exceeds its open balance (15.00)" in err["Detail"]
    # updating the payment re-applies it: lines all-or-nothing
    upd = ready.ok(
        "POST",
        "payment",
        {
            "Id": pay["Id"],
            "SyncToken": pay["SyncToken"],
            "sparse": True,
            "Line": [{"Amount": 60, "LinkedTxn": [{"TxnId": i1["Id"], "TxnType": "Invoice"}]}],
        },
    )["Payment"]
    assert upd["UnappliedAmt"] == 5 and len(upd["Line"]) == 1
    assert ready.ok("GET", f"invoice/{i2['Id']}")["Invoice"]["Balance"] == 30
    assert ready.ok("GET", f"creditmemo/{cm['Id']}")["CreditMemo"]["RemainingCredit"] == 20
    # deleting the invoice turns the applied amount into unapplied credit
    inv1 = ready.ok("GET", f"invoice/{i1['Id']}")["Invoice"]
    gone = ready.ok(
        "POST", "invoice", {"Id": inv1["Id"], "SyncToken": inv1["SyncToken"]}, params={"operation": "delete"}
    )
    assert gone["Invoice"] == {"status": "Deleted", "domain": "QBO", "Id": inv1["Id"]}
    assert ready.ok("GET", f"payment/{pay['Id']}")["Payment"]["UnappliedAmt"] == 65


def test_void_invoice_and_payment(ready: Sandbox) -> None:
    c = ready.customer("Void Co")
    inv = ready.invoice(c["Id"], "40.00")
    pay = ready.ok(
        "POST",
        "payment",
        {
            "CustomerRef": {"value": c["Id"]},
            "TotalAmt": 40,
            "Line": [{"Amount": 40, "LinkedTxn": [{"TxnId": inv["Id"], "TxnType": "Invoice"}]}],
        },
    )["Payment"]
    voided = ready.ok(
        "POST",
        "payment",
        {"Id": pay["Id"], "SyncToken": pay["SyncToken"], "sparse": True},
        params={"operation": "update", "include": "void"},
    )["Payment"]
    assert voided["TotalAmt"] == 0 and voided["PrivateNote"] == "Voided"
    inv = ready.ok("GET", f"invoice/{inv['Id']}")["Invoice"]
    assert inv["Balance"] == 40
    v = ready.ok("POST", "invoice", {"Id": inv["Id"], "SyncToken": inv["SyncToken"]}, params={"operation": "void"})[
        "Invoice"
    ]
    assert v["TotalAmt"] == 0 and v["Balance"] == 0 and v["PrivateNote"] == "Voided"


def test_list_entities_are_made_inactive_not_deleted(ready: Sandbox) -> None:
    c = ready.customer("Keep Co")
    err = ready.fault("POST", "customer", {"Id": c["Id"], "SyncToken": "0"}, params={"operation": "delete"})
    assert err["code"] == "500" and err["Message"] == "Unsupported Operation"
    off = ready.ok("POST", "customer", {"Id": c["Id"], "SyncToken": "0", "sparse": True, "Active": False})["Customer"]
    assert off["Active"] is False and ready.ok("GET", f"customer/{c['Id']}")["Customer"]["Active"] is False


def test_sub_customers(ready: Sandbox) -> None:
    parent = ready.customer("Parent Co")
    job = ready.customer("Job 1", ParentRef={"value": parent["Id"]})
    assert (job["Job"], job["Level"], job["FullyQualifiedName"]) == (True, 1, "Parent Co:Job 1")
    sub = ready.customer("Phase A", ParentRef={"value": job["Id"]}, BillWithParent=True)
    assert sub["Level"] == 2 and sub["FullyQualifiedName"] == "Parent Co:Job 1:Phase A"
    ready.invoice(sub["Id"], "5.00")
    assert ready.ok("GET", f"customer/{parent['Id']}")["Customer"]["BalanceWithJobs"] == 5
    ready.ok("POST", "customer", {"Id": parent["Id"], "SyncToken": "0", "sparse": True, "DisplayName": "Parent Inc"})
    got = ready.ok("GET", f"customer/{sub['Id']}")["Customer"]
    assert got["FullyQualifiedName"] == "Parent Inc:Job 1:Phase A"


def test_class_and_department_refs(ready: Sandbox) -> None:
    cls = ready.ok("POST", "class", {"Name": "Retail"})["Class"]
    sub = ready.ok("POST", "class", {"Name": "Online", "ParentRef": {"value": cls["Id"]}})["Class"]
    assert sub["FullyQualifiedName"] == "Retail:Online" and sub["SubClass"] is True
    dep = ready.ok("POST", "department", {"Name": "Sydney"})["Department"]
    c = ready.customer("Ref Co")
    inv = ready.invoice(c["Id"], "12.00", ClassRef={"value": sub["Id"]}, DepartmentRef={"value": dep["Id"]})
    assert inv["ClassRef"] == {"value": sub["Id"], "name": "Retail:Online"}
    assert inv["DepartmentRef"] == {"value": dep["Id"], "name": "Sydney"}
    assert ready.fault("POST", "department", {"Name": "sydney"})["code"] == "6240"


def test_full_update_clears_omitted_fields_sparse_keeps_them(ready: Sandbox) -> None:
    c = ready.customer("Full Co", Notes="keep me", CompanyName="Full Pty")
    sp = ready.ok("POST", "customer", {"Id": c["Id"], "SyncToken": "0", "sparse": True, "GivenName": "Ann"})["Customer"]
    assert sp["Notes"] == "keep me" and sp["GivenName"] == "Ann"
    full = ready.ok("POST", "customer", {"Id": c["Id"], "SyncToken": "1", "DisplayName": "Full Co"})["Customer"]
    assert "Notes" not in full and "GivenName" not in full


def test_other_transactions(ready: Sandbox) -> None:
    v = ready.ok("POST", "vendor", {"DisplayName": "Paper Supplier"})["Vendor"]
    line = {
        "Amount": 12.5,
        "DetailType": "AccountBasedExpenseLineDetail",
        "AccountBasedExpenseLineDetail": {"AccountRef": {"value": "8"}},
    }
    bill = ready.ok("POST", "bill", {"VendorRef": {"value": v["Id"]}, "Line": [line], "DocNumber": "B1"})["Bill"]
    assert bill["TotalAmt"] == 12.5 and bill["Balance"] == 12.5
    po = ready.ok("POST", "purchaseorder", {"VendorRef": {"value": v["Id"]}, "Line": [line]})["PurchaseOrder"]
    assert po["POStatus"] == "Open"
    c = ready.customer("Refund Co")
    rr = ready.ok(
        "POST",
        "refundreceipt",
        {
            "CustomerRef": {"value": c["Id"]},
            "Line": [{"Amount": 3, "DetailType": "SalesItemLineDetail", "SalesItemLineDetail": {}}],
        },
    )["RefundReceipt"]
    assert rr["TotalAmt"] == 3
    item = ready.ok("POST", "item", {"Name": "Widget", "Type": "NonInventory", "UnitPrice": 4})["Item"]
    assert item["IncomeAccountRef"]["value"] == "6"
    assert ready.fault("POST", "item", {"Name": "widget"})["code"] == "6240"
    acct = ready.ok("POST", "account", {"Name": "Petty Cash", "AccountType": "Bank"})["Account"]
    assert acct["Classification"] == "Asset"
    assert ready.ok("GET", "taxcode/TAX")["TaxCode"]["Taxable"] is True
    assert ready.fault("POST", "taxcode", {"Name": "X"})["code"] == "500"
