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


class QuickBooksOnline(Platform):
    def start(self) -> AbstractContextManager[SandboxHandle]:
        return qbo_sandbox(config=self.sandbox_limits, extra_config=self.client_limits)

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
