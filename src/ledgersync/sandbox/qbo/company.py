"""A QBO company's CompanyInfo and Preferences entities, with the XSD's field names."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from .util import iso

if TYPE_CHECKING:
    from .state import Company, QboSandbox

_COUNTRY = {"AUD": "AU", "USD": "US", "CAD": "CA", "GBP": "GB"}
_CURRENCY_NAMES = {
    "USD": "United States Dollar",
    "AUD": "Australian Dollar",
    "CAD": "Canadian Dollar",
    "EUR": "Euro",
    "GBP": "British Pound Sterling",
    "NZD": "New Zealand Dollar",
}


def _meta(sb: QboSandbox, company: Company) -> dict[str, str]:
    stamp = iso(company.created_ms, sb.tz())
    return {"CreateTime": stamp, "LastUpdatedTime": stamp}


def company_info(sb: QboSandbox, company: Company) -> dict[str, Any]:
    """GET /v3/company/{realmId}/companyinfo/{realmId}: who the company is."""
    home = str(company.preferences.get("home_currency") or "USD")
    address = {
        "Id": "1",
        "Line1": "2500 Garcia Ave",
        "City": "Mountain View",
        "CountrySubDivisionCode": "CA",
        "PostalCode": "94043",
        "Country": _COUNTRY.get(home, "US"),
    }
    return {
        "Id": company.id,
        "SyncToken": "0",
        "CompanyName": company.name,
        "LegalName": company.name,
        "CompanyAddr": address,
        "CustomerCommunicationAddr": address,
        "LegalAddr": address,
        "CompanyEmailAddr": {"Address": "owner@example.com"},
        "PrimaryPhone": {"FreeFormNumber": "(650) 555-0100"},
        "CompanyStartDate": iso(company.created_ms, sb.tz())[:10],
        "FiscalYearStartMonth": "January",
        "Country": _COUNTRY.get(home, "US"),
        "Email": {"Address": "owner@example.com"},
        "WebAddr": {},
        "SupportedLanguages": "en",
        "DefaultTimeZone": "America/Los_Angeles",
        "NameValue": [
            {"Name": "NeoEnabled", "Value": "true"},
            {"Name": "IndustryType", "Value": "Automotive repair"},
            {"Name": "SubscriptionStatus", "Value": "PAID"},
            {"Name": "OfferingSku", "Value": "QuickBooks Online Plus"},
        ],
        "domain": "QBO",
        "sparse": False,
        "MetaData": _meta(sb, company),
    }


def preferences(sb: QboSandbox, company: Company) -> dict[str, Any]:
    """The company's Preferences entity (one per company): what the sandbox models of it, and the defaults of a
    new QuickBooks Online Plus company for the rest (sandbox guesses: the defaults)."""
    prefs = company.preferences
    home = str(prefs.get("home_currency") or "USD")
    warn = "true" if prefs.get("warn_duplicate_docnumber", True) else "false"
    return {
        "Id": "1",
        "SyncToken": "0",
        "AccountingInfoPrefs": {
            "TrackDepartments": False,
            "DepartmentTerminology": "Location",
            "ClassTrackingPerTxn": False,
            "ClassTrackingPerTxnLine": True,
            "CustomerTerminology": "Customers",
            "FirstMonthOfFiscalYear": "January",
            "TaxYearMonth": "January",
            "UseAccountNumbers": False,
        },
        "ProductAndServicesPrefs": {
            "ForSales": True,
            "ForPurchase": True,
            "QuantityWithPriceAndRate": True,
            "QuantityOnHand": True,
        },
        "SalesFormsPrefs": {
            "CustomTxnNumbers": True,
            "AllowDeposit": True,
            "AllowDiscount": True,
            "AllowEstimates": True,
            "AllowShipping": False,
            "AllowServiceDate": False,
            "AutoApplyCredit": True,
            "DefaultTerms": {"value": "3"},
        },
        "VendorAndPurchasesPrefs": {"TrackingByCustomer": True, "BillableExpenseTracking": True},
        "TimeTrackingPrefs": {
            "UseServices": True,
            "BillCustomers": True,
            "ShowBillRateToAll": False,
            "WorkWeekStartDate": "Monday",
        },
        "TaxPrefs": {"UsingSalesTax": True, "PartnerTaxEnabled": False, "TaxGroupCodeRef": {"value": "TAX"}},
        "CurrencyPrefs": {
            "MultiCurrencyEnabled": bool(prefs.get("multicurrency", False)),
            "HomeCurrency": {"value": home, "name": _CURRENCY_NAMES.get(home, home)},
        },
        "ReportPrefs": {"ReportBasis": "Accrual", "CalcAgingReportFromTxnDate": False},
        "OtherPrefs": {"NameValue": [{"Name": "WarnDuplicateDocNum", "Value": warn}]},
        "domain": "QBO",
        "sparse": False,
        "MetaData": _meta(sb, company),
    }


def company_currencies(sb: QboSandbox, company: Company) -> list[dict[str, Any]]:
    """`SELECT * FROM CompanyCurrency`: the currencies the company has added besides its home one (Intuit's
    XSD: Code, Name, Active). Read-only here: they are added through the control API (`currencies`), as
    multicurrency is switched on. Sandbox guess: the ids (1, 2, ... in the order added)."""
    home = str(company.preferences.get("home_currency") or "USD")
    codes = [str(c).upper() for c in company.preferences.get("currencies") or [] if str(c).upper() != home]
    return [
        {
            "Id": str(n),
            "SyncToken": "0",
            "Code": code,
            "Name": _CURRENCY_NAMES.get(code, code),
            "Active": True,
            "domain": "QBO",
            "sparse": False,
            "MetaData": _meta(sb, company),
        }
        for n, code in enumerate(dict.fromkeys(codes), start=1)
    ]
