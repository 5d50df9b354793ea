"""A walk over every operation the Xero sandbox serves: the spec's own example requests, strict response checks."""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any

from ledgersync.sandbox.xero.routes import NOT_SERVED, ROUTES

from .conftest import Sandbox, contracts_dir
from .spec import check, operations, request_example

MISSING: Any = object()
ID_KEYS = {
    "AccountID",
    "AllocationID",
    "BankTransactionID",
    "BankTransferID",
    "ContactGroupID",
    "ContactID",
    "CreditNoteID",
    "InvoiceID",
    "ItemID",
    "LinkedTransactionID",
    "ManualJournalID",
    "PurchaseOrderID",
    "QuoteID",
    "RepeatingInvoiceID",
    "SourceLineItemID",
    "SourceTransactionID",
    "TargetTransactionID",
    "TrackingCategoryID",
    "TrackingOptionID",
}
BANK_REFS = {"Account": "090", "BankAccount": "090", "FromBankAccount": "090", "ToBankAccount": "091"}
# Examples a real Xero organisation would refuse too, and why; the walk sends its own request instead.
UNUSABLE = {
    ("PUT", "/BankTransactions"): "written from a code generator's model names ('BankTransaction.TypeEnum.SPEND')",
    # The spec's batch examples pay invoices of its own (fixed ids and amounts): the walk sends its own bodies.
    ("PUT", "/BatchPayments"): "its example pays the spec's own invoices",
    ("POST", "/BatchPayments"): "its example deletes the spec's own batch",
    ("POST", "/BatchPayments/{BatchPaymentID}"): "its example deletes the spec's own batch",
}


@dataclass
class Walk:
    s: Sandbox
    ids: dict[str, str] = field(default_factory=dict)
    codes: set[str] = field(default_factory=set)
    banks: set[str] = field(default_factory=set)
    tax_types: set[str] = field(default_factory=set)
    seen: set[tuple[str, str]] = field(default_factory=set)
    from_examples: set[tuple[str, str]] = field(default_factory=set)

    def fixup(self, v: Any, ids: dict[str, str], key: str | None = None) -> Any:
        """An example request with its ids, codes and tracking pointed at this organisation's records."""
        if isinstance(v, list):
            return [self.fixup(x, ids, key) for x in v]
        if not isinstance(v, dict):
            return v
        out: dict[str, Any] = {}
        for k, x in v.items():
            if k in BANK_REFS and isinstance(x, dict):
                code = x.get("Code")
                out[k] = {"Code": code if code in self.banks else BANK_REFS[k]}
            elif k in ID_KEYS and isinstance(x, str):
                if k in ids:
                    out[k] = ids[k]
            elif k == "AccountCode":
                out[k] = x if x in self.codes else "200"
            elif k == "TaxType":
                if x in self.tax_types:
                    out[k] = x
            elif k == "CurrencyCode":
                out[k] = "AUD"
            elif k in ("Tracking", "FromTracking", "ToTracking") and isinstance(x, list):
                out[k] = [
                    {"Name": "Region", "Option": "North"} if isinstance(t, dict) and "Name" in t else self.fixup(t, ids)
                    for t in x
                ]
            else:
                out[k] = self.fixup(x, ids, k)
        return out

    def call(
        self,
        method: str,
        path: str,
        body: Any = MISSING,
        params: dict[str, Any] | None = None,
        status: int = 200,
        ids: dict[str, str] | None = None,
        drop: tuple[str, ...] = (),
    ) -> dict[str, Any]:
        ctx = {**self.ids, **(ids or {})}
        if body is MISSING:
            example = request_example(path, method)
            if example is not None and (method, path) not in UNUSABLE:
                body = self.fixup(example, {k: v for k, v in ctx.items() if k not in drop})
                self.from_examples.add((method, path))
            else:
                body = None
        real = re.sub(r"\{(\w+)\}", lambda m: ctx[m.group(1)], path)
        r = self.s.api(method, real.lstrip("/"), body, params=params)
        assert r.status_code == status, (method, real, body, r.text[:2000])
        self.seen.add((method, path))
        if status == 204:
            assert r.content == b""
            return {}
        check(path, method, str(status), r.content)
        return dict(r.json())


def test_every_operation_the_sandbox_serves_answers_as_the_spec_says(ready: Sandbox) -> None:
    contracts_dir()
    # The walk makes well over Xero's 60 calls a minute.
    ready.control("PUT", "/config", {"rate_limits": {"minute": 10_000, "day": 100_000}})
    w = Walk(ready)
    accounts = w.call("GET", "/Accounts")["Accounts"]
    w.codes = {a["Code"] for a in accounts}
    w.banks = {a["Code"] for a in accounts if a["Type"] == "BANK"}
    w.tax_types = {t["TaxType"] for t in w.call("GET", "/TaxRates")["TaxRates"]}
    org = w.call("GET", "/Organisation")["Organisations"][0]
    assert (org["BaseCurrency"], org["CountryCode"], org["FinancialYearEndMonth"]) == ("AUD", "AU", 6)
    assert org["OrganisationID"] == ready.tenant_id and org["ShortCode"].startswith("!")

    w.call("GET", "/Currencies")
    assert w.call("PUT", "/Currencies")["Currencies"] == [{"Code": "USD", "Description": "United States Dollar"}]
    w.ids["UserID"] = w.call("GET", "/Users")["Users"][0]["UserID"]
    w.call("GET", "/Users/{UserID}")
    w.ids["BrandingThemeID"] = w.call("GET", "/BrandingThemes")["BrandingThemes"][0]["BrandingThemeID"]
    w.call("GET", "/BrandingThemes/{BrandingThemeID}")

    w.ids["AccountID"] = w.call("PUT", "/Accounts")["Accounts"][0]["AccountID"]
    w.call("GET", "/Accounts/{AccountID}")
    w.call("POST", "/Accounts/{AccountID}")
    w.call("PUT", "/TaxRates")
    w.call("POST", "/TaxRates")
    w.call("GET", "/TaxRates/{TaxType}", ids={"TaxType": "OUTPUT"})
    region = next(c for c in w.call("GET", "/TrackingCategories")["TrackingCategories"] if c["Name"] == "Region")
    w.ids.update(
        TrackingCategoryID=region["TrackingCategoryID"], TrackingOptionID=region["Options"][0]["TrackingOptionID"]
    )
    tc = w.call("PUT", "/TrackingCategories")["TrackingCategories"][0]
    assert tc["Name"] == "FooBar"
    w.call("GET", "/TrackingCategories/{TrackingCategoryID}", ids={"TrackingCategoryID": tc["TrackingCategoryID"]})
    w.call("POST", "/TrackingCategories/{TrackingCategoryID}", ids={"TrackingCategoryID": tc["TrackingCategoryID"]})

    contact = w.call("PUT", "/Contacts", drop=("ContactID",))["Contacts"][0]
    w.ids["ContactID"] = contact["ContactID"]
    w.call("POST", "/Contacts")
    w.call("POST", "/Contacts/{ContactID}")
    w.call("GET", "/Contacts", params={"page": 1})
    w.call("GET", "/Contacts/{ContactID}")
    numbered = ready.api("PUT", "Contacts", {"Name": "Numbered Co", "ContactNumber": "EXT-9"}).json()["Contacts"][0]
    w.call("GET", "/Contacts/{ContactNumber}", ids={"ContactNumber": "EXT-9"})

    w.ids["ContactGroupID"] = w.call("PUT", "/ContactGroups")["ContactGroups"][0]["ContactGroupID"]
    w.call("POST", "/ContactGroups/{ContactGroupID}")
    added = w.call("PUT", "/ContactGroups/{ContactGroupID}/Contacts")["Contacts"]
    assert added[0]["ContactGroups"][0]["Name"] == "Suppliers"
    group = w.call("GET", "/ContactGroups/{ContactGroupID}")["ContactGroups"][0]
    assert [c["ContactID"] for c in group["Contacts"]] == [contact["ContactID"]]
    assert w.call("GET", "/ContactGroups")["ContactGroups"][0]["Contacts"] == []
    w.call("DELETE", "/ContactGroups/{ContactGroupID}/Contacts/{ContactID}", status=204)
    w.call("PUT", "/ContactGroups/{ContactGroupID}/Contacts")
    w.call("DELETE", "/ContactGroups/{ContactGroupID}/Contacts", status=204)

    w.call("PUT", "/Items")
    w.ids["ItemID"] = w.call("POST", "/Items")["Items"][0]["ItemID"]
    w.call("POST", "/Items/{ItemID}")
    w.call("GET", "/Items")
    w.call("GET", "/Items/{ItemID}")

    invoice = w.call("PUT", "/Invoices")["Invoices"][0]
    w.ids["InvoiceID"] = invoice["InvoiceID"]
    second = w.call("POST", "/Invoices")["Invoices"][0]
    w.call("GET", "/Invoices", params={"page": 1})
    w.call("GET", "/Invoices/{InvoiceID}")
    # Attachments: the file's bytes are the body (application/octet-stream) and the answer to a read by name or id.
    by_name = "/Invoices/{InvoiceID}/Attachments/{FileName}"
    for method in ("PUT", "POST"):
        r = ready.api(
            method, f"Invoices/{invoice['InvoiceID']}/Attachments/walk.pdf", content=b"%PDF-1.4 walk",
            headers={"Content-Type": "application/pdf"},
        )
        assert r.status_code == 200, r.text
        check(by_name, method, "200", r.content)
        w.seen.add((method, by_name))
    att = w.call("GET", "/Invoices/{InvoiceID}/Attachments")["Attachments"][0]
    for path, key in ((by_name, "walk.pdf"), ("/Invoices/{InvoiceID}/Attachments/{AttachmentID}", att["AttachmentID"])):
        r = ready.api("GET", f"Invoices/{invoice['InvoiceID']}/Attachments/{key}")
        assert (r.status_code, r.content) == (200, b"%PDF-1.4 walk")
        w.seen.add(("GET", path))
    who = {"ContactID": contact["ContactID"]}
    draft_bill = _put(ready, "Invoices", {"Type": "ACCPAY", "Contact": who, "LineItems": [_line("300")]})
    w.call("POST", "/Invoices/{InvoiceID}", ids={"InvoiceID": draft_bill["InvoiceID"]})
    approved = {"Type": "ACCPAY", "Status": "AUTHORISED", "Contact": who, "LineItems": [_line("300")]}
    bill = _put(ready, "Invoices", approved)

    w.ids["PaymentID"] = w.call("PUT", "/Payments")["Payments"][0]["PaymentID"]
    w.call("POST", "/Payments")
    w.call("GET", "/Payments", params={"page": 1})
    w.call("GET", "/Payments/{PaymentID}")
    w.call("POST", "/Payments/{PaymentID}")

    # One receipt over two invoices (issue 15), then deleted both ways the spec has.
    sale = {"Type": "ACCREC", "Status": "AUTHORISED", "Contact": who, "LineItems": [_line("200")]}
    sales = [_put(ready, "Invoices", sale)["InvoiceID"] for _ in range(4)]

    def batch(first: str, second: str) -> dict[str, Any]:
        lines = [{"Invoice": {"InvoiceID": i}, "Amount": 20} for i in (first, second)]
        return {"BatchPayments": [{"Account": {"Code": "090"}, "Date": "2026-11-02", "Payments": lines}]}

    made = w.call("PUT", "/BatchPayments", body=batch(sales[0], sales[1]))["BatchPayments"][0]
    assert [p["Invoice"]["InvoiceID"] for p in made["Payments"]] == sales[:2] and made["TotalAmount"] == 40.0
    w.ids["BatchPaymentID"] = made["BatchPaymentID"]
    w.call("GET", "/BatchPayments")
    w.call("GET", "/BatchPayments/{BatchPaymentID}")
    gone = w.call("POST", "/BatchPayments/{BatchPaymentID}", body={"Status": "DELETED"})["BatchPayments"][0]
    assert gone["Status"] == "DELETED" and {p["Status"] for p in gone["Payments"]} == {"DELETED"}
    other = ready.api("PUT", "BatchPayments", batch(sales[2], sales[3])).json()["BatchPayments"][0]
    body = {"BatchPayments": [{"BatchPaymentID": other["BatchPaymentID"], "Status": "DELETED"}]}
    assert w.call("POST", "/BatchPayments", body=body)["BatchPayments"][0]["Status"] == "DELETED"

    w.ids["CreditNoteID"] = w.call("PUT", "/CreditNotes")["CreditNotes"][0]["CreditNoteID"]
    w.call("POST", "/CreditNotes")
    note = w.call("POST", "/CreditNotes/{CreditNoteID}")["CreditNotes"][0]
    assert note["Status"] == "AUTHORISED" and note["RemainingCredit"] == 44.0
    w.call("GET", "/CreditNotes", params={"page": 1})
    w.call("GET", "/CreditNotes/{CreditNoteID}")
    alloc = w.call("PUT", "/CreditNotes/{CreditNoteID}/Allocations", ids={"InvoiceID": bill["InvoiceID"]})
    w.ids["AllocationID"] = alloc["Allocations"][0]["AllocationID"]
    assert w.call("DELETE", "/CreditNotes/{CreditNoteID}/Allocations/{AllocationID}")["IsDeleted"] is True

    spend = w.call("POST", "/BankTransactions")["BankTransactions"][0]
    w.ids["BankTransactionID"] = spend["BankTransactionID"]
    updated = w.call("POST", "/BankTransactions/{BankTransactionID}")["BankTransactions"][0]
    assert updated["Reference"] == "You just updated" and updated["LineAmountTypes"] == "Inclusive"
    w.call("PUT", "/BankTransactions", body={"BankTransactions": [_bank("RECEIVE", contact, 25)]})
    w.call("GET", "/BankTransactions", params={"page": 1})
    w.call("GET", "/BankTransactions/{BankTransactionID}")
    over = _put(ready, "BankTransactions", _bank("RECEIVE-OVERPAYMENT", contact, 30))
    pre = _put(ready, "BankTransactions", _bank("RECEIVE-PREPAYMENT", contact, 30))
    w.ids.update(OverpaymentID=over["OverpaymentID"], PrepaymentID=pre["PrepaymentID"])
    for kind in ("Overpayments", "Prepayments"):
        one = kind[:-1]
        w.call("GET", f"/{kind}", params={"page": 1})
        w.call("GET", f"/{kind}/{{{one}ID}}")
        alloc = w.call("PUT", f"/{kind}/{{{one}ID}}/Allocations", ids={"InvoiceID": second["InvoiceID"]})
        w.ids["AllocationID"] = alloc["Allocations"][0]["AllocationID"]
        w.call("DELETE", f"/{kind}/{{{one}ID}}/Allocations/{{AllocationID}}")

    po = w.call("PUT", "/PurchaseOrders")["PurchaseOrders"][0]
    w.ids["PurchaseOrderID"] = po["PurchaseOrderID"]
    w.call("POST", "/PurchaseOrders")
    w.call("POST", "/PurchaseOrders/{PurchaseOrderID}")
    w.call("GET", "/PurchaseOrders", params={"page": 1})
    w.call("GET", "/PurchaseOrders/{PurchaseOrderID}")
    w.call("GET", "/PurchaseOrders/{PurchaseOrderNumber}", ids={"PurchaseOrderNumber": po["PurchaseOrderNumber"]})

    w.ids["ManualJournalID"] = w.call("PUT", "/ManualJournals")["ManualJournals"][0]["ManualJournalID"]
    w.call("POST", "/ManualJournals")
    w.call("POST", "/ManualJournals/{ManualJournalID}")
    w.call("GET", "/ManualJournals", params={"page": 1})
    w.call("GET", "/ManualJournals/{ManualJournalID}")
    unbalanced = {"Narration": "x", "Status": "POSTED", "JournalLines": [_jl("429", 100), _jl("090", -10)]}
    err = w.call("PUT", "/ManualJournals", body={"ManualJournals": [unbalanced]}, status=400)
    assert err["Elements"][0]["ValidationErrors"][0]["Message"] == (
        "The total debits (100.00) must equal total credits (-10.00)"
    )

    w.ids["BankTransferID"] = w.call("PUT", "/BankTransfers")["BankTransfers"][0]["BankTransferID"]
    w.call("GET", "/BankTransfers")
    w.call("GET", "/BankTransfers/{BankTransferID}")
    assert w.call("POST", "/BankTransfers/{BankTransferID}")["BankTransfers"][0]["Status"] == "DELETED"
    w.ids["BankTransferID"] = w.call("PUT", "/BankTransfers")["BankTransfers"][0]["BankTransferID"]
    w.call("POST", "/BankTransfers")
    assert w.call("GET", "/BankTransfers")["BankTransfers"] == []

    quote = w.call("PUT", "/Quotes")["Quotes"][0]
    assert quote["QuoteNumber"] == "QU-0001" and quote["Status"] == "DRAFT"
    w.ids["QuoteID"] = quote["QuoteID"]
    w.call("POST", "/Quotes")
    w.call("POST", "/Quotes/{QuoteID}")
    w.call("GET", "/Quotes", params={"page": 1})
    w.call("GET", "/Quotes/{QuoteID}")

    w.ids["RepeatingInvoiceID"] = w.call("PUT", "/RepeatingInvoices")["RepeatingInvoices"][0]["RepeatingInvoiceID"]
    w.call("POST", "/RepeatingInvoices")
    w.call("GET", "/RepeatingInvoices")
    w.call("GET", "/RepeatingInvoices/{RepeatingInvoiceID}")
    w.call("POST", "/RepeatingInvoices/{RepeatingInvoiceID}")

    link_ids = {"SourceTransactionID": bill["InvoiceID"], "SourceLineItemID": bill["LineItems"][0]["LineItemID"]}
    link = w.call("PUT", "/LinkedTransactions", ids=link_ids)["LinkedTransactions"][0]
    assert (link["Status"], link["SourceTransactionTypeCode"]) == ("DRAFT", "ACCPAY")
    w.ids["LinkedTransactionID"] = link["LinkedTransactionID"]
    w.call("POST", "/LinkedTransactions/{LinkedTransactionID}", ids=link_ids)
    w.call("GET", "/LinkedTransactions", params={"page": 1})
    w.call("GET", "/LinkedTransactions/{LinkedTransactionID}")
    w.call("DELETE", "/LinkedTransactions/{LinkedTransactionID}", status=204)

    journals = w.call("GET", "/Journals")["Journals"]
    assert [j["JournalNumber"] for j in journals] == list(range(1, len(journals) + 1))
    w.call("GET", "/Journals/{JournalID}", ids={"JournalID": journals[0]["JournalID"]})
    w.call("GET", "/Journals/{JournalNumber}", ids={"JournalNumber": "2"})
    span = {"fromDate": "2000-01-01", "toDate": "2100-12-31"}
    w.call("GET", "/Reports/ProfitAndLoss", params=span)
    w.call("GET", "/Reports/BalanceSheet", params={"periods": 2, "timeframe": "MONTH"})
    w.call("GET", "/Reports/TrialBalance")
    w.call("GET", "/Reports/AgedReceivablesByContact", params={"contactId": contact["ContactID"]})
    w.call("DELETE", "/Items/{ItemID}", status=204)
    assert numbered["ContactNumber"] == "EXT-9"

    served = {(r.method, p) for r in ROUTES for p in (r.path, *r.also)}
    assert served - w.seen == set(), "operations the walk did not call"
    assert served <= operations(), "the sandbox serves an operation the spec does not have"
    with_examples = {(m, p) for m, p in served if request_example(p, m) is not None} - set(UNUSABLE)
    assert with_examples - w.from_examples == set(), "operations whose spec example the walk did not send"


def _line(account: str, amount: float = 50) -> dict[str, Any]:
    return {"Description": "Parts", "Quantity": 1, "UnitAmount": amount, "AccountCode": account, "TaxType": "INPUT"}


def _jl(account: str, amount: float) -> dict[str, Any]:
    return {"AccountCode": account, "LineAmount": amount, "Description": "walk"}


def _bank(typ: str, contact: dict[str, Any], amount: float) -> dict[str, Any]:
    return {
        "Type": typ,
        "Contact": {"ContactID": contact["ContactID"]},
        "BankAccount": {"Code": "090"},
        "LineAmountTypes": "NoTax",
        "LineItems": [{"Description": typ, "LineAmount": amount, "AccountCode": "200"}],
    }


def _put(s: Sandbox, coll: str, body: dict[str, Any]) -> dict[str, Any]:
    r = s.api("PUT", coll, {coll: [body]})
    assert r.status_code == 200, r.text
    return dict(r.json()[coll][0])


def test_every_operation_of_the_spec_is_either_served_or_listed_as_not_served() -> None:
    contracts_dir()
    served = {(r.method, p) for r in ROUTES for p in (r.path, *r.also)}
    unlisted = [
        f"{m} {p}"
        for m, p in sorted(operations() - served)
        if not any(re.search(pattern, f"{m} {p}") for pattern, _ in NOT_SERVED)
    ]
    assert unlisted == []
    assert [f"{m} {p}" for m, p in served if any(re.search(pat, f"{m} {p}") for pat, _ in NOT_SERVED)] == []
