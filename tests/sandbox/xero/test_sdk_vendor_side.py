"""xero-python creates and reads suppliers, purchase orders and bills (ACCPAY invoices) against the sandbox, and
a tax rate of two components that the bill is taxed at."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import date
from typing import Any

import pytest
from xero_python.accounting import AccountingApi
from xero_python.accounting.models import (
    Contact,
    Contacts,
    Invoice,
    Invoices,
    LineItem,
    PurchaseOrder,
    PurchaseOrders,
    TaxComponent,
    TaxRate,
    TaxRates,
)
from xero_python.api_client import ApiClient

from .conftest import Sandbox, sdk_client


@pytest.fixture
def sdk(
    ready: Sandbox, monkeypatch: pytest.MonkeyPatch
) -> Iterator[tuple[AccountingApi, ApiClient, dict[str, Any]]]:
    yield sdk_client(ready, monkeypatch)


def test_sdk_suppliers_purchase_orders_and_bills(
    ready: Sandbox, sdk: tuple[AccountingApi, ApiClient, dict[str, Any]]
) -> None:
    api, _, _ = sdk
    tid = ready.tenant_id
    supplier = api.create_contacts(tid, Contacts(contacts=[Contact(name="SDK Parts Supply")])).contacts[0]
    sid = supplier.contact_id

    rate = api.create_tax_rates(
        tid,
        TaxRates(
            tax_rates=[
                TaxRate(
                    name="GST and levy",
                    report_tax_type="INPUT",
                    tax_components=[
                        TaxComponent(name="GST", rate=10.0, is_compound=False),
                        TaxComponent(name="Levy", rate=2.5, is_compound=False),
                    ],
                )
            ]
        ),
    ).tax_rates[0]
    assert rate.effective_rate == pytest.approx(12.5)

    po = PurchaseOrder(
        contact=Contact(contact_id=sid),
        date=date(2026, 11, 2),
        line_items=[LineItem(description="Brake pads", quantity=4.0, unit_amount=45.0, account_code="300")],
        status="AUTHORISED",
    )
    created = api.create_purchase_orders(tid, PurchaseOrders(purchase_orders=[po])).purchase_orders[0]
    assert created.purchase_order_number and created.total == pytest.approx(198.0)  # 180 + 10% GST on Purchases
    read = api.get_purchase_order(tid, created.purchase_order_id).purchase_orders[0]
    assert read.contact.contact_id == sid and str(read.status) in ("AUTHORISED", "PurchaseOrderStatus.AUTHORISED")

    bill = Invoice(
        type="ACCPAY",
        contact=Contact(contact_id=sid),
        invoice_number="SUP-1001",
        date=date(2026, 11, 3),
        due_date=date(2026, 12, 3),
        line_items=[
            LineItem(
                description="Brake pads", quantity=4.0, unit_amount=45.0, account_code="300", tax_type=rate.tax_type
            )
        ],
        status="AUTHORISED",
    )
    made = api.create_invoices(tid, Invoices(invoices=[bill])).invoices[0]
    assert made.total_tax == pytest.approx(22.5) and made.total == pytest.approx(202.5)
    got = api.get_invoice(tid, made.invoice_id).invoices[0]
    assert str(got.type).endswith("ACCPAY") and got.invoice_number == "SUP-1001"
    # The bill makes the contact a supplier (Xero sets IsSupplier itself).
    assert api.get_contact(tid, sid).contacts[0].is_supplier is True
    # The order is marked billed once the bill is entered.
    api.update_purchase_order(
        tid,
        created.purchase_order_id,
        PurchaseOrders(purchase_orders=[PurchaseOrder(purchase_order_id=created.purchase_order_id, status="BILLED")]),
    )
    billed = api.get_purchase_order(tid, created.purchase_order_id).purchase_orders[0]
    assert str(billed.status).endswith("BILLED")
