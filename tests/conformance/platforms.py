"""The provider + sandbox pairs the conformance kit runs over, behind one small harness each.

test_sandboxes.py wraps each Platform in a ledgersync.testing.ProviderConformance subclass; the behaviours live in
the kit (src/ledgersync/testing/suite.py) and are shared with the memory platform and third-party providers."""

from __future__ import annotations

import datetime as dt
import time
from collections.abc import Iterator
from contextlib import AbstractContextManager
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

from ledgersync.demo import SandboxHandle, qbo_sandbox, xero_sandbox
from ledgersync.testing import Faults


@dataclass
class Platform:
    """What the shared behaviours need to know about one platform's sandbox, in its own terms."""

    name: str
    currency: str
    sandbox_limits: dict[str, Any]
    client_limits: dict[str, str]
    handle: SandboxHandle | None = field(default=None, repr=False)

    def start(self) -> AbstractContextManager[SandboxHandle]:
        raise NotImplementedError

    @property
    def sb(self) -> SandboxHandle:
        assert self.handle is not None
        return self.handle

    # Acting as a person in the platform.
    def create_contact(self, name: str) -> str:
        raise NotImplementedError

    def attachments(self, invoice_id: str) -> dict[str, bytes]:
        """File name -> bytes of the files the invoice holds, read as a person would."""
        raise NotImplementedError

    def rename_contact(self, remote_id: str, name: str) -> None:
        raise NotImplementedError

    def pay(self, invoice_id: str, amount: Decimal) -> str:
        raise NotImplementedError

    # Issue 15: a person editing invoices and payments on the platform.
    def edit_invoice(self, remote_id: str, reference: str, first_line: str) -> None:
        raise NotImplementedError

    def delete_payment(self, remote_id: str) -> None:
        raise NotImplementedError

    def move_payment(self, remote_id: str, invoice_id: str) -> None:
        raise NotImplementedError

    def pay_invoices(self, amounts: list[tuple[str, Decimal]]) -> str:
        raise NotImplementedError

    # Reading the platform's truth.
    def active_contact_names(self) -> list[str]:
        raise NotImplementedError

    def live_invoice_numbers(self) -> list[str]:
        raise NotImplementedError

    def invoice_total(self, remote_id: str) -> Decimal:
        raise NotImplementedError

    def invoice_state(self, remote_id: str) -> str:
        """'open', 'paid' or 'void'."""
        raise NotImplementedError

    def live_payment_count(self) -> int:
        raise NotImplementedError

    # The vendor side (testing/vendor_suite.py's hooks).
    def create_supplier(self, name: str) -> str:
        raise NotImplementedError

    def enter_bill(self, supplier_id: str, number: str, amount: Decimal) -> str:
        raise NotImplementedError

    def pay_bill(self, bill_id: str, amount: Decimal) -> str:
        raise NotImplementedError

    def enter_sales_receipt(self, number: str, amount: Decimal) -> str:
        raise NotImplementedError

    def supplier_names(self) -> list[str]:
        raise NotImplementedError

    def bill_facts(self, remote_id: str) -> dict[str, Any]:
        raise NotImplementedError

    def purchase_order_facts(self, remote_id: str) -> dict[str, Any]:
        raise NotImplementedError

    def sales_receipt_total(self, remote_id: str) -> Decimal:
        raise NotImplementedError

    def combined_tax(self) -> tuple[str, Decimal]:
        raise NotImplementedError

    def create_stocked_item(self, code: str, name: str, quantity: Decimal) -> None:
        raise NotImplementedError

    def enable_currency(self, code: str) -> None:
        raise NotImplementedError

    def invoice_home_total(self, remote_id: str) -> Decimal | None:
        raise NotImplementedError

    def platform_item_codes(self) -> list[str]:
        raise NotImplementedError

    # Credit notes and refunds (testing/credit_suite.py).
    def allocate_credit_note(self, note_id: str, invoice_id: str, amount: Decimal) -> None:
        raise NotImplementedError

    def refund_on_platform(self, note_id: str, customer_id: str, amount: Decimal) -> str:
        raise NotImplementedError

    def invoice_due(self, remote_id: str) -> Decimal:
        raise NotImplementedError

    def credit_note_remaining(self, remote_id: str) -> Decimal:
        raise NotImplementedError

    def credit_note_numbers(self) -> list[str]:
        raise NotImplementedError

    def refund_live(self, remote_id: str) -> Decimal | None:
        raise NotImplementedError

    def settle(self) -> None:
        # Both platforms' modified-since reads have one-second precision.
        time.sleep(1.05)

    def refreshes(self) -> int:
        return int(self.sb.counters()["token_grants"]["refresh_token"])

    # Faults, calls and tokens, through the sandbox's control API.
    def inject_faults(self, faults: Faults) -> None:
        body: dict[str, Any] = {}
        rates = {"429": faults.rate_limited, "500": faults.server_error}
        if any(rates.values()):
            body["error_rates"] = {code: rate for code, rate in rates.items() if rate}
        if faults.timeout_after_commit:
            body["timeout_after_commit_rate"] = faults.timeout_after_commit
            body["hang_seconds"] = faults.hang_seconds
        if faults.drop_after_commit:
            body["drop_after_commit_rate"] = faults.drop_after_commit
        if faults.latency_ms:
            body["latency_ms"] = faults.latency_ms
        if faults.seed is not None:
            body["seed"] = faults.seed
        self.sb.control.put("/_sandbox/faults", json=body).raise_for_status()

    def clear_faults(self) -> None:
        self.sb.control.delete("/_sandbox/faults").raise_for_status()

    def faults_injected(self) -> dict[str, int]:
        return {k: int(v) for k, v in self.sb.counters()["faults"].items()}

    def calls_received(self) -> int:
        return int(self.sb.counters()["total_calls"])

    def expire_tokens(self) -> None:
        self.sb.control.post("/_sandbox/tokens/expire").raise_for_status()

    def revoke_tokens(self) -> None:
        self.sb.control.post("/_sandbox/tokens/revoke", json={}).raise_for_status()


class Xero(Platform):
    def start(self) -> AbstractContextManager[SandboxHandle]:
        return xero_sandbox(config=self.sandbox_limits)

    def attachments(self, invoice_id: str) -> dict[str, bytes]:
        base = f"/_sandbox/tenants/{self.sb.tenant_id}/as-user/Invoices/{invoice_id}/Attachments"
        listed = self.sb.control.get(base).json()["Attachments"]
        return {a["FileName"]: self.sb.control.get(f"{base}/{a['AttachmentID']}").content for a in listed}

    def create_contact(self, name: str) -> str:
        return str(
            self.sb.as_user("Contacts", {"Contacts": [{"Name": name}]}, method="PUT")["Contacts"][0]["ContactID"]
        )

    def rename_contact(self, remote_id: str, name: str) -> None:
        self.sb.as_user(f"Contacts/{remote_id}", {"Contacts": [{"ContactID": remote_id, "Name": name}]})

    def pay(self, invoice_id: str, amount: Decimal) -> str:
        body = {
            "Payments": [
                {
                    "Invoice": {"InvoiceID": invoice_id},
                    "Account": {"Code": "090"},
                    "Date": dt.date.today().isoformat(),
                    "Amount": str(amount),
                }
            ]
        }
        return str(self.sb.as_user("Payments", body, method="PUT")["Payments"][0]["PaymentID"])

    def edit_invoice(self, remote_id: str, reference: str, first_line: str) -> None:
        inv = self._invoice(remote_id)
        lines = [
            {k: li[k] for k in ("Description", "Quantity", "UnitAmount", "AccountCode", "TaxType") if k in li}
            for li in inv["LineItems"]
        ]
        lines[0]["Description"] = first_line
        body = {"Invoices": [{"InvoiceID": remote_id, "Reference": reference, "LineItems": lines}]}
        self.sb.as_user(f"Invoices/{remote_id}", body)

    def delete_payment(self, remote_id: str) -> None:
        self.sb.as_user(f"Payments/{remote_id}", {"Payments": [{"PaymentID": remote_id, "Status": "DELETED"}]})

    def pay_invoices(self, amounts: list[tuple[str, Decimal]]) -> str:
        body = {
            "BatchPayments": [
                {
                    "Account": {"Code": "090"},
                    "Date": dt.date.today().isoformat(),
                    "Reference": "Batch from Xero",
                    "Payments": [{"Invoice": {"InvoiceID": i}, "Amount": str(a)} for i, a in amounts],
                }
            ]
        }
        return str(self.sb.as_user("BatchPayments", body, method="PUT")["BatchPayments"][0]["BatchPaymentID"])

    def active_contact_names(self) -> list[str]:
        return [c["Name"] for c in self.sb.records("Contacts") if c.get("ContactStatus") == "ACTIVE"]

    def live_invoice_numbers(self) -> list[str]:
        return [i["InvoiceNumber"] for i in self.sb.records("Invoices") if i["Status"] not in ("DELETED", "VOIDED")]

    def _invoice(self, remote_id: str) -> dict[str, Any]:
        return next(i for i in self.sb.records("Invoices") if i["InvoiceID"] == remote_id)

    def invoice_total(self, remote_id: str) -> Decimal:
        return Decimal(str(self._invoice(remote_id)["Total"]))

    def invoice_state(self, remote_id: str) -> str:
        status = self._invoice(remote_id)["Status"]
        return {"PAID": "paid", "VOIDED": "void", "DELETED": "void"}.get(status, "open")

    def live_payment_count(self) -> int:
        return len([p for p in self.sb.records("Payments") if p["Status"] != "DELETED"])

    def allocate_credit_note(self, note_id: str, invoice_id: str, amount: Decimal) -> None:
        body = {
            "Allocations": [
                {"Invoice": {"InvoiceID": invoice_id}, "Amount": str(amount), "Date": dt.date.today().isoformat()}
            ]
        }
        self.sb.as_user(f"CreditNotes/{note_id}/Allocations", body, method="PUT")

    def refund_on_platform(self, note_id: str, customer_id: str, amount: Decimal) -> str:
        # Xero: a refund is a payment on the credit note, out of a bank account.
        body = {
            "Payments": [
                {
                    "CreditNote": {"CreditNoteID": note_id},
                    "Account": {"Code": "090"},
                    "Date": dt.date.today().isoformat(),
                    "Amount": str(amount),
                }
            ]
        }
        return str(self.sb.as_user("Payments", body, method="PUT")["Payments"][0]["PaymentID"])

    def invoice_due(self, remote_id: str) -> Decimal:
        return Decimal(str(self._invoice(remote_id)["AmountDue"]))

    def _credit_note(self, remote_id: str) -> dict[str, Any]:
        return next(n for n in self.sb.records("CreditNotes") if n["CreditNoteID"] == remote_id)

    def credit_note_remaining(self, remote_id: str) -> Decimal:
        return Decimal(str(self._credit_note(remote_id)["RemainingCredit"]))

    def credit_note_numbers(self) -> list[str]:
        return [
            str(n.get("CreditNoteNumber"))
            for n in self.sb.records("CreditNotes")
            if n["Status"] not in ("DELETED", "VOIDED")
        ]

    def refund_live(self, remote_id: str) -> Decimal | None:
        pay = next(p for p in self.sb.records("Payments") if p["PaymentID"] == remote_id)
        return None if pay["Status"] == "DELETED" else Decimal(str(pay["Amount"]))

    # The vendor side: a supplier is a contact Xero flags IsSupplier once it has a bill.
    def create_supplier(self, name: str) -> str:
        return self.create_contact(name)

    def enter_bill(self, supplier_id: str, number: str, amount: Decimal) -> str:
        bill = {
            "Type": "ACCPAY",
            "Contact": {"ContactID": supplier_id},
            "InvoiceNumber": number,
            "Date": dt.date.today().isoformat(),
            "DueDate": dt.date.today().isoformat(),
            "Status": "AUTHORISED",
            "LineAmountTypes": "NoTax",
            "LineItems": [
                {"Description": "Supplies", "Quantity": "1", "UnitAmount": str(amount), "AccountCode": "400"}
            ],
        }
        return str(self.sb.as_user("Invoices", {"Invoices": [bill]}, method="PUT")["Invoices"][0]["InvoiceID"])

    def pay_bill(self, bill_id: str, amount: Decimal) -> str:
        return self.pay(bill_id, amount)

    def supplier_names(self) -> list[str]:
        return [
            c["Name"]
            for c in self.sb.records("Contacts")
            if c.get("ContactStatus") == "ACTIVE"
            and (c.get("IsSupplier") or str(c.get("ContactNumber") or "").startswith("supplier:"))
        ]

    def bill_facts(self, remote_id: str) -> dict[str, Any]:
        bill = self._invoice(remote_id)
        state = {"PAID": "paid", "VOIDED": "void", "DELETED": "void"}.get(bill["Status"], "open")
        # Xero's API keeps no link from a bill to the purchase order it came from.
        return {"total": Decimal(str(bill["Total"])), "state": state, "purchase_order": None}

    def enable_currency(self, code: str) -> None:
        self.sb.as_user("Currencies", {"Code": code}, method="PUT")

    def invoice_home_total(self, remote_id: str) -> Decimal | None:
        return None  # Xero's API shows no home-currency total on an invoice

    def create_stocked_item(self, code: str, name: str, quantity: Decimal) -> None:
        # Tracked once it has an inventory asset account; its stock arrives with an approved bill.
        item = {
            "Code": code,
            "Name": name,
            "InventoryAssetAccountCode": "630",
            "PurchaseDetails": {"COGSAccountCode": "310", "UnitPrice": "10.00"},
            "SalesDetails": {"UnitPrice": "25.00", "AccountCode": "200"},
        }
        self.sb.as_user("Items", {"Items": [item]}, method="PUT")
        supplier = self.create_contact(f"Stock supplier {code}")
        bill = {
            "Type": "ACCPAY",
            "Contact": {"ContactID": supplier},
            "DueDate": dt.date.today().isoformat(),
            "Status": "AUTHORISED",
            "LineItems": [{"Description": name, "ItemCode": code, "Quantity": str(quantity), "UnitAmount": "10.00"}],
        }
        self.sb.as_user("Invoices", {"Invoices": [bill]}, method="PUT")

    def platform_item_codes(self) -> list[str]:
        return [str(i["Code"]) for i in self.sb.records("Items")]

    def combined_tax(self) -> tuple[str, Decimal]:
        # A rate of two components, as a person sets one up in Xero (Settings > Tax rates).
        body = {
            "TaxRates": [
                {
                    "Name": "GST and levy",
                    "ReportTaxType": "OUTPUT",
                    "TaxComponents": [
                        {"Name": "GST", "Rate": "10.0000", "IsCompound": False},
                        {"Name": "Levy", "Rate": "2.5000", "IsCompound": False},
                    ],
                }
            ]
        }
        rate = self.sb.as_user("TaxRates", body, method="PUT")["TaxRates"][0]
        return str(rate["TaxType"]), Decimal(str(rate["EffectiveRate"]))

    def purchase_order_facts(self, remote_id: str) -> dict[str, Any]:
        po = next(p for p in self.sb.records("PurchaseOrders") if p["PurchaseOrderID"] == remote_id)
        state = {"BILLED": "billed", "DELETED": "deleted"}.get(po["Status"], "open")
        return {"total": Decimal(str(po["Total"])), "state": state}


class QuickBooksOnline(Platform):
    def start(self) -> AbstractContextManager[SandboxHandle]:
        return qbo_sandbox(config=self.sandbox_limits, extra_config=self.client_limits)

    def attachments(self, invoice_id: str) -> dict[str, bytes]:
        query = f"SELECT * FROM Attachable WHERE AttachableRef.EntityRef.Value = '{invoice_id}'"
        found = self.sb.as_user("query", {}, method="GET", params={"query": query})["QueryResponse"]
        out: dict[str, bytes] = {}
        for a in found.get("Attachable") or []:
            # The download URL as the API last saw its host; read it from this sandbox's own address.
            path = "/" + a["TempDownloadUri"].split("/", 3)[3]
            out[a["FileName"]] = self.sb.control.get(path).content
        return out

    def create_contact(self, name: str) -> str:
        return str(self.sb.as_user("customer", {"DisplayName": name})["Customer"]["Id"])

    def rename_contact(self, remote_id: str, name: str) -> None:
        current = next(c for c in self.sb.records("Customer") if c["Id"] == remote_id)
        self.sb.as_user(
            "customer", {"Id": remote_id, "SyncToken": current["SyncToken"], "sparse": True, "DisplayName": name}
        )

    def _invoice(self, remote_id: str) -> dict[str, Any]:
        return next(i for i in self.sb.records("Invoice") if i["Id"] == remote_id)

    def pay(self, invoice_id: str, amount: Decimal) -> str:
        inv = self._invoice(invoice_id)
        body = {
            "CustomerRef": inv["CustomerRef"],
            "TotalAmt": str(amount),
            "TxnDate": dt.date.today().isoformat(),
            "Line": [{"Amount": str(amount), "LinkedTxn": [{"TxnId": invoice_id, "TxnType": "Invoice"}]}],
        }
        return str(self.sb.as_user("payment", body)["Payment"]["Id"])

    def edit_invoice(self, remote_id: str, reference: str, first_line: str) -> None:
        inv = self._invoice(remote_id)
        lines = [dict(li) for li in inv["Line"] if li.get("DetailType") == "SalesItemLineDetail"]
        lines[0]["Description"] = first_line
        body = {
            "Id": remote_id,
            "SyncToken": inv["SyncToken"],
            "sparse": True,
            "PrivateNote": reference,
            "Line": lines,
        }
        self.sb.as_user("invoice", body)

    def _payment(self, remote_id: str) -> dict[str, Any]:
        return next(p for p in self.sb.records("Payment") if p["Id"] == remote_id)

    def delete_payment(self, remote_id: str) -> None:
        pay = self._payment(remote_id)
        self.sb.as_user("payment", {"Id": remote_id, "SyncToken": pay["SyncToken"]}, params={"operation": "delete"})

    def pay_invoices(self, amounts: list[tuple[str, Decimal]]) -> str:
        total = sum((a for _, a in amounts), Decimal(0))
        body = {
            "CustomerRef": self._invoice(amounts[0][0])["CustomerRef"],
            "TotalAmt": str(total),
            "TxnDate": dt.date.today().isoformat(),
            "Line": [{"Amount": str(a), "LinkedTxn": [{"TxnId": i, "TxnType": "Invoice"}]} for i, a in amounts],
        }
        return str(self.sb.as_user("payment", body)["Payment"]["Id"])

    def move_payment(self, remote_id: str, invoice_id: str) -> None:
        pay = self._payment(remote_id)
        body = {
            "Id": remote_id,
            "SyncToken": pay["SyncToken"],
            "sparse": True,
            "CustomerRef": pay["CustomerRef"],
            "TotalAmt": pay["TotalAmt"],
            "Line": [{"Amount": pay["TotalAmt"], "LinkedTxn": [{"TxnId": invoice_id, "TxnType": "Invoice"}]}],
        }
        self.sb.as_user("payment", body)

    def active_contact_names(self) -> list[str]:
        return [c["DisplayName"] for c in self.sb.records("Customer") if c.get("Active", True)]

    def _voided(self, inv: dict[str, Any]) -> bool:
        return str(inv.get("PrivateNote") or "").startswith("Voided")

    def live_invoice_numbers(self) -> list[str]:
        return [i["DocNumber"] for i in self.sb.records("Invoice") if not self._voided(i)]

    def invoice_total(self, remote_id: str) -> Decimal:
        return Decimal(str(self._invoice(remote_id)["TotalAmt"]))

    def invoice_state(self, remote_id: str) -> str:
        inv = self._invoice(remote_id)
        if self._voided(inv):
            return "void"
        return "paid" if Decimal(str(inv["Balance"])) == 0 and Decimal(str(inv["TotalAmt"])) > 0 else "open"

    def live_payment_count(self) -> int:
        return len([p for p in self.sb.records("Payment") if Decimal(str(p.get("TotalAmt", 0))) > 0])

    def _credit_memo(self, remote_id: str) -> dict[str, Any]:
        return next(n for n in self.sb.records("CreditMemo") if n["Id"] == remote_id)

    def allocate_credit_note(self, note_id: str, invoice_id: str, amount: Decimal) -> None:
        # QuickBooks: Receive payment of 0, ticking the invoice and the credit memo.
        body = {
            "CustomerRef": self._credit_memo(note_id)["CustomerRef"],
            "TotalAmt": "0",
            "TxnDate": dt.date.today().isoformat(),
            "Line": [
                {"Amount": str(amount), "LinkedTxn": [{"TxnId": invoice_id, "TxnType": "Invoice"}]},
                {"Amount": str(amount), "LinkedTxn": [{"TxnId": note_id, "TxnType": "CreditMemo"}]},
            ],
        }
        self.sb.as_user("payment", body)

    def refund_on_platform(self, note_id: str, customer_id: str, amount: Decimal) -> str:
        # QuickBooks: a refund receipt to the customer (it names no credit memo).
        line = {"Amount": str(amount), "DetailType": "SalesItemLineDetail", "SalesItemLineDetail": {}}
        body = {"CustomerRef": {"value": customer_id}, "Line": [line]}
        return str(self.sb.as_user("refundreceipt", body)["RefundReceipt"]["Id"])

    def invoice_due(self, remote_id: str) -> Decimal:
        return Decimal(str(self._invoice(remote_id)["Balance"]))

    def credit_note_remaining(self, remote_id: str) -> Decimal:
        return Decimal(str(self._credit_memo(remote_id)["RemainingCredit"]))

    def credit_note_numbers(self) -> list[str]:
        return [str(n.get("DocNumber")) for n in self.sb.records("CreditMemo")]

    def refund_live(self, remote_id: str) -> Decimal | None:
        found = [r for r in self.sb.records("RefundReceipt") if r["Id"] == remote_id]
        if not found or self._voided(found[0]):
            return None
        return Decimal(str(found[0]["TotalAmt"]))

    # The vendor side and sales receipts.
    def create_supplier(self, name: str) -> str:
        return str(self.sb.as_user("vendor", {"DisplayName": name})["Vendor"]["Id"])

    def enter_bill(self, supplier_id: str, number: str, amount: Decimal) -> str:
        line = {
            "Amount": str(amount),
            "DetailType": "AccountBasedExpenseLineDetail",
            "AccountBasedExpenseLineDetail": {"AccountRef": {"value": self._expense_account()}},
        }
        body = {"VendorRef": {"value": supplier_id}, "DocNumber": number, "Line": [line]}
        return str(self.sb.as_user("bill", body)["Bill"]["Id"])

    def _expense_account(self) -> str:
        return next(str(a["Id"]) for a in self.sb.records("Account") if a.get("AccountType") == "Expense")

    def pay_bill(self, bill_id: str, amount: Decimal) -> str:
        bill = next(b for b in self.sb.records("Bill") if b["Id"] == bill_id)
        bank = next(str(a["Id"]) for a in self.sb.records("Account") if a.get("AccountType") == "Bank")
        body = {
            "VendorRef": bill["VendorRef"],
            "PayType": "Check",
            "CheckPayment": {"BankAccountRef": {"value": bank}},
            "TotalAmt": str(amount),
            "Line": [{"Amount": str(amount), "LinkedTxn": [{"TxnId": bill_id, "TxnType": "Bill"}]}],
        }
        return str(self.sb.as_user("billpayment", body)["BillPayment"]["Id"])

    def enter_sales_receipt(self, number: str, amount: Decimal) -> str:
        line = {"Amount": str(amount), "DetailType": "SalesItemLineDetail", "SalesItemLineDetail": {}}
        return str(self.sb.as_user("salesreceipt", {"DocNumber": number, "Line": [line]})["SalesReceipt"]["Id"])

    def supplier_names(self) -> list[str]:
        return [v["DisplayName"] for v in self.sb.records("Vendor") if v.get("Active", True)]

    def bill_facts(self, remote_id: str) -> dict[str, Any]:
        bill = next(b for b in self.sb.records("Bill") if b["Id"] == remote_id)
        total, balance = Decimal(str(bill["TotalAmt"])), Decimal(str(bill["Balance"]))
        linked = [
            lt["TxnId"]
            for line in bill.get("Line") or []
            for lt in line.get("LinkedTxn") or []
            if lt.get("TxnType") == "PurchaseOrder"
        ]
        state = "paid" if total > 0 and balance == 0 else "open"
        return {"total": total, "state": state, "purchase_order": linked[0] if linked else None}

    def purchase_order_facts(self, remote_id: str) -> dict[str, Any]:
        po = next(p for p in self.sb.records("PurchaseOrder") if p["Id"] == remote_id)
        return {"total": Decimal(str(po["TotalAmt"])), "state": "billed" if po["POStatus"] == "Closed" else "open"}

    def sales_receipt_total(self, remote_id: str) -> Decimal:
        receipt = next(r for r in self.sb.records("SalesReceipt") if r["Id"] == remote_id)
        return Decimal(str(receipt["TotalAmt"]))

    def enable_currency(self, code: str) -> None:
        path = f"/_sandbox/tenants/{self.sb.tenant_id}/preferences"
        current = self.sb.control.get(path).json().get("currencies") or []
        body = {"multicurrency": True, "currencies": [*current, code]}
        self.sb.control.put(path, json=body).raise_for_status()

    def invoice_home_total(self, remote_id: str) -> Decimal | None:
        return Decimal(str(self._invoice(remote_id)["HomeTotalAmt"])) if remote_id else None

    def create_stocked_item(self, code: str, name: str, quantity: Decimal) -> None:
        asset = next(str(a["Id"]) for a in self.sb.records("Account") if a.get("AccountType") == "Other Current Asset")
        body = {
            "Name": name,
            "Sku": code,
            "Type": "Inventory",
            "TrackQtyOnHand": True,
            "QtyOnHand": str(quantity),
            "InvStartDate": dt.date.today().isoformat(),
            "AssetAccountRef": {"value": asset},
            "IncomeAccountRef": {"value": "6"},
            "ExpenseAccountRef": {"value": "7"},
        }
        self.sb.as_user("item", body)

    def platform_item_codes(self) -> list[str]:
        return [str(i.get("Sku") or i["Name"]) for i in self.sb.records("Item")]

    def combined_tax(self) -> tuple[str, Decimal]:
        code = next(t for t in self.sb.records("TaxCode") if t.get("TaxGroup"))
        rates = {str(r["Id"]): Decimal(str(r["RateValue"])) for r in self.sb.records("TaxRate")}
        details = code["SalesTaxRateList"]["TaxRateDetail"]
        return str(code["Id"]), sum((rates[d["TaxRateRef"]["value"]] for d in details), Decimal(0))


def platforms() -> Iterator[Platform]:
    yield Xero(
        "xero",
        "AUD",
        sandbox_limits={"rate_limits": {"concurrent": 5, "minute": 100_000, "day": 1_000_000, "app_minute": 1_000_000}},
        client_limits={"per_minute": "100000", "per_day": "1000000", "app_per_minute": "1000000"},
    )
    yield QuickBooksOnline(
        "qbo",
        "USD",
        sandbox_limits={
            "rate_limits": {"minute": 100_000, "concurrent": 10, "batch_minute": 100_000, "batch_realm_minute": 100_000}
        },
        # Intuit asks for 60 s after a 429; scaled down so the rate-limit behaviour runs in seconds.
        client_limits={
            "per_minute": "100000",
            "per_second": "100000",
            "batch_per_minute": "100000",
            "throttle_wait_seconds": "1",
        },
    )
