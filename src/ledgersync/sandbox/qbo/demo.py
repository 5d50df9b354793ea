"""A small, realistic company for `--tenant` realms: one of every kind of record the sandbox serves."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any

from . import entities as E
from .util import money

if TYPE_CHECKING:
    from .state import Company, QboSandbox


def seed_demo(sb: QboSandbox, c: Company) -> None:
    """Created through the same rules as API writes, so balances, links and reports are consistent."""
    ctx = E.Ctx(sb, c, user="Sandbox Accountant")
    today = datetime.fromtimestamp(sb.now(), tz=sb.tz()).date()

    def day(n: int) -> str:
        return (today - timedelta(days=n)).isoformat()

    def make(entity: str, body: dict[str, Any]) -> dict[str, Any]:
        return E.save(ctx, entity, body, f"/v3/company/{c.id}/{entity.lower()}")

    def ref(rec: dict[str, Any]) -> dict[str, str]:
        return {"value": str(rec["Id"])}

    def sale(amount: float, item: dict[str, Any]) -> dict[str, Any]:
        return {"Amount": amount, "DetailType": "SalesItemLineDetail", "SalesItemLineDetail": {"ItemRef": ref(item)}}

    def spend(amount: float, account: str) -> dict[str, Any]:
        return {
            "Amount": amount,
            "DetailType": "AccountBasedExpenseLineDetail",
            "AccountBasedExpenseLineDetail": {"AccountRef": {"value": account}},
        }

    customers = [
        make("Customer", {"DisplayName": name, "PrimaryEmailAddr": {"Address": email}, "CompanyName": name})
        for name, email in (
            ("Harbour Couriers", "accounts@harbourcouriers.example"),
            ("Greenfield Plumbing", "office@greenfieldplumbing.example"),
            ("Bayside Taxis", "fleet@baysidetaxis.example"),
        )
    ]
    make("Customer", {"DisplayName": "Van 12", "ParentRef": ref(customers[2]), "Job": True})
    parts = make(
        "Vendor", {"DisplayName": "Auto Parts Wholesale", "PrimaryEmailAddr": {"Address": "sales@parts.example"}}
    )
    landlord = make("Vendor", {"DisplayName": "City Property Rentals"})
    mechanic = make("Employee", {"GivenName": "Sam", "FamilyName": "Okafor"})
    service = make(
        "Item", {"Name": "Standard service", "Type": "Service", "UnitPrice": 180, "IncomeAccountRef": {"value": "6"}}
    )
    brakes = make(
        "Item",
        {
            "Name": "Brake pads (set)",
            "Type": "NonInventory",
            "UnitPrice": 95,
            "IncomeAccountRef": {"value": "5"},
            "ExpenseAccountRef": {"value": "7"},
        },
    )
    make("Class", {"Name": "Workshop"})
    make("Department", {"Name": "Main St"})

    paid = make(
        "Invoice",
        {"CustomerRef": ref(customers[0]), "TxnDate": day(40), "Line": [sale(180, service), sale(190, brakes)]},
    )
    part = make("Invoice", {"CustomerRef": ref(customers[1]), "TxnDate": day(20), "Line": [sale(180, service)]})
    old = make(
        "Invoice",
        {"CustomerRef": ref(customers[2]), "TxnDate": day(75), "DueDate": day(45), "Line": [sale(360, service)]},
    )
    credit = make("CreditMemo", {"CustomerRef": ref(customers[2]), "TxnDate": day(60), "Line": [sale(50, service)]})
    pay1 = make(
        "Payment",
        {
            "CustomerRef": ref(customers[0]),
            "TotalAmt": paid["TotalAmt"],
            "TxnDate": day(35),
            "Line": [{"Amount": paid["TotalAmt"], "LinkedTxn": [{"TxnId": paid["Id"], "TxnType": "Invoice"}]}],
        },
    )
    make(
        "Payment",
        {
            "CustomerRef": ref(customers[2]),
            "TotalAmt": 100,
            "TxnDate": day(30),
            "Line": [
                {"Amount": 150, "LinkedTxn": [{"TxnId": old["Id"], "TxnType": "Invoice"}]},
                {"Amount": 50, "LinkedTxn": [{"TxnId": credit["Id"], "TxnType": "CreditMemo"}]},
            ],
        },
    )
    make(
        "Payment",
        {
            "CustomerRef": ref(customers[1]),
            "TotalAmt": 80,
            "TxnDate": day(10),
            "DepositToAccountRef": {"value": "3"},
            "Line": [{"Amount": 80, "LinkedTxn": [{"TxnId": part["Id"], "TxnType": "Invoice"}]}],
        },
    )
    receipt = make(
        "SalesReceipt",
        {
            "CustomerRef": ref(customers[1]),
            "TxnDate": day(12),
            "PaymentMethodRef": {"value": "1"},
            "Line": [sale(95, brakes)],
        },
    )
    make(
        "Deposit",
        {
            "DepositToAccountRef": {"value": "3"},
            "TxnDate": day(9),
            "Line": [
                {
                    "Amount": pay1["TotalAmt"],
                    "LinkedTxn": [{"TxnId": pay1["Id"], "TxnType": "Payment", "TxnLineId": "0"}],
                },
                {
                    "Amount": receipt["TotalAmt"],
                    "LinkedTxn": [{"TxnId": receipt["Id"], "TxnType": "SalesReceipt", "TxnLineId": "0"}],
                },
            ],
        },
    )
    make("RefundReceipt", {"CustomerRef": ref(customers[0]), "TxnDate": day(8), "Line": [sale(20, service)]})
    make(
        "Estimate",
        {
            "CustomerRef": ref(customers[2]),
            "TxnDate": day(3),
            "ExpirationDate": day(-27),
            "Line": [sale(1080, service)],
        },
    )
    bill = make("Bill", {"VendorRef": ref(parts), "TxnDate": day(30), "Line": [spend(400, "7")]})
    vcredit = make("VendorCredit", {"VendorRef": ref(parts), "TxnDate": day(28), "Line": [spend(40, "7")]})
    make(
        "BillPayment",
        {
            "VendorRef": ref(parts),
            "PayType": "Check",
            "CheckPayment": {"BankAccountRef": {"value": "3"}},
            "TotalAmt": 360,
            "TxnDate": day(25),
            "Line": [
                {"Amount": 400, "LinkedTxn": [{"TxnId": bill["Id"], "TxnType": "Bill"}]},
                {"Amount": 40, "LinkedTxn": [{"TxnId": vcredit["Id"], "TxnType": "VendorCredit"}]},
            ],
        },
    )
    make("Bill", {"VendorRef": ref(parts), "TxnDate": day(5), "Line": [spend(215.5, "7")]})
    make("PurchaseOrder", {"VendorRef": ref(parts), "TxnDate": day(1), "Line": [spend(228, "7")]})
    make(
        "Purchase",
        {
            "PaymentType": "Check",
            "AccountRef": {"value": "3"},
            "EntityRef": {**ref(landlord), "type": "Vendor"},
            "TxnDate": day(28),
            "Line": [spend(2200, "8")],
        },
    )
    make(
        "Purchase",
        {"PaymentType": "CreditCard", "AccountRef": {"value": "9"}, "TxnDate": day(6), "Line": [spend(64.9, "8")]},
    )
    make(
        "JournalEntry",
        {
            "TxnDate": day(60),
            "DocNumber": "OPEN-1",
            "Line": [
                {
                    "Amount": 10000,
                    "DetailType": "JournalEntryLineDetail",
                    "JournalEntryLineDetail": {"PostingType": "Debit", "AccountRef": {"value": "3"}},
                },
                {
                    "Amount": 10000,
                    "DetailType": "JournalEntryLineDetail",
                    "JournalEntryLineDetail": {"PostingType": "Credit", "AccountRef": {"value": "12"}},
                },
            ],
        },
    )
    make(
        "Transfer",
        {"FromAccountRef": {"value": "3"}, "ToAccountRef": {"value": "10"}, "Amount": 1000, "TxnDate": day(15)},
    )
    make(
        "TimeActivity",
        {
            "NameOf": "Employee",
            "EmployeeRef": ref(mechanic),
            "CustomerRef": ref(customers[2]),
            "ItemRef": ref(service),
            "BillableStatus": "Billable",
            "HourlyRate": 90,
            "Hours": 3,
            "Minutes": 30,
            "TxnDate": day(2),
            "Description": "Fleet inspection",
        },
    )
    make("Term", {"Name": "Net 7", "Type": "STANDARD", "DueDays": 7})
    make("PaymentMethod", {"Name": "Bank transfer", "Type": "NON_CREDIT_CARD"})
    # Intuit's API cannot create budgets or customer types: a company made in QuickBooks has them.
    for entity, rec in (
        ("CustomerType", {"Name": "Fleet", "Active": True}),
        (
            "Budget",
            {
                "Name": f"FY{today.year} Budget",
                "StartDate": f"{today.year}-01-01",
                "EndDate": f"{today.year}-12-31",
                "BudgetType": "ProfitAndLoss",
                "BudgetEntryType": "Monthly",
                "Active": True,
                "BudgetDetail": [
                    {"BudgetDate": f"{today.year}-{m:02d}-01", "Amount": money(1500), "AccountRef": {"value": "6"}}
                    for m in range(1, 13)
                ],
            },
        ),
    ):
        rid = c.next_id(entity)
        c.put(entity, {"Id": rid, "SyncToken": "0", **rec})
    ctx.events.clear()
