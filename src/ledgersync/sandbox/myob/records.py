"""MYOB's records and the business rules a sync meets, applied to one company file.

Where a refusal's exact text comes from a source it says so; texts marked GUESS are this sandbox's own wording in
MYOB's style (the sources consulted give none: ../shared/research/api-facts-wave2.md B.5). Errors are MYOB's body,
`{"Errors": [{"Name", "Message", "AdditionalDetails", "ErrorCode", "Severity"}]}` (.NET SDK Error.cs)."""

from __future__ import annotations

import copy
import datetime as dt
from collections.abc import Mapping
from decimal import ROUND_HALF_UP, Decimal, InvalidOperation
from typing import TYPE_CHECKING, Any, NoReturn

from ..common.codec import public
from .odata import parse_datetime
from .state import NO_PUT, new_uid

if TYPE_CHECKING:
    from .state import CompanyFile

CENT = Decimal("0.01")
ZERO = Decimal("0.00")
Outcome = tuple[int, dict[str, Any]]

SALES = ("Sale/Invoice/Service", "Sale/Invoice/Item")
ORDERS = ("Purchase/Order/Item", "Purchase/Order/Service")
BILLS = ("Purchase/Bill/Service", "Purchase/Bill/Item")
CARDS = ("Contact/Customer", "Contact/Supplier")
# Field lengths of AccountRight's card and document fields (AccountRight's card file; UNVERIFIED against the API).
MAX_LEN = {"CompanyName": 50, "LastName": 30, "FirstName": 20, "DisplayID": 15, "Number": 13, "Memo": 255}


def error(status: int, name: str, message: str, details: str | None = None, code: int | None = None) -> Outcome:
    return status, {
        "Errors": [
            {"Name": name, "Message": message, "AdditionalDetails": details, "ErrorCode": code, "Severity": "Error"}
        ],
        "Information": None,
    }


def validation(message: str, details: str | None = None, code: int | None = None) -> Outcome:
    return error(400, "ValidationError", message, details, code)


class Refused(Exception):
    def __init__(self, outcome: Outcome) -> None:
        super().__init__(outcome[1]["Errors"][0]["Message"])
        self.outcome = outcome


def refuse(
    message: str, details: str | None = None, name: str = "ValidationError", code: int | None = None
) -> NoReturn:
    raise Refused(error(400, name, message, details, code))


def _converting(value: Any, kind: str, path: str) -> str:
    # SerializationError (50) reads "Error converting value ..." (MYOB's portal, quoted by guide.pestregister.com),
    # in Json.NET's words, as integrators quote them: `Error converting value "" to type 'System.Guid'. Path ...`.
    return f"Error converting value \"{value}\" to type '{kind}'. Path '{path}'."


def money(value: Any, field: str) -> Decimal:
    if value is None or value == "" or isinstance(value, bool):
        refuse(f"{field} is required", field, "Required", 100)
    try:
        return Decimal(str(value)).quantize(CENT, rounding=ROUND_HALF_UP)
    except InvalidOperation:
        refuse(_converting(value, "System.Decimal", field), field, "SerializationError", 50)


def _date(value: Any, field: str) -> str:
    if not value:
        refuse(f"{field} is required", field, "Required", 100)
    try:
        return parse_datetime(str(value)).strftime("%Y-%m-%dT%H:%M:%S")
    except ValueError:
        refuse(_converting(value, "System.DateTime", field), field, "SerializationError", 50)


def _uid(link: Any, field: str) -> str:
    if not isinstance(link, Mapping) or not link.get("UID"):
        refuse(f"{field} is required", f"{field}.UID", "Required", 100)
    return str(link["UID"]).lower()


def _referenced(cf: CompanyFile, resources: tuple[str, ...], link: Any, field: str) -> dict[str, Any]:
    uid = _uid(link, field)
    for resource in resources:
        rec = cf.data[resource].get(uid)
        if rec is not None:
            return rec
    # NotFound/150 for a referenced UID that does not exist (3rd-party error table; text GUESS).
    refuse(f"The {field} specified could not be found", f"{field}.UID = {uid}", "NotFound", 150)


def _length(body: Mapping[str, Any], field: str) -> None:
    value = body.get(field)
    limit = MAX_LEN[field]
    if isinstance(value, str) and len(value) > limit:
        # GUESS: AccountRight's windows cut these fields at their length; the API's refusal text is not published.
        refuse(f"{field} must not be longer than {limit} characters", field, "ValidationError", 102)


def card_link(rec: dict[str, Any]) -> dict[str, Any]:
    name = rec.get("CompanyName") if not rec.get("IsIndividual") else rec.get("LastName")
    return {"UID": rec["UID"], "Name": name, "DisplayID": rec.get("DisplayID"), "URI": None}


def account_link(rec: dict[str, Any]) -> dict[str, Any]:
    return {"UID": rec["UID"], "Name": rec["Name"], "DisplayID": rec["DisplayID"], "URI": None}


def tax_link(rec: dict[str, Any]) -> dict[str, Any]:
    return {"UID": rec["UID"], "Code": rec["Code"], "URI": None}


# ---------------------------------------------------------------------------------------------- cards
def _card(cf: CompanyFile, resource: str, body: dict[str, Any], current: dict[str, Any] | None) -> dict[str, Any]:
    merged = {**(current or {}), **body}
    individual = bool(merged.get("IsIndividual"))
    for f in ("CompanyName", "LastName", "FirstName", "DisplayID"):
        _length(merged, f)
    if individual and not (merged.get("LastName") or "").strip():
        refuse("LastName is required for an individual", "LastName", "Required", 100)  # GUESS text
    if not individual and not (merged.get("CompanyName") or "").strip():
        refuse("CompanyName is required", "CompanyName", "Required", 100)  # GUESS text
    display = (merged.get("DisplayID") or "").strip() or "*None"
    if display != "*None":
        for res in CARDS:
            for other in cf.data[res].values():
                if other["UID"] != merged.get("UID") and str(other.get("DisplayID") or "").lower() == display.lower():
                    # GUESS text: card IDs are unique in AccountRight; the API's exact message is not published.
                    refuse("The Card ID is already in use by another card", f"DisplayID = {display}", "CardIdInUse")
    kind = "Customer" if resource == "Contact/Customer" else "Supplier"
    merged.update(
        DisplayID=display,
        IsActive=bool(merged.get("IsActive", True)),
        IsIndividual=individual,
        Type=kind,
        Addresses=list(merged.get("Addresses") or []),
    )
    for f in ("CompanyName", "LastName", "FirstName", "Notes", "Tags"):
        merged.setdefault(f, None)
    if kind == "Customer":
        merged.setdefault("SellingDetails", {})
    else:
        merged.setdefault("BuyingDetails", {})
    return merged


def card_balance(cf: CompanyFile, uid: str) -> Decimal:
    total = ZERO
    for res in (*SALES, *BILLS):
        for doc in cf.data[res].values():
            party = doc.get("Customer") or doc.get("Supplier") or {}
            if party.get("UID") == uid:
                total += Decimal(str(doc.get("BalanceDueAmount") or 0))
    return total


# ---------------------------------------------------------------------------------------------- documents
def _tax_rate(cf: CompanyFile, link: Any) -> tuple[Decimal, dict[str, Any]]:
    rec = _referenced(cf, ("GeneralLedger/TaxCode",), link, "TaxCode")
    return Decimal(str(rec["Rate"])), rec


def _lines(
    cf: CompanyFile, resource: str, lines: Any, current: dict[str, Any] | None, is_put: bool
) -> list[dict[str, Any]]:
    if not isinstance(lines, list):
        refuse("Lines is required", "Lines", "Required", 100)
    old = {int(line["RowID"]): line for line in (current or {}).get("Lines") or []}
    item_lines = resource.endswith("/Item")
    out: list[dict[str, Any]] = []
    for i, raw in enumerate(lines):
        if not isinstance(raw, Mapping):
            refuse("Each line must be an object", f"Lines[{i}]", "SerializationError", 50)
        line = dict(raw)
        kind = line.get("Type") or "Transaction"
        if kind not in ("Transaction", "Header", "SubTotal"):
            refuse(
                _converting(kind, "InvoiceLineType", f"Lines[{i}].Type"), f"Lines[{i}].Type", "SerializationError", 50
            )
        row_id = line.get("RowID")
        if is_put and row_id is not None:
            previous = old.get(int(row_id))
            if previous is None:
                refuse("The line specified could not be found", f"Lines[{i}].RowID = {row_id}", "NotFound", 150)
            if str(line.get("RowVersion") or "") != str(previous.get("RowVersion")):
                raise Refused(_stale(f"Lines[{i}].RowVersion"))
        line["Type"] = kind
        if kind == "Transaction":
            if item_lines:
                item = _referenced(cf, ("Inventory/Item",), line.get("Item"), "Item")
                qty_field = "ShipQuantity" if resource.startswith("Sale") else "BillQuantity"
                qty = Decimal(str(line.get(qty_field) or line.get("UnitCount") or 1))
                price = money(line.get("UnitPrice", item.get("BaseSellingPrice") or 0), "UnitPrice")
                discount = Decimal(str(line.get("DiscountPercent") or 0))
                computed = (qty * price * (100 - discount) / 100).quantize(CENT, rounding=ROUND_HALF_UP)
                line["Total"] = money(line["Total"], "Total") if line.get("Total") is not None else computed
                line[qty_field] = qty
                line["UnitPrice"] = price
                line["Item"] = {"UID": item["UID"], "Number": item["Number"], "Name": item["Name"], "URI": None}
            else:
                line["Total"] = money(line.get("Total"), f"Lines[{i}].Total")
                account = _referenced(cf, ("GeneralLedger/Account",), line.get("Account"), "Account")
                line["Account"] = account_link(account)
            _, tax = _tax_rate(cf, line.get("TaxCode"))
            line["TaxCode"] = tax_link(tax)
            if line.get("Job"):
                job = _referenced(cf, ("GeneralLedger/Job",), line["Job"], "Job")
                line["Job"] = {"UID": job["UID"], "Number": job["Number"], "Name": job.get("Name"), "URI": None}
        else:
            line["Total"] = ZERO
        line["RowID"] = int(row_id) if row_id is not None else cf.next("row")
        line["RowVersion"] = cf.row_version()
        line.setdefault("Description", "")
        out.append(line)
    return out


def _totals(cf: CompanyFile, doc: dict[str, Any]) -> None:
    inclusive = bool(doc.get("IsTaxInclusive"))
    subtotal = ZERO
    tax = ZERO
    for line in doc["Lines"]:
        if line["Type"] != "Transaction":
            continue
        total = Decimal(str(line["Total"]))
        rate = Decimal(str(cf.data["GeneralLedger/TaxCode"][line["TaxCode"]["UID"]]["Rate"]))
        subtotal += total
        part = total * rate / (100 + rate) if inclusive else total * rate / 100
        tax += part
    tax = tax.quantize(CENT, rounding=ROUND_HALF_UP)
    freight = Decimal(str(doc.get("Freight") or 0)).quantize(CENT)
    doc["Subtotal"] = subtotal
    doc["Freight"] = freight
    doc["TotalTax"] = tax
    doc["TotalAmount"] = (subtotal + freight if inclusive else subtotal + freight + tax).quantize(CENT)
    settle(doc)


def settle(doc: dict[str, Any]) -> None:
    """BalanceDueAmount and Status from the total and what payments, settlements and refunds applied."""
    applied = sum((Decimal(str(v)) for v in (doc.get("_applied") or {}).values()), ZERO)
    total = Decimal(str(doc["TotalAmount"]))
    balance = (total - applied) if total >= 0 else (total + applied)
    doc["BalanceDueAmount"] = balance.quantize(CENT)
    if "AppliedToDate" in doc or doc.get("_purchase"):
        doc["AppliedToDate"] = applied.quantize(CENT)
    if total < 0:
        doc["Status"] = "Credit" if balance != 0 else "Closed"
    else:
        doc["Status"] = "Open" if balance != 0 else "Closed"
    if doc.get("_converted"):
        doc["Status"] = "ConvertedToBill"


def _document(
    cf: CompanyFile, resource: str, body: dict[str, Any], current: dict[str, Any] | None, is_put: bool
) -> dict[str, Any]:
    merged = {**(current or {}), **body}
    purchase = resource.startswith("Purchase")
    party_field = "Supplier" if purchase else "Customer"
    party_res = ("Contact/Supplier",) if purchase else ("Contact/Customer",)
    party = _referenced(cf, party_res, merged.get(party_field), party_field)
    if not party.get("IsActive", True) and (current is None or current[party_field]["UID"] != party["UID"]):
        # GUESS text: AccountRight will not record a sale to an inactive card.
        refuse(f"The {party_field.lower()} card is inactive", f"{party_field}.UID = {party['UID']}", "InactiveCard")
    merged[party_field] = card_link(party)
    merged["Date"] = _date(merged.get("Date"), "Date")
    _length(merged, "Number")
    family = SALES if resource in SALES else ORDERS if resource in ORDERS else BILLS
    number = str(merged.get("Number") or "").strip()
    if not number:
        number = f"{cf.next('purchase' if purchase else 'sale'):08d}"
    for res in family:
        for other in cf.data[res].values():
            if other["UID"] != merged.get("UID") and str(other.get("Number")).lower() == number.lower():
                # GUESS text: AccountRight refuses a second sale (or purchase) with the same number.
                refuse(f"The number {number} is already in use", f"Number = {number}", "DuplicateNumber")
    merged["Number"] = number
    merged["Lines"] = _lines(cf, resource, merged.get("Lines"), current, is_put)
    merged["IsTaxInclusive"] = bool(merged.get("IsTaxInclusive"))
    if merged.get("Category"):
        cat = _referenced(cf, ("GeneralLedger/Category",), merged["Category"], "Category")
        merged["Category"] = {"UID": cat["UID"], "DisplayID": cat["DisplayID"], "Name": cat["Name"], "URI": None}
    if purchase:
        merged["_purchase"] = True
        merged.setdefault("SupplierInvoiceNumber", None)
        if resource in BILLS and merged.get("Order"):
            order = _order_of(cf, merged)
            if order is None:
                refuse("The Order specified could not be found", "Order.UID", "NotFound", 150)  # GUESS text
            if order.get("_converted") and (current or {}).get("Order", {}).get("UID") != order["UID"]:
                refuse("The order has already been converted to a bill", "Order.UID")  # GUESS text
            merged["Order"] = {"UID": order["UID"], "Number": order["Number"], "URI": None}
    else:
        merged.setdefault("InvoiceType", "Item" if resource.endswith("/Item") else "Service")
    terms = merged.get("Terms")
    if isinstance(terms, Mapping):
        terms = dict(terms)
        kind = terms.get("PaymentIsDue") or "InAGivenNumberOfDays"
        days = int(terms.get("BalanceDueDate") or 0)
        issued = parse_datetime(merged["Date"])
        # AccountRight works the due date out of the terms (Terms.PaymentIsDue; a subset of its kinds here).
        if kind in ("CashOnDelivery", "PrePaid"):
            due = issued
        elif kind == "DayOfMonthAfterEOM":
            first_next = (issued.replace(day=1) + dt.timedelta(days=32)).replace(day=1)
            due = first_next + dt.timedelta(days=max(0, days - 1))
        else:
            due = issued + dt.timedelta(days=days)
        terms.update(PaymentIsDue=kind, BalanceDueDate=days, DueDate=due.strftime("%Y-%m-%dT%H:%M:%S"))
        merged["Terms"] = terms
    merged.setdefault("JournalMemo", None)
    merged.setdefault("Comment", None)
    merged.setdefault("_applied", {})
    _totals(cf, merged)
    if resource in ORDERS:
        merged["Status"] = "ConvertedToBill" if merged.get("_converted") else "Open"
    applied = sum((Decimal(str(v)) for v in merged["_applied"].values()), ZERO)
    if applied and abs(Decimal(str(merged["TotalAmount"]))) < applied:
        # GUESS text.
        refuse("The total cannot be less than the amount already applied to this transaction", "TotalAmount")
    return merged


# ---------------------------------------------------------------------------------------------- supplier payments
def _supplier_payment(cf: CompanyFile, body: dict[str, Any]) -> dict[str, Any]:
    """Purchase/SupplierPayment (.NET SDK SupplierPayment, SupplierPaymentLine): money paid to a supplier from an
    account, applied to its bills (Lines of Type Bill naming the Purchase). Refusal texts are GUESSes, in the
    style of the customer payment's."""
    doc = dict(body)
    supplier = _referenced(cf, ("Contact/Supplier",), doc.get("Supplier"), "Supplier")
    doc["Supplier"] = card_link(supplier)
    doc["PayFrom"] = doc.get("PayFrom") or "Account"
    if doc["PayFrom"] != "Account":
        # GUESS: the sandbox models paying from an account only (PayFrom also has ElectronicPayments).
        refuse(_converting(doc["PayFrom"], "PayFrom", "PayFrom"), "PayFrom", "SerializationError", 50)
    doc["Account"] = account_link(_referenced(cf, ("GeneralLedger/Account",), doc.get("Account"), "Account"))
    doc["Date"] = _date(doc.get("Date"), "Date")
    paid = money(doc.get("AmountPaid"), "AmountPaid")
    _length(doc, "Memo")
    lines = doc.get("Lines")
    if not isinstance(lines, list) or not lines:
        refuse("Lines is required", "Lines", "Required", 100)
    out: list[dict[str, Any]] = []
    total = ZERO
    for i, raw in enumerate(lines):
        raw = raw if isinstance(raw, Mapping) else {}
        kind = raw.get("Type") or "Bill"
        if kind != "Bill":
            refuse("Only bills can be paid here", f"Lines[{i}].Type")  # GUESS (Order lines are deposits)
        bill = _referenced(cf, BILLS, raw.get("Purchase"), "Purchase")
        if bill["Supplier"]["UID"] != supplier["UID"]:
            refuse("The bill does not belong to this supplier", f"Lines[{i}].Purchase.UID")  # GUESS
        amount = money(raw.get("AmountApplied"), f"Lines[{i}].AmountApplied")
        if amount <= 0:
            refuse("AmountApplied must be greater than zero", f"Lines[{i}].AmountApplied")  # GUESS
        if amount > Decimal(str(bill["BalanceDueAmount"])):
            refuse(
                f"The amount applied ({amount}) is greater than the balance due on bill {bill['Number']}"
                f" ({bill['BalanceDueAmount']})",
                f"Lines[{i}].AmountApplied",
                "AmountAppliedExceedsBalanceDue",
            )  # GUESS
        total += amount
        out.append(
            {
                "RowID": cf.next("row"),
                "Type": "Bill",
                "Purchase": {"UID": bill["UID"], "Number": bill["Number"], "URI": None},
                "AmountApplied": amount,
                "AmountAppliedForeign": None,
                "GainOrLossAmount": None,
                "RowVersion": cf.row_version(),
            }
        )
    if total != paid:
        refuse(f"The payment is out of balance: {paid} paid, {total} applied", "AmountPaid")  # GUESS
    doc["AmountPaid"] = paid
    doc["Lines"] = out
    doc["PaymentNumber"] = str(doc.get("PaymentNumber") or "").strip() or f"{cf.next('payment'):08d}"
    doc.setdefault("Memo", None)
    doc.setdefault("AmountPaidForeign", None)
    return doc


def _order_of(cf: CompanyFile, bill: Mapping[str, Any]) -> dict[str, Any] | None:
    """The purchase order a bill was made from (Bill.Order, a PurchaseOrderLink), if it names one."""
    link = bill.get("Order")
    if not isinstance(link, Mapping) or not link.get("UID"):
        return None
    for res in ORDERS:
        found = cf.data[res].get(str(link["UID"]).lower())
        if found is not None:
            return found
    return None


def _mark_order(cf: CompanyFile, order: dict[str, Any] | None, converted: bool) -> None:
    """A bill made from an order converts it (PurchaseOrderStatus ConvertedToBill); deleting the bill opens it
    again (a GUESS: AccountRight converts an order into the bill itself)."""
    if order is None:
        return
    order["_converted"] = converted
    order["Status"] = "ConvertedToBill" if converted else "Open"
    order["RowVersion"] = cf.row_version()
    order["LastModified"] = cf.stamp()


# ---------------------------------------------------------------------------------------------- payments & credit
def _payment(cf: CompanyFile, body: dict[str, Any]) -> dict[str, Any]:
    doc = dict(body)
    customer = _referenced(cf, ("Contact/Customer",), doc.get("Customer"), "Customer")
    doc["Customer"] = card_link(customer)
    doc["DepositTo"] = doc.get("DepositTo") or "Account"
    if doc["DepositTo"] not in ("Account", "UndepositedFunds"):
        refuse(_converting(doc["DepositTo"], "DepositTo", "DepositTo"), "DepositTo", "SerializationError", 50)
    if doc["DepositTo"] == "Account":
        doc["Account"] = account_link(_referenced(cf, ("GeneralLedger/Account",), doc.get("Account"), "Account"))
    else:
        doc["Account"] = None
    doc["Date"] = _date(doc.get("Date"), "Date")
    received = money(doc.get("AmountReceived"), "AmountReceived")
    _length(doc, "Memo")
    lines = doc.get("Invoices")
    if not isinstance(lines, list) or not lines:
        refuse("Invoices is required", "Invoices", "Required", 100)
    out: list[dict[str, Any]] = []
    total = ZERO
    for i, raw in enumerate(lines):
        sale = _referenced(cf, SALES, raw.get("UID") and {"UID": raw.get("UID")}, "Invoice")
        if sale["Customer"]["UID"] != customer["UID"]:
            refuse("The invoice does not belong to this customer", f"Invoices[{i}].UID", "ValidationError")  # GUESS
        amount = money(raw.get("AmountApplied"), f"Invoices[{i}].AmountApplied")
        if amount <= 0:
            refuse("AmountApplied must be greater than zero", f"Invoices[{i}].AmountApplied")  # GUESS
        if amount > Decimal(str(sale["BalanceDueAmount"])):
            # GUESS text. AccountRight's Receive Payments window turns an amount applied beyond the balance into a
            # customer credit (help.myob.com answer 9100); no source says the API does, so the sandbox refuses.
            refuse(
                f"The amount applied ({amount}) is greater than the balance due on invoice {sale['Number']}"
                f" ({sale['BalanceDueAmount']})",
                f"Invoices[{i}].AmountApplied",
                "AmountAppliedExceedsBalanceDue",
            )
        total += amount
        out.append(
            {
                "RowID": cf.next("row"),
                "Number": sale["Number"],
                "UID": sale["UID"],
                "AmountApplied": amount,
                "AmountAppliedForeign": None,
                "GainOrLoss": None,
                "Type": "Invoice",
                "Uri": None,
            }
        )
    if total != received:
        # GUESS text: AccountRight refuses a receipt whose amounts applied do not add up to the amount received.
        refuse(f"The payment is out of balance: {received} received, {total} applied", "AmountReceived")
    doc["AmountReceived"] = received
    doc["Invoices"] = out
    doc["ReceiptNumber"] = str(doc.get("ReceiptNumber") or "").strip() or f"{cf.next('receipt'):08d}"
    doc.setdefault("Memo", None)
    doc.setdefault("PaymentMethod", None)
    doc.setdefault("TransactionUID", new_uid())
    return doc


def _apply(
    cf: CompanyFile, source_uid: str, targets: list[tuple[str, Decimal]], sign: int = 1, date: str | None = None
) -> None:
    for uid, amount in targets:
        found = cf.find(uid)
        if found is None:
            continue
        doc = found[1]
        applied = doc.setdefault("_applied", {})
        if sign > 0:
            applied[source_uid] = str(Decimal(str(applied.get(source_uid, 0))) + amount)
        else:
            applied.pop(source_uid, None)
        settle(doc)
        doc["RowVersion"] = cf.row_version()
        doc["LastModified"] = cf.stamp()
        if sign > 0 and date and "Status" in doc:
            doc["LastPaymentDate"] = date


def _credit_available(sale: dict[str, Any]) -> Decimal:
    return -Decimal(str(sale["BalanceDueAmount"])) if sale.get("Status") == "Credit" else ZERO


def _settlement(cf: CompanyFile, body: dict[str, Any]) -> tuple[dict[str, Any], list[tuple[str, Decimal]]]:
    doc = dict(body)
    credit = _referenced(cf, SALES, doc.get("CreditFromInvoice"), "CreditFromInvoice")
    customer = _referenced(cf, ("Contact/Customer",), doc.get("Customer"), "Customer")
    doc["Customer"] = card_link(customer)
    doc["CreditFromInvoice"] = {"UID": credit["UID"], "Number": credit["Number"], "URI": None}
    amount = money(doc.get("CreditAmount"), "CreditAmount")
    if amount > _credit_available(credit):
        refuse("The credit amount is greater than the credit available", "CreditAmount")  # GUESS
    doc["Date"] = _date(doc.get("Date"), "Date")
    targets: list[tuple[str, Decimal]] = []
    lines = []
    for i, raw in enumerate(doc.get("Lines") or []):
        sale = _referenced(cf, SALES, (raw or {}).get("Sale"), "Sale")
        applied = money(raw.get("AmountApplied"), f"Lines[{i}].AmountApplied")
        if applied > Decimal(str(sale["BalanceDueAmount"])):
            refuse(f"The amount applied is greater than the balance due on {sale['Number']}", f"Lines[{i}]")  # GUESS
        targets.append((sale["UID"], applied))
        lines.append(
            {
                "Type": "Invoice",
                "Sale": {"UID": sale["UID"], "Number": sale["Number"], "URI": None},
                "AmountApplied": applied,
            }
        )
    if sum((a for _, a in targets), ZERO) != amount:
        refuse("The credit settlement is out of balance", "CreditAmount")  # GUESS
    doc["Lines"] = lines
    doc["CreditAmount"] = amount
    doc["Number"] = str(doc.get("Number") or "").strip() or f"{cf.next('sale'):08d}"
    return doc, [(credit["UID"], amount), *targets]


def _refund(cf: CompanyFile, body: dict[str, Any]) -> tuple[dict[str, Any], list[tuple[str, Decimal]]]:
    doc = dict(body)
    credit = _referenced(cf, SALES, doc.get("Invoice"), "Invoice")
    customer = _referenced(cf, ("Contact/Customer",), doc.get("Customer"), "Customer")
    doc["Customer"] = card_link(customer)
    doc["Account"] = account_link(_referenced(cf, ("GeneralLedger/Account",), doc.get("Account"), "Account"))
    doc["Invoice"] = {"UID": credit["UID"], "Number": credit["Number"], "URI": None}
    amount = money(doc.get("Amount"), "Amount")
    if amount <= 0 or amount > _credit_available(credit):
        refuse("The refund amount is greater than the credit available", "Amount")  # GUESS
    doc["Amount"] = amount
    doc["Date"] = _date(doc.get("Date"), "Date")
    doc["Number"] = str(doc.get("Number") or "").strip() or f"{cf.next('receipt'):08d}"
    return doc, [(credit["UID"], amount)]


# ---------------------------------------------------------------------------------------------- lists
def _unique(cf: CompanyFile, resource: str, field: str, value: Any, uid: Any, label: str) -> None:
    for other in cf.data[resource].values():
        if other["UID"] != uid and str(other.get(field) or "").lower() == str(value or "").lower():
            refuse(f"The {label} {value} is already in use", f"{field} = {value}", "DuplicateValue")  # GUESS


def _simple(cf: CompanyFile, resource: str, body: dict[str, Any], current: dict[str, Any] | None) -> dict[str, Any]:
    merged = {**(current or {}), **body}
    uid = merged.get("UID")
    if resource == "Inventory/Item":
        if not merged.get("Number"):
            refuse("Number is required", "Number", "Required", 100)
        if len(str(merged["Number"])) > 30:
            refuse("Number must not be longer than 30 characters", "Number")  # GUESS
        _unique(cf, resource, "Number", merged["Number"], uid, "item number")
        merged.setdefault("Name", merged["Number"])
        for flag in ("IsActive",):
            merged[flag] = bool(merged.get(flag, True))
        for flag in ("IsBought", "IsSold", "IsInventoried"):
            merged[flag] = bool(merged.get(flag, False))
        for acc in ("IncomeAccount", "ExpenseAccount", "CostOfSalesAccount", "AssetAccount"):
            if merged.get(acc):
                merged[acc] = account_link(_referenced(cf, ("GeneralLedger/Account",), merged[acc], acc))
        if merged["IsSold"] and not merged.get("IncomeAccount"):
            refuse("IncomeAccount is required for an item that is sold", "IncomeAccount", "Required", 100)  # GUESS
        merged["BaseSellingPrice"] = money(merged.get("BaseSellingPrice") or 0, "BaseSellingPrice")
        for qty in ("QuantityOnHand", "QuantityCommitted", "QuantityOnOrder", "QuantityAvailable"):
            merged.setdefault(qty, Decimal("0"))
    elif resource == "GeneralLedger/TaxCode":
        if not merged.get("Code") or len(str(merged["Code"])) > 3:
            refuse("Code is required and must be at most 3 characters", "Code", "Required", 100)  # GUESS
        _unique(cf, resource, "Code", merged["Code"], uid, "tax code")
        merged["Rate"] = Decimal(str(merged.get("Rate") or 0))
    elif resource == "GeneralLedger/Account":
        if not merged.get("DisplayID") or not merged.get("Name"):
            refuse("DisplayID and Name are required", "DisplayID", "Required", 100)  # GUESS
        _unique(cf, resource, "DisplayID", merged["DisplayID"], uid, "account number")
        merged["IsActive"] = bool(merged.get("IsActive", True))
    elif resource == "GeneralLedger/Category":
        if not merged.get("DisplayID"):
            refuse("DisplayID is required", "DisplayID", "Required", 100)  # GUESS
        _unique(cf, resource, "DisplayID", merged["DisplayID"], uid, "category ID")
        merged.setdefault("Name", merged["DisplayID"])
        merged["IsActive"] = bool(merged.get("IsActive", True))
    elif resource == "GeneralLedger/Job":
        if not merged.get("Number"):
            refuse("Number is required", "Number", "Required", 100)  # GUESS
        _unique(cf, resource, "Number", merged["Number"], uid, "job number")
        merged["IsActive"] = bool(merged.get("IsActive", True))
        merged["IsHeader"] = bool(merged.get("IsHeader", False))
    return merged


# ---------------------------------------------------------------------------------------------- operations
def _stale(details: str = "RowVersion") -> Outcome:
    # Name corroborated by code that retries on it; the message and ErrorCode 111 come from a 3rd-party
    # compilation of developer.myob.com's error messages (UNVERIFIED).
    return error(
        409,
        "IncorrectRowVersionSupplied",
        "An Update operation requires the latest RowVersion for each of the existing entities being modified",
        details,
        111,
    )


def _build(
    cf: CompanyFile, resource: str, body: dict[str, Any], current: dict[str, Any] | None
) -> tuple[dict[str, Any], list[tuple[str, Decimal]]]:
    if resource in CARDS:
        return _card(cf, resource, body, current), []
    if resource in (*SALES, *ORDERS, *BILLS):
        return _document(cf, resource, body, current, current is not None), []
    if resource == "Sale/CustomerPayment":
        doc = _payment(cf, body)
        return doc, [(line["UID"], line["AmountApplied"]) for line in doc["Invoices"]]
    if resource == "Purchase/SupplierPayment":
        doc = _supplier_payment(cf, body)
        return doc, [(line["Purchase"]["UID"], line["AmountApplied"]) for line in doc["Lines"]]
    if resource == "Sale/CreditSettlement":
        return _settlement(cf, body)
    if resource == "Sale/CreditRefund":
        return _refund(cf, body)
    return _simple(cf, resource, body, current), []


def _clean(body: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in body.items() if not k.startswith("_") and k not in ("URI", "LastModified", "Created")}


def create(cf: CompanyFile, resource: str, body: dict[str, Any], base: str) -> Outcome:
    """POST: a new record (201 and the record), or MYOB's error body."""
    incoming = _clean(body)
    incoming.pop("RowVersion", None)
    uid = new_uid()
    incoming["UID"] = uid
    try:
        doc, applies = _build(cf, resource, incoming, None)
    except Refused as exc:
        return exc.outcome
    stamp = cf.stamp()
    doc.update(UID=uid, RowVersion=cf.row_version(), Created=stamp, LastModified=stamp, _seq=cf.next("record"))
    cf.data[resource][uid] = doc
    if applies:
        _apply(cf, uid, applies, date=doc.get("Date"))
    if resource in BILLS:
        _mark_order(cf, _order_of(cf, doc), True)
    return 201, render(cf, resource, doc, base)


def update(cf: CompanyFile, resource: str, uid: str, body: dict[str, Any], base: str) -> Outcome:
    """PUT: the whole record with its current RowVersion (and each line's); 409 on a stale one."""
    if resource in NO_PUT:
        return error(405, "MethodNotAllowed", "The requested resource does not support http method 'PUT'.")
    current = cf.data[resource].get(uid.lower())
    if current is None:
        return error(404, "NotFound", "The requested resource could not be found", f"UID = {uid}", 150)
    incoming = _clean(body)
    if incoming.get("UID") and str(incoming["UID"]).lower() != current["UID"]:
        return validation("The UID in the body does not match the UID in the URI", "UID")  # GUESS
    if not incoming.get("RowVersion"):
        return error(400, "Required", "RowVersion is required", "RowVersion", 100)  # GUESS text
    if str(incoming["RowVersion"]) != str(current["RowVersion"]):
        return _stale()
    incoming["UID"] = current["UID"]
    base_doc = {k: v for k, v in copy.deepcopy(current).items() if k.startswith("_") or k in ("Created", "UID")}
    try:
        doc, _ = _build(
            cf, resource, {**{k: v for k, v in current.items() if not k.startswith("_")}, **incoming}, {**current}
        )
    except Refused as exc:
        return exc.outcome
    doc = {**doc, **{k: v for k, v in base_doc.items() if k.startswith("_")}}
    if resource in (*SALES, *ORDERS, *BILLS):
        settle(doc)
    doc.update(RowVersion=cf.row_version(), LastModified=cf.stamp())
    cf.data[resource][current["UID"]] = doc
    return 200, render(cf, resource, doc, base)


def delete(cf: CompanyFile, resource: str, uid: str) -> Outcome:
    current = cf.data[resource].get(uid.lower())
    if current is None:
        return error(404, "NotFound", "The requested resource could not be found", f"UID = {uid}", 150)
    if current.get("_applied") and any(Decimal(str(v)) for v in current["_applied"].values()):
        # GUESS text: AccountRight will not delete a sale that has payments, settlements or refunds against it.
        return validation(
            "This transaction has payments or credits applied to it; delete those first", f"UID = {uid}", 25003
        )
    if resource in CARDS and card_balance(cf, current["UID"]) != 0:
        return validation("A card with a balance cannot be deleted", f"UID = {uid}")  # GUESS
    if resource in CARDS:
        for res in (*SALES, *ORDERS, *BILLS):
            if any(
                (d.get("Customer") or d.get("Supplier") or {}).get("UID") == current["UID"]
                for d in cf.data[res].values()
            ):
                return validation("A card with transactions cannot be deleted; make it inactive", f"UID = {uid}")
    del cf.data[resource][current["UID"]]
    if resource in BILLS:
        _mark_order(cf, _order_of(cf, current), False)
    if resource == "Purchase/SupplierPayment":
        _apply(cf, current["UID"], [(line["Purchase"]["UID"], ZERO) for line in current.get("Lines") or []], sign=-1)
    if resource == "Sale/CustomerPayment":
        _apply(cf, current["UID"], [(line["UID"], ZERO) for line in current.get("Invoices") or []], sign=-1)
    elif resource == "Sale/CreditSettlement":
        targets = [(current["CreditFromInvoice"]["UID"], ZERO)] + [
            (line["Sale"]["UID"], ZERO) for line in current.get("Lines") or []
        ]
        _apply(cf, current["UID"], targets, sign=-1)
    elif resource == "Sale/CreditRefund":
        _apply(cf, current["UID"], [(current["Invoice"]["UID"], ZERO)], sign=-1)
    return 200, {}


def render(cf: CompanyFile, resource: str, rec: dict[str, Any], base: str) -> dict[str, Any]:
    out = copy.deepcopy(public(rec))
    out["URI"] = f"{base}/{resource}/{rec['UID']}" if base else None
    if resource in CARDS:
        out["CurrentBalance"] = card_balance(cf, rec["UID"])
    if resource.startswith("Purchase"):
        out.pop("_purchase", None)
    return out
