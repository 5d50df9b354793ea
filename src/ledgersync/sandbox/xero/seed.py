"""Seed data every new sandbox tenant gets: organisation, chart of accounts, tax rates, settings lists."""

from __future__ import annotations

import random
import string
from decimal import Decimal
from typing import Any

from .util import ms_date, new_id

# (Code, Name, Type, Class, TaxType) modelled on Xero's "Demo Company (AU)" chart.
_ACCOUNTS: list[tuple[str, str, str, str, str]] = [
    ("090", "Business Bank Account", "BANK", "ASSET", "BASEXCLUDED"),
    ("091", "Business Savings Account", "BANK", "ASSET", "BASEXCLUDED"),
    ("200", "Sales", "REVENUE", "REVENUE", "OUTPUT"),
    ("260", "Other Revenue", "REVENUE", "REVENUE", "OUTPUT"),
    ("270", "Interest Income", "REVENUE", "REVENUE", "NONE"),
    ("300", "Purchases", "DIRECTCOSTS", "EXPENSE", "INPUT"),
    ("310", "Cost of Goods Sold", "DIRECTCOSTS", "EXPENSE", "INPUT"),
    ("400", "Advertising", "EXPENSE", "EXPENSE", "INPUT"),
    ("404", "Bank Fees", "EXPENSE", "EXPENSE", "INPUT"),
    ("408", "Cleaning", "EXPENSE", "EXPENSE", "INPUT"),
    ("412", "Consulting & Accounting", "EXPENSE", "EXPENSE", "INPUT"),
    ("429", "General Expenses", "EXPENSE", "EXPENSE", "INPUT"),
    ("453", "Office Expenses", "EXPENSE", "EXPENSE", "INPUT"),
    ("610", "Accounts Receivable", "CURRENT", "ASSET", "BASEXCLUDED"),
    ("620", "Prepayments", "CURRENT", "ASSET", "BASEXCLUDED"),
    ("630", "Inventory", "INVENTORY", "ASSET", "BASEXCLUDED"),
    ("800", "Accounts Payable", "CURRLIAB", "LIABILITY", "BASEXCLUDED"),
    ("820", "GST", "CURRLIAB", "LIABILITY", "BASEXCLUDED"),
    ("960", "Retained Earnings", "EQUITY", "EQUITY", "BASEXCLUDED"),
    ("970", "Owner A Funds Introduced", "EQUITY", "EQUITY", "BASEXCLUDED"),
]

# The accounts Xero's journals post to without being named on a line.
_SYSTEM_ACCOUNTS = {"610": "DEBTORS", "800": "CREDITORS", "820": "GST", "960": "RETAINEDEARNINGS"}

# (TaxType, Name, Rate, ReportTaxType)
_TAX_RATES: list[tuple[str, str, str, str]] = [
    ("OUTPUT", "GST on Income", "10.0000", "OUTPUT"),
    ("INPUT", "GST on Expenses", "10.0000", "INPUT"),
    ("CAPEXINPUT", "GST on Capital", "10.0000", "CAPITALEXPENSESINPUT"),
    ("EXEMPTOUTPUT", "GST Free Income", "0.0000", "EXEMPTOUTPUT"),
    ("EXEMPTEXPENSES", "GST Free Expenses", "0.0000", "EXEMPTEXPENSES"),
    ("INPUTTAXED", "Input Taxed", "0.0000", "INPUTTAXED"),
    ("BASEXCLUDED", "BAS Excluded", "0.0000", "BASEXCLUDED"),
    ("NONE", "No GST", "0.0000", "NONE"),
]


def seed_accounts(stamp_ms: int) -> list[dict[str, Any]]:
    out: list[dict[str, Any]] = []
    for code, name, typ, cls, tax in _ACCOUNTS:
        rec: dict[str, Any] = {
            "AccountID": new_id(),
            "Code": code,
            "Name": name,
            "Type": typ,
            "Status": "ACTIVE",
            "TaxType": tax,
            "Class": cls,
            "EnablePaymentsToAccount": False,
            "ShowInExpenseClaims": typ == "EXPENSE",
            "ReportingCode": cls[:3],
            "ReportingCodeName": cls.title(),
            "HasAttachments": False,
            "UpdatedDateUTC": ms_date(stamp_ms),
            "AddToWatchlist": False,
            "_updated_ms": stamp_ms,
        }
        if code in _SYSTEM_ACCOUNTS:
            rec["SystemAccount"] = _SYSTEM_ACCOUNTS[code]
        if typ == "BANK":
            rec["BankAccountNumber"] = "0826" + code + "1234"
            rec["BankAccountType"] = "BANK"
            rec["CurrencyCode"] = "AUD"
        out.append(rec)
    return out


def seed_tax_rates() -> list[dict[str, Any]]:
    out: list[dict[str, Any]] = []
    for tax_type, name, rate, report in _TAX_RATES:
        r = Decimal(rate)
        out.append(
            {
                "Name": name,
                "TaxType": tax_type,
                "TaxComponents": [{"Name": "GST", "Rate": r, "IsCompound": False, "IsNonRecoverable": False}],
                "Status": "ACTIVE",
                "ReportTaxType": report,
                "CanApplyToAssets": True,
                "CanApplyToEquity": True,
                "CanApplyToExpenses": tax_type != "OUTPUT",
                "CanApplyToLiabilities": True,
                "CanApplyToRevenue": tax_type != "INPUT",
                "DisplayTaxRate": r,
                "EffectiveRate": r,
            }
        )
    return out


def seed_tracking(stamp_ms: int) -> list[dict[str, Any]]:
    del stamp_ms
    return [
        {
            "TrackingCategoryID": new_id(),
            "Name": "Region",
            "Status": "ACTIVE",
            "Options": [
                {"TrackingOptionID": new_id(), "Name": name, "Status": "ACTIVE"}
                for name in ("North", "South", "East", "West")
            ],
        }
    ]


def seed_organisation(org_id: str, name: str, created_ms: int) -> dict[str, Any]:
    """GET /Organisation: an Australian company (base currency AUD, financial year ending 30 June)."""
    short = "!" + "".join(random.choice(string.ascii_letters + string.digits) for _ in range(5))
    return {
        "OrganisationID": org_id,
        "Name": name,
        "LegalName": name,
        "PaysTax": True,
        "Version": "AU",
        "OrganisationType": "COMPANY",
        "BaseCurrency": "AUD",
        "CountryCode": "AU",
        "IsDemoCompany": False,
        "OrganisationStatus": "ACTIVE",
        "TaxNumber": "12345678901",
        "FinancialYearEndDay": 30,
        "FinancialYearEndMonth": 6,
        "SalesTaxBasis": "ACCRUALS",
        "SalesTaxPeriod": "QUARTERLY1",
        "DefaultSalesTax": "Tax Exclusive",
        "DefaultPurchasesTax": "Tax Inclusive",
        "CreatedDateUTC": ms_date(created_ms),
        "OrganisationEntityType": "COMPANY",
        "Timezone": "AUSEASTERNSTANDARDTIME",
        "ShortCode": short,
        "Edition": "BUSINESS",
        "Class": "PREMIUM",
        "LineOfBusiness": "Automotive repairs",
        "Addresses": [
            {
                "AddressType": "STREET",
                "AddressLine1": "23 Main Street",
                "City": "Melbourne",
                "Region": "VIC",
                "PostalCode": "3000",
                "Country": "Australia",
            }
        ],
        "Phones": [{"PhoneType": "OFFICE", "PhoneNumber": "9000 0000", "PhoneAreaCode": "03"}],
        "ExternalLinks": [],
        "PaymentTerms": {
            "Bills": {"Day": 30, "Type": "DAYSAFTERBILLDATE"},
            "Sales": {"Day": 14, "Type": "DAYSAFTERBILLDATE"},
        },
    }


def seed_settings(stamp_ms: int) -> dict[str, list[dict[str, Any]]]:
    """The lists an organisation has from day one: its base currency, the Standard theme, its owner."""
    return {
        "Currencies": [{"Code": "AUD", "Description": "Australian Dollar"}],
        "BrandingThemes": [
            {
                "BrandingThemeID": new_id(),
                "Name": "Standard",
                "Type": "INVOICE",
                "SortOrder": 0,
                "CreatedDateUTC": ms_date(stamp_ms),
            }
        ],
        "Users": [
            {
                "UserID": new_id(),
                "EmailAddress": "owner@example.com",
                "FirstName": "Demo",
                "LastName": "Owner",
                "UpdatedDateUTC": ms_date(stamp_ms),
                "IsSubscriber": True,
                "OrganisationRole": "FINANCIALADVISER",
            }
        ],
    }
