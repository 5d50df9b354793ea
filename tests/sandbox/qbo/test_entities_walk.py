"""Every entity the QBO sandbox serves, through every operation it allows, answers with the XSD's fields only."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from ledgersync.sandbox.qbo.state import NOT_IN_CDC, OPERATIONS

from .conftest import Sandbox, contracts_dir
from .xsd import errors_in

Body = Callable[[dict[str, str]], dict[str, Any]]


def _sale(amount: float) -> dict[str, Any]:
    return {"Amount": amount, "DetailType": "SalesItemLineDetail", "SalesItemLineDetail": {"ItemRef": {"value": "1"}}}


def _spend(amount: float, account: str = "8") -> dict[str, Any]:
    return {
        "Amount": amount,
        "DetailType": "AccountBasedExpenseLineDetail",
        "AccountBasedExpenseLineDetail": {"AccountRef": {"value": account}},
    }


def _je(posting: str, account: str, amount: float) -> dict[str, Any]:
    return {
        "Amount": amount,
        "DetailType": "JournalEntryLineDetail",
        "JournalEntryLineDetail": {"PostingType": posting, "AccountRef": {"value": account}},
    }


# A create body per entity, given the ids made so far (created in this order).
CREATE: dict[str, Body] = {
    "Customer": lambda ids: {"DisplayName": "Walk Customer", "PrimaryEmailAddr": {"Address": "walk@example.com"}},
    "Vendor": lambda ids: {"DisplayName": "Walk Vendor"},
    "Employee": lambda ids: {"GivenName": "Walk", "FamilyName": "Employee"},
    "Item": lambda ids: {"Name": "Walk Item", "Type": "Service", "UnitPrice": 10, "IncomeAccountRef": {"value": "6"}},
    "Class": lambda ids: {"Name": "Walk Class"},
    "Department": lambda ids: {"Name": "Walk Department"},
    "Account": lambda ids: {"Name": "Walk Expenses", "AccountType": "Expense"},
    "Term": lambda ids: {"Name": "Net 45", "DueDays": 45},
    "PaymentMethod": lambda ids: {"Name": "Walk Card", "Type": "CREDIT_CARD"},
    "TaxAgency": lambda ids: {"DisplayName": "Walk Tax Agency"},
    "Invoice": lambda ids: {"CustomerRef": {"value": ids["Customer"]}, "Line": [_sale(100)]},
    "CreditMemo": lambda ids: {"CustomerRef": {"value": ids["Customer"]}, "Line": [_sale(20)]},
    "Payment": lambda ids: {
        "CustomerRef": {"value": ids["Customer"]},
        "TotalAmt": 100,
        "Line": [
            {"Amount": 100, "LinkedTxn": [{"TxnId": ids["Invoice"], "TxnType": "Invoice"}]},
            {"Amount": 20, "LinkedTxn": [{"TxnId": ids["CreditMemo"], "TxnType": "CreditMemo"}]},
        ],
    },
    "SalesReceipt": lambda ids: {"CustomerRef": {"value": ids["Customer"]}, "Line": [_sale(30)]},
    "RefundReceipt": lambda ids: {"CustomerRef": {"value": ids["Customer"]}, "Line": [_sale(5)]},
    "Estimate": lambda ids: {"CustomerRef": {"value": ids["Customer"]}, "Line": [_sale(500)]},
    "Deposit": lambda ids: {
        "DepositToAccountRef": {"value": "3"},
        "Line": [
            {"Amount": 100, "LinkedTxn": [{"TxnId": ids["Payment"], "TxnType": "Payment", "TxnLineId": "0"}]},
            {"Amount": 15, "DetailType": "DepositLineDetail", "DepositLineDetail": {"AccountRef": {"value": "5"}}},
        ],
    },
    "Bill": lambda ids: {"VendorRef": {"value": ids["Vendor"]}, "Line": [_spend(80)]},
    "VendorCredit": lambda ids: {"VendorRef": {"value": ids["Vendor"]}, "Line": [_spend(10)]},
    "BillPayment": lambda ids: {
        "VendorRef": {"value": ids["Vendor"]},
        "PayType": "Check",
        "CheckPayment": {"BankAccountRef": {"value": "3"}},
        "TotalAmt": 70,
        "Line": [
            {"Amount": 80, "LinkedTxn": [{"TxnId": ids["Bill"], "TxnType": "Bill"}]},
            {"Amount": 10, "LinkedTxn": [{"TxnId": ids["VendorCredit"], "TxnType": "VendorCredit"}]},
        ],
    },
    "PurchaseOrder": lambda ids: {"VendorRef": {"value": ids["Vendor"]}, "Line": [_spend(40, "7")]},
    "Purchase": lambda ids: {
        "PaymentType": "CreditCard",
        "AccountRef": {"value": "9"},
        "EntityRef": {"value": ids["Vendor"], "type": "Vendor"},
        "Line": [_spend(12.5)],
    },
    "JournalEntry": lambda ids: {"Line": [_je("Debit", "8", 50), _je("Credit", "3", 50)]},
    "Transfer": lambda ids: {"FromAccountRef": {"value": "3"}, "ToAccountRef": {"value": "10"}, "Amount": 25},
    "TimeActivity": lambda ids: {
        "NameOf": "Employee",
        "EmployeeRef": {"value": ids["Employee"]},
        "CustomerRef": {"value": ids["Customer"]},
        "Hours": 2,
        "Minutes": 15,
        "BillableStatus": "Billable",
        "HourlyRate": 80,
    },
}
LIST_UPDATE = {"Customer": "Notes", "Vendor": "Notes", "Employee": "Notes"}


def _check(entity: str, obj: dict[str, Any]) -> None:
    problems = errors_in(entity, obj)
    assert not problems, problems


def test_every_entity_and_operation_answers_with_the_xsd_fields_only(demo: Sandbox) -> None:
    contracts_dir()
    since = (datetime.now(UTC) - timedelta(minutes=5)).isoformat(timespec="seconds")
    done: set[tuple[str, str]] = set()
    ids: dict[str, str] = {}
    for entity, body in CREATE.items():
        assert "create" in OPERATIONS[entity], entity
        obj = demo.ok("POST", entity.lower(), body(ids))[entity]
        _check(entity, obj)
        ids[entity] = str(obj["Id"])
        done.add((entity, "create"))
    for entity, ops in OPERATIONS.items():
        if entity not in ids:
            rows = demo.query(f"SELECT * FROM {entity}")[entity]
            ids[entity] = str(rows[0]["Id"])
        obj = demo.ok("GET", f"{entity.lower()}/{ids[entity]}")[entity]
        _check(entity, obj)
        done.add((entity, "read"))
        rows = demo.query(f"select * from {entity.lower()} where Id = '{ids[entity]}'")[entity]
        assert [r["Id"] for r in rows] == [ids[entity]]
        for r in rows:
            _check(entity, r)
        done.add((entity, "query"))
        if "update" in ops:
            # Transactions take a note, people a Notes field, other lists a new name, time a description.
            field = LIST_UPDATE.get(entity) or ("PrivateNote" if "delete" in ops else "Name")
            if entity == "TimeActivity":
                field = "Description"
            value = f"{obj.get('Name')} (walked)" if field == "Name" else "walked"
            change = {"Id": obj["Id"], "SyncToken": obj["SyncToken"], "sparse": True, field: value}
            updated = demo.ok("POST", entity.lower(), change)[entity]
            assert updated[field] == value and updated["SyncToken"] == str(int(obj["SyncToken"]) + 1)
            _check(entity, updated)
            done.add((entity, "update"))
    names = ",".join(e for e, ops in OPERATIONS.items() if "cdc" in ops)
    cdc = demo.ok("GET", "cdc", params={"entities": names, "changedSince": since})["CDCResponse"][0]["QueryResponse"]
    seen = {e for block in cdc for e in block if e in OPERATIONS}
    assert {e for e in CREATE if "cdc" in OPERATIONS[e]} <= seen <= {e for e, ops in OPERATIONS.items() if "cdc" in ops}
    for block in cdc:
        for entity, objs in block.items():
            if entity in OPERATIONS:
                for o in objs:
                    _check(entity, o)
                done.add((entity, "cdc"))
    for entity in sorted(NOT_IN_CDC & set(OPERATIONS)):
        err = demo.fault("GET", "cdc", params={"entities": entity, "changedSince": since})
        assert "Unsupported entity for cdc" in err["Detail"]
    for entity in ("Payment", "SalesReceipt", "BillPayment", "Invoice"):
        current = demo.ok("GET", f"{entity.lower()}/{ids[entity]}")[entity]
        ref = {"Id": current["Id"], "SyncToken": current["SyncToken"]}
        if entity == "Payment":
            # A deposited payment leaves its deposit first (deleting the deposit frees it).
            dep = demo.ok("GET", f"deposit/{ids['Deposit']}")["Deposit"]
            demo.ok("POST", "deposit", {"Id": dep["Id"], "SyncToken": dep["SyncToken"]}, params={"operation": "delete"})
            done.add(("Deposit", "delete"))
        params = {"operation": "void"} if entity == "Invoice" else {"operation": "update", "include": "void"}
        voided = demo.ok("POST", entity.lower(), {**ref, "sparse": True}, params=params)[entity]
        assert voided["TotalAmt"] == 0
        _check(entity, voided)
        done.add((entity, "void"))
    order = [
        "BillPayment",
        "TimeActivity",
        "Transfer",
        "JournalEntry",
        "Purchase",
        "PurchaseOrder",
        "Estimate",
        "RefundReceipt",
        "SalesReceipt",
        "Payment",
        "CreditMemo",
        "Invoice",
        "Bill",
        "VendorCredit",
    ]
    for entity in order:
        current = demo.ok("GET", f"{entity.lower()}/{ids[entity]}")[entity]
        ref = {"Id": current["Id"], "SyncToken": current["SyncToken"]}
        gone = demo.ok("POST", entity.lower(), ref, params={"operation": "delete"})
        assert gone[entity]["status"] == "Deleted"
        _check(entity, gone[entity])
        done.add((entity, "delete"))
    wanted = {(e, op) for e, ops in OPERATIONS.items() for op in ops}
    assert wanted - done == set()


def test_preferences_and_companyinfo_answer_as_quickbooks_does(demo: Sandbox) -> None:
    contracts_dir()
    prefs = demo.ok("GET", "preferences")["Preferences"]
    _check("Preferences", prefs)
    assert prefs["CurrencyPrefs"]["HomeCurrency"]["value"] == "USD"
    info = demo.ok("GET", f"companyinfo/{demo.realm}")["CompanyInfo"]
    _check("CompanyInfo", info)
    assert info["CompanyName"] == "Demo Workshop" and info["Id"] == demo.realm
    assert demo.query("select * from companyinfo")["CompanyInfo"][0]["Id"] == demo.realm


@pytest.mark.parametrize("report", ["ProfitAndLoss", "BalanceSheet", "TrialBalance", "AgedReceivables"])
def test_each_report_has_the_report_xsd_shape(demo: Sandbox, report: str) -> None:
    contracts_dir()
    body = demo.ok("GET", f"reports/{report}")
    _check("Report", body)
    assert body["Header"]["ReportName"] == report and body["Rows"]["Row"]
