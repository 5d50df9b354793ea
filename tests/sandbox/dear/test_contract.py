"""Every sandbox answer validates against its schema in the Cin7 Core OpenAPI document, where it has one.

The walk drives the sandbox through every resource it serves (reference lists, customers, suppliers, products,
a sale through order, invoice, payment, credit note and void, a purchase through order and invoice, webhooks)
and checks each 200 body against the operation's response schema (path keys normalised: their query templates
dropped)."""

from __future__ import annotations

from typing import Any

import httpx
from openapi_schema_validator import OAS30Validator

from ledgersync.sandbox.dear.api import _PATHS

from .conftest import Sandbox, contract, response_schema


class Walk:
    def __init__(self, s: Sandbox) -> None:
        self.s = s
        self.checked: set[tuple[str, str]] = set()
        self.without_schema: set[tuple[str, str]] = set()

    def call(self, method: str, path: str, body: Any = None, params: dict[str, Any] | None = None) -> Any:
        resp = self.s.api.request(method, path, json=body, params=params)
        assert resp.status_code == 200, f"{method} {path}: {resp.status_code} {resp.text[:300]}"
        data = resp.json()
        schema = response_schema(method, path)
        if schema is None:
            self.without_schema.add((method, path))
            return data
        root = {**contract(), **schema}
        errors = sorted(OAS30Validator(root).iter_errors(data), key=lambda e: list(e.path))
        assert not errors, f"{method} {path}: " + "; ".join(f"{list(e.path)}: {e.message[:200]}" for e in errors[:5])
        self.checked.add((method, path))
        return data


def test_every_response_validates_against_the_contract(sandbox: Sandbox) -> None:
    contract()
    w = Walk(sandbox)
    w.call("GET", "me")
    for ref in ("ref/tax", "ref/account", "ref/paymentterm", "ref/location"):
        w.call("GET", ref, params={"Page": 1, "Limit": 100})
    customer = w.call(
        "POST",
        "customer",
        {
            "Name": "Walk Customer",
            "Contacts": [{"Name": "Ann", "Email": "ann@example.com", "Phone": "1"}],
            "Addresses": [{"Line1": "1 High St", "City": "Sydney", "Country": "Australia", "Type": "Billing"}],
        },
    )["CustomerList"][0]
    w.call("PUT", "customer", {"ID": customer["ID"], "Name": "Walk Customer Pty"})
    w.call("GET", "customer", params={"ModifiedSince": "2000-01-01T00:00:00", "IncludeDeprecated": "true"})
    supplier = w.call(
        "POST",
        "supplier",
        {"Name": "Walk Supplier", "Contacts": [{"Name": "Sam"}], "Addresses": [{"Line1": "2 Low St"}]},
    )["SupplierList"][0]
    w.call("PUT", "supplier", {"ID": supplier["ID"], "Name": "Walk Supplier Ltd"})
    w.call("GET", "supplier", params={"Page": 1})
    product = w.call("POST", "product", {"SKU": "W-1", "Name": "Widget", "Type": "Stock", "PriceTier1": 12.5})[
        "Products"
    ][0]
    w.call("PUT", "product", {"ID": product["ID"], "SKU": "W-1", "Name": "Widget (blue)"})
    w.call("GET", "product", params={"Sku": "W-1"})
    sandbox.control.post(
        f"/_sandbox/accounts/{sandbox.account_id}/stock",
        json={"product_id": product["ID"], "location": "Main Warehouse", "on_hand": 7},
    )
    w.call("GET", "ref/productavailability")
    sale = w.call("POST", "sale", {"CustomerID": customer["ID"], "CustomerReference": "W-100", "ExternalID": "app-1"})
    w.call("PUT", "sale", {"ID": sale["ID"], "Note": "walk"})
    lines = [
        {
            "ProductID": product["ID"],
            "Quantity": 2,
            "Price": 12.5,
            "Discount": 0,
            "TaxRule": "GST on Income",
            "Total": 25,
        }
    ]
    w.call("POST", "sale/order", {"SaleID": sale["ID"], "Status": "AUTHORISED", "Lines": lines})
    w.call("GET", "sale/order", params={"SaleID": sale["ID"]})
    invoices = w.call(
        "POST",
        "sale/invoice",
        {"SaleID": sale["ID"], "Status": "AUTHORISED", "InvoiceDate": "2024-03-01T00:00:00", "Lines": lines},
    )
    task = invoices["Invoices"][0]["TaskID"]
    w.call("PUT", "sale/invoice", {"SaleID": sale["ID"], "TaskID": task, "Status": "AUTHORISED", "Lines": lines})
    w.call("GET", "sale/invoice", params={"SaleID": sale["ID"]})
    payment = w.call(
        "POST",
        "sale/payment",
        {"TaskID": task, "Amount": 10, "DatePaid": "2024-03-02", "Account": "090", "Reference": "walk"},
    )
    w.call("PUT", "sale/payment", {"ID": payment["ID"], "Amount": 12})
    w.call("GET", "sale/payment", params={"SaleID": sale["ID"]})
    w.call(
        "POST",
        "sale/creditnote",
        {"SaleID": sale["ID"], "Status": "AUTHORISED", "Lines": [{**lines[0], "Quantity": 1, "Total": 12.5}]},
    )
    w.call("GET", "sale/creditnote", params={"SaleID": sale["ID"]})
    w.call("GET", "sale", params={"ID": sale["ID"]})
    w.call("GET", "saleList", params={"UpdatedSince": "2000-01-01T00:00:00"})
    w.call("DELETE", "sale/payment", params={"ID": payment["ID"]})
    other = w.call("POST", "sale", {"CustomerID": customer["ID"]})
    w.call("POST", "sale/invoice", {"SaleID": other["ID"], "Status": "AUTHORISED", "Lines": lines})
    notes = w.call("GET", "sale/creditnote", params={"SaleID": sale["ID"]})
    w.call("DELETE", "sale/creditnote", params={"TaskID": notes["CreditNotes"][0]["TaskID"], "Void": "true"})
    w.call("DELETE", "sale/invoice", params={"TaskID": task, "Void": "true"})
    w.call("DELETE", "sale", params={"ID": other["ID"], "Void": "true"})
    purchase = w.call("POST", "purchase", {"SupplierID": supplier["ID"], "Note": "walk"})
    w.call("PUT", "purchase", {"ID": purchase["ID"], "Note": "walk again"})
    plines = [
        {
            "ProductID": product["ID"],
            "Quantity": 3,
            "Price": 4,
            "Discount": 0,
            "TaxRule": "GST on Expenses",
            "Total": 12,
        }
    ]
    w.call("POST", "purchase/order", {"TaskID": purchase["ID"], "Status": "AUTHORISED", "Lines": plines})
    w.call("GET", "purchase/order", params={"TaskID": purchase["ID"]})
    w.call(
        "POST",
        "purchase/invoice",
        {"TaskID": purchase["ID"], "Status": "AUTHORISED", "InvoiceNumber": "SUP-1", "Lines": plines},
    )
    w.call("GET", "purchase/invoice", params={"TaskID": purchase["ID"]})
    w.call("GET", "purchase", params={"ID": purchase["ID"]})
    w.call("GET", "purchaseList", params={"UpdatedSince": "2000-01-01T00:00:00"})
    w.call("DELETE", "purchase", params={"ID": purchase["ID"], "Void": "true"})
    hook = w.call(
        "POST",
        "webhooks",
        {
            "Type": "Customer/Updated",
            "ExternalURL": "http://127.0.0.1:9/hook",
            "ExternalAuthorizationType": "bearerauth",
            "ExternalBearerToken": "t",
        },
    )
    w.call("PUT", "webhooks", {"ID": hook["Webhooks"][0]["ID"], "IsActive": False})
    w.call("GET", "webhooks")
    w.call("DELETE", "webhooks", params={"ID": hook["Webhooks"][0]["ID"]})
    # Every resource the sandbox serves was walked, and most answers had a schema to meet.
    walked = {p.lower() for _, p in w.checked | w.without_schema}
    assert walked == set(_PATHS), sorted(set(_PATHS) - walked)
    assert len(w.checked) >= 40, (len(w.checked), sorted(w.without_schema))


def test_errors_have_dears_shape(sandbox: Sandbox) -> None:
    bad = httpx.get(
        f"{sandbox.url}/ExternalApi/v2/customer",
        headers={"api-auth-accountid": sandbox.account_id, "api-auth-applicationkey": "nope"},
    )
    assert bad.status_code == 403 and bad.json() == [{"ErrorCode": 403, "Exception": "Method authentication failed"}]
    missing = sandbox.api.post("customer", json={"Status": "Active"})
    assert missing.status_code == 400 and "Name is required" in missing.json()[0]["Exception"]
    assert sandbox.api.get("Products").status_code == 404
