"""DEAR's business rules per resource: customers, suppliers, products, sales (header, order, invoice, payment,
credit note, void), purchases (order, invoice), reference lists and webhooks. Pure functions over an Account.

Each handler returns (status, body, events): `events` are (webhook type, payload) pairs for the dispatcher."""

from __future__ import annotations

import copy
from collections.abc import Callable, Mapping
from decimal import ROUND_HALF_UP, Decimal
from typing import Any

from ..common.codec import money, to_dec
from .state import WEBHOOK_TYPES, Account, new_id, parse_stamp, stamp

Events = list[tuple[str, dict[str, Any]]]
Result = tuple[int, Any, Events]


class ApiError(Exception):
    """An answer other than 200: the status and DEAR's message."""

    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.message = message


def error_body(status: int, message: str) -> list[dict[str, Any]]:
    # Error{ErrorCode, Exception} (nnhansg/dear-ruby models/error.rb); that it comes as a list is a guess.
    return [{"ErrorCode": status, "Exception": message}]


def _bad(message: str) -> ApiError:
    return ApiError(400, message)


def _str(body: Mapping[str, Any], key: str, default: str = "") -> str:
    value = body.get(key)
    return default if value is None else str(value).strip()


def _bool(value: Any) -> bool:
    return str(value).strip().lower() in ("true", "1", "yes")


# -- paging ---------------------------------------------------------------------------------------------------
def page_params(query: Mapping[str, str]) -> tuple[int, int]:
    """Page and Limit: default 100, minimum 1, maximum 1000 (openapi.yaml info.description)."""
    try:
        page = int(query.get("Page") or 1)
        limit = int(query.get("Limit") or 100)
    except ValueError:
        raise _bad("Page and Limit must be whole numbers") from None
    if page < 1:
        raise _bad("Page must be 1 or more")
    if limit < 1 or limit > 1000:
        raise _bad("Limit must be between 1 and 1000")
    return page, limit


def paged(key: str, items: list[dict[str, Any]], query: Mapping[str, str]) -> dict[str, Any]:
    page, limit = page_params(query)
    start = (page - 1) * limit
    return {"Total": len(items), "Page": page, key: items[start : start + limit]}


def _since(query: Mapping[str, str], name: str) -> float | None:
    value = query.get(name)
    if not value:
        return None
    try:
        return parse_stamp(value)
    except ValueError:
        raise _bad(f"{name} is not a valid date") from None


def _ordered(records: list[dict[str, Any]], stamp_key: str) -> list[dict[str, Any]]:
    return sorted(records, key=lambda r: (str(r.get(stamp_key) or ""), str(r.get("ID") or r.get("SaleID"))))


# -- customers and suppliers ------------------------------------------------------------------------------------
_ATTRS = [f"AdditionalAttribute{i}" for i in range(1, 11)]


def _contact_people(body: Mapping[str, Any], supplier: bool) -> list[dict[str, Any]]:
    out = []
    for i, c in enumerate(body.get("Contacts") or []):
        if not isinstance(c, Mapping):
            raise _bad("Contacts must be a list of objects")
        person: dict[str, Any] = {
            "Name": _str(c, "Name"),
            "Phone": _str(c, "Phone"),
            "MobilePhone": _str(c, "MobilePhone"),
            "Fax": _str(c, "Fax"),
            "Email": _str(c, "Email"),
            "Website": c.get("Website"),
            "Comment": c.get("Comment"),
            "Default": bool(c.get("Default", i == 0)),
            "IncludeInEmail": bool(c.get("IncludeInEmail", False)),
        }
        if not supplier:
            person["ID"] = _str(c, "ID") or new_id()
            person["JobTitle"] = c.get("JobTitle")
        out.append(person)
    return out


def _addresses(body: Mapping[str, Any], supplier: bool) -> list[dict[str, Any]]:
    out = []
    for a in body.get("Addresses") or []:
        if not isinstance(a, Mapping):
            raise _bad("Addresses must be a list of objects")
        address: dict[str, Any] = {
            "Line1": _str(a, "Line1"),
            "Line2": _str(a, "Line2"),
            "City": _str(a, "City"),
            "State": _str(a, "State"),
            "Postcode": _str(a, "Postcode"),
            "Country": _str(a, "Country"),
            "Type": _str(a, "Type", "Billing"),
            "DefaultForType": bool(a.get("DefaultForType", True)),
        }
        if not supplier:
            address["ID"] = _str(a, "ID") or new_id()
        out.append(address)
    return out


def _party(
    acct: Account, kind: str, body: Mapping[str, Any], now: float, existing: dict[str, Any] | None
) -> dict[str, Any]:
    supplier = kind == "supplier"
    record: dict[str, Any] = copy.deepcopy(existing) if existing else {"ID": new_id()}
    name = _str(body, "Name", str(record.get("Name") or ""))
    if not name:
        raise _bad("Name is required")
    if len(name) > 256:
        raise _bad("Name must be 256 characters or fewer")
    status = _str(body, "Status", str(record.get("Status") or "Active"))
    if status not in ("Active", "Deprecated"):
        raise _bad("Status must be Active or Deprecated")
    label = "Supplier" if supplier else "Customer"
    if status == "Active":
        # The sandbox refuses a second active record of one name (wording UNVERIFIED).
        for other in acct.data[kind].values():
            if other["ID"] != record["ID"] and other["Status"] == "Active" and other["Name"].lower() == name.lower():
                raise _bad(f"{label} with name '{name}' already exists")
    record.update(
        {
            "Name": name,
            "Status": status,
            "Currency": _str(body, "Currency", record.get("Currency") or acct.currency),
            "PaymentTerm": _str(body, "PaymentTerm", record.get("PaymentTerm") or "30 days"),
            "TaxRule": _str(
                body, "TaxRule", record.get("TaxRule") or ("GST on Expenses" if supplier else "GST on Income")
            ),
            "Discount": to_dec(body.get("Discount"), Decimal(str(record.get("Discount", 0)))),
            "Comments": body.get("Comments", record.get("Comments")),
            "TaxNumber": body.get("TaxNumber", record.get("TaxNumber")),
            "AttributeSet": body.get("AttributeSet", record.get("AttributeSet")),
            "LastModifiedOn": stamp(now),
        }
    )
    for attr in _ATTRS:
        record[attr] = body.get(attr, record.get(attr))
    if "Contacts" in body or "Contacts" not in record:
        record["Contacts"] = _contact_people(body, supplier)
    if "Addresses" in body or "Addresses" not in record:
        record["Addresses"] = _addresses(body, supplier)
    if supplier:
        record["AccountPayable"] = _str(body, "AccountPayable", record.get("AccountPayable") or "800")
    else:
        record.update(
            {
                "AccountReceivable": _str(body, "AccountReceivable", record.get("AccountReceivable") or "610"),
                "RevenueAccount": _str(body, "RevenueAccount", record.get("RevenueAccount") or "200"),
                "PriceTier": _str(body, "PriceTier", record.get("PriceTier") or "Tier 1"),
                "Carrier": _str(body, "Carrier", record.get("Carrier") or ""),
                "SalesRepresentative": body.get("SalesRepresentative", record.get("SalesRepresentative")),
                "Location": _str(body, "Location", record.get("Location") or "Main Warehouse"),
                "CreditLimit": to_dec(body.get("CreditLimit"), Decimal(str(record.get("CreditLimit", 0)))),
                "IsOnCreditHold": bool(body.get("IsOnCreditHold", record.get("IsOnCreditHold", False))),
                "Tags": body.get("Tags", record.get("Tags")),
                "ProductPrices": record.get("ProductPrices") or [],
            }
        )
    return record


def list_parties(acct: Account, kind: str, query: Mapping[str, str]) -> dict[str, Any]:
    since = _since(query, "ModifiedSince")
    wanted_id = query.get("ID")
    name = (query.get("Name") or "").lower()
    deprecated = _bool(query.get("IncludeDeprecated", "false"))
    items = []
    for r in acct.data[kind].values():
        if wanted_id and r["ID"] != wanted_id:
            continue
        if name and name not in r["Name"].lower():
            continue
        if not deprecated and not wanted_id and r["Status"] == "Deprecated":
            continue
        if since is not None and parse_stamp(r["LastModifiedOn"]) < since:
            continue
        items.append(r)
    key = "SupplierList" if kind == "supplier" else "CustomerList"
    return paged(key, _ordered(items, "LastModifiedOn"), query)


def write_party(acct: Account, kind: str, method: str, body: Mapping[str, Any], now: float) -> Result:
    existing = None
    if method == "PUT":
        rid = _str(body, "ID")
        existing = acct.data[kind].get(rid)
        if existing is None:
            raise _bad(f"{'Supplier' if kind == 'supplier' else 'Customer'} with ID '{rid}' not found")
    record = _party(acct, kind, body, now, existing)
    acct.data[kind][record["ID"]] = record
    key = "SupplierList" if kind == "supplier" else "CustomerList"
    event = "Supplier/Updated" if kind == "supplier" else "Customer/Updated"
    return 200, {key: [record]}, [(event, record)]


# -- products -------------------------------------------------------------------------------------------------
def _product(acct: Account, body: Mapping[str, Any], now: float, existing: dict[str, Any] | None) -> dict[str, Any]:
    record: dict[str, Any] = copy.deepcopy(existing) if existing else {"ID": new_id()}
    sku = _str(body, "SKU", str(record.get("SKU") or ""))
    name = _str(body, "Name", str(record.get("Name") or ""))
    if not sku or not name:
        raise _bad("SKU and Name are required")
    for other in acct.data["product"].values():
        if other["ID"] != record["ID"] and other["SKU"].lower() == sku.lower():
            raise _bad(f"Product with SKU '{sku}' already exists")
    status = _str(body, "Status", str(record.get("Status") or "Active"))
    if status not in ("Active", "Deprecated"):
        raise _bad("Status must be Active or Deprecated")
    kind = _str(body, "Type", str(record.get("Type") or "Stock"))
    if kind not in ("Stock", "Service", "Gift Card", "Fixed Asset", "Non-Inventory"):
        raise _bad("Type is not valid")
    for field in ("RevenueAccount", "COGSAccount", "InventoryAccount", "ExpenseAccount"):
        if body.get(field):
            _account(acct, str(body[field]))
    for field in ("SaleTaxRule", "PurchaseTaxRule"):
        if body.get(field):
            _tax_rate(acct, str(body[field]))
    record.update(
        {
            "SKU": sku,
            "Name": name,
            "Status": status,
            "Type": kind,
            "Category": _str(body, "Category", record.get("Category") or "General"),
            "Brand": body.get("Brand", record.get("Brand")),
            "UOM": _str(body, "UOM", record.get("UOM") or "Item"),
            "CostingMethod": _str(body, "CostingMethod", record.get("CostingMethod") or "FIFO"),
            "Description": body.get("Description", record.get("Description")),
            "Barcode": body.get("Barcode", record.get("Barcode")),
            "DefaultLocation": _str(body, "DefaultLocation", record.get("DefaultLocation") or "Main Warehouse"),
            "RevenueAccount": body.get("RevenueAccount", record.get("RevenueAccount", "200")),
            "COGSAccount": body.get("COGSAccount", record.get("COGSAccount", "310")),
            "InventoryAccount": body.get("InventoryAccount", record.get("InventoryAccount", "630")),
            "ExpenseAccount": body.get("ExpenseAccount", record.get("ExpenseAccount")),
            "SaleTaxRule": body.get("SaleTaxRule", record.get("SaleTaxRule", "GST on Income")),
            "PurchaseTaxRule": body.get("PurchaseTaxRule", record.get("PurchaseTaxRule", "GST on Expenses")),
            "DropShipMode": _str(body, "DropShipMode", record.get("DropShipMode") or "No Drop Ship"),
            "AverageCost": to_dec(record.get("AverageCost"), Decimal(0)),
            "LastModifiedOn": stamp(now),
        }
    )
    for i in range(1, 11):
        key = f"PriceTier{i}"
        record[key] = money(to_dec(body.get(key), to_dec(record.get(key), Decimal(0))))
    for attr in _ATTRS:
        record[attr] = body.get(attr, record.get(attr))
    return record


def list_products(acct: Account, query: Mapping[str, str]) -> dict[str, Any]:
    since = _since(query, "ModifiedSince")
    wanted = query.get("ID")
    sku = (query.get("Sku") or "").lower()
    name = (query.get("Name") or "").lower()
    deprecated = _bool(query.get("IncludeDeprecated", "false"))
    items = []
    for r in acct.data["product"].values():
        if (
            (wanted and r["ID"] != wanted)
            or (sku and r["SKU"].lower() != sku)
            or (name and name not in r["Name"].lower())
        ):
            continue
        if not deprecated and not wanted and r["Status"] == "Deprecated":
            continue
        if since is not None and parse_stamp(r["LastModifiedOn"]) < since:
            continue
        items.append(r)
    return paged("Products", _ordered(items, "LastModifiedOn"), query)


def write_product(acct: Account, method: str, body: Mapping[str, Any], now: float) -> Result:
    existing = None
    if method == "PUT":
        existing = acct.data["product"].get(_str(body, "ID"))
        if existing is None:
            raise _bad(f"Product with ID '{_str(body, 'ID')}' not found")
    record = _product(acct, body, now, existing)
    acct.data["product"][record["ID"]] = record
    return 200, {"Total": 1, "Page": 1, "Products": [record]}, []


def availability(acct: Account, query: Mapping[str, str]) -> dict[str, Any]:
    items = []
    for pid, per_location in acct.stock.items():
        product = acct.data["product"].get(pid)
        if product is None or (query.get("ID") and query["ID"] != pid):
            continue
        if query.get("Sku") and query["Sku"].lower() != product["SKU"].lower():
            continue
        for location, on_hand in sorted(per_location.items()):
            if query.get("Location") and query["Location"] != location:
                continue
            qty = to_dec(on_hand, Decimal(0))
            items.append(
                {
                    "ID": pid,
                    "SKU": product["SKU"],
                    "Name": product["Name"],
                    "Barcode": product.get("Barcode"),
                    "Location": location,
                    "Bin": None,
                    "Batch": None,
                    "ExpiryDate": None,
                    "OnHand": qty,
                    "StockOnHand": qty,
                    "Allocated": Decimal(0),
                    "Available": qty,
                    "OnOrder": Decimal(0),
                    "InTransit": Decimal(0),
                }
            )
    return paged("ProductAvailabilityList", items, query)


# -- lines ----------------------------------------------------------------------------------------------------
def _tax_rate(acct: Account, rule: str) -> Decimal:
    for tax in acct.ref["tax"]:
        if tax["Name"].lower() == rule.lower() or tax["ID"] == rule:
            return Decimal(str(tax["TaxPercent"]))
    raise _bad(f"Tax rule '{rule}' not found")


def _account(acct: Account, code: str, for_payments: bool = False) -> str:
    """An account code of the company's chart (ref/account). sandbox guess: DEAR's wording for a code it does not
    have (or one a payment can't go to) is not published; these are the sandbox's own, in its validation style."""
    for account in acct.ref["account"]:
        if account["Code"].lower() == code.lower() and account["Status"] == "ACTIVE":
            if for_payments and not account["ForPayments"]:
                raise _bad(f"Account '{account['Code']}' is not enabled for payments")
            return str(account["Code"])
    raise _bad(f"Account '{code}' not found")


def _lines(acct: Account, body: Mapping[str, Any], default_tax: str, with_account: bool) -> list[dict[str, Any]]:
    out: list[dict[str, Any]] = []
    lines = body.get("Lines")
    if lines is None:
        return out
    if not isinstance(lines, list):
        raise _bad("Lines must be a list")
    for n, raw in enumerate(lines, start=1):
        if not isinstance(raw, Mapping):
            raise _bad("Lines must be a list of objects")
        product = None
        pid = _str(raw, "ProductID")
        sku = _str(raw, "SKU")
        if pid:
            product = acct.data["product"].get(pid)
        elif sku:
            product = next((p for p in acct.data["product"].values() if p["SKU"].lower() == sku.lower()), None)
        if product is None:
            raise _bad(f"Line {n}: product '{pid or sku}' not found")
        try:
            qty = to_dec(raw.get("Quantity"))
            price = to_dec(raw.get("Price"), Decimal(0))
            discount = to_dec(raw.get("Discount"), Decimal(0))
        except ValueError as exc:
            raise _bad(f"Line {n}: {exc}") from None
        # Quantity: up to 4 decimals, at least 1 (tag "Sale"); Discount 0-100 with 2 decimals.
        if qty < 1 or qty != qty.quantize(Decimal("0.0001")):
            raise _bad(f"Line {n}: Quantity must be at least 1 with up to 4 decimals")
        if discount < 0 or discount > 100:
            raise _bad(f"Line {n}: Discount must be between 0 and 100")
        rule = _str(raw, "TaxRule", default_tax)
        rate = _tax_rate(acct, rule)
        total = money(qty * price * (100 - discount) / 100)
        tax = money(total * rate / 100)
        given = raw.get("Total")
        # Line Total is sent "for validation": a total that disagrees with the line is refused.
        if given is not None and money(to_dec(given)) != total:
            raise _bad(
                f"Line {n}: Total {money(to_dec(given))} does not match Quantity x Price less Discount ({total})"
            )
        given_tax = raw.get("Tax")
        if given_tax is not None and money(to_dec(given_tax)) != tax:
            raise _bad(f"Line {n}: Tax {money(to_dec(given_tax))} does not match the tax rule ({tax})")
        line: dict[str, Any] = {
            "ProductID": product["ID"],
            "SKU": product["SKU"],
            "Name": _str(raw, "Name", product["Name"]),
            "Quantity": qty,
            "Price": price,
            "Discount": discount,
            "Tax": tax,
            "TaxRule": rule,
            "Total": total,
            "Comment": _str(raw, "Comment"),
            "AverageCost": to_dec(product.get("AverageCost"), Decimal(0)),
        }
        if with_account:
            line["Account"] = _account(acct, _str(raw, "Account", str(product.get("RevenueAccount") or "200")))
        out.append(line)
    return out


def _totals(lines: list[dict[str, Any]]) -> tuple[Decimal, Decimal, Decimal]:
    before = sum((Decimal(str(line["Total"])) for line in lines), Decimal("0.00"))
    tax = sum((Decimal(str(line["Tax"])) for line in lines), Decimal("0.00"))
    return money(before), money(tax), money(before + tax)


def _status(body: Mapping[str, Any], allowed: tuple[str, ...], default: str = "DRAFT") -> str:
    status = _str(body, "Status", default).upper()
    if status not in allowed:
        raise _bad(f"Status must be one of {', '.join(allowed)}")
    return status


# -- sales ----------------------------------------------------------------------------------------------------
def _customer_of(acct: Account, body: Mapping[str, Any]) -> dict[str, Any]:
    cid = _str(body, "CustomerID")
    name = _str(body, "Customer")
    found = acct.data["customer"].get(cid) if cid else None
    if found is None and name and not cid:
        found = next((c for c in acct.data["customer"].values() if c["Name"].lower() == name.lower()), None)
    if found is None:
        raise _bad(f"Customer '{cid or name}' not found")
    if found["Status"] == "Deprecated":
        raise _bad(f"Customer '{found['Name']}' is deprecated")
    return found


def _sale(acct: Account, sale_id: str) -> dict[str, Any]:
    sale = acct.data["sale"].get(sale_id)
    if sale is None:
        raise _bad(f"Sale with ID '{sale_id}' not found")
    return sale


def _touch(sale: dict[str, Any], now: float, stamp_it: bool = True) -> None:
    invoices = [i for i in sale["Invoices"] if i["Status"] != "VOIDED"]
    paid = sum((Decimal(str(p["Amount"])) for i in invoices for p in i["Payments"]), Decimal("0.00"))
    owed = sum((Decimal(str(i["Total"])) for i in invoices), Decimal("0.00"))
    for inv in invoices:
        inv_paid = sum((Decimal(str(p["Amount"])) for p in inv["Payments"]), Decimal("0.00"))
        inv["Paid"] = money(inv_paid)
        if inv["Status"] in ("AUTHORISED", "PAID"):
            inv["Status"] = "PAID" if inv_paid >= Decimal(str(inv["Total"])) and inv_paid > 0 else "AUTHORISED"
    if sale["Status"] != "VOIDED":
        authorised = [i for i in invoices if i["Status"] in ("AUTHORISED", "PAID")]
        if authorised:
            sale["CombinedInvoiceStatus"] = "INVOICED"
            sale["Status"] = "INVOICED" if paid < owed or owed == 0 else "COMPLETED"
        elif invoices:
            sale["CombinedInvoiceStatus"] = "DRAFT"
        sale["CombinedPaymentStatus"] = (
            "PAID" if owed > 0 and paid >= owed else ("PARTIALLY PAID" if paid else "UNPAID")
        )
    sale["PaidAmount"] = money(paid)
    sale["InvoiceAmount"] = money(owed)
    if stamp_it:
        sale["LastModifiedOn"] = stamp(now)
        sale["Updated"] = sale["LastModifiedOn"]


def create_sale(acct: Account, body: Mapping[str, Any], now: float) -> Result:
    customer = _customer_of(acct, body)
    tax_rule = _str(body, "TaxRule", customer["TaxRule"])
    _tax_rate(acct, tax_rule)
    external = body.get("ExternalID")
    sale_id = new_id()
    sale: dict[str, Any] = {
        "ID": sale_id,
        "Customer": customer["Name"],
        "CustomerID": customer["ID"],
        "Contact": _str(body, "Contact"),
        "Phone": _str(body, "Phone"),
        "Email": _str(body, "Email"),
        "CustomerReference": _str(body, "CustomerReference"),
        "ExternalID": None if external in (None, "") else str(external),
        "Status": "ORDERING",
        "Type": "Simple Sale",
        "SaleOrderDate": _str(body, "SaleOrderDate", stamp(now)[:10] + "T00:00:00"),
        "Location": _str(body, "Location", customer["Location"]),
        "TaxRule": tax_rule,
        "TaxInclusive": bool(body.get("TaxInclusive", False)),
        "Terms": _str(body, "Terms", customer["PaymentTerm"]),
        "PriceTier": _str(body, "PriceTier", customer["PriceTier"]),
        "Note": _str(body, "Note"),
        "BaseCurrency": acct.currency,
        "CustomerCurrency": customer["Currency"],
        "CurrencyRate": to_dec(body.get("CurrencyRate"), Decimal(1)),
        "Carrier": customer["Carrier"],
        "SalesRepresentative": _str(body, "SalesRepresentative"),
        "DefaultAccount": customer["RevenueAccount"],
        "QuoteStatus": "NOT AVAILABLE",
        "CombinedInvoiceStatus": "NOT AVAILABLE",
        "CombinedPaymentStatus": "UNPAID",
        "CombinedPickingStatus": "NOT AVAILABLE",
        "CombinedPackingStatus": "NOT AVAILABLE",
        "CombinedShippingStatus": "NOT AVAILABLE",
        "CombinedTrackingNumbers": "",
        "FulFilmentStatus": "NOT FULFILLED",
        "CreditNoteStatus": "NOT AVAILABLE",
        "SourceChannel": None,
        "ShipBy": None,
        "COGSAmount": Decimal("0.00"),
        "BillingAddress": {
            "Line1": "",
            "Line2": "",
            "City": "",
            "State": "",
            "Postcode": "",
            "Country": "",
            "DisplayAddressLine1": "",
            "DisplayAddressLine2": "",
        },
        "AdditionalAttributes": {a: "" for a in _ATTRS},
        "Attachments": [],
        "Order": None,
        "Invoices": [],
        "CreditNotes": [],
        "OrderNumber": acct.next_number("SO"),
    }
    _touch(sale, now)
    acct.data["sale"][sale_id] = sale
    return 200, render_sale(sale), []


def update_sale(acct: Account, body: Mapping[str, Any], now: float) -> Result:
    sale = _sale(acct, _str(body, "ID"))
    if sale["Status"] == "VOIDED":
        raise _bad("Sale is voided and cannot be changed")
    for key in ("CustomerReference", "Note", "Terms", "Contact", "Phone", "Email"):
        if key in body:
            sale[key] = _str(body, key)
    if "ExternalID" in body:
        sale["ExternalID"] = body.get("ExternalID") or None
    _touch(sale, now)
    return 200, render_sale(sale), []


def render_sale(sale: dict[str, Any]) -> dict[str, Any]:
    out = copy.deepcopy(sale)
    if out["Order"] is None:
        out.pop("Order")
    return out


def summary(sale: dict[str, Any]) -> dict[str, Any]:
    live = [i for i in sale["Invoices"] if i["Status"] != "VOIDED"] or sale["Invoices"]
    first = live[0] if live else None
    credit = sale["CreditNotes"][0] if sale["CreditNotes"] else None
    return {
        "SaleID": sale["ID"],
        "OrderNumber": sale["OrderNumber"],
        "Status": sale["Status"],
        "OrderDate": sale["SaleOrderDate"],
        "InvoiceDate": first["InvoiceDate"] if first else None,
        "InvoiceDueDate": first["InvoiceDueDate"] if first else None,
        "InvoiceNumber": first["InvoiceNumber"] if first else None,
        "Customer": sale["Customer"],
        "CustomerID": sale["CustomerID"],
        "CustomerReference": sale["CustomerReference"],
        "ExternalID": sale["ExternalID"],
        "InvoiceAmount": sale["InvoiceAmount"],
        "PaidAmount": sale["PaidAmount"],
        "BaseCurrency": sale["BaseCurrency"],
        "CustomerCurrency": sale["CustomerCurrency"],
        "QuoteStatus": sale["QuoteStatus"],
        "OrderStatus": sale["Order"]["Status"] if sale["Order"] else "NOT AVAILABLE",
        "CombinedPickingStatus": sale["CombinedPickingStatus"],
        "CombinedPackingStatus": sale["CombinedPackingStatus"],
        "CombinedShippingStatus": sale["CombinedShippingStatus"],
        "CombinedInvoiceStatus": sale["CombinedInvoiceStatus"],
        "CombinedPaymentStatus": sale["CombinedPaymentStatus"],
        "CombinedTrackingNumbers": sale["CombinedTrackingNumbers"],
        "FulFilmentStatus": sale["FulFilmentStatus"],
        "CreditNoteNumber": credit["CreditNoteNumber"] if credit else None,
        "CreditNoteStatus": sale["CreditNoteStatus"],
        "OrderLocationID": sale["Location"],
        "ShipBy": sale["ShipBy"],
        "SourceChannel": sale["SourceChannel"],
        "Type": sale["Type"],
        "Updated": sale["Updated"],
    }


def list_sales(acct: Account, query: Mapping[str, str]) -> dict[str, Any]:
    since = _since(query, "UpdatedSince")
    created = _since(query, "CreatedSince")
    search = (query.get("Search") or "").lower()
    external = query.get("ExternalID")
    status = (query.get("Status") or "").upper()
    items = []
    for sale in acct.data["sale"].values():
        row = summary(sale)
        if since is not None and parse_stamp(sale["Updated"]) < since:
            continue
        if created is not None and parse_stamp(sale["_created"] if "_created" in sale else sale["Updated"]) < created:
            continue
        if external and sale["ExternalID"] != external:
            continue
        if status and sale["Status"] != status:
            continue
        if search:
            fields = [sale["OrderNumber"], sale["Customer"], sale["CustomerReference"], sale["Status"]]
            fields += [i["InvoiceNumber"] for i in sale["Invoices"]]
            if not any(search in str(f).lower() for f in fields):
                continue
        items.append(row)
    return paged("SaleList", _ordered(items, "Updated"), query)


def sale_order(acct: Account, body: Mapping[str, Any], now: float) -> Result:
    sale = _sale(acct, _str(body, "SaleID"))
    if sale["Status"] == "VOIDED":
        raise _bad("Sale is voided and cannot be changed")
    status = _status(body, ("DRAFT", "AUTHORISED"))
    if any(i["Status"] in ("AUTHORISED", "PAID") for i in sale["Invoices"]) and sale["Order"]:
        # The order of an invoiced simple sale follows the invoice; it is rewritten with it.
        pass
    lines = _lines(acct, body, sale["TaxRule"], with_account=False)
    before, tax, total = _totals(lines)
    for line in lines:
        line.setdefault("DropShip", False)
        line.setdefault("BackorderQuantity", Decimal(0))
    number = sale["Order"]["SaleOrderNumber"] if sale["Order"] else sale["OrderNumber"]
    sale["Order"] = {
        "SaleOrderNumber": number,
        "Memo": _str(body, "Memo"),
        "Status": status,
        "Lines": lines,
        "AdditionalCharges": [],
        "TotalBeforeTax": before,
        "Tax": tax,
        "Total": total,
    }
    if status == "AUTHORISED" and sale["Status"] == "ORDERING":
        sale["Status"] = "ORDERED"
    _touch(sale, now)
    events: Events = [("Sale/OrderAuthorised", webhook_sale(sale))] if status == "AUTHORISED" else []
    return 200, {"SaleID": sale["ID"], **sale["Order"]}, events


def _invoice_view(inv: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in inv.items() if k != "Payments"} | {"Payments": inv["Payments"]}


def sale_invoice(acct: Account, body: Mapping[str, Any], now: float) -> Result:
    sale = _sale(acct, _str(body, "SaleID"))
    if sale["Status"] == "VOIDED":
        raise _bad("Sale is voided and cannot be changed")
    status = _status(body, ("DRAFT", "AUTHORISED"))
    task = _str(body, "TaskID")
    inv = None
    if task:
        inv = next((i for i in sale["Invoices"] if i["TaskID"] == task), None)
        if inv is None:
            raise _bad(f"Invoice with TaskID '{task}' not found")
    elif sale["Type"] == "Simple Sale" and sale["Invoices"]:
        inv = next((i for i in sale["Invoices"] if i["Status"] != "VOIDED"), None)
    if inv is not None:
        if inv["Status"] == "VOIDED":
            raise _bad("Invoice is voided and cannot be changed")
        if inv["Payments"]:
            # Cin7 Core's own wording for a paid document (seeds: "Current invoice has been paid ...").
            raise _bad("Invoice has payments and cannot be updated. Please remove payments and then try again")
    lines = _lines(acct, body, sale["TaxRule"], with_account=True)
    if status == "AUTHORISED" and not lines and not (inv and inv["Lines"]):
        raise _bad("An invoice needs at least one line to be authorised")
    before, tax, total = _totals(lines)
    date = _str(body, "InvoiceDate", stamp(now)[:10] + "T00:00:00")
    created = inv is None
    if inv is None:
        inv = {
            "TaskID": new_id(),
            "InvoiceNumber": acct.next_number("INV"),
            "Payments": [],
            "Paid": Decimal("0.00"),
        }
        sale["Invoices"].append(inv)
    inv.update(
        {
            "Status": status,
            "InvoiceDate": date,
            "InvoiceDueDate": _str(body, "InvoiceDueDate", date),
            "Memo": _str(body, "Memo"),
            "BillingAddressLine1": _str(body, "BillingAddressLine1"),
            "BillingAddressLine2": _str(body, "BillingAddressLine2"),
            "LinkedFulfillmentNumber": _str(body, "LinkedFulfillmentNumber"),
            "CurrencyConversionRate": to_dec(body.get("CurrencyConversionRate"), Decimal(1)),
            "CombineAdditionalCharges": bool(body.get("CombineAdditionalCharges", False)),
            "Lines": lines,
            "AdditionalCharges": [],
            "TotalBeforeTax": before,
            "Tax": tax,
            "Total": total,
        }
    )
    _touch(sale, now)
    events: Events = []
    if status == "AUTHORISED":
        events.append(("Sale/InvoiceAuthorised", webhook_sale(sale)))
    del created
    return 200, {"SaleID": sale["ID"], "Invoices": [_invoice_view(i) for i in sale["Invoices"]]}, events


def get_invoices(acct: Account, query: Mapping[str, str]) -> dict[str, Any]:
    sale = _sale(acct, query.get("SaleID") or "")
    return {"SaleID": sale["ID"], "Invoices": [_invoice_view(i) for i in sale["Invoices"]]}


def _find_task(acct: Account, task: str) -> tuple[dict[str, Any], dict[str, Any]]:
    for sale in acct.data["sale"].values():
        for inv in sale["Invoices"]:
            if inv["TaskID"] == task:
                return sale, inv
    raise _bad(f"Invoice with TaskID '{task}' not found")


def _payment_view(sale: dict[str, Any], inv: dict[str, Any], p: dict[str, Any]) -> dict[str, Any]:
    return {
        **p,
        "TaskID": inv["TaskID"],
        "SaleID": sale["ID"],
        "SaleOrderNumber": sale["OrderNumber"],
        "InvoiceNumber": inv["InvoiceNumber"],
        "CreditNoteNumber": None,
    }


def _payment_fields(
    acct: Account, body: Mapping[str, Any], current: dict[str, Any] | None, now: float
) -> dict[str, Any]:
    kind = _str(body, "Type", (current or {}).get("Type", "Payment"))
    if kind not in ("Payment", "Refund"):
        raise _bad("Type must be Payment or Refund")
    try:
        amount = money(to_dec(body.get("Amount"), Decimal(str((current or {}).get("Amount", "")) or "0")))
    except ValueError as exc:
        raise _bad(f"Amount: {exc}") from None
    if amount <= 0:
        raise _bad("Amount must be greater than zero")
    return {
        "ID": (current or {}).get("ID") or new_id(),
        "Type": kind,
        "Account": _account(acct, _str(body, "Account", (current or {}).get("Account", "090")), for_payments=True),
        "Amount": amount,
        "DatePaid": _str(body, "DatePaid", (current or {}).get("DatePaid") or stamp(now)[:10] + "T00:00:00"),
        "Reference": _str(body, "Reference", (current or {}).get("Reference", "")),
        "CurrencyRate": to_dec(body.get("CurrencyRate"), Decimal(1)),
        "CreditID": body.get("CreditID"),
        "DateCreated": (current or {}).get("DateCreated") or stamp(now),
    }


def _outstanding(inv: dict[str, Any], leaving_out: str | None = None) -> Decimal:
    paid = sum((Decimal(str(p["Amount"])) for p in inv["Payments"] if p["ID"] != leaving_out), Decimal("0.00"))
    return money(Decimal(str(inv["Total"])) - paid)


def _payment_events(sale: dict[str, Any], inv: dict[str, Any]) -> Events:
    full = _outstanding(inv) <= 0
    return [("Sale/FullPaymentReceived" if full else "Sale/PartialPaymentReceived", webhook_sale(sale))]


def add_payment(acct: Account, body: Mapping[str, Any], now: float) -> Result:
    sale, inv = _find_task(acct, _str(body, "TaskID"))
    if inv["Status"] not in ("AUTHORISED", "PAID"):
        raise _bad("Payments can only be added to an authorised invoice")
    payment = _payment_fields(acct, body, None, now)
    if payment["Amount"] > _outstanding(inv):
        # Cin7 Core's wording (seeds: "Payment amount exceeds the amount outstanding on this document").
        raise _bad("Payment amount exceeds the amount outstanding on this document")
    inv["Payments"].append(payment)
    _touch(sale, now)
    return 200, _payment_view(sale, inv, payment), _payment_events(sale, inv)


def _find_payment(acct: Account, pid: str) -> tuple[dict[str, Any], dict[str, Any], dict[str, Any]]:
    for sale in acct.data["sale"].values():
        for inv in sale["Invoices"]:
            for p in inv["Payments"]:
                if p["ID"] == pid:
                    return sale, inv, p
    raise _bad(f"Payment with ID '{pid}' not found")


def update_payment(acct: Account, body: Mapping[str, Any], now: float) -> Result:
    sale, inv, current = _find_payment(acct, _str(body, "ID"))
    payment = _payment_fields(acct, body, current, now)
    if payment["Amount"] > _outstanding(inv, leaving_out=current["ID"]):
        raise _bad("Payment amount exceeds the amount outstanding on this document")
    current.update(payment)
    _touch(sale, now)
    return 200, _payment_view(sale, inv, current), _payment_events(sale, inv)


def delete_payment(acct: Account, query: Mapping[str, str], now: float, touch: bool = True) -> Result:
    sale, inv, current = _find_payment(acct, query.get("ID") or "")
    inv["Payments"].remove(current)
    # sandbox guess (config payment_delete_touches_sale): whether the sale reads as changed, DEAR does not say.
    _touch(sale, now, stamp_it=touch)
    return 200, {"Success": True}, []


def list_payments(acct: Account, query: Mapping[str, str]) -> list[dict[str, Any]]:
    sale = _sale(acct, query.get("SaleID") or "")
    return [_payment_view(sale, inv, p) for inv in sale["Invoices"] for p in inv["Payments"]]


def void_sale(acct: Account, query: Mapping[str, str], now: float) -> Result:
    sale = _sale(acct, query.get("ID") or "")
    if not _bool(query.get("Void", "false")):
        if sale["Status"] not in ("DRAFT", "ORDERING") or sale["Invoices"]:
            raise _bad("Only a draft sale can be deleted; void it instead (Void=true)")
        del acct.data["sale"][sale["ID"]]
        return 200, render_sale(sale), []
    if any(i["Payments"] for i in sale["Invoices"]):
        raise _bad("Sale has payments. Please remove payments and then try again")
    sale["Status"] = "VOIDED"
    for inv in sale["Invoices"]:
        inv["Status"] = "VOIDED"
    if sale["Order"]:
        sale["Order"]["Status"] = "VOIDED"
    sale["CombinedInvoiceStatus"] = "VOIDED"
    _touch(sale, now)
    return 200, render_sale(sale), [("Sale/Voided", webhook_sale(sale))]


def void_invoice(acct: Account, query: Mapping[str, str], now: float) -> Result:
    sale, inv = _find_task(acct, query.get("TaskID") or "")
    if inv["Payments"]:
        raise _bad("Invoice has payments. Please remove payments and then try again")
    inv["Status"] = "VOIDED"
    _touch(sale, now)
    return 200, {"SaleID": sale["ID"], "Invoices": [_invoice_view(i) for i in sale["Invoices"]]}, []


def sale_credit_note(acct: Account, body: Mapping[str, Any], now: float) -> Result:
    sale = _sale(acct, _str(body, "SaleID"))
    if not any(i["Status"] in ("AUTHORISED", "PAID") for i in sale["Invoices"]):
        raise _bad("A credit note needs an authorised invoice")
    status = _status(body, ("DRAFT", "AUTHORISED"))
    lines = _lines(acct, body, sale["TaxRule"], with_account=True)
    before, tax, total = _totals(lines)
    task = _str(body, "TaskID")
    note = next((c for c in sale["CreditNotes"] if c["TaskID"] == task), None) if task else None
    if note is None:
        note = {"TaskID": new_id(), "CreditNoteNumber": acct.next_number("CR"), "Refunds": [], "Restock": []}
        sale["CreditNotes"].append(note)
    note.update(
        {
            "Status": status,
            "CreditNoteDate": _str(body, "CreditNoteDate", stamp(now)[:10] + "T00:00:00"),
            "CreditNoteInvoiceNumber": sale["Invoices"][0]["InvoiceNumber"],
            "CreditNoteConversionRate": Decimal(1),
            "Memo": _str(body, "Memo"),
            "Lines": lines,
            "AdditionalCharges": [],
            "TotalBeforeTax": before,
            "Tax": tax,
            "Total": total,
        }
    )
    sale["CreditNoteStatus"] = status
    _touch(sale, now)
    events: Events = [("Sale/CreditNoteAuthorised", webhook_sale(sale))] if status == "AUTHORISED" else []
    return 200, {"SaleID": sale["ID"], "CreditNotes": sale["CreditNotes"]}, events


def get_credit_notes(acct: Account, query: Mapping[str, str]) -> dict[str, Any]:
    sale = _sale(acct, query.get("SaleID") or "")
    return {"SaleID": sale["ID"], "CreditNotes": sale["CreditNotes"]}


def void_credit_note(acct: Account, query: Mapping[str, str], now: float) -> Result:
    for sale in acct.data["sale"].values():
        for note in sale["CreditNotes"]:
            if note["TaskID"] == query.get("TaskID"):
                note["Status"] = "VOIDED"
                sale["CreditNoteStatus"] = "VOIDED"
                _touch(sale, now)
                return 200, {"SaleID": sale["ID"], "CreditNotes": sale["CreditNotes"]}, []
    raise _bad(f"Credit note with TaskID '{query.get('TaskID')}' not found")


def webhook_sale(sale: dict[str, Any]) -> dict[str, Any]:
    """What a Sale/* webhook carries. The payload is not in the spec (UNVERIFIED): the sale's ids and state."""
    first = sale["Invoices"][0] if sale["Invoices"] else None
    return {
        "SaleID": sale["ID"],
        "SaleOrderNumber": sale["OrderNumber"],
        "InvoiceNumber": first["InvoiceNumber"] if first else None,
        "Customer": sale["Customer"],
        "CustomerID": sale["CustomerID"],
        "Status": sale["Status"],
        "Updated": sale["Updated"],
    }


# -- purchases -------------------------------------------------------------------------------------------------
def _supplier_of(acct: Account, body: Mapping[str, Any]) -> dict[str, Any]:
    sid = _str(body, "SupplierID")
    name = _str(body, "Supplier")
    found = acct.data["supplier"].get(sid) if sid else None
    if found is None and name and not sid:
        found = next((s for s in acct.data["supplier"].values() if s["Name"].lower() == name.lower()), None)
    if found is None:
        raise _bad(f"Supplier '{sid or name}' not found")
    return found


def _purchase(acct: Account, pid: str) -> dict[str, Any]:
    found = acct.data["purchase"].get(pid)
    if found is None:
        raise _bad(f"Purchase with ID '{pid}' not found")
    return found


def _blank_doc() -> dict[str, Any]:
    return {
        "Status": "NOT AVAILABLE",
        "Lines": [],
        "AdditionalCharges": [],
        "Tax": Decimal("0.00"),
        "Total": Decimal("0.00"),
        "TotalBeforeTax": Decimal("0.00"),
    }


def create_purchase(
    acct: Account, body: Mapping[str, Any], now: float, existing: dict[str, Any] | None = None
) -> Result:
    supplier = _supplier_of(acct, body) if existing is None or "SupplierID" in body or "Supplier" in body else None
    if existing is not None and existing["Status"] == "VOIDED":
        raise _bad("Purchase is voided and cannot be changed")
    record: dict[str, Any] = existing or {
        "ID": new_id(),
        "OrderNumber": acct.next_number("PO"),
        "Status": "ORDERING",
        "Type": "Simple Purchase",
        "Order": {**_blank_doc(), "Memo": "", "CombineAdditionalCharges": False},
        "Invoice": {
            **_blank_doc(),
            "InvoiceNumber": None,
            "InvoiceDate": "",
            "InvoiceDueDate": None,
            "Paid": Decimal("0.00"),
            "Payments": [],
        },
        "CreditNote": {
            **_blank_doc(),
            "CreditNoteNumber": "",
            "CreditNoteDate": None,
            "Refunds": [],
            "Unstock": {"Lines": [], "Status": "NOT AVAILABLE"},
        },
        "Attachments": [],
        "InventoryMovements": [],
        "ManualJournals": {"Lines": [], "Status": "NOT AVAILABLE"},
    }
    if supplier is not None:
        record.update(
            {"Supplier": supplier["Name"], "SupplierID": supplier["ID"], "SupplierCurrency": supplier["Currency"]}
        )
    record.update(
        {
            "Contact": _str(body, "Contact", record.get("Contact", "")),
            "Phone": _str(body, "Phone", record.get("Phone", "")),
            "Note": body.get("Note", record.get("Note")),
            "Location": _str(body, "Location", record.get("Location") or "Main Warehouse"),
            "TaxRule": _str(
                body, "TaxRule", record.get("TaxRule") or (supplier or {}).get("TaxRule", "GST on Expenses")
            ),
            "TaxCalculation": _str(body, "TaxCalculation", record.get("TaxCalculation") or "Exclusive"),
            "Terms": _str(body, "Terms", record.get("Terms") or (supplier or {}).get("PaymentTerm", "30 days")),
            "RequiredBy": body.get("RequiredBy", record.get("RequiredBy")),
            "Approach": _str(body, "Approach", record.get("Approach") or "INVOICE"),
            "BlindReceipt": bool(body.get("BlindReceipt", record.get("BlindReceipt", False))),
            "CurrencyRate": to_dec(body.get("CurrencyRate"), Decimal(1)),
            "BaseCurrency": acct.currency,
            "InventoryAccount": "630",
            "AdditionalAttributes": {a: "" for a in _ATTRS},
            "BillingAddress": {
                k: None
                for k in (
                    "Line1",
                    "Line2",
                    "City",
                    "State",
                    "Postcode",
                    "Country",
                    "DisplayAddressLine1",
                    "DisplayAddressLine2",
                )
            },
            "LastUpdatedDate": stamp(now),
        }
    )
    record["OrderDate"] = _str(body, "OrderDate", record.get("OrderDate") or stamp(now)[:10] + "T00:00:00")
    acct.data["purchase"][record["ID"]] = record
    return 200, copy.deepcopy(record), []


def _purchase_doc(acct: Account, body: Mapping[str, Any], now: float, which: str) -> Result:
    record = _purchase(acct, _str(body, "TaskID"))
    if record["Status"] == "VOIDED":
        raise _bad("Purchase is voided and cannot be changed")
    status = _status(body, ("DRAFT", "AUTHORISED"))
    lines = _lines(acct, body, record["TaxRule"], with_account=which == "Invoice")
    for line in lines:
        line.pop("AverageCost", None)
        if which == "Order":
            line["SupplierSKU"] = ""
        # A purchase's lines carry the product's details (openapi.yaml GET /purchase: required on its lines).
        product = acct.data["product"][line["ProductID"]]
        line.update(
            {
                "DimensionsUnits": "cm",
                "WeightUnits": "kg",
                "ProductHeight": Decimal(0),
                "ProductLength": Decimal(0),
                "ProductWidth": Decimal(0),
                "ProductWeight": Decimal(0),
            }
        )
        line.update({f"ProductCustomField{i}": product.get(f"AdditionalAttribute{i}") or "" for i in range(1, 11)})
    before, tax, total = _totals(lines)
    doc = record[which]
    if which == "Invoice" and doc["Payments"]:
        raise _bad("Invoice has payments and cannot be updated. Please remove payments and then try again")
    doc.update(
        {
            "Status": status,
            "Lines": lines,
            "TotalBeforeTax": before,
            "Tax": tax,
            "Total": total,
            "CombineAdditionalCharges": bool(body.get("CombineAdditionalCharges", False)),
        }
    )
    events: Events = []
    if which == "Order":
        doc["Memo"] = _str(body, "Memo")
        if status == "AUTHORISED":
            record["Status"] = "ORDERED"
            events.append(("Purchase/OrderAuthorised", {"PurchaseID": record["ID"], "Status": record["Status"]}))
    else:
        number = _str(body, "InvoiceNumber")
        if status == "AUTHORISED" and not number:
            raise _bad("InvoiceNumber is required to authorise a purchase invoice")
        date = _str(body, "InvoiceDate", stamp(now)[:10] + "T00:00:00")
        doc.update({"InvoiceNumber": number, "InvoiceDate": date, "InvoiceDueDate": _str(body, "InvoiceDueDate", date)})
        if status == "AUTHORISED":
            record["Status"] = "INVOICED"
            events.append(("Purchase/InvoiceAuthorised", {"PurchaseID": record["ID"], "Status": record["Status"]}))
    record["LastUpdatedDate"] = stamp(now)
    out = {"TaskID": record["ID"], **{k: v for k, v in doc.items() if k not in ("Payments", "Paid")}}
    if which == "Invoice":
        out["InvoiceTotalAmount"] = total
        out["InvoiceTotalTaxAmount"] = tax
        out["InvoiceDueDate"] = doc["InvoiceDueDate"] or ""
    return 200, out, events


def purchase_order(acct: Account, body: Mapping[str, Any], now: float) -> Result:
    return _purchase_doc(acct, body, now, "Order")


def purchase_invoice(acct: Account, body: Mapping[str, Any], now: float) -> Result:
    return _purchase_doc(acct, body, now, "Invoice")


def get_purchase_doc(acct: Account, query: Mapping[str, str], which: str) -> dict[str, Any]:
    record = _purchase(acct, query.get("TaskID") or "")
    doc = record[which]
    out = {"TaskID": record["ID"], **{k: v for k, v in doc.items() if k not in ("Payments", "Paid")}}
    if which == "Invoice":
        out["InvoiceTotalAmount"] = doc["Total"]
        out["InvoiceTotalTaxAmount"] = doc["Tax"]
        out["InvoiceNumber"] = doc["InvoiceNumber"] or ""
        out["InvoiceDueDate"] = doc["InvoiceDueDate"] or ""
    return out


def void_purchase(acct: Account, query: Mapping[str, str], now: float) -> Result:
    record = _purchase(acct, query.get("ID") or "")
    if not _bool(query.get("Void", "false")):
        raise _bad("Only Void=true is supported for a purchase that has documents")
    record["Status"] = "VOIDED"
    for which in ("Order", "Invoice"):
        if record[which]["Status"] != "NOT AVAILABLE":
            record[which]["Status"] = "VOIDED"
    record["LastUpdatedDate"] = stamp(now)
    return 200, copy.deepcopy(record), []


def list_purchases(acct: Account, query: Mapping[str, str]) -> dict[str, Any]:
    since = _since(query, "UpdatedSince")
    search = (query.get("Search") or "").lower()
    items = []
    for p in acct.data["purchase"].values():
        if since is not None and parse_stamp(p["LastUpdatedDate"]) < since:
            continue
        inv = p["Invoice"]
        if search and not any(
            search in str(f).lower() for f in (p["OrderNumber"], p.get("Supplier"), inv["InvoiceNumber"])
        ):
            continue
        items.append(
            {
                "ID": p["ID"],
                "BlindReceipt": p["BlindReceipt"],
                "OrderNumber": p["OrderNumber"],
                "Status": p["Status"],
                "OrderDate": p["OrderDate"],
                "InvoiceDate": inv["InvoiceDate"] or "",
                "InvoiceDueDate": inv["InvoiceDueDate"] or "",
                "InvoiceNumber": inv["InvoiceNumber"] or "",
                "InvoiceAmount": inv["Total"],
                "PaidAmount": inv["Paid"],
                "Supplier": p["Supplier"],
                "SupplierID": p["SupplierID"],
                "SupplierCurrency": p["SupplierCurrency"],
                "BaseCurrency": p["BaseCurrency"],
                "RequiredBy": p["RequiredBy"],
                "OrderStatus": p["Order"]["Status"],
                "InvoiceStatus": inv["Status"],
                "CombinedInvoiceStatus": inv["Status"],
                "CombinedPaymentStatus": "PAID" if inv["Paid"] and inv["Paid"] >= inv["Total"] else "UNPAID",
                "CombinedReceivingStatus": "NOT AVAILABLE",
                "StockReceivedStatus": "NOT AVAILABLE",
                "UnstockStatus": "NOT AVAILABLE",
                "CreditNoteNumber": p["CreditNote"]["CreditNoteNumber"] or "",
                "CreditNoteStatus": p["CreditNote"]["Status"],
                "DropShipTaskID": None,
                "IsServiceOnly": False,
                "LastUpdatedDate": p["LastUpdatedDate"],
                "Type": p["Type"],
            }
        )
    return paged("PurchaseList", _ordered(items, "LastUpdatedDate"), query)


# -- webhooks --------------------------------------------------------------------------------------------------
_AUTH_TYPES = ("noauth", "basicauth", "bearerauth")


def _webhook(acct: Account, body: Mapping[str, Any], existing: dict[str, Any] | None, per_type: int) -> dict[str, Any]:
    record: dict[str, Any] = copy.deepcopy(existing) if existing else {"ID": new_id()}
    kind = _str(body, "Type", record.get("Type", ""))
    if kind not in WEBHOOK_TYPES:
        raise _bad(f"Type '{kind}' is not a webhook type")
    same = [w for w in acct.data["webhook"].values() if w["Type"] == kind and w["ID"] != record["ID"]]
    if len(same) >= per_type:
        raise _bad(f"At most {per_type} webhooks of the same type are allowed")
    url = _str(body, "ExternalURL", record.get("ExternalURL", ""))
    if not url.startswith(("http://", "https://")):
        raise _bad("ExternalURL must be an http(s) URL")
    auth = _str(body, "ExternalAuthorizationType", record.get("ExternalAuthorizationType", "noauth")).lower()
    if auth not in _AUTH_TYPES:
        raise _bad("ExternalAuthorizationType must be noauth, basicauth or bearerauth")
    headers = body.get("ExternalHeaders", record.get("ExternalHeaders", []))
    if not isinstance(headers, list) or not all(
        isinstance(h, Mapping) and "Key" in h and "Value" in h for h in headers
    ):
        raise _bad("ExternalHeaders must be a list of {Key, Value}")
    record.update(
        {
            "Type": kind,
            "Name": kind.replace("/", " "),
            "IsActive": bool(body.get("IsActive", record.get("IsActive", True))),
            "ExternalURL": url,
            "ExternalAuthorizationType": auth,
            "ExternalUserName": _str(body, "ExternalUserName", record.get("ExternalUserName", "")),
            "ExternalPassword": _str(body, "ExternalPassword", record.get("ExternalPassword", "")),
            "ExternalBearerToken": _str(body, "ExternalBearerToken", record.get("ExternalBearerToken", "")),
            "ExternalHeaders": [{"Key": str(h["Key"]), "Value": str(h["Value"])} for h in headers],
        }
    )
    return record


def write_webhook(acct: Account, method: str, body: Mapping[str, Any], per_type: int) -> Result:
    existing = None
    if method == "PUT":
        existing = acct.data["webhook"].get(_str(body, "ID"))
        if existing is None:
            raise _bad(f"Webhook with ID '{_str(body, 'ID')}' not found")
    record = _webhook(acct, body, existing, per_type)
    acct.data["webhook"][record["ID"]] = record
    return 200, {"Webhooks": [record]}, []


def delete_webhook(acct: Account, query: Mapping[str, str]) -> Result:
    wid = query.get("ID") or ""
    if acct.data["webhook"].pop(wid, None) is None:
        raise _bad(f"Webhook with ID '{wid}' not found")
    return 200, {"Webhooks": [wid]}, []


# -- the table --------------------------------------------------------------------------------------------------
Handler = Callable[[Account, Mapping[str, str], Mapping[str, Any], float], Result]


def me(acct: Account) -> dict[str, Any]:
    default_tax = next(t for t in acct.ref["tax"] if t["Name"] == "GST on Income")
    return {
        "Company": acct.name,
        "Currency": acct.currency,
        "TimeZone": "(UTC+10:00) Canberra, Melbourne, Sydney",
        "DefaultWeightUnits": "kg",
        "DefaultDimensionsUnits": "cm",
        "LockDate": None,
        "OpeningBalanceDate": "2020-01-01T00:00:00",
        "TaxCalculationMethod": "Exclusive",
        "DiscountRule": "Line",
        "MaximumDecimalPlacesInQuantity": "4",
        "AutomaticallyApplyDiscounts": False,
        "ApplyCustomerDiscountsAfterOtherDiscounts": False,
        "DefaultSaleTaxRuleId": default_tax["ID"],
        "DefaultSaleTaxRuleName": default_tax["Name"],
        "RoundingTable": [],
    }


def ref_list(acct: Account, name: str, query: Mapping[str, str]) -> dict[str, Any]:
    key = {
        "tax": "TaxRuleList",
        "account": "AccountsList",
        "paymentterm": "PaymentTermList",
        "location": "LocationList",
    }[name]
    items = acct.ref[name]
    if query.get("Name"):
        items = [i for i in items if query["Name"].lower() in str(i["Name"]).lower()]
    if query.get("Code") and name == "account":
        items = [i for i in items if i["Code"] == query["Code"]]
    return paged(key, items, query)


def round2(value: Decimal) -> Decimal:
    return value.quantize(Decimal("0.01"), rounding=ROUND_HALF_UP)
