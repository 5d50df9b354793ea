"""Starter lists every new sandbox company gets: chart of accounts, terms, payment methods, sales tax, one item."""

from __future__ import annotations

from decimal import Decimal
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
    ("Mastercard", "Credit Card", "CreditCard", "Liability"),
    ("Savings", "Bank", "Savings", "Asset"),
    ("Retained Earnings", "Equity", "RetainedEarnings", "Equity"),
    ("Opening Balance Equity", "Equity", "OpeningBalanceEquity", "Equity"),
    ("Board of Equalization Payable", "Other Current Liability", "SalesTaxPayable", "Liability"),
]
# (Name, Type, DueDays) and (Name, Type): what a new QuickBooks Online company lists out of the box.
_TERMS = [("Due on receipt", 0), ("Net 15", 15), ("Net 30", 30), ("Net 60", 60)]
_PAYMENT_METHODS = [
    ("Cash", "NON_CREDIT_CARD"),
    ("Check", "NON_CREDIT_CARD"),
    ("Visa", "CREDIT_CARD"),
    ("MasterCard", "CREDIT_CARD"),
    ("American Express", "CREDIT_CARD"),
    ("Discover", "CREDIT_CARD"),
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
    for name, days in _TERMS:
        rid = c.next_id("Term")
        c.put("Term", {"Id": rid, "SyncToken": "0", "Name": name, "Active": True, "Type": "STANDARD", "DueDays": days})
    for name, ptype in _PAYMENT_METHODS:
        rid = c.next_id("PaymentMethod")
        c.put("PaymentMethod", {"Id": rid, "SyncToken": "0", "Name": name, "Active": True, "Type": ptype})
    agency = c.next_id("TaxAgency")
    c.put(
        "TaxAgency",
        {
            "Id": agency,
            "SyncToken": "0",
            "DisplayName": "California Department of Tax and Fee Administration",
            "TaxTrackedOnSales": True,
            "TaxTrackedOnPurchases": False,
        },
    )
    rate = c.next_id("TaxRate")
    c.put(
        "TaxRate",
        {
            "Id": rate,
            "SyncToken": "0",
            "Name": "California",
            "Description": "Sales Tax",
            "Active": True,
            "RateValue": Decimal("8"),
            "AgencyRef": {"value": agency},
            "SpecialTaxType": "NONE",
            "DisplayType": "ReadOnly",
            "EffectiveTaxRate": [{"RateValue": Decimal("8"), "EffectiveDate": "2020-01-01T00:00:00-08:00"}],
        },
    )
    for tid, name, taxable in (("TAX", "TAX", True), ("NON", "NON", False)):
        rates = [
            {"TaxRateRef": {"value": rate, "name": "California"}, "TaxTypeApplicable": "TaxOnAmount", "TaxOrder": 0}
        ]
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
                "SalesTaxRateList": {"TaxRateDetail": rates if taxable else []},
                "PurchaseTaxRateList": {"TaxRateDetail": []},
            },
        )
    _combined_tax(c, agency, rate)
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


def _combined_tax(c: Company, agency: str, state_rate: str) -> None:
    """A combined (group) sales tax code as QuickBooks Online keeps one: the state's rate and a district's in one
    TaxCode (TaxGroup true), both TaxOnAmount, on sales and purchases (sandbox guess: a US company's starter lists
    hold no such group until a person sets up a district; it is seeded so every company can show one)."""
    district = c.next_id("TaxRate")
    c.put(
        "TaxRate",
        {
            "Id": district,
            "SyncToken": "0",
            "Name": "San Mateo District",
            "Description": "Sales Tax",
            "Active": True,
            "RateValue": Decimal("1.25"),
            "AgencyRef": {"value": agency},
            "SpecialTaxType": "NONE",
            "DisplayType": "ReadOnly",
            "EffectiveTaxRate": [{"RateValue": Decimal("1.25"), "EffectiveDate": "2020-01-01T00:00:00-08:00"}],
        },
    )
    details = [
        {"TaxRateRef": {"value": state_rate, "name": "California"}, "TaxTypeApplicable": "TaxOnAmount", "TaxOrder": 0},
        {
            "TaxRateRef": {"value": district, "name": "San Mateo District"},
            "TaxTypeApplicable": "TaxOnAmount",
            "TaxOrder": 1,
        },
    ]
    c.put(
        "TaxCode",
        {
            "Id": c.next_id("TaxCode"),
            "SyncToken": "0",
            "Name": "California + San Mateo",
            "Description": "Combined state and district sales tax",
            "Active": True,
            "Taxable": True,
            "TaxGroup": True,
            "SalesTaxRateList": {"TaxRateDetail": details},
            "PurchaseTaxRateList": {"TaxRateDetail": details},
        },
    )
