"""The sandbox's JSON against MYOB's contract: the property names and types of the .NET SDK's Version2 models
(../shared/contracts/myob/contracts, read where they lie, never copied into the repo)."""

from __future__ import annotations

import datetime as dt
import re
from dataclasses import dataclass, field
from decimal import Decimal
from pathlib import Path
from typing import Any

import httpx
import pytest

from .conftest import Running

CONTRACTS = Path(__file__).resolve().parents[3].parent / "shared" / "contracts" / "myob" / "contracts"
_CLASS = re.compile(r"public\s+(?:abstract\s+)?class\s+(\w+)(?:<\w+>)?\s*(?::\s*([\w<>]+))?")
_PROP = re.compile(r"public\s+([\w<>?,\[\]\s]+?)\s+(\w+)\s*\{\s*get;")
# Bases the contract folder does not hold (their files sit elsewhere in the SDK): BaseLink's properties and
# Terms' (api-facts-wave2.md B.6).
MISSING_BASES: dict[str, tuple[str | None, dict[str, str]]] = {
    "BaseLink": (None, {"UID": "Guid", "URI": "Uri"}),
    # A BaseEntity whose amounts may carry a foreign-currency twin (the *Foreign properties are the subclasses').
    "SupportMulticurrencyEntity": ("BaseEntity", {}),
    "Terms": (
        None,
        {
            "PaymentIsDue": "TermsPaymentType",
            "DiscountDate": "int",
            "BalanceDueDate": "int",
            "DiscountForEarlyPayment": "double",
            "MonthlyChargeForLatePayment": "double",
            "VolumeDiscount": "double",
        },
    ),
}


@dataclass
class Model:
    name: str
    base: str | None
    props: dict[str, str] = field(default_factory=dict)


def load_models() -> dict[str, Model]:
    models: dict[str, Model] = {}
    for path in CONTRACTS.rglob("*.cs"):
        text = re.sub(r"///.*", "", path.read_text(encoding="utf-8-sig"))
        # One file may hold several classes; properties belong to the class declared last before them.
        current: Model | None = None
        for line in text.splitlines():
            if m := _CLASS.search(line):
                base = m.group(2)
                current = Model(m.group(1), base.split("<")[0] if base else None)
                models.setdefault(current.name, current)
            elif (m := _PROP.search(line)) and current is not None:
                current.props[m.group(2)] = m.group(1).replace(" ", "")
    for name, (base, props) in MISSING_BASES.items():
        models.setdefault(name, Model(name, base, dict(props)))
    return models


def properties(models: dict[str, Model], name: str) -> dict[str, str]:
    out: dict[str, str] = {}
    seen = set()
    while name in models and name not in seen:
        seen.add(name)
        model = models[name]
        out = {**model.props, **out}
        name = model.base or ""
    return out


def _element(kind: str) -> str:
    kind = kind.rstrip("?")
    if m := re.match(r"IEnumerable<(\w+)>", kind):
        return m.group(1)
    return kind.removesuffix("[]")


def check(
    models: dict[str, Model],
    cls: str,
    value: dict[str, Any],
    where: str,
    problems: list[str],
    item_classes: dict[str, str],
) -> None:
    props = properties(models, cls)
    assert props, f"no contract for {cls}"
    for key, v in value.items():
        if key not in props:
            problems.append(f"{where}.{key}: not a property of {cls}")
            continue
        kind = props[key].rstrip("?")
        if v is None:
            continue
        if kind in ("decimal", "double", "int", "long", "short"):
            if isinstance(v, bool) or not isinstance(v, (int, float, Decimal)):
                problems.append(f"{where}.{key}: {kind} but {type(v).__name__}")
        elif kind == "bool":
            if not isinstance(v, bool):
                problems.append(f"{where}.{key}: bool but {type(v).__name__}")
        elif kind in ("string", "Guid", "Uri"):
            if not isinstance(v, str):
                problems.append(f"{where}.{key}: {kind} but {type(v).__name__}")
        elif kind == "DateTime":
            try:
                dt.datetime.fromisoformat(str(v))
            except ValueError:
                problems.append(f"{where}.{key}: DateTime but {v!r}")
        elif kind.startswith("IEnumerable<") or kind.endswith("[]"):
            element = item_classes.get(key, _element(kind))
            if not isinstance(v, list):
                problems.append(f"{where}.{key}: a list of {element} but {type(v).__name__}")
                continue
            for i, item in enumerate(v):
                if isinstance(item, dict) and element in models:
                    check(models, element, item, f"{where}.{key}[{i}]", problems, {})
        elif isinstance(v, dict) and kind in models:
            check(models, kind, v, f"{where}.{key}", problems, {})


@pytest.fixture(scope="module")
def models() -> dict[str, Model]:
    if not CONTRACTS.is_dir():
        pytest.skip(f"MYOB's .NET SDK contracts are not at {CONTRACTS} (../shared/contracts/myob)")
    return load_models()


def test_the_contract_is_read(models: dict[str, Model]) -> None:
    customer = properties(models, "Customer")
    assert {"UID", "RowVersion", "LastModified", "DisplayID", "CompanyName", "SellingDetails"} <= set(customer)
    assert properties(models, "ServiceInvoiceLine")["RowVersion"] == "string"
    assert properties(models, "CustomerPayment")["AmountReceived"] == "decimal"


def test_every_served_record_uses_the_contracts_names_and_types(
    models: dict[str, Model], running: Running, api: httpx.Client
) -> None:
    today = f"{dt.date.today().isoformat()}T00:00:00"
    bank, income, gst = running.account("1-1110"), running.account("4-2000"), running.tax("GST")

    def post(resource: str, body: dict[str, Any]) -> dict[str, Any]:
        resp = api.post(resource, params={"returnBody": "true"}, json=body)
        assert resp.status_code == 201, (resource, resp.text)
        out: dict[str, Any] = resp.json()
        return out

    customer = post(
        "Contact/Customer",
        {
            "CompanyName": "Contract Motors",
            "IsIndividual": False,
            "DisplayID": "CON1",
            "Notes": "n",
            "Addresses": [
                {
                    "Location": 1,
                    "Street": "1 Main St",
                    "City": "Sydney",
                    "State": "NSW",
                    "PostCode": "2000",
                    "Country": "Australia",
                    "Phone1": "02 9999 0000",
                    "Email": "a@example.com",
                    "ContactName": "Ann Lee",
                }
            ],
            "SellingDetails": {"ABN": "53 004 085 616", "TaxCode": {"UID": gst["UID"]}},
        },
    )
    supplier = post("Contact/Supplier", {"CompanyName": "Parts Co", "IsIndividual": False})
    category = post(
        "GeneralLedger/Category", {"DisplayID": "CAT1", "Name": "Workshop", "Description": "", "IsActive": True}
    )
    job = post("GeneralLedger/Job", {"Number": "J1", "Name": "Fleet", "IsHeader": False})
    item = post(
        "Inventory/Item",
        {
            "Number": "OIL",
            "Name": "Oil",
            "IsSold": True,
            "IsBought": True,
            "IncomeAccount": {"UID": income["UID"]},
            "BaseSellingPrice": 10,
        },
    )
    service_line = {
        "Type": "Transaction",
        "Description": "Work",
        "Total": 100,
        "UnitCount": 1,
        "UnitPrice": 100,
        "Account": {"UID": income["UID"]},
        "TaxCode": {"UID": gst["UID"]},
        "Job": {"UID": job["UID"]},
    }
    invoice = post(
        "Sale/Invoice/Service",
        {
            "Date": today,
            "Customer": {"UID": customer["UID"]},
            "IsTaxInclusive": False,
            "Lines": [service_line],
            "Category": {"UID": category["UID"]},
            "Terms": {"PaymentIsDue": "InAGivenNumberOfDays", "BalanceDueDate": 7},
            "CustomerPurchaseOrderNumber": "PO1",
            "JournalMemo": "Sale; Contract Motors",
        },
    )
    item_invoice = post(
        "Sale/Invoice/Item",
        {
            "Date": today,
            "Customer": {"UID": customer["UID"]},
            "Lines": [
                {
                    "Type": "Transaction",
                    "Description": "Oil",
                    "ShipQuantity": 2,
                    "UnitPrice": 10,
                    "Item": {"UID": item["UID"]},
                    "TaxCode": {"UID": gst["UID"]},
                }
            ],
        },
    )
    credit = post(
        "Sale/Invoice/Service",
        {
            "Date": today,
            "Customer": {"UID": customer["UID"]},
            "Lines": [{**service_line, "Total": -30, "UnitPrice": -30}],
        },
    )
    payment = post(
        "Sale/CustomerPayment",
        {
            "DepositTo": "Account",
            "Account": {"UID": bank["UID"]},
            "Customer": {"UID": customer["UID"]},
            "Date": today,
            "AmountReceived": 50,
            "Memo": "EFT",
            "Invoices": [{"UID": invoice["UID"], "AmountApplied": 50, "Type": "Invoice"}],
        },
    )
    settlement = post(
        "Sale/CreditSettlement",
        {
            "CreditFromInvoice": {"UID": credit["UID"]},
            "Customer": {"UID": customer["UID"]},
            "Date": today,
            "CreditAmount": 10,
            "Lines": [{"Type": "Invoice", "Sale": {"UID": invoice["UID"]}, "AmountApplied": 10}],
        },
    )
    refund = post(
        "Sale/CreditRefund",
        {
            "Account": {"UID": bank["UID"]},
            "Invoice": {"UID": credit["UID"]},
            "Customer": {"UID": customer["UID"]},
            "Date": today,
            "Amount": 5,
        },
    )
    order = post(
        "Purchase/Order/Item",
        {
            "Date": today,
            "Supplier": {"UID": supplier["UID"]},
            "Lines": [
                {
                    "Type": "Transaction",
                    "Description": "Oil",
                    "BillQuantity": 3,
                    "UnitPrice": 6,
                    "Item": {"UID": item["UID"]},
                    "TaxCode": {"UID": gst["UID"]},
                }
            ],
        },
    )
    bill = post(
        "Purchase/Bill/Service",
        {
            "Date": today,
            "Supplier": {"UID": supplier["UID"]},
            "Lines": [
                {
                    "Type": "Transaction",
                    "Description": "Freight",
                    "Total": 10,
                    "Account": {"UID": income["UID"]},
                    "TaxCode": {"UID": gst["UID"]},
                }
            ],
        },
    )
    served = [
        ("Customer", api.get(f"Contact/Customer/{customer['UID']}").json(), {}),
        ("Supplier", supplier, {}),
        ("Category", category, {}),
        ("Job", job, {}),
        ("Item", item, {}),
        ("ServiceInvoice", api.get(f"Sale/Invoice/Service/{invoice['UID']}").json(), {"Lines": "ServiceInvoiceLine"}),
        ("ItemInvoice", item_invoice, {"Lines": "ItemInvoiceLine"}),
        ("CustomerPayment", payment, {}),
        ("CreditSettlement", settlement, {}),
        ("CreditRefund", refund, {}),
        ("ItemPurchaseOrder", order, {"Lines": "ItemPurchaseOrderLine"}),
        ("ServiceBill", bill, {"Lines": "ServiceBillLine"}),
        ("TaxCode", running.tax("GST") | {"URI": None}, {}),
        ("Account", running.account("1-1110") | {"URI": None}, {}),
    ]
    problems: list[str] = []
    for cls, value, items in served:
        record = {k: v for k, v in value.items() if not k.startswith("_")}
        check(models, cls, record, cls, problems, items)
    assert problems == [], "\n".join(problems)
    page = api.get("Contact/Customer").json()
    assert set(page) <= set(properties(models, "PagedCollection")) | {"Items"}
