"""The shipped conformance kit over Xero and QuickBooks Online, each against its local sandbox over real HTTP."""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from decimal import Decimal
from typing import Any, ClassVar

from ledgersync.demo import connect_sandbox
from ledgersync.engine import LedgerSync
from ledgersync.testing import Faults, PlatformTraits, ProviderConformance

from .platforms import Platform, QuickBooksOnline, Xero, platforms

# Both platforms' modified-since reads have one-second precision.
SANDBOX_TRAITS = PlatformTraits(settle_seconds=1.05)


class SandboxConformance(ProviderConformance):
    """The kit's hooks answered by one of platforms.py's sandbox harnesses."""

    harness: ClassVar[type[Platform]]
    traits = SANDBOX_TRAITS
    plat: Platform

    @contextmanager
    def start_platform(self) -> Iterator[None]:
        self.plat = next(p for p in platforms() if isinstance(p, self.harness))
        with self.plat.start() as handle:
            self.plat.handle = handle
            yield
        self.plat.handle = None

    def connect(self, ls: LedgerSync, org_id: str, config: dict[str, str]) -> str:
        return connect_sandbox(ls, org_id, self.plat.sb, {**self.plat.client_limits, **config})

    def create_contact(self, name: str) -> str:
        return self.plat.create_contact(name)

    def platform_attachments(self, invoice_remote_id: str) -> dict[str, bytes]:
        return self.plat.attachments(invoice_remote_id)

    def rename_contact(self, remote_id: str, name: str) -> None:
        self.plat.rename_contact(remote_id, name)

    def pay_invoice(self, invoice_remote_id: str, amount: Decimal) -> str:
        return self.plat.pay(invoice_remote_id, amount)

    def edit_invoice(self, remote_id: str, reference: str, first_line: str) -> None:
        self.plat.edit_invoice(remote_id, reference, first_line)

    def delete_payment(self, remote_id: str) -> None:
        self.plat.delete_payment(remote_id)

    def move_payment(self, payment_remote_id: str, invoice_remote_id: str) -> None:
        self.plat.move_payment(payment_remote_id, invoice_remote_id)

    def pay_invoices(self, amounts: list[tuple[str, Decimal]]) -> str:
        return self.plat.pay_invoices(amounts)

    def active_contact_names(self) -> list[str]:
        return self.plat.active_contact_names()

    def live_invoice_numbers(self) -> list[str]:
        return self.plat.live_invoice_numbers()

    def invoice_total(self, remote_id: str) -> Decimal:
        return self.plat.invoice_total(remote_id)

    def invoice_state(self, remote_id: str) -> str:
        return self.plat.invoice_state(remote_id)

    def live_payment_count(self) -> int:
        return self.plat.live_payment_count()

    # The vendor side (testing/vendor_suite.py).
    def create_supplier(self, name: str) -> str:
        return self.plat.create_supplier(name)

    def enter_bill(self, supplier_remote_id: str, number: str, amount: Decimal) -> str:
        return self.plat.enter_bill(supplier_remote_id, number, amount)

    def pay_bill(self, bill_remote_id: str, amount: Decimal) -> str:
        return self.plat.pay_bill(bill_remote_id, amount)

    def enter_sales_receipt(self, number: str, amount: Decimal) -> str:
        return self.plat.enter_sales_receipt(number, amount)

    def supplier_names(self) -> list[str]:
        return self.plat.supplier_names()

    def bill_facts(self, remote_id: str) -> dict[str, Any]:
        return self.plat.bill_facts(remote_id)

    def purchase_order_facts(self, remote_id: str) -> dict[str, Any]:
        return self.plat.purchase_order_facts(remote_id)

    def sales_receipt_total(self, remote_id: str) -> Decimal:
        return self.plat.sales_receipt_total(remote_id)

    def combined_tax(self) -> tuple[str, Decimal]:
        return self.plat.combined_tax()

    def create_stocked_item(self, code: str, name: str, quantity: Decimal) -> None:
        self.plat.create_stocked_item(code, name, quantity)

    def platform_item_codes(self) -> list[str]:
        return self.plat.platform_item_codes()

    def enable_currency(self, code: str) -> None:
        self.plat.enable_currency(code)

    def invoice_home_total(self, remote_id: str) -> Decimal | None:
        return self.plat.invoice_home_total(remote_id)

    # Credit notes and refunds (testing/credit_suite.py).
    def allocate_credit_note(self, note_remote_id: str, invoice_remote_id: str, amount: Decimal) -> None:
        self.plat.allocate_credit_note(note_remote_id, invoice_remote_id, amount)

    def refund_on_platform(self, note_remote_id: str, customer_remote_id: str, amount: Decimal) -> str:
        return self.plat.refund_on_platform(note_remote_id, customer_remote_id, amount)

    def invoice_due(self, remote_id: str) -> Decimal:
        return self.plat.invoice_due(remote_id)

    def credit_note_remaining(self, remote_id: str) -> Decimal:
        return self.plat.credit_note_remaining(remote_id)

    def credit_note_numbers(self) -> list[str]:
        return self.plat.credit_note_numbers()

    def refund_live(self, remote_id: str) -> Decimal | None:
        return self.plat.refund_live(remote_id)

    def inject_faults(self, faults: Faults) -> None:
        self.plat.inject_faults(faults)

    def clear_faults(self) -> None:
        self.plat.clear_faults()

    def faults_injected(self) -> Mapping[str, int]:
        return self.plat.faults_injected()

    def calls_received(self) -> int:
        return self.plat.calls_received()

    def expire_tokens(self) -> None:
        self.plat.expire_tokens()

    def revoke_tokens(self) -> None:
        self.plat.revoke_tokens()

    def token_refreshes(self) -> int:
        return self.plat.refreshes()


class TestXero(SandboxConformance):
    provider_name = "xero"
    currency = "AUD"
    harness = Xero


class TestQuickBooksOnline(SandboxConformance):
    provider_name = "qbo"
    currency = "USD"
    harness = QuickBooksOnline
