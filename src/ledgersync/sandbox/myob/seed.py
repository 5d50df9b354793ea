"""What a new AccountRight (Australia) company file holds: its chart of accounts and GST tax codes; and the small
demo business `--tenant` adds for people to try things against."""

from __future__ import annotations

from decimal import Decimal
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from .state import CompanyFile

# (DisplayID, Name, Type, Classification), from AccountRight's default Australian chart (account numbers as the
# product ships them; a subset).
ACCOUNTS: tuple[tuple[str, str, str, str], ...] = (
    ("1-1110", "Business Bank Account", "Bank", "Asset"),
    ("1-1120", "Undeposited Funds", "Bank", "Asset"),
    ("1-1210", "Trade Debtors", "AccountReceivable", "Asset"),
    ("1-1310", "Inventory", "OtherAsset", "Asset"),
    ("2-1210", "Trade Creditors", "AccountsPayable", "Liability"),
    ("2-1310", "GST Collected", "OtherCurrentLiability", "Liability"),
    ("2-1330", "GST Paid", "OtherCurrentLiability", "Liability"),
    ("4-1000", "Sales", "Income", "Income"),
    ("4-2000", "Service Income", "Income", "Income"),
    ("5-1000", "Cost of Sales", "CostOfSales", "CostOfSales"),
    ("6-1000", "General Expenses", "Expense", "Expense"),
)
# (Code, Description, Type, Rate): AccountRight's Australian GST codes.
TAX_CODES: tuple[tuple[str, str, str, Decimal], ...] = (
    ("GST", "Goods & Services Tax", "GoodsAndServicesTax", Decimal("10")),
    ("FRE", "GST Free", "GoodsAndServicesTax", Decimal("0")),
    ("N-T", "Not Reportable", "GoodsAndServicesTax", Decimal("0")),
    ("CAP", "Capital Acquisitions", "GoodsAndServicesTax", Decimal("10")),
    ("EXP", "Export Sales", "GoodsAndServicesTax", Decimal("0")),
    ("INP", "Input Taxed", "InputTaxed", Decimal("0")),
)


def _put(cf: CompanyFile, resource: str, body: dict[str, Any]) -> dict[str, Any]:
    from .state import new_uid

    uid = new_uid()
    rec = {"UID": uid, **body, "RowVersion": cf.row_version(), "LastModified": cf.stamp(), "_seq": cf.next("record")}
    rec["Created"] = rec["LastModified"]
    cf.data[resource][uid] = rec
    return rec


def seed_ledger(cf: CompanyFile) -> None:
    collected = paid = None
    for display, name, kind, classification in ACCOUNTS:
        rec = _put(
            cf,
            "GeneralLedger/Account",
            {
                "DisplayID": display,
                "Name": name,
                "Classification": classification,
                "Type": kind,
                "Number": int(display.replace("-", "")[1:]),
                "Description": "",
                "ParentAccount": None,
                "IsActive": True,
                "TaxCode": None,
                "Level": 4,
                "OpeningBalance": Decimal("0.00"),
                "CurrentBalance": Decimal("0.00"),
                "BankingDetails": None,
                "IsHeader": False,
            },
        )
        if display == "2-1310":
            collected = rec
        if display == "2-1330":
            paid = rec
    for code, description, kind, rate in TAX_CODES:
        _put(
            cf,
            "GeneralLedger/TaxCode",
            {
                "Code": code,
                "Description": description,
                "Type": kind,
                "Rate": rate,
                "IsRateNegative": False,
                "TaxCollectedAccount": _link(collected),
                "TaxPaidAccount": _link(paid),
                "WithholdingCreditAccount": None,
                "WithholdingPayableAccount": None,
                "ImportDutyPayableAccount": None,
                "LinkedSupplier": None,
                "LuxuryCarTaxThreshold": Decimal("0"),
            },
        )


def _link(rec: dict[str, Any] | None) -> dict[str, Any] | None:
    if rec is None:
        return None
    return {"UID": rec["UID"], "Name": rec["Name"], "DisplayID": rec["DisplayID"], "URI": None}


def seed_demo(cf: CompanyFile) -> None:
    """Three customers and a service invoice each, entered as a person would (through the business rules)."""
    from .records import create

    income = next(a for a in cf.data["GeneralLedger/Account"].values() if a["DisplayID"] == "4-2000")
    gst = next(t for t in cf.data["GeneralLedger/TaxCode"].values() if t["Code"] == "GST")
    for i, name in enumerate(("Harbour Motors", "Westside Plumbing", "Koala Cafe"), start=1):
        status, customer = create(cf, "Contact/Customer", {"CompanyName": name, "IsIndividual": False}, "")
        assert status == 201
        create(
            cf,
            "Sale/Invoice/Service",
            {
                "Date": f"2026-01-0{i}T00:00:00",
                "Customer": {"UID": customer["UID"]},
                "IsTaxInclusive": False,
                "Lines": [
                    {
                        "Type": "Transaction",
                        "Description": "Service",
                        "Total": Decimal(100 * i),
                        "Account": {"UID": income["UID"]},
                        "TaxCode": {"UID": gst["UID"]},
                    }
                ],
            },
            "",
        )
