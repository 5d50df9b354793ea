"""Starter lists every new sandbox company gets: a small chart of accounts, US tax codes, one service item."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from .util import ZERO

if TYPE_CHECKING:
    from .state import Company

_ACCOUNTS: list[tuple[str, str, str, str]] = [
    # Name, AccountType, AccountSubType, Classification
    ("Accounts Receivable (A/R)", "Accounts Receivable", "AccountsReceivable", "Asset"),
    ("Undeposited Funds", "Other Current Asset", "UndepositedFunds", "Asset"),
    ("Checking", "Bank", "Checking", "Asset"),
    ("Accounts Payable (A/P)", "Accounts Payable", "AccountsPayable", "Liability"),
    ("Sales of Product Income", "Income", "SalesOfProductIncome", "Revenue"),
    ("Services", "Income", "ServiceFeeIncome", "Revenue"),
    ("Cost of Goods Sold", "Cost of Goods Sold", "SuppliesMaterialsCogs", "Expense"),
    ("Office Expenses", "Expense", "OfficeGeneralAdministrativeExpenses", "Expense"),
]


def seed_company(c: Company) -> None:
    for name, atype, sub, cls in _ACCOUNTS:
        rid = c.next_id("Account")
        rec: dict[str, Any] = {
            "Id": rid,
            "SyncToken": "0",
            "Name": name,
            "SubAccount": False,
            "FullyQualifiedName": name,
            "Active": True,
            "Classification": cls,
            "AccountType": atype,
            "AccountSubType": sub,
            "CurrentBalance": ZERO,
            "CurrentBalanceWithSubAccounts": ZERO,
            "CurrencyRef": {"value": "USD", "name": "United States Dollar"},
        }
        c.put("Account", rec)
    for tid, name, taxable in (("TAX", "TAX", True), ("NON", "NON", False)):
        c.put(
            "TaxCode",
            {
                "Id": tid,
                "SyncToken": "0",
                "Name": name,
                "Description": "TAX" if taxable else "NON",
                "Active": True,
                "Taxable": taxable,
                "TaxGroup": False,
            },
        )
    c.put(
        "Item",
        {
            "Id": c.next_id("Item"),
            "SyncToken": "0",
            "Name": "Services",
            "FullyQualifiedName": "Services",
            "Active": True,
            "Type": "Service",
            "Taxable": False,
            "UnitPrice": ZERO,
            "TrackQtyOnHand": False,
            "IncomeAccountRef": {"value": "6", "name": "Services"},
        },
    )
