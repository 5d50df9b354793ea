"""A small, realistic company for `--tenant` organisations: one of every kind of record the sandbox serves."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any

from . import batch, records, settings, transactions
from .records import Ctx

if TYPE_CHECKING:
    from .state import Tenant


def seed_demo(t: Tenant) -> None:
    """Created through the same rules as API writes, so every total, status and journal is consistent."""
    ctx = Ctx(t)
    today = datetime.now(tz=UTC).date()

    def day(n: int) -> str:
        return (today - timedelta(days=n)).isoformat()

    def make(fn: Callable[[Ctx, dict[str, Any], str, str | None], dict[str, Any]], el: dict[str, Any]) -> Any:
        return fn(ctx, el, "PUT", None)

    customers = [
        make(records.upsert_contact, {"Name": name, "EmailAddress": email, "ContactNumber": number})
        for name, email, number in (
            ("Harbour Couriers", "accounts@harbourcouriers.example", "CUST-001"),
            ("Greenfield Plumbing", "office@greenfieldplumbing.example", "CUST-002"),
            ("Jo Nguyen", "jo.nguyen@example.com", "CUST-003"),
            ("Bayside Taxis", "fleet@baysidetaxis.example", "CUST-004"),
        )
    ]
    suppliers = [
        make(records.upsert_contact, {"Name": name, "EmailAddress": email})
        for name, email in (
            ("Auto Parts Wholesale", "sales@autopartswholesale.example"),
            ("City Property Rentals", "rent@cityproperty.example"),
        )
    ]
    group = make(settings.upsert_contact_group, {"Name": "Fleet customers"})
    for c in (customers[0], customers[3]):
        settings.add_members(ctx, group["ContactGroupID"], {"ContactID": c["ContactID"]})
    make(
        records.upsert_item,
        {"Code": "SVC-STD", "Name": "Standard service", "SalesDetails": {"UnitPrice": 180, "AccountCode": "200"}},
    )
    make(
        records.upsert_item,
        {"Code": "PART-BRK", "Name": "Brake pads (set)", "SalesDetails": {"UnitPrice": 95, "AccountCode": "200"}},
    )

    def invoice(
        contact: dict[str, Any], lines: list[dict[str, Any]], status: str, age: int, typ: str = "ACCREC"
    ) -> Any:
        return make(
            records.upsert_invoice,
            {
                "Type": typ,
                "Contact": {"ContactID": contact["ContactID"]},
                "Date": day(age),
                "DueDate": day(age - 14),
                "Status": status,
                "LineItems": lines,
            },
        )

    svc = [{"ItemCode": "SVC-STD", "Quantity": 1, "AccountCode": "200", "TaxType": "OUTPUT"}]
    paid = invoice(
        customers[0],
        [*svc, {"ItemCode": "PART-BRK", "Quantity": 2, "AccountCode": "200", "TaxType": "OUTPUT"}],
        "AUTHORISED",
        40,
    )
    part = invoice(customers[1], svc, "AUTHORISED", 20)
    invoice(customers[2], svc, "DRAFT", 2)
    overdue = invoice(customers[3], [*svc, *svc], "AUTHORISED", 50)
    bill = invoice(
        suppliers[0],
        [
            {
                "Description": "Brake pads, 10 sets",
                "Quantity": 10,
                "UnitAmount": 40,
                "AccountCode": "310",
                "TaxType": "INPUT",
            }
        ],
        "AUTHORISED",
        30,
        "ACCPAY",
    )
    pay = records.upsert_payment
    make(
        pay,
        {
            "Invoice": {"InvoiceID": paid["InvoiceID"]},
            "Account": {"Code": "090"},
            "Date": day(35),
            "Amount": paid["Total"],
        },
    )
    make(pay, {"Invoice": {"InvoiceID": part["InvoiceID"]}, "Account": {"Code": "090"}, "Date": day(10), "Amount": 100})
    # A deposit entered as a batch payment (one line here; a batch may pay several invoices).
    make(
        batch.upsert_batch_payment,
        {
            "Account": {"Code": "090"},
            "Date": day(5),
            "Reference": "Deposit 0412",
            "Payments": [{"Invoice": {"InvoiceID": part["InvoiceID"]}, "Amount": 20}],
        },
    )
    make(
        pay,
        {
            "Invoice": {"InvoiceID": bill["InvoiceID"]},
            "Account": {"Code": "090"},
            "Date": day(25),
            "Amount": bill["Total"],
        },
    )
    credit = make(
        records.upsert_credit_note,
        {
            "Type": "ACCRECCREDIT",
            "Contact": {"ContactID": customers[3]["ContactID"]},
            "Date": day(45),
            "Status": "AUTHORISED",
            "LineItems": [
                {
                    "Description": "Goodwill discount",
                    "Quantity": 1,
                    "UnitAmount": 50,
                    "AccountCode": "200",
                    "TaxType": "OUTPUT",
                }
            ],
        },
    )
    records.allocate(
        ctx,
        "CreditNotes",
        credit["CreditNoteID"],
        {"Invoice": {"InvoiceID": overdue["InvoiceID"]}, "Amount": 30, "Date": day(44)},
    )
    bank = {"Code": "090"}
    make(
        records.upsert_bank_transaction,
        {
            "Type": "SPEND",
            "Contact": {"ContactID": suppliers[1]["ContactID"]},
            "BankAccount": bank,
            "Date": day(28),
            "LineAmountTypes": "Inclusive",
            "LineItems": [
                {
                    "Description": "Workshop rent",
                    "Quantity": 1,
                    "UnitAmount": 2200,
                    "AccountCode": "429",
                    "TaxType": "INPUT",
                }
            ],
        },
    )
    for typ, amount, who in (("RECEIVE-OVERPAYMENT", 40, customers[1]), ("RECEIVE-PREPAYMENT", 300, customers[2])):
        make(
            records.upsert_bank_transaction,
            {
                "Type": typ,
                "Contact": {"ContactID": who["ContactID"]},
                "BankAccount": bank,
                "Date": day(5),
                "LineAmountTypes": "NoTax",
                "LineItems": [{"Description": typ.split("-")[1].title(), "LineAmount": amount, "AccountCode": "610"}],
            },
        )
    make(
        transactions.create_bank_transfer,
        {"FromBankAccount": bank, "ToBankAccount": {"Code": "091"}, "Amount": 1000, "Date": day(15)},
    )
    make(
        transactions.upsert_manual_journal,
        {
            "Narration": "Owner's capital contribution",
            "Date": day(60),
            "Status": "POSTED",
            "JournalLines": [
                {"LineAmount": 10000, "AccountCode": "090", "Description": "Capital in"},
                {"LineAmount": -10000, "AccountCode": "970", "Description": "Capital in"},
            ],
        },
    )
    make(
        transactions.upsert_quote,
        {
            "Contact": {"ContactID": customers[3]["ContactID"]},
            "Date": day(3),
            "ExpiryDate": day(-27),
            "Status": "SENT",
            "Title": "Fleet service, 6 vehicles",
            "LineItems": [{"ItemCode": "SVC-STD", "Quantity": 6, "AccountCode": "200", "TaxType": "OUTPUT"}],
        },
    )
    make(
        transactions.upsert_repeating_invoice,
        {
            "Type": "ACCREC",
            "Contact": {"ContactID": customers[0]["ContactID"]},
            "Status": "AUTHORISED",
            "Schedule": {
                "Period": 1,
                "Unit": "MONTHLY",
                "DueDate": 14,
                "DueDateType": "DAYSAFTERBILLDATE",
                "StartDate": day(-5),
            },
            "LineItems": [
                {
                    "Description": "Monthly fleet check",
                    "Quantity": 1,
                    "UnitAmount": 450,
                    "AccountCode": "200",
                    "TaxType": "OUTPUT",
                }
            ],
        },
    )
    make(
        records.upsert_purchase_order,
        {
            "Contact": {"ContactID": suppliers[0]["ContactID"]},
            "Date": day(1),
            "Status": "AUTHORISED",
            "LineItems": [
                {
                    "Description": "Oil filters, 24",
                    "Quantity": 24,
                    "UnitAmount": 9.5,
                    "AccountCode": "310",
                    "TaxType": "INPUT",
                }
            ],
        },
    )
    make(
        transactions.upsert_linked_transaction,
        {
            "SourceTransactionID": bill["InvoiceID"],
            "SourceLineItemID": bill["LineItems"][0]["LineItemID"],
            "ContactID": customers[3]["ContactID"],
        },
    )
